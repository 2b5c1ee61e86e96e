"""The `claimwatch` command line: parse arguments, call the ledger, print."""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NoReturn

from claimwatch import __version__, accuracy, interchange, ledger, render
from claimwatch.config import (DEFAULT_LISTEN, Config, default_data_dir, in_data_dir, is_database, load_config,
                               read_env_file, web_url)
from claimwatch.errors import ClaimwatchError, InputError, StoreError
from claimwatch.gcpause import gc_paused
from claimwatch.model import CONSOLE_CHAT, Chat, Feed, Kind, Source, change_to_dict, claim_to_dict, evidence_to_dict, feed_to_dict
from claimwatch.parsing import (
    clip,
    feed_url,
    lone_surrogate,
    parse_date,
    parse_name,
    leading_probability,
    parse_probability,
    parse_tags,
    parse_url,
    parse_watch_terms,
    shown_url,
)
from claimwatch.quickentry import read_quick_claim
from claimwatch.store import Store, open_store


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        shown = "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in message)  # no ESC to a terminal
        self.exit(2, f"{self.prog}: error: {shown} (see {self.prog} --help)\n")


@dataclass
class Context:
    config: Config
    now: datetime
    open_store: Callable[[], Store]

    @functools.cached_property
    def store(self) -> Store:
        """The store, opened (a new one made) when the command first uses it: a command reads all its arguments
        first, so bad input leaves no data directory behind."""
        return self.open_store()

    @property
    def today(self) -> date:
        return self.now.astimezone(self.config.tz).date()


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2))


def _claim_json(claim: Any) -> dict[str, Any]:
    return claim_to_dict(claim) | {"status": claim.status}


# --- commands ----------------------------------------------------------------------------------


def cmd_add(args: argparse.Namespace, ctx: Context) -> None:
    source = ledger.source_from_text(args.source or "")
    text = ledger.claim_text(" ".join(args.text))
    review = parse_date(args.due, ctx.now, ctx.config.tz) if args.due else None
    p = parse_probability(args.p) if args.p else None
    published = parse_date(args.published, ctx.now, ctx.config.tz) if args.published else None
    ledger.check_published(published, ctx.today)
    watch = parse_watch_terms(args.watch).terms() if args.watch else ()
    quick = None
    if not (args.due or args.p or args.watch or args.tags):  # one sentence: its kind, date, probability and names
        quick = read_quick_claim(text, ctx.now, ctx.config.tz)
        if quick.understood():
            text, review, p, watch = quick.text, quick.review_date, quick.p, quick.watch
        else:
            quick = None
    new = ledger.NewClaim(
        text=text,
        kind=ledger.parse_kind(args.kind) if args.kind else quick.kind if quick else Kind.CLAIM,
        source=Source(
            title=source.title,
            url=parse_url(args.source_url) if args.source_url else source.url,
            author=args.author or "",
            published=published,
            quote=args.quote or "",
        ),
        review_date=review,
        tags=parse_tags(args.tags) if args.tags else (),
        watch=watch,
        p=p,
        ext_id=args.id,
    )
    claim = ledger.add_claim(ctx.store, new, args.by or ctx.config.user, ctx.now)
    print(f"added #{claim.id}: {claim.text}")
    if args.p:  # as read: a bare number above 1 is a percentage
        print(f"  source's probability: {render.percent(claim.p)}")
    if quick is not None:  # what was read out of the sentence, and how to change it
        print(f"  understood: a {claim.kind.value}, review {claim.review_date or '—'}"
              + (f" (from '{quick.date_phrase}')" if quick.date_phrase else "")
              + f", probability {render.percent(claim.p) if claim.p is not None else '—'}"
              + f", watch {', '.join(claim.watch) or '—'}"
              + f" (claimwatch edit {claim.id} due|p|watch … to change)")
    past = render.past_review(claim, ctx.today)
    if past:
        print(f"claimwatch add: warning: {past}", file=sys.stderr)
    if claim.watch and (found := ledger.match_recent_news(ctx.store, [claim], ctx.now)):
        print(ledger.recent_news_note(found, f"claimwatch evidence {claim.id}"))


def cmd_list(args: argparse.Namespace, ctx: Context) -> None:
    ledger.parse_list_filter(args.filter, ctx.today)  # bad words make no data directory
    if args.json:
        _print_json([_claim_json(c) for c in ledger.list_claims(ctx.store, args.filter, ctx.today)])
        return
    # thousands of lines, shown from the claims as stored (not made into Claims) and written at once
    with gc_paused():  # (each file's claims, none of them cyclic, would set collections off: 0.03 s of 0.4)
        lines = render.claim_dict_lines(ledger.list_claim_dicts(ctx.store, args.filter, ctx.today), ctx.today)
    print("\n".join(lines) if lines else "no claims match")


def cmd_due(args: argparse.Namespace, ctx: Context) -> None:
    claims = ledger.due(ctx.store, ctx.today)
    if args.json:
        _print_json([_claim_json(c) for c in claims])
    else:
        print(render.claim_list(claims, ctx.today, "no open claims are due for review"))


def cmd_show(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    claim, hidden = ledger.as_seen_by(ctx.store, ctx.store.get_claim(number), args.by or ctx.config.user)
    evidence = ctx.store.evidence_for(number)
    if args.json:
        _print_json(_claim_json(claim) | {"evidence": [evidence_to_dict(e) | {"id": e.id, "number": e.seq} for e in evidence]}
                    | ({"hidden_forecasters": hidden} if hidden else {}))
    else:
        print(render.claim_detail(claim, evidence, ctx.today, ctx.config.tz, hidden=hidden))


def cmd_forecast(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    by = args.by or ctx.config.user
    if args.probability.lower() == "withdraw":
        if args.note:
            raise InputError("withdraw takes no note: claimwatch forecast ID withdraw")
        current = ledger.withdraw_forecast(ctx.store, number, by, ctx.now).current_forecasts().get(by)
        print(f"#{number}: {by}'s latest forecast is withdrawn (kept in the history, never scored)"
              + (f"; {by}'s forecast is {render.percent(current.p)} again" if current else ""))
        return
    words = [args.probability, *args.note]
    p, used = leading_probability(words)  # unquoted "very likely" is two arguments
    claim = ledger.add_forecast(ctx.store, number, p, by, ctx.now, " ".join(words[used:]))
    print(f"#{claim.id}: {by} forecasts {render.percent(p)}")


def cmd_resolve(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    value = ledger.parse_outcome(args.outcome)
    event_date = parse_date(args.date, ctx.now, ctx.config.tz) if args.date else None
    ledger.check_outcome(event_date, tuple(args.evidence), ctx.today)
    claim = ledger.resolve(ctx.store, number, value, args.by or ctx.config.user, ctx.now, note=" ".join(args.note),
                           event_date=event_date, evidence=tuple(args.evidence), today=ctx.today)
    print(f"#{claim.id} resolved: {value.value}")
    late = render.hindsight(claim, ctx.config.tz)
    if late:
        print(late)


def cmd_reopen(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    claim = ledger.reopen(ctx.store, number, args.by or ctx.config.user, ctx.now, " ".join(args.note))
    print(f"#{claim.id} is open again")


def cmd_edit(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    claim = ledger.edit_claim(ctx.store, number, args.field, " ".join(args.value), args.by or ctx.config.user,
                              ctx.now, ctx.config.tz)
    print(f"#{number} updated: {args.field.lower()}{render.read_as(claim, args.field)}")
    past = render.past_review(claim, ctx.today) if args.field.lower() == "due" else ""
    if past:
        print(f"claimwatch edit: warning: {past}", file=sys.stderr)
    if args.field.lower() == "watch" and claim.watch and (found := ledger.match_recent_news(ctx.store, [claim], ctx.now)):
        print(ledger.recent_news_note(found, f"claimwatch evidence {number}"))


def cmd_snooze(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    claim, start = ledger.snooze(ctx.store, number, args.days, args.by or ctx.config.user, ctx.now, ctx.config.tz)
    print(f"#{number}: next review {claim.review_date} ({args.days} days from "
          f"{'today' if start == ctx.today else f'its review date, {start}'})")


def cmd_mute(args: argparse.Namespace, ctx: Context) -> None:
    """Mute or unmute a claim for this terminal: the alerts `claimwatch watch` prints (the console's chat)."""
    number = ledger.parse_claim_number(args.id)
    on = args.command == "mute"
    chat = ctx.store.chat(CONSOLE_CHAT) or Chat(CONSOLE_CHAT, "private", "console")
    if not ledger.set_muted(ctx.store, chat, number, on):
        raise InputError(f"#{number} was not muted")
    print(f"#{number} is {'muted: claimwatch watch prints no alerts about it' if on else 'no longer muted'}")


def cmd_delete(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    ledger.delete_claim(ctx.store, number, args.by or ctx.config.user, ctx.now, " ".join(args.reason))
    print(f"#{number} is deleted (claimwatch restore {number} brings it back)")


def cmd_restore(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    claim = ledger.restore_claim(ctx.store, number, args.by or ctx.config.user, ctx.now)
    print(f"#{number} is back: {claim.text}")


def cmd_purge(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    claim = ctx.store.get_claim(number)
    if not claim.archived:
        raise InputError(f"#{number} is not deleted: delete it first (claimwatch delete {number}), then purge it")
    if not args.yes:
        answer = input(f"Remove #{number} ({claim.text[:60]}) for good, with its history and evidence? "
                       f"Type {number} to confirm: ") if sys.stdin.isatty() else ""
        if answer.strip() != str(number):
            raise InputError(f"#{number} was not purged: confirm by typing its number, or pass --yes")
    gone = ledger.purge_claim(ctx.store, number)
    print(f"#{number} is purged, with its history and {gone} evidence item{'s' * (gone != 1)}")


def cmd_feeds(args: argparse.Namespace, ctx: Context) -> None:
    from claimwatch import opml  # listparser loads only for OPML

    extra = ([args.url] if args.action == "list" and args.url else []) + (args.name if args.action != "add" else [])
    if extra:
        raise InputError(f"feeds {args.action} takes no more words: {clip(' '.join(extra))!r}")
    if args.action == "add":
        if not args.url:
            raise InputError("give the feed's http(s) address: claimwatch feeds add URL [NAME]")
        url = feed_url(args.url)
        name = parse_name(" ".join(args.name), "a feed's name") if args.name else shown_url(url)
        feed = ctx.store.add_feed(Feed(0, url, name, ctx.now, args.by or ctx.config.user))
        print(f"watching feed {feed.id}: {feed.name}")
        from claimwatch.fetch import refusal  # (libcurl loads for this check alone)

        if why := refusal(url, ctx.config.allow_private_feeds):
            print(f"claimwatch feeds add: warning: the watcher will not fetch it: {why}", file=sys.stderr)
    elif args.action == "list":
        feeds = ctx.store.feeds()
        if args.json:
            _print_json([feed_to_dict(f) | {"id": f.id} for f in feeds])
        else:
            print("\n".join(render.feed_line(f, ctx.config.tz) for f in feeds) or "no feeds yet: claimwatch feeds add URL")
    elif args.action == "remove":
        if not args.url or not args.url.isdecimal():
            raise InputError("give the feed's number from `claimwatch feeds list`")
        print(f"stopped watching feed {ctx.store.remove_feed(int(args.url)).name}")
    elif args.action == "import-opml":
        if not args.url:
            raise InputError("give the OPML file: claimwatch feeds import-opml FILE")
        try:
            body = Path(args.url).read_bytes()
        except OSError as e:
            raise InputError(f"cannot read {args.url}: {e.strerror}") from None
        result = opml.read_opml(body)
        added, known = ledger.add_feeds(ctx.store, result.feeds, args.by or ctx.config.user, ctx.now)
        print(f"{args.url}: {render.count(added, 'feed')} added, {known} watched already")
        for problem in result.problems:
            print(f"  warning: {problem}", file=sys.stderr)
    elif args.action == "export-opml":
        if args.url:
            _check_output(args.url, ctx.config)
        text = opml.write_opml([opml.OpmlFeed(f.url, f.name) for f in ctx.store.feeds()])
        _write(args.url, text) if args.url else sys.stdout.write(text)


def cmd_watch(args: argparse.Namespace, ctx: Context) -> int:
    from claimwatch import jobs  # pycurl, feedparser and APScheduler load only for watching

    def say(line: str) -> None:
        print(line, flush=True)  # a running watcher's output is read as it comes, often through a pipe

    if args.try_terms is None and args.show is not None:
        raise InputError("--show goes with --try TERMS: it is how many of the matching news items to list")
    if args.try_terms is not None:
        if args.once:
            raise InputError("--try shows what terms would match and stores nothing; it does not take --once")
        if not args.try_terms.strip():
            raise InputError("give the watch terms to try, e.g. --try 'Минск, Belarus*, 明斯克'")
        shown = 20 if args.show is None else args.show
        if shown < 1:
            raise InputError(f"--show needs a number of 1 or more, not {shown}")
        found = ledger.try_watch_terms(ctx.store, args.try_terms, ctx.now)
        print(render.tried_terms(found, ledger.RECENT_DAYS, ctx.config.tz, shown=shown))
        return 0
    if args.once:
        return jobs.watch_once(ctx.store, ctx.config, lambda: datetime.now(UTC), say)
    return jobs.watch_forever(ctx.store, ctx.config, lambda: datetime.now(UTC), say)


def cmd_evidence(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    if args.label:
        item, stance_text = args.label
        if not item.isdecimal():
            raise InputError(f"{item!r} is not an evidence number: use the number shown in brackets")
        stance = ledger.parse_stance(stance_text)
        ledger.acting(args.by or ctx.config.user, "")  # a name typed may not pass for a Telegram user
    ctx.store.get_claim(number)
    if args.label:
        ctx.store.label_evidence(number, int(item), stance, args.by or ctx.config.user, ctx.now)
    items = ctx.store.evidence_for(number)
    if args.json:
        _print_json([evidence_to_dict(e) | {"id": e.id, "number": e.seq} for e in items])
    else:
        print("\n".join(render.evidence_line(e, ctx.config.tz) for e in items) or f"no evidence for #{number} yet")


def cmd_history(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    changes = ledger.history_as_seen_by(ctx.store, number, args.by or ctx.config.user)
    if args.json:
        _print_json([change_to_dict(c) for c in changes])
    else:
        print(render.history(changes, ctx.config.tz))


def cmd_import(args: argparse.Namespace, ctx: Context) -> None:
    doc = interchange.load_file(args.file)
    if ctx.config.new_data_dir():  # checked before the store is made: a bad file makes no data directory
        ledger.check_import(doc, args.file, ctx.now)
    result = ledger.import_claims(ctx.store, doc, args.by or ctx.config.user, ctx.now, args.file)
    for warning in result.warnings:
        print(f"{args.file}: warning: {warning}", file=sys.stderr)
    print(f"{args.file}: {result.summary()}")
    if found := ledger.match_recent_news(ctx.store, result.added, ctx.now):
        print(f"{args.file}: {ledger.recent_news_note(found)}")


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8", newline="")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror}") from None


def _check_output(path: str, config: Config) -> None:
    """An output file must not land in the data directory, where it could replace a data file."""
    if in_data_dir(Path(path), config.data_dir):
        raise InputError(f"{path} is in the data directory {config.data_dir}; write it somewhere else")


def cmd_export(args: argparse.Namespace, ctx: Context) -> None:
    if not args.output:
        ledger.write_export(ctx.store, args.format, ctx.now, ctx.config.tz, sys.stdout)
        return
    _check_output(args.output, ctx.config)
    # written as the claims are read, beside the file, which it replaces only when whole
    path = Path(args.output)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(partial, "w", encoding="utf-8", newline="") as out:
            count = ledger.write_export(ctx.store, args.format, ctx.now, ctx.config.tz, out)
        os.replace(partial, path)
    except OSError as e:
        raise InputError(f"cannot write {args.output}: {e.strerror}") from None
    finally:
        partial.unlink(missing_ok=True)
    what = "review" if args.format == "claimreview" else "claim"  # only resolved claims have a review, void ones aside
    print(f"exported {render.count(count, what)}{' of resolved claims' * (what == 'review')} to {args.output}",
          file=sys.stderr)


def _scope(args: argparse.Namespace) -> accuracy.Scope:
    tags = parse_tags(args.tag) if args.tag is not None else (None,)
    if len(tags) != 1:
        raise InputError(f"--tag takes one tag, not {args.tag!r}")
    return accuracy.Scope(tag=tags[0], forecaster=args.by, source_words=tuple(args.source.split()) if args.source else ())


def cmd_stats(args: argparse.Namespace, ctx: Context) -> None:
    scope = _scope(args)
    result = ledger.accuracy_review(ctx.store, ctx.config.tz, scope)
    if args.json:
        _print_json(result)
    else:
        print(accuracy.summary_text(result) + "\n\n" + accuracy.leaderboard_text(result))


def cmd_settings(args: argparse.Namespace, ctx: Context) -> None:
    if args.hide_forecasts is not None:
        if args.setting is not None:
            raise InputError("give the setting either as words or as --hide-forecasts, not both")
        args.setting, args.value = "hide-forecasts", args.hide_forecasts
    if args.setting is not None:
        if args.value is None:
            raise InputError(f"give {args.setting}'s value: {', '.join(ledger.TEAM_SETTINGS.get(args.setting, ('…',)))}")
        ledger.set_team_setting(ctx.store, args.setting, args.value)
    settings = {key: ledger.team_setting(ctx.store, key) for key in ledger.TEAM_SETTINGS}
    if args.json:
        _print_json(settings)
    else:
        print("\n".join(f"{key} {value}" for key, value in settings.items()))


def cmd_migrate(args: argparse.Namespace, ctx: Context) -> None:
    from claimwatch import migrate

    target_location = args.to.strip()
    if not target_location:
        raise InputError("give where to copy the store: --to postgresql://user@host/db, or --to DIRECTORY")
    if ctx.config.new_data_dir():
        raise InputError(f"there is no data directory at {ctx.config.data_dir} to copy")
    made = None if is_database(target_location) or Path(target_location).exists() \
        else Path(target_location)
    source = ctx.store
    try:
        target = open_store(target_location)
        if not migrate.is_empty(target):  # before anything is read
            raise InputError(f"{args.to} holds data already: migrate copies into an empty store only")
        tty = sys.stderr.isatty()

        def progress(table: str, done: int, total: int) -> None:
            if total >= migrate.BATCH * 2:  # a bar only where there is something to wait for
                print(("\r" if tty else "") + migrate.bar(table, done, total), end="" if tty and done < total else "\n",
                      file=sys.stderr, flush=True)
        tables = migrate.copy_store(source, target, ctx.now, progress)
    except BaseException:
        _forget_new_data_dir(made)  # a copy that failed leaves no directory of its own behind
        raise
    width = max(map(len, tables))
    for table, (count, digest) in tables.items():
        print(f"{table:<{width}}  {count:>8}  sha256 {digest[:16]}")
    print(f"copied {ctx.config.shown_location} to {args.to} and verified it: the same rows, table by table; "
          "the source is unchanged")


def cmd_examples(args: argparse.Namespace, ctx: Context) -> None:
    if args.action == "load":
        added = ledger.load_examples(ctx.store, ctx.now)
        print(f"loaded {render.count(added, 'example claim')} from the source report (tagged #example; claimwatch "
              "examples remove deletes them)" if added else "the example claims are here already")
    else:
        removed = ledger.remove_examples(ctx.store, args.by or ctx.config.user, ctx.now)
        print(f"deleted {render.count(removed, 'example claim')} (claimwatch list deleted shows them)" if removed
              else "no example claims are listed")


def cmd_mine(args: argparse.Namespace, ctx: Context) -> None:
    rows = ledger.own_forecasts(ctx.store, args.by or ctx.config.user)
    if args.json:
        _print_json([_claim_json(r.claim) | {"my_p": r.p, "team_median": r.team, "forecasters": r.forecasters}
                     for r in rows])
    else:
        print(render.own_forecast_list(rows, ctx.today, "no open forecasts of yours (claimwatch todo lists the rest)"))


def cmd_todo(args: argparse.Namespace, ctx: Context) -> None:
    claims = ledger.not_yet_forecast(ctx.store, args.by or ctx.config.user)
    if args.json:
        _print_json([_claim_json(c) for c in claims])
    else:
        print(render.claim_list(claims, ctx.today, "you have forecast every open claim"))


def cmd_me(args: argparse.Namespace, ctx: Context) -> None:
    who = args.by or ctx.config.user
    result = ledger.accuracy_review(ctx.store, ctx.config.tz, accuracy.Scope(forecaster=who), check=False)
    if args.json:
        _print_json({"by": who, "record": accuracy.own_record(result), "team": result["team"],
                     "calibration": result["calibration"]})
    else:
        print(accuracy.track_record_text(result, who))


def cmd_report(args: argparse.Namespace, ctx: Context) -> None:
    from claimwatch.report import MAX_CLAIMS_LISTED, render_report  # matplotlib loads only for the report

    _check_output(args.output, ctx.config)
    scope = ledger.check_scope(ctx.store, _scope(args))  # its analyst by identity, for resolved_claims
    result = ledger.accuracy_review(ctx.store, ctx.config.tz, scope, check=False)  # (checked just now)
    resolved = ledger.resolved_claims(ctx.store, scope)
    listed = resolved[:MAX_CLAIMS_LISTED]
    evidence = {c.id: ctx.store.evidence_for(c.id) for c in listed}
    _write(args.output, render_report(result, listed, len(resolved), evidence, ctx.now, ctx.config.tz))
    print(f"wrote {args.output}: {render.count(len(resolved), 'resolved claim')}, {result['n_claims']} scored "
          f"({render.count(result['n_forecasts'], 'forecast')} that count: made before the event)", file=sys.stderr)


def cmd_doctor() -> int:
    """Runs before the configuration is loaded: a bad one is the first of its findings."""
    from claimwatch.doctor import diagnose

    findings = diagnose(datetime.now(UTC))
    for finding in findings:
        print(finding.line())
    return 0 if all(finding.ok for finding in findings) else 1


def cmd_console(args: argparse.Namespace, ctx: Context) -> int:
    from claimwatch.chat import ChatService, ChatSettings  # the chat layer loads only for the console
    from claimwatch.console import CONSOLE_USER_ID, run_console

    service = ChatService(ctx.store, ChatSettings(ctx.config.tz, frozenset({CONSOLE_USER_ID}), "invite",
                                                  public_url=ctx.config.public_url,
                                                  allow_private_feeds=ctx.config.allow_private_feeds))
    return run_console(service, ctx.config.user, lambda: datetime.now(UTC), stdout=sys.stdout,
                       data_dir=ctx.config.data_dir)


def cmd_serve(args: argparse.Namespace, ctx: Context) -> int:
    from claimwatch.chat import ChatSettings  # the web stack loads only for serve
    from claimwatch.web import listen_socket, serve

    listen_socket(args.listen).close()  # a bad or busy address is said before the data directory is made
    settings = ChatSettings(ctx.config.tz, ctx.config.admins | {CONSOLE_CHAT}, ctx.config.access,
                            public_url=ctx.config.public_url)
    log_level = "warning" if ctx.config.log_level == "info" else ctx.config.log_level  # uvicorn says no more than serve
    return serve(ctx.store, settings, args.listen, ctx.config.user, lambda: datetime.now(UTC),
                 lambda line: print(line, flush=True), log_level)


def cmd_share(args: argparse.Namespace, ctx: Context) -> None:
    number = ledger.parse_claim_number(args.id)
    by = args.by or ctx.config.user
    if args.command == "unshare":
        ledger.unshare(ctx.store, number, by, ctx.now)
        print(f"#{number} is private again: its public address no longer works")
        return
    token, new = ledger.share(ctx.store, number, by, ctx.now)
    print(f"#{number} {'is now' if new else 'was already'} public: {web_url(ctx.config.public_url)}/p/{token}")


# --- the parser --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="claimwatch", description="Track claims and forecasts, and who forecasts well.",
                     epilog=f"Data lives in $CLAIMWATCH_DATA (now {_data_dir_for_help()}); dates are read in "
                            "$CLAIMWATCH_TZ (default UTC).")
    parser.add_argument("--version", action="version", version=f"claimwatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    def command(name: str, func: Callable[[argparse.Namespace, Context], int | None] | None, help: str,
                json_output: bool = False, by: bool = False) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if json_output:
            p.add_argument("--json", action="store_true", help="print JSON instead of text")
        if by:
            p.add_argument("--by", help="who is acting, for the audit trail (default $CLAIMWATCH_USER or your login)")
        return p

    p = command("add", cmd_add, "record a claim or forecast", by=True)
    p.add_argument("text", nargs="+", help="what is claimed or forecast")
    p.add_argument("--kind", help="claim (a statement to verify, the default) or forecast (an event; the default "
                   "for a question typed as one sentence: 'Will … by 2027? 30%%')")
    p.add_argument("--due", metavar="DATE", help="review date: 2025-06-30, 'in 3 months', 'end of June', ...")
    p.add_argument("--p", metavar="PROBABILITY", help="the probability the source gives: 70%%, 0.7 or 'likely'")
    p.add_argument("--tags", help="comma- or space-separated tags")
    p.add_argument("--watch", metavar="TERMS", help='news watch terms, matched in every word form: alternatives, "phrases", +required, -excluded, '
                        'word* (any word starting with it), =word (that form only): "Минск, Belarus*, 明斯克"')
    p.add_argument("--source", help="the source's title, or its URL")
    p.add_argument("--source-url", help="the source's URL when --source gives its title")
    p.add_argument("--author", help="the source's author")
    p.add_argument("--published", metavar="DATE", help="when the source was published")
    p.add_argument("--quote", help="the passage of the source the claim comes from")
    p.add_argument("--id", help="an external id (import and export match on it)")

    p = command("list", cmd_list, "list claims: open (default), due, resolved, all, #tag, @analyst, or words",
                json_output=True)
    p.add_argument("filter", nargs="*", help="open | due | resolved | all | #tag | @analyst | words to search for")
    p.set_defaults(rest="filter")  # `list --json EU` too

    command("due", cmd_due, "open claims whose review date has come", json_output=True)

    p = command("show", cmd_show, "one claim with its source, forecasts, outcome and evidence", json_output=True, by=True)
    p.add_argument("id", help="the claim's number")

    p = command("forecast", cmd_forecast, "add your forecast to a claim", by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("probability", help="70%%, 0.7, 70 or a phrase such as 'very likely'; or withdraw, to withdraw your latest forecast")
    p.add_argument("note", nargs="*", default=[], help="why (optional)")
    p.set_defaults(rest="note")

    p = command("resolve", cmd_resolve, "record a claim's outcome", by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("outcome", help="true, false, partial or void (yes/no work too)")
    p.add_argument("note", nargs="*", default=[], help="a note (optional)")
    p.set_defaults(rest="note")
    p.add_argument("--date", metavar="DATE", help="when the event happened, if not today")
    p.add_argument("--evidence", metavar="URL", action="append", default=[], help="a link to evidence (repeatable)")

    p = command("reopen", cmd_reopen, "open a resolved claim again (the old outcome stays in its history)", by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("note", nargs="*", default=[], help="why (optional)")
    p.set_defaults(rest="note")

    p = command("edit", cmd_edit, "change one field of a claim: due, p, tags, watch, text or source ('none' clears "
                "it)", by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("field", help="due, p, tags, watch, text or source")
    p.add_argument("value", nargs="+", help="the new value, or none")
    p = command("snooze", cmd_snooze, "move a claim's review on by some days (from today, or from its review date "
                "when that is later)", by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("days", help="how many days, 1 to 3660")
    for name, what in (("mute", "no alerts about a claim in this terminal (what claimwatch watch prints)"),
                       ("unmute", "alerts about a muted claim in this terminal again")):
        p = command(name, cmd_mute, what)
        p.add_argument("id", help="the claim's number")

    p = command("delete", cmd_delete, "delete a claim: out of lists, reminders, digests and stats, until restored",
                by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("reason", nargs="*", help="why (kept in its history)")
    p = command("restore", cmd_restore, "bring a deleted claim back", by=True)
    p.add_argument("id", help="the claim's number")
    p = command("purge", cmd_purge, "remove a deleted claim for good, with its history and evidence (asks first)")
    p.add_argument("id", help="the claim's number")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = command("history", cmd_history, "the audit trail of a claim: who changed what, when", json_output=True, by=True)
    p.add_argument("id", help="the claim's number")

    p = command("import", cmd_import, "import claims from a claims JSON file, all or nothing", by=True)
    p.add_argument("file", help="a file in the claims format (see README)")

    def scope_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--tag", help="only claims with this tag")
        p.add_argument("--by", metavar="NAME", help="only this analyst's forecasts (with the team's on the same claims)")
        p.add_argument("--source", metavar="WORDS", help="only claims whose source title or URL has these words")

    p = command("stats", cmd_stats, "forecast accuracy: Brier and log scores, calibration, per analyst, tag, source",
                json_output=True)
    scope_options(p)

    p = command("examples", cmd_examples, "the example claims of the source report: load them, or remove "
                "(delete) them", by=True)
    p.add_argument("action", choices=("load", "remove"), help="load or remove")

    p = command("migrate", cmd_migrate, "copy the whole store into an empty PostgreSQL database or data directory, "
                "and verify the copy (the source is left as it is)")
    p.add_argument("--to", required=True, metavar="LOCATION", help="postgresql://user@host/db, or a directory")

    p = command("settings", cmd_settings, "the team's settings: hide-forecasts off|until-own (nobody sees the others' "
                "forecasts on an open claim before making their own), public-names off|on (a shared claim's public "
                "page names its forecasters)", json_output=True)
    p.add_argument("setting", nargs="?", help="the setting to change: hide-forecasts or public-names")
    p.add_argument("value", nargs="?", help="its new value")
    p.add_argument("--hide-forecasts", choices=ledger.TEAM_SETTINGS["hide-forecasts"],
                   help="the same as: settings hide-forecasts off|until-own")

    command("mine", cmd_mine, "your open forecasts, due soonest first, with the team's median", json_output=True, by=True)
    command("todo", cmd_todo, "open claims you have not forecast, due soonest first", json_output=True, by=True)
    command("me", cmd_me, "your track record (Brier, log score) beside the team's consensus", json_output=True, by=True)

    p = command("report", cmd_report, "write the accuracy report: one self-contained HTML file with charts")
    p.add_argument("-o", "--output", metavar="FILE", default="report.html", help="where (default report.html)")
    scope_options(p)

    p = command("feeds", cmd_feeds, "the news feeds watched for evidence: add, list, remove, import-opml, "
                "export-opml", json_output=True, by=True)
    p.add_argument("action", choices=["add", "list", "remove", "import-opml", "export-opml"], help="what to do")
    p.add_argument("url", nargs="?", help="add: the feed's address (one on this machine or a private network is "
                   "fetched only with CLAIMWATCH_ALLOW_PRIVATE_FEEDS=1); remove: its number; OPML: the file")
    p.add_argument("name", nargs="*", help="add: a name for the feed (default: its address)")

    p = command("watch", cmd_watch, "check the feeds for news on open claims, on their schedule, printing alerts")
    p.add_argument("--once", action="store_true", help="one cycle over every feed, then a line per feed")
    p.add_argument("--try", dest="try_terms", metavar="TERMS",
                   help="show the news of the last 14 days that watch terms would match (nothing is stored)")
    p.add_argument("--show", type=int, metavar="N", help="with --try: list the newest N matches (20)")

    p = command("evidence", cmd_evidence, "the news items found for a claim; label them", json_output=True, by=True)
    p.add_argument("id", help="the claim's number")
    p.add_argument("--label", nargs=2, metavar=("N", "STANCE"),
                   help="label evidence N: supports, contradicts or irrelevant")

    command("console", cmd_console, "the chat commands in this terminal, as an admin (reads a pipe too)")
    p = command("serve", cmd_serve, "serve the web view (claims, accuracy, feeds), printing a one-time admin sign-in "
                "link")
    p.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                   help=f"where to listen (default {DEFAULT_LISTEN}; port 0 takes any free port)")
    for name, what in (("share", "give a claim a public web page, readable without signing in"),
                       ("unshare", "take a claim's public web page away")):
        p = command(name, cmd_share, what, by=True)
        p.add_argument("id", help="the claim's number")
    command("doctor", None, "check the configuration, the store, the bot token, the feeds and the alert backlog, "
            "a line each (exit 1 on any problem)")
    p = command("run", None, "run the Telegram bot (needs TELEGRAM_BOT_TOKEN); same as python bot.py")
    p.add_argument("--webhook", metavar="URL", help="receive updates by webhook at this https URL instead of long "
                   "polling (secret: $CLAIMWATCH_WEBHOOK_SECRET)")
    p.add_argument("--listen", metavar="ADDR:PORT", help="with --webhook: where the bot's own server listens, "
                   "e.g. 0.0.0.0:8443 (default 127.0.0.1:8080, behind a reverse proxy)")

    p = command("export", cmd_export, "export every claim as JSON (re-importable) or CSV (a row per forecast)")
    p.add_argument("--format", choices=ledger.EXPORT_FORMATS, default="json",
                   help="json (default, re-importable), csv (a row per forecast, with scores) or claimreview "
                        "(schema.org ClaimReview JSON-LD of resolved claims)")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    return parser


def _data_dir_for_help() -> str:
    """The data directory a command would use, as --help shows it (the default if the environment is unusable)."""
    try:
        read_env_file()
        return load_config().shown_location
    except ClaimwatchError:
        return str(default_data_dir())


# Commands that only read: on a data directory that does not exist they show the example claims from memory
# and make nothing, so a look around (or a typo in CLAIMWATCH_DATA) leaves no ledger behind.
_READING = ("list", "due", "show", "history", "stats", "report", "export", "mine", "todo", "me", "migrate")


def _reads_only(args: argparse.Namespace) -> bool:
    return args.command in _READING or (args.command == "evidence" and not args.label) or \
        (args.command == "feeds" and args.action in ("list", "export-opml")) or \
        (args.command == "watch" and args.try_terms is not None) or (args.command == "settings" and not args.setting and args.hide_forecasts is None)


def _open_store(config: Config, now: datetime, reading: bool, notes: list[str] | None) -> Store:
    """The store of the data directory; for a reading command on one that does not exist, an empty one in
    memory (a reading command makes no data directory). What to tell the user goes in `notes`, said once the
    command succeeded (a failed one keeps no directory); with None (a command that runs on, such as the
    console), said at once."""
    say = (lambda note: print(note, file=sys.stderr)) if notes is None else notes.append
    if reading and config.new_data_dir():
        say(f"claimwatch: no data directory at {config.data_dir} yet, so no claims: {_EXAMPLES_HINT}")
        return open_store(None)
    store = open_store(config.location, once=reading)  # a reading command reads what it shows, once, and ends
    if store.migrated_backup:
        print(f"claimwatch: data upgraded to schema {store.schema_version}; the old files are in "
              f"{store.migrated_backup}", file=sys.stderr)
    if reading and store.is_empty():
        say(f"claimwatch: no claims yet: {_EXAMPLES_HINT}")
    return store


_EXAMPLES_HINT = ("claimwatch examples load adds the example claims of the source report (tagged #example; "
                  "claimwatch examples remove deletes them again)")


class _OutputFailed(Exception):
    """Standard output could not be written (a full disk, a closed terminal): not a bug, so no traceback."""


class _CheckedOutput:
    """Standard output whose write failures raise _OutputFailed (a closed pipe stays BrokenPipeError), and
    which shows control characters as escapes when it is a terminal."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream
        try:
            self._terminal = stream.isatty()
        except (AttributeError, ValueError):
            self._terminal = False

    def write(self, text: str) -> int:
        try:
            # On a terminal, stored text (a feed's title, data from an older version) cannot drive it; what goes
            # to a file or a pipe (an export) is left exactly as it is.
            return self._stream.write(render.visible(text) if self._terminal else text)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputFailed(e.strerror or str(e)) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as e:
            raise _OutputFailed(e.strerror or str(e)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _drop_output(stream: Any) -> None:
    """Send what is still buffered for standard output to /dev/null, so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):  # not a real file (a test's capture): nothing to drop
        pass


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The arguments; words after an option go on a command's note (`forecast 19 45% --by carol coin flip`)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    rest = getattr(args, "rest", None)
    if any(w.startswith("-") for w in extra):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra and rest is None:
        parser.error(f"unrecognized arguments: {' '.join(extra)} (an option's value of several words goes in "
                     "quotes: --p 'very likely', --due 'end of June')")
    if extra:
        setattr(args, rest, [*getattr(args, rest), *extra])
    if args.command == "run" and args.listen is not None and args.webhook is None:
        parser.error("--listen goes with --webhook URL (long polling listens on nothing)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    for at, word in enumerate(words, 1):  # bytes that are not UTF-8 arrive as lone surrogates
        if lone_surrogate(word):
            try:
                shown = str(word.encode("utf-8", "surrogateescape"))  # the bytes as they came
            except UnicodeEncodeError:  # a surrogate that no byte becomes (given to main() as text)
                shown = ascii(word)
            print(f"claimwatch: error: argument {at} is not valid UTF-8 text: {clip(shown, 80)}", file=sys.stderr)
            return 2
    args = parse_args(words)
    stdout = sys.stdout
    sys.stdout = _CheckedOutput(stdout)  # type: ignore[assignment]
    try:
        return _run(args)
    except BrokenPipeError:  # the reader left (`claimwatch list | head -1`): nothing more to say
        _drop_output(stdout)
        return 0
    except _OutputFailed as e:
        _drop_output(stdout)
        print(f"claimwatch: cannot write the output: {e}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = stdout


def _run(args: argparse.Namespace) -> int:
    if args.command == "run":  # the one place the CLI reaches the bot: it runs it, as bot.py does
        from claimwatch.telegram_bot import main as bot_main

        return bot_main(args.webhook, args.listen)
    if args.command == "doctor":
        return cmd_doctor()
    made = None  # the data directory, when this command makes it
    try:
        read_env_file()
        config = load_config()
        if getattr(args, "by", None) is not None:
            args.by = parse_name(args.by, "--by")
        now = datetime.now(UTC)
        made = config.data_dir if config.new_data_dir() else None
        reading = _reads_only(args)
        notes: list[str] | None = None if args.command in ("console", "watch") else []
        code = args.func(args, Context(config, now, lambda: _open_store(config, now, reading, notes))) or 0
        sys.stdout.flush()  # a failure to write the output shows here, not at exit
        for note in notes or ():
            print(note, file=sys.stderr)
        return code
    except StoreError as e:
        print(f"claimwatch: error: {e}", file=sys.stderr)
        _forget_new_data_dir(made)
        return 1
    except ClaimwatchError as e:
        print(f"claimwatch {args.command}: error: {e}", file=sys.stderr)
        _forget_new_data_dir(made)
        return 2


def _forget_new_data_dir(made: Path | None) -> None:
    """A command that failed leaves no data directory behind: one it made is removed again."""
    if made is not None and made.is_dir():
        shutil.rmtree(made, ignore_errors=True)
