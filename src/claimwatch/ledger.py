"""Use cases of the claim ledger: record, forecast, resolve, reopen, list, import and export.

Each function takes the time as `now` (an aware datetime) and who acts as `by`; it validates
everything before it writes, so bad input changes nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import io
import re
import secrets
import statistics
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any, NamedTuple, TextIO
from zoneinfo import ZoneInfo

from claimwatch import accuracy, interchange
from claimwatch.errors import InputError
from claimwatch.gcpause import gc_paused
from claimwatch.parsing import (
    clip,
    control_character,
    parse_date,
    parse_external_id,
    parse_name,
    parse_note,
    parse_probability,
    parse_tags,
    parse_url,
    parse_watch_terms,
)
from claimwatch.model import (
    Archived,
    TELEGRAM_IDENTITY,
    Change,
    Chat,
    Claim,
    Feed,
    Forecast,
    Evidence,
    Kind,
    NewsItem,
    Outcome,
    OutcomeValue,
    Source,
    Stance,
    claim_from_dict,
    claim_to_dict,
    forecast_to_dict,
    outcome_to_dict,
    parse_datetime,
)
from claimwatch.matching import Match, Matcher
from claimwatch.store import RECENT_DAYS, ClaimFilter, Store

_OUTCOME_WORDS = {"true": "true", "yes": "true", "false": "false", "no": "false", "partial": "partial",
                  "void": "void"}


def parse_outcome(text: str) -> OutcomeValue:
    word = text.strip().lower()
    if word not in _OUTCOME_WORDS:
        raise InputError(f"{text.strip()!r} is not an outcome: use true, false, partial or void (yes/no work too)")
    return OutcomeValue(_OUTCOME_WORDS[word])


def parse_kind(text: str) -> Kind:
    try:
        return Kind(text.strip().lower())
    except ValueError:
        raise InputError(f"{text.strip()!r} is not a kind: use claim (a statement to verify) "
                         "or forecast (an event that will or won't happen)") from None


def parse_stance(text: str) -> Stance:
    word = text.strip().lower()
    if word not in ("supports", "contradicts", "irrelevant"):
        raise InputError(f"{text.strip()!r} is not a stance: use supports, contradicts or irrelevant")
    return Stance(word)


def add_feeds(store: Store, feeds: Sequence[Any], by: str, now: datetime) -> tuple[int, int]:
    """Watch feeds (url and title each) in one write; (added, watched already)."""
    stored = store.add_feeds([Feed(0, feed.url, feed.title, now, by) for feed in feeds])
    added = sum(isinstance(s, Feed) for s in stored)
    return added, len(feeds) - added


def parse_claim_number(text: str) -> int:
    s = text.strip().removeprefix("#")
    if not s:
        raise InputError("say which claim: its number, shown as #n, e.g. 3")
    if not (s.isascii() and s.isdecimal()) or len(s) > 9 or int(s) < 1:
        raise InputError(f"{text.strip()!r} is not a claim number: use the number shown as #n, e.g. 3")
    return int(s)


def list_claims(store: Store, words: list[str], today: date) -> list[Claim]:
    """The claims `list` shows for what was typed after it (see parse_list_filter): by number, or as `due` sorts
    them when asked for due ones. A tag no claim has, or an analyst who never forecast, is an error naming it."""
    where = _list_filter(store, words, today)
    found = store.find_claims(where)  # (due ones as due lists them: the store's order)
    _check_listed_tag(store, where, any(c.archived is None for c in found))
    return found


def list_claim_dicts(store: Store, words: list[str], today: date) -> Iterator[tuple[int, dict[str, Any]]]:
    """The claims list_claims finds, in the same order, as (number, claim in its dict form): for showing thousands
    (render.claim_dict_lines) without making each claim, a batch at a time (due ones, as few as are due, all at once,
    in the store's due order); a tag no claim has is an error once they are read. The dicts are the store's own: do
    not change them."""
    where = _list_filter(store, words, today)
    found = store.claim_dicts(where) if where.due_by is not None else (
        item for batch in store.claim_dict_batches(where) for item in batch)
    listed_live = False
    for number, doc in found:
        listed_live = listed_live or not doc.get("archived")
        yield number, doc
    _check_listed_tag(store, where, listed_live)  # (as list_claims: only when nothing live showed the tag is real)


class ListPage(NamedTuple):
    claims: list[Claim]  # those on the page
    page: int  # its number, from 1: the last page when one past it was asked for
    pages: int
    total: int  # how many claims list_claims lists


def list_page(store: Store, words: list[str], today: date, page: int, size: int) -> ListPage:
    """Page `page` (from 1) of `size` claims of what list_claims lists, in its order. Only the page's claims are made
    (a chat shows 10 of thousands: making them all cost a listing of 3,000 claims most of its time)."""
    where = _list_filter(store, words, today)
    found = store.claim_dicts(where)  # (due ones as due lists them: the store's order)
    _check_listed_tag(store, where, any(not doc.get("archived") for _, doc in found))
    pages = max(1, -(-len(found) // size))
    page = min(max(1, page), pages)
    return ListPage([claim_from_dict(doc, n) for n, doc in found[(page - 1) * size: page * size]], page, pages,
                    len(found))


def _list_filter(store: Store, words: list[str], today: date) -> ClaimFilter:
    """What `list` was asked for, its analyst as an identity (an unknown one is an error naming it)."""
    where = parse_list_filter(words, today)
    if where.forecaster is not None:
        where = replace(where, forecaster=analyst_identity(store, where.forecaster))
    return where


def _check_listed_tag(store: Store, where: ClaimFilter, listed_live: bool) -> None:
    """A listing's tag is one some claim has (check_tag), which a claim listed and not deleted shows at once."""
    if where.tag is not None and not listed_live:
        check_tag(store, where.tag)


def parse_list_filter(words: list[str], today: date) -> ClaimFilter:
    """`open`, `due`, `resolved`, `all`, `deleted`, `#tag`, `@analyst` (claims they forecast) and free words, as
    typed after `list`."""
    if any(w.lower() == "deleted" for w in words):  # the deleted claims, any status: to find one to restore
        rest = [w for w in words if w.lower() != "deleted"]
        return replace(parse_list_filter(rest, today), archived=True, status=None) if rest else ClaimFilter(
            status=None, archived=True)
    status: str | None = "open"
    due_by: date | None = None
    tag: str | None = None
    forecaster: str | None = None
    rest: list[str] = []
    chosen: set[str] = set()  # the status words given; "all" narrows to any other, resolved contradicts open and due
    for w in words:
        lw = w.lower()
        if lw in ("open", "resolved", "all", "due"):
            chosen.add(lw)
            if "resolved" in chosen and chosen & {"open", "due"}:
                raise InputError(f"list resolved claims or open ones, not both: {' and '.join(sorted(chosen))}")
            status = "resolved" if "resolved" in chosen else "open" if chosen & {"open", "due"} else None
            due_by = today if "due" in chosen else None
        elif w.startswith("#") and len(w) > 1:
            [given] = parse_tags([w])  # as tags are stored; what cannot be a tag is named as such
            if tag is not None and tag != given:
                raise InputError(f"list one #tag at a time, not #{tag} and {w}")
            tag = given
        elif w.startswith("@") and len(w) > 1:
            if forecaster is not None and forecaster != w[1:]:
                raise InputError(f"list one @analyst at a time, not @{forecaster} and {w}")
            forecaster = parse_name(w[1:], "the analyst's name after @")
        else:
            rest.append(w)
    if (rest or forecaster) and status == "open" and not any(w.lower() == "open" for w in words):
        status = None  # searching by words, or an analyst's claims, looks at every claim unless told otherwise
    return ClaimFilter(status=status, due_by=due_by, tag=tag, words=tuple(rest), forecaster=forecaster)


@dataclass(frozen=True)
class NewClaim:
    """What an analyst gives to record a claim; everything but the text is optional."""

    text: str
    kind: Kind = Kind.CLAIM
    source: Source = field(default_factory=Source)
    review_date: date | None = None
    tags: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()
    p: float | None = None
    ext_id: str | None = None

    def __post_init__(self) -> None:
        """Checked when made, so a front end knows the input is good before it opens the store."""
        object.__setattr__(self, "text", claim_text(self.text))
        s = self.source
        if max(len(s.title), len(s.url), len(s.author), len(s.quote)) > 4000:
            raise InputError("a source's title, address, author and quote are limited to 4000 characters each")
        for what, value in (("title", s.title), ("author", s.author), ("quote", s.quote)):
            bad = control_character(value, allow_whitespace=True)
            if bad:
                raise InputError(f"a source's {what} cannot hold control characters ({bad}): {clip(value)!r}")
        if self.ext_id is not None:
            object.__setattr__(self, "ext_id", parse_external_id(self.ext_id))


def claim_text(text: str) -> str:
    """A claim's text as typed, its spaces and line breaks made single spaces: not blank, no control characters
    (an ESC sequence would colour the terminal it is printed on), at most 4000 characters."""
    text = " ".join(text.split())
    if not text:
        raise InputError("a claim's text cannot be blank: say what is claimed or forecast")
    bad = control_character(text)
    if bad:
        raise InputError(f"a claim's text cannot hold control characters ({bad}): {clip(text)!r}")
    if len(text) > 4000:
        raise InputError(f"a claim's text is limited to 4000 characters, not {len(text)}: {clip(text)!r}")
    return text


def acting(by: str, who: str) -> None:
    """Who acts: `by` as shown, who is `who` for good when given (a Telegram user: "tg:<id>"); without it, `by` is
    a command-line or console name, which is its own identity, so it may not pass for a Telegram user's."""
    if not who and by.startswith(TELEGRAM_IDENTITY):
        raise InputError(f"names starting with {TELEGRAM_IDENTITY!r} are kept for Telegram users: {clip(by)!r}")


def add_claim(store: Store, new: NewClaim, by: str, now: datetime, *, who: str = "") -> Claim:
    acting(by, who)
    claim = Claim(id=0, text=new.text, created_at=now, created_by=by, created_who=who, kind=new.kind,
                  ext_id=new.ext_id, source=new.source, review_date=new.review_date, tags=new.tags, watch=new.watch,
                  p=new.p)
    with store.transaction():
        if new.ext_id is not None:  # import and export match claims on it, so it names one claim
            same = next((n for n, doc in store.claim_dicts(ClaimFilter(archived=None)) if doc["id"] == new.ext_id), None)
            if same is not None:
                raise InputError(f"the external id {new.ext_id!r} is #{same}'s already; give another")
        return store.insert_claim(claim, Change(0, now, by, "add", None, claim_to_dict(claim), who))


def _live_claim(store: Store, number: int) -> Claim:
    """A claim to change: a deleted one must be restored first."""
    claim = store.get_claim(number)
    if claim.archived:
        raise InputError(f"#{number} is deleted; restore it first (restore {number})")
    return claim


REPEATED_WITHIN = timedelta(minutes=1)  # a forecast sent again this soon (a double tap on a button) is not new


def add_forecast(store: Store, number: int, p: float, by: str, now: datetime, note: str = "", *,
                 who: str = "") -> Claim:
    """A forecast by `by` (shown), who is `who` for good when given (see acting); the same forecast with the
    same note again within REPEATED_WITHIN (a button pressed twice, a command sent twice) is the one recorded."""
    note = parse_note(note)
    acting(by, who)
    with store.transaction():
        claim = _live_claim(store, number)
        if claim.outcome:
            raise InputError(f"#{number} is resolved ({claim.outcome.value}); reopen it to forecast again")
        forecast = Forecast(by=by, p=p, at=now, note=note, who=who)
        previous = claim.current_forecasts().get(forecast.forecaster)
        if previous and (previous.p, previous.note) == (p, note) and timedelta(0) <= now - previous.at < REPEATED_WITHIN:
            return claim
        change = Change(number, now, by, "forecast", previous and forecast_to_dict(previous), forecast_to_dict(forecast),
                        who)
        return store.update_claim(claim.with_changes(forecasts=claim.forecasts + (forecast,)), change)


def withdraw_forecast(store: Store, number: int, by: str, now: datetime, *, who: str = "") -> Claim:
    """Withdraw the latest forecast of `by` (who is `who` for good, when given) on a claim: it stays in the
    history and is never scored; the one before it, if any, is their current view again."""
    with store.transaction():
        claim = _live_claim(store, number)
        mine = [i for i, f in enumerate(claim.forecasts) if f.forecaster == (who or by) and f.withdrawn_at is None]
        if not mine:
            raise InputError(f"you have no forecast on #{number} to withdraw")
        last = max(mine, key=lambda i: (claim.forecasts[i].at, i))  # the last recorded of the latest
        withdrawn = replace(claim.forecasts[last], withdrawn_at=now)
        forecasts = claim.forecasts[:last] + (withdrawn,) + claim.forecasts[last + 1:]
        change = Change(number, now, by, "withdraw", None, forecast_to_dict(withdrawn), who)
        return store.update_claim(claim.with_changes(forecasts=forecasts), change)


def delete_claim(store: Store, number: int, by: str, now: datetime, reason: str = "", *, who: str = "") -> Claim:
    """Archive a claim: out of lists, reminders, digests, news matching and stats; kept with its history,
    evidence and forecasts until restored (or purged)."""
    reason = parse_note(reason, "a reason")
    acting(by, who)
    with store.transaction():
        claim = _live_claim(store, number)
        deleted = claim.with_changes(archived=Archived(now, by, reason, who))
        return store.update_claim(deleted, Change(number, now, by, "delete", None, {"reason": reason}, who))


def restore_claim(store: Store, number: int, by: str, now: datetime, *, who: str = "") -> Claim:
    """Bring a deleted claim back, as it was."""
    acting(by, who)
    with store.transaction():
        claim = store.get_claim(number)
        if not claim.archived:
            raise InputError(f"#{number} is not deleted; nothing to restore")
        change = Change(number, now, by, "restore", {"reason": claim.archived.reason}, None, who)
        return store.update_claim(claim.with_changes(archived=None), change)


def purge_claim(store: Store, number: int) -> int:
    """Remove a deleted claim for good, with its history and evidence; how many evidence rows went."""
    with store.transaction():
        if not store.get_claim(number).archived:
            raise InputError(f"#{number} is not deleted: delete it first (delete {number}), then purge it")
        return store.purge_claim(number)


def check_published(published: date | None, today: date) -> None:
    """A source is read after it came out: its publication date is not in the future."""
    if published and published > today:
        raise InputError(f"the source's publication date {published} is in the future")


def check_outcome(event_date: date | None, evidence: tuple[str, ...], today: date | None) -> None:
    """What resolve() checks of its input before it reads the store."""
    if event_date and today and event_date > today:
        raise InputError(f"the event date {event_date} is in the future; record the outcome once it has happened")
    for url in evidence:
        parse_url(url)


def resolve(store: Store, number: int, value: OutcomeValue, by: str, now: datetime, *, note: str = "",
            event_date: date | None = None, evidence: tuple[str, ...] = (), today: date | None = None,
            who: str = "") -> Claim:
    check_outcome(event_date, evidence, today)
    note = parse_note(note)
    acting(by, who)
    with store.transaction():
        claim = _live_claim(store, number)
        if claim.outcome:
            raise InputError(f"#{number} is already resolved ({claim.outcome.value}); reopen it first to change that")
        outcome = Outcome(value=value, at=now, by=by, event_date=event_date, note=note, evidence=evidence, who=who)
        change = Change(number, now, by, "resolve", None, outcome_to_dict(outcome), who)
        # Announced to subscribers, same file, same write; the event carries what happened (a snapshot), since by
        # the time it is fanned out the claim may have been reopened and resolved otherwise. Each forecaster's
        # (name, p), in a list: two forecasters may go by one name.
        store.add_alert("outcome", number, now, outcome=outcome_to_dict(outcome), source_p=claim.p,
                        forecasts=[[f.by, f.p] for f in claim.current_forecasts().values()])
        return store.update_claim(claim.with_changes(outcome=outcome), change)


def reopen(store: Store, number: int, by: str, now: datetime, note: str = "", *, who: str = "") -> Claim:
    """Open a resolved claim again; its old outcome stays in the history."""
    note = parse_note(note)
    acting(by, who)
    with store.transaction():
        claim = _live_claim(store, number)
        if not claim.outcome:
            raise InputError(f"#{number} is open already")
        after = {"note": note} if note else None
        change = Change(number, now, by, "reopen", outcome_to_dict(claim.outcome), after, who)
        store.add_alert("outcome", number, now, outcome=None, reopened=outcome_to_dict(claim.outcome),
                        note=note.strip())
        return store.update_claim(claim.with_changes(outcome=None), change)


EDITABLE = ("text", "due", "p", "tags", "watch", "source")
_CLEAR = ("none", "-")


def source_from_text(text: str) -> Source:
    """A source given as one string: its URL when it starts with http:// or https:// (it must then be a good
    one), else its title ("HTTP: the protocol" is a title)."""
    if text.strip().lower().startswith(("http://", "https://")):
        return Source(url=parse_url(text.strip()))
    return Source(title=" ".join(text.split()))


def edit_claim(store: Store, number: int, field: str, value: str, by: str, now: datetime, tz: ZoneInfo, *,
               who: str = "") -> Claim:
    """Change one field of a claim from text as typed; 'none' clears due, p, tags, watch and source."""
    acting(by, who)
    field = field.strip().lower()
    value = value.strip()
    clear = value.lower() in _CLEAR and field != "text"
    changes: dict[str, Any]
    if field == "text":
        if not value:
            raise InputError("the new text is empty: give the claim's new text")
        if value.lower() in _CLEAR:
            raise InputError(f"a claim's text cannot be cleared; give the new text instead of {value!r}")
        changes = {"text": claim_text(value)}
    elif field == "due":
        changes = {"review_date": None if clear else parse_date(value, now, tz)}
    elif field == "p":
        changes = {"p": None if clear else parse_probability(value)}
    elif field == "tags":
        changes = {"tags": () if clear else parse_tags(value)}
    elif field == "watch":
        changes = {"watch": () if clear else parse_watch_terms(value).terms()}
    elif field == "source":
        if not value:
            raise InputError("give the source's title or URL, or 'none'")
        changes = {"source": Source() if clear else source_from_text(value)}
    else:
        raise InputError(f"{field!r} cannot be edited: use one of {', '.join(EDITABLE)}")
    with store.transaction():
        claim = _live_claim(store, number)
        edited = claim.with_changes(**changes)
        if edited == claim:
            raise InputError(f"#{number}'s {field} is that already; nothing changed")
        (key,) = changes  # the dataclass field and its dict key share a name
        change = Change(number, now, by, "edit", {key: claim_to_dict(claim)[key]}, {key: claim_to_dict(edited)[key]},
                        who)
        return store.update_claim(edited, change)


# --- recent news -------------------------------------------------------------------------------


def match_recent_news(store: Store, claims: Sequence[Claim], now: datetime) -> int:
    """Match claims just added or with new watch terms against the news of the last RECENT_DAYS: what
    matches is kept as evidence marked backfill, alerted to nobody. An item that is evidence for the
    claim already is not added again (the store keeps evidence once by claim and link), so editing the
    terms back and forth adds nothing twice. Returns how many items were added."""
    matcher = Matcher((c.id, c.watch) for c in claims if c.watch and c.outcome is None)
    if not len(matcher):
        return 0
    with store.transaction():
        found = [Evidence(0, m.claim, item.link, item.title, now, feed=item.feed, published=item.published,
                          matched=m.terms, words=m.words, backfill=True)
                 for item in store.recent_news(now) for m in matcher.match(item.title, item.summary)]
        before = {(e.claim, e.id) for claim in {e.claim for e in found} for e in store.evidence_for(claim)}
        return len({(e.claim, e.id) for e in store.add_evidence(found)} - before)


def recent_news_note(found: int, see: str = "") -> str:
    """What a reply says about the recent news a claim was matched against; `see`: the command that shows it."""
    where = f"; {see}" if see and found else ""
    return (f"{found} news item{'s' * (found != 1)} from the last {RECENT_DAYS} days "
            f"match{'es' * (found == 1)}{where}")


def try_watch_terms(store: Store, terms: str, now: datetime) -> list[tuple[NewsItem, Match]]:
    """The news of the last RECENT_DAYS that watch terms would match, newest first (nothing is stored)."""
    parsed = parse_watch_terms(terms)
    matcher = Matcher([(0, parsed.terms())])
    return [(item, found[0]) for item in store.recent_news(now) if (found := matcher.match(item.title, item.summary))]


# --- one analyst's views ---------------------------------------------------------------------------


def _due_first(claim: Claim) -> tuple[bool, date, int]:
    """Due soonest first; claims without a review date last."""
    return claim.review_date is None, claim.review_date or date.max, claim.id


@dataclass(frozen=True)
class OwnForecast:
    claim: Claim
    p: float  # the analyst's current forecast
    team: float  # the median of everyone's current forecasts on the claim
    forecasters: int


def own_forecasts(store: Store, who: str) -> list[OwnForecast]:
    """The open claims `who` (a forecaster's identity: Forecast.forecaster) has forecast, due soonest first,
    with their current p and the team's median."""
    mine = []
    for claim in store.find_claims(ClaimFilter(status="open")):
        current = claim.current_forecasts()
        if who in current:
            mine.append(OwnForecast(claim, current[who].p, consensus(claim) or 0.0, len(current)))
    return sorted(mine, key=lambda o: _due_first(o.claim))


def consensus(claim: Claim) -> float | None:
    """The team's view of a claim now: the median of each forecaster's current forecast; None with none."""
    current = claim.current_forecasts()
    return statistics.median(f.p for f in current.values()) if current else None


def consensus_over_time(claim: Claim) -> list[tuple[datetime, float]]:
    """How consensus() moved: the team's median after each forecast and withdrawal on a claim, oldest first."""
    times = sorted({f.at for f in claim.forecasts} | {f.withdrawn_at for f in claim.forecasts if f.withdrawn_at})
    points = []
    for at in times:
        standing = tuple(replace(f, withdrawn_at=None) for f in claim.forecasts
                         if f.at <= at and (f.withdrawn_at is None or f.withdrawn_at > at))
        median = consensus(claim.with_changes(forecasts=standing))
        if median is not None:
            points.append((at, median))
    return points


def not_yet_forecast(store: Store, who: str) -> list[Claim]:
    """The open claims `who` has not forecast, due soonest first."""
    return sorted((c for c in store.find_claims(ClaimFilter(status="open")) if who not in c.current_forecasts()),
                  key=_due_first)


# --- team settings and what a person may see ------------------------------------------------------------

# setting -> its values, the first the default. public-names: whether a claim's public page (/share) names its
# forecasters; off, they read "forecaster 1", "forecaster 2".
TEAM_SETTINGS = {"hide-forecasts": ("off", "until-own"), "public-names": ("off", "on")}


def set_team_setting(store: Store, key: str, value: str) -> str:
    """Change a team setting (as typed: `hide-forecasts until-own`); its value as stored."""
    key, value = key.strip().lower(), value.strip().lower()
    if key not in TEAM_SETTINGS:
        raise InputError(f"{key!r} is not a team setting: use {', '.join(TEAM_SETTINGS)}")
    if value not in TEAM_SETTINGS[key]:
        raise InputError(f"{key} is one of {', '.join(TEAM_SETTINGS[key])}, not {value!r}")
    store.save_team_setting(key, value)
    return value


def team_setting(store: Store, key: str) -> str:
    value = store.team_settings().get(key, TEAM_SETTINGS[key][0])
    return value if value in TEAM_SETTINGS[key] else TEAM_SETTINGS[key][0]


def forecasts_hidden(store: Store, claim: Claim, who: str) -> bool:
    """Whether `who` (a forecaster's identity) may not see the others' forecasts on a claim yet: with
    `hide-forecasts until-own`, an open claim they have not forecast (so their own is not anchored on the team's)."""
    return (claim.outcome is None and team_setting(store, "hide-forecasts") == "until-own"
            and not any(f.forecaster == who for f in claim.forecasts))


def as_seen_by(store: Store, claim: Claim, who: str) -> tuple[Claim, int]:
    """The claim as `who` may see it, and how many forecasters are hidden from them."""
    if not forecasts_hidden(store, claim, who):
        return claim, 0
    return claim.with_changes(forecasts=()), len({f.forecaster for f in claim.forecasts})


def history_as_seen_by(store: Store, number: int, who: str) -> list[Change]:
    """A claim's history as `who` (an identity) may see it: without others' forecasts while they are hidden from
    them."""
    changes = store.history(number)
    if not forecasts_hidden(store, store.get_claim(number), who):
        return changes
    return [c for c in changes if c.action not in ("forecast", "withdraw") or c.actor == who]


# --- snoozing and muting ----------------------------------------------------------------------------

MAX_SNOOZE_DAYS = 3660


def snooze_start(claim: Claim, today: date) -> date:
    """What a snooze counts from: today, or the review date when that is later (a snooze never brings a
    review forward)."""
    return max(today, claim.review_date or today)


def snooze(store: Store, number: int, days: str, by: str, now: datetime, tz: ZoneInfo, *,
           who: str = "") -> tuple[Claim, date]:
    """Move an open claim's review on by `days` (as typed), counting from snooze_start; the claim and what it
    counted from."""
    if not (days.isascii() and days.isdecimal()) or not 1 <= int(days) <= MAX_SNOOZE_DAYS:
        raise InputError(f"give the number of days, from 1 to {MAX_SNOOZE_DAYS}; or edit the review date (due)")
    with store.transaction():
        claim = _live_claim(store, number)
        if claim.outcome:  # as forecasting: a resolved claim is not reviewed again
            raise InputError(f"#{number} is resolved ({claim.outcome.value.value}); reopen it to review it again")
        start = snooze_start(claim, now.astimezone(tz).date())
        day = start + timedelta(days=int(days))
        return edit_claim(store, number, "due", day.isoformat(), by, now, tz, who=who), start


def set_muted(store: Store, chat: Chat, number: int, on: bool) -> bool:
    """Mute (or unmute) a claim in a chat; a mute also drops its alerts still waiting for that chat, in the same
    write. False when there was nothing to unmute."""
    with store.transaction():
        store.get_claim(number)
        if not on and number not in chat.muted:
            return False
        muted = tuple(sorted(set(chat.muted) | {number})) if on else tuple(n for n in chat.muted if n != number)
        store.save_chat(replace(chat, muted=muted))
        if on:
            store.forget_claim_messages(chat.id, number)
    return True


def due(store: Store, today: date) -> list[Claim]:
    """Open claims whose review date has come, earliest first (then by number): as the store lists them."""
    return store.find_claims(ClaimFilter(status="open", due_by=today))


@dataclass(frozen=True)
class ImportResult:
    added: list[Claim]
    updated: list[Claim]
    unchanged: int
    warnings: list[str] = field(default_factory=list)  # links kept as written that are not web addresses

    def summary(self) -> str:
        return f"{len(self.added)} added, {len(self.updated)} updated, {self.unchanged} unchanged"


def _text_key(text: str) -> str:
    return " ".join(text.split()).casefold()


# The latest date anywhere on Earth (UTC+14): an event date up to it has happened somewhere, so a file
# written in a time zone ahead of the importer's is not refused for an outcome resolved "today" there.
_EARTH_AHEAD = timezone(timedelta(hours=14))


def check_import(doc: Any, source_name: str, now: datetime) -> None:
    """Check a claims document for an import into an empty store (see interchange.problems; every outcome's event
    date too, since each is added); raise InputError naming every problem if not. Needs no store, so a front end
    can check a file before it makes one."""
    found = interchange.problems(doc)
    bad = _positions(found)
    if not found or bad is not None:  # the claims can be read: look at the outcomes each adds
        latest = now.astimezone(_EARTH_AHEAD).date()
        for i, claim in interchange.read_claims(doc, now, "check", skip=bad or frozenset()):
            found += _added_problems(f"claims[{i}]", None, claim.outcome, latest)[0]
    if found:
        raise InputError(_refusal(source_name, sorted(found, key=_place), []))


def _positions(found: list[str]) -> frozenset[int] | None:
    """The positions of the claims that `found` (problems of a document) are about; None when the document
    itself is wrong (no list of claims), so no claim of it can be read."""
    positions = set()
    for problem in found:
        match = re.match(r"claims\[(\d+)\]", problem)
        if match is None:
            if not problem.startswith("version:"):
                return None
            continue
        positions.add(int(match.group(1)))
    return frozenset(positions)


def _refusal(source_name: str, problems: list[str], conflicts: list[str]) -> str:
    """Why an import imported nothing: every problem and every conflict with the store, each on a line."""
    what = [f"{len(problems)} problem{'s' * (len(problems) != 1)}"] * bool(problems) + \
        [f"{len(conflicts)} conflict{'s' * (len(conflicts) != 1)} with the claims stored here"] * bool(conflicts)
    return f"{source_name}: {' and '.join(what)}, nothing imported\n" + "\n".join(f"  {p}" for p in problems + conflicts)


def import_claims(store: Store, doc: Any, by: str, now: datetime, source_name: str = "file", *,
                  who: str = "") -> ImportResult:
    """Import a claims document all or nothing.

    A claim already in the store (same external id; without one, the same text) is not added again:
    forecasts it lacks are added, and its outcome if it has none. So importing twice changes nothing.
    A file that contradicts the store (see _conflicts) is refused whole, each conflict named.
    What the import adds (see _added_problems) is checked as typed input is, with one exception: a link
    that is not a web address is kept as written, with a warning, since claimwatch once kept such links
    itself and its own export must always import again (shown as text, never as a link).
    Every problem and conflict is named in one refusal, so a file is fixed in one round.
    """
    acting(by, who)
    found = interchange.problems(doc)
    bad = _positions(found)
    if bad is None:
        raise InputError(_refusal(source_name, found, []))
    incoming = interchange.read_claims(doc, now, by, skip=bad, who=who)
    added: list[Claim] = []
    updated: list[Claim] = []
    unchanged = 0
    with store.transaction():
        existing = store.find_claims(ClaimFilter(archived=None))  # a deleted claim is not imported again
        by_ext = {c.ext_id: c for c in existing if c.ext_id}
        by_number = {c.id: c for c in existing}
        by_text: dict[str, list[Claim]] = {}  # claims without an external id, by text; a text may repeat
        for c in existing:
            if not c.ext_id:
                by_text.setdefault(_text_key(c.text), []).append(c)
        conflicts: list[str] = []
        warnings: list[str] = []
        latest = now.astimezone(_EARTH_AHEAD).date()
        for i, claim in incoming:
            if claim.ext_id:
                known = by_ext.get(claim.ext_id)
            else:  # the same number and text first (our own export), else the first unmatched same text
                same = by_text.get(_text_key(claim.text), [])
                numbered = by_number.get(claim.id)
                known = numbered if numbered in same else (same[0] if same else None)
                if known is not None:
                    same.remove(known)  # each stored claim answers for one claim of the file
            new_outcome = claim.outcome if known is None or known.outcome is None else None
            problems, notes = _added_problems(f"claims[{i}]", claim if known is None else None, new_outcome, latest)
            found += problems
            warnings += notes
            if known is None:
                stored = store.insert_claim(claim, Change(0, now, by, "import", None, claim_to_dict(claim), who))
                added.append(stored)
                by_number[stored.id] = stored
                if stored.ext_id:
                    by_ext[stored.ext_id] = stored
                continue
            conflicts += [f"claims[{i}] (#{known.id}): {c}" for c in _conflicts(known, claim)]
            merged = _merge(known, claim)
            if merged == known:
                unchanged += 1
                continue
            change = Change(known.id, now, by, "import", claim_to_dict(known), claim_to_dict(merged), who)
            updated.append(store.update_claim(merged, change))
        if found or conflicts:  # nothing is written: the transaction ends with this error
            raise InputError(_refusal(source_name, sorted(found, key=_place), conflicts))
    return ImportResult(added, updated, unchanged, warnings)


def _place(problem: str) -> int:
    """Problems in the order of the file, by claim (sorting keeps the order they were found in within one)."""
    match = re.match(r"claims\[(\d+)\]", problem)
    return int(match.group(1)) if match else -1


def _added_problems(where: str, added: Claim | None, outcome: Outcome | None, latest: date) -> tuple[list[str], list[str]]:
    """(problems, warnings) of what an import adds: a new claim's source link, an outcome it adds (to a new
    claim or one without) with its event date and evidence. What the store holds already is not checked
    again: an outcome equal to the stored one is never refused."""
    problems, warnings = [], []
    links = [("source.url", added.source.url)] if added and added.source.url else []
    if added and added.source.published and added.source.published > latest:
        problems.append(f"{where}.source.published: {added.source.published} is in the future")
    if outcome:
        if outcome.event_date and outcome.event_date > latest:
            problems.append(f"{where}.outcome.event_date: {outcome.event_date} is in the future; "
                            "an outcome is recorded once it has happened")
        links += [(f"outcome.evidence[{j}]", url) for j, url in enumerate(outcome.evidence)]
    for field_, url in links:
        try:
            parse_url(url)
        except InputError as e:
            warnings.append(f"{where}.{field_}: {e}; kept as written, shown as text")
    return problems, warnings


def _conflicts(known: Claim, incoming: Claim) -> list[str]:
    """What the file says otherwise than the store about the same claim: another outcome (value or event
    date), or another probability for a forecast by the same person at the same time."""
    found = []
    old, new = known.outcome, incoming.outcome
    if old and new and (old.value, old.event_date) != (new.value, new.event_date):
        found.append(f"the outcome is {_outcome_words(new)} in the file but {_outcome_words(old)} here")
    stored: dict[tuple[str, datetime], list[float]] = {}  # one person may forecast twice at one time
    for f in known.forecasts:
        stored.setdefault((f.by, f.at), []).append(f.p)
    for f in incoming.forecasts:
        ps = stored.get((f.by, f.at))
        if ps and f.p not in ps:
            here = " and ".join(f"{p:g}" for p in ps)
            found.append(f"{f.by}'s forecast of {f.at.isoformat()} is {f.p:g} in the file but {here} here")
    return found


def _outcome_words(outcome: Outcome) -> str:
    return outcome.value.value + (f" on {outcome.event_date}" if outcome.event_date else "")


def _merge(known: Claim, incoming: Claim) -> Claim:
    have = {(f.by, f.at) for f in known.forecasts}
    new = tuple(f for f in incoming.forecasts if (f.by, f.at) not in have)
    forecasts = tuple(sorted(known.forecasts + new, key=lambda f: f.at))
    return known.with_changes(forecasts=forecasts, outcome=known.outcome or incoming.outcome)


EXAMPLE_TAG = "example"  # every example claim carries it


def load_examples(store: Store, now: datetime, by: str = "claimwatch", *, who: str = "") -> int:
    """Import the example claims shipped with claimwatch (claims.json, from the source report), each tagged
    EXAMPLE_TAG; how many were added (0 when they are here already: an import adds nothing twice). Only when
    asked: a new data directory starts empty, so a team that starts for real gets no reminders of them."""
    path = interchange.bundled_claims_path()
    return len(import_claims(store, interchange.load_file(path), by, now, path.name, who=who).added)


def remove_examples(store: Store, by: str, now: datetime, *, who: str = "") -> int:
    """Delete (archive) the example claims still listed; how many."""
    with store.transaction():
        examples = store.find_claims(ClaimFilter(tag=EXAMPLE_TAG))
        for claim in examples:
            delete_claim(store, claim.id, by, now, "an example claim", who=who)
    return len(examples)


EXPORT_FORMATS = ("json", "csv", "claimreview")


def export_claims(store: Store, fmt: str, now: datetime, tz: ZoneInfo) -> str:
    """Every claim as JSON (re-importable), CSV (a row per forecast, with scores) or ClaimReview JSON-LD."""
    out = io.StringIO()
    write_export(store, fmt, now, tz, out)
    return out.getvalue()


def write_export(store: Store, fmt: str, now: datetime, tz: ZoneInfo, out: TextIO) -> int:
    """Write an export (see export_claims) to `out` as the claims are read, a file of them at a time, so that its
    memory does not grow with the ledger; how many claims it holds (reviews, for ClaimReview). A JSON backup keeps
    deleted claims (marked so); CSV and ClaimReview leave them out."""
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"{fmt!r} is not an export format: use {', '.join(EXPORT_FORMATS)}")
    claims = (c for batch in store.claim_batches(ClaimFilter(archived=None if fmt == "json" else False)) for c in batch)
    if fmt == "claimreview":
        claims = filter(interchange.reviewed, claims)
    count = 0

    def counted() -> Iterator[Claim]:
        nonlocal count
        for claim in claims:
            count += 1
            yield claim
    if fmt == "json":
        chunks = interchange.json_chunks(counted(), now)
    elif fmt == "csv":
        chunks = interchange.csv_chunks(counted(), tz)
    else:
        chunks = interchange.claimreview_chunks(counted(), tz)
    for chunk in chunks:
        out.write(chunk)
    return count


def parse_scope(words: list[str]) -> accuracy.Scope:
    """`#tag`, `@analyst` and words of a source's title, as typed after `stats`."""
    tag = forecaster = None
    rest = []
    for w in words:  # as `stats --tag T --by NAME --source WORDS` checks them: one tag, one analyst
        if w.startswith("#"):
            if tag is not None:
                raise InputError(f"one #tag at a time, not #{tag} and {w}")
            tags = parse_tags(w)  # '#' alone is refused, as `--tag '#'` is
            if len(tags) != 1:
                raise InputError(f"one #tag at a time, not {w}")
            tag = tags[0]
        elif w.startswith("@"):
            if forecaster is not None:
                raise InputError(f"one @analyst at a time, not @{forecaster} and {w}")
            forecaster = parse_name(w[1:], "the analyst's name after @")
        else:
            rest.append(w)
    return accuracy.Scope(tag=tag, forecaster=forecaster, source_words=tuple(rest))


def check_scope(store: Store, scope: accuracy.Scope) -> accuracy.Scope:
    """The scope with its analyst as an identity (see analyst_identity), once its tag is known to be on a claim;
    else an InputError naming what is not, with the close ones, rather than an empty review that reads as "nothing
    resolved yet"."""
    if scope.tag is not None:
        check_tag(store, scope.tag)
    if scope.forecaster is not None:
        return replace(scope, forecaster=analyst_identity(store, scope.forecaster), typed=scope.forecaster)
    return scope


def analyst_identity(store: Store, name: str) -> str:
    """The identity (Forecast.forecaster) of the analyst `name` stands for, as typed after @ or --by: an identity
    itself (a command-line name, or tg:<id>), else the name one Telegram user last forecast under; "alice (tg:5)",
    as the leaderboard shows a Telegram user whose name a command-line name has too, is tg:5. An InputError
    when no analyst has forecast under it (suggesting close names), or when several Telegram users go by it (one
    of them may have had it before the other): it names their identities, to give one of them instead."""
    latest: dict[str, tuple[datetime, str]] = {}  # identity -> (when, the name it last forecast under)
    for _, doc in store.claim_dicts():
        for f in doc["forecasts"]:
            who, at = f.get("who") or f["by"], parse_datetime(f["at"])
            if who not in latest or latest[who][0] <= at:
                latest[who] = (at, f["by"])
    shown_with = re.fullmatch(r"(.*) \((tg:[0-9]+)\)", name)
    if shown_with and shown_with.group(2) in latest:
        return shown_with.group(2)
    if name in latest:
        return name
    named = sorted(who for who, (_, shown) in latest.items() if shown == name)
    if len(named) > 1:
        raise InputError(f"{len(named)} analysts have forecast as {name!r}: say which, as "
                         f"{' or '.join(f'@{who}' for who in named)}")
    if not named:
        known = {shown for _, shown in latest.values()}
        raise InputError(f"{name!r} has made no forecast here{_suggest(name, known, '@')}")
    return named[0]


def check_tag(store: Store, tag: str) -> None:
    """Some claim has `tag`; else an InputError suggesting close tags."""
    known = {t for _, doc in store.claim_dicts() for t in doc["tags"]}
    if tag not in known:
        raise InputError(f"no claim has the tag #{tag}{_suggest(tag, known, '#')}")


def _suggest(name: str, known: set[str], mark: str) -> str:
    """'; did you mean @alice, @alicia?' for the known names close to `name` (its case aside, or starting alike)."""
    folded = {k.casefold(): k for k in known}
    close = [folded[k] for k in difflib.get_close_matches(name.casefold(), list(folded), n=3, cutoff=0.6)]
    close += [k for k in sorted(known) if k not in close and len(name) >= 2
              and k.casefold().startswith(name.casefold())][:3 - len(close)]
    if close:
        return "; did you mean " + ", ".join(f"{mark}{clip(k, 40)}" for k in close) + "?"
    if not known:
        return f" (there are no {'analysts with forecasts' if mark == '@' else 'tags'} yet)"
    some = sorted(known)[:8]
    return f" (known: {', '.join(f'{mark}{clip(k, 40)}' for k in some)}{', …' if len(known) > len(some) else ''})"


def accuracy_review(store: Store, tz: ZoneInfo, scope: accuracy.Scope = accuracy.Scope(), *,
                    check: bool = True) -> dict[str, Any]:
    """The review's figures for `scope` (see accuracy.review); its analyst given by name or identity (see
    analyst_identity), and an unknown analyst or tag in it is an error, unless not `check`ed (your own record, by
    identity: no forecast yet is an answer, not a typo)."""
    if check:
        scope = check_scope(store, scope)
    with gc_paused():  # reading and scoring 100k forecasts makes millions of objects, none of them cyclic
        claims = store.claim_dicts(ClaimFilter(status="resolved"))
        result = accuracy.review(claims, tz, scope)
        # gone before the collector runs again: else its first run scans every claim read (0.1 s at 20k claims)
        del claims
    return result


def resolved_claims(store: Store, scope: accuracy.Scope = accuracy.Scope()) -> list[Claim]:
    """Resolved claims in `scope` (its analyst by identity: see check_scope), the most recent event first."""
    claims = [c for c in store.find_claims(ClaimFilter(status="resolved")) if scope.keeps(claim_to_dict(c))
              and (not scope.forecaster or any(f.forecaster == scope.forecaster for f in c.forecasts))]
    return sorted(claims, key=lambda c: c.outcome.event_date or c.outcome.at.date() if c.outcome else date.min,
                  reverse=True)


# --- the web view: signing in, public pages ----------------------------------------------------------

SIGN_IN_VALID = timedelta(minutes=10)  # a sign-in link sent in chat is good this long, and once
SESSION_VALID = timedelta(days=14)  # a browser stays signed in this long


def _secret_key(secret: str) -> str:
    """What the store keeps of a link's or a session's secret: its hash, so the data directory holds no key."""
    return hashlib.sha256(secret.encode()).hexdigest()


def sign_in_link(store: Store, base_url: str, user_id: int, name: str, now: datetime) -> str:
    """A one-time link that signs `user_id` (shown as `name`) in to the web view at `base_url`, for SIGN_IN_VALID."""
    token = secrets.token_urlsafe(24)
    store.add_sign_in(_secret_key(token), user_id, name, now + SIGN_IN_VALID, now)
    return f"{base_url.rstrip('/')}/signin?token={token}"


def sign_in(store: Store, token: str, now: datetime,
            has_role: Callable[[int], bool] = lambda user_id: True) -> tuple[str, int, str]:
    """Use a sign-in link's token: a new session's secret (for the browser's cookie), the user's id and name.
    A used, expired or unknown link is an InputError and signs nobody in; so is a user without a role here
    (`has_role`), whose link stays good."""
    session = secrets.token_urlsafe(32)
    with store.transaction():  # one write: the link used up and the session started
        user_id, name = store.use_sign_in(_secret_key(token), now)
        if not has_role(user_id):  # (the transaction is rolled back: the link is not used up)
            raise InputError("this server gives you no role: an admin of the bot is one here only when this "
                             "server's CLAIMWATCH_ADMINS names them too; your link stays good until it expires")
        store.start_session(_secret_key(session), user_id, name, now + SESSION_VALID, now)
    return session, user_id, name


def signed_in(store: Store, session: str, now: datetime) -> tuple[int, str] | None:
    """(user id, name) of the browser holding the session secret `session`, None when it is not signed in."""
    return store.session(_secret_key(session), now) if session else None


def sign_out(store: Store, session: str) -> None:
    store.end_session(_secret_key(session))


def share(store: Store, number: int, by: str, now: datetime, *, who: str = "") -> tuple[str, bool]:
    """Give a claim a public page: its token, and whether it is new (a claim shared already keeps its address)."""
    acting(by, who)
    with store.transaction():
        claim = _live_claim(store, number)
        token = store.share_token(number)
        if token is not None:
            return token, False
        token = secrets.token_urlsafe(12)
        store.share_claim(number, token, by, now)
        store.update_claim(claim, Change(number, now, by, "share", None, None, who))
        return token, True


def unshare(store: Store, number: int, by: str, now: datetime, *, who: str = "") -> None:
    """Take a claim's public page away (its address stops working; sharing again makes a new one)."""
    acting(by, who)
    with store.transaction():
        claim = store.get_claim(number)
        if not store.unshare_claim(number):
            raise InputError(f"#{number} is not shared; nothing to stop")
        store.update_claim(claim, Change(number, now, by, "unshare", None, None, who))


def public_claim(store: Store, claim: Claim) -> tuple[Claim, int]:
    """A claim as its public page shows it to anyone, and how many forecasters are hidden: what a reader who has
    not forecast may see (as_seen_by), and, unless the team's public-names setting is on, its forecasters as
    "forecaster 1", "forecaster 2" (in the order they first forecast), without their notes, and no names of who
    recorded or resolved it."""
    claim, hidden = as_seen_by(store, claim, "")
    if team_setting(store, "public-names") == "on":
        return claim, hidden
    order: dict[str, str] = {}
    for f in sorted(claim.forecasts, key=lambda f: f.at):
        order.setdefault(f.forecaster, f"forecaster {len(order) + 1}")
    forecasts = tuple(replace(f, by=order[f.forecaster], who="", note="") for f in claim.forecasts)
    outcome = replace(claim.outcome, by="", who="") if claim.outcome else None
    return claim.with_changes(forecasts=forecasts, outcome=outcome, created_by="", created_who=""), hidden
