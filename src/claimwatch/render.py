"""Claims, forecasts and the audit trail as text for people: plain for the terminal, HTML for chat.

Every string that came from a person or a feed goes through `m.esc`.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from claimwatch import accuracy
from claimwatch.model import (Change, Claim, Evidence, Feed, Kind, NewsItem, OutcomeValue, claim_to_dict,
                              match_reasons)
from claimwatch.parsing import shown_url

if TYPE_CHECKING:
    from claimwatch.matching import Match


@dataclass(frozen=True)
class Markup:
    esc: Callable[[str], str]
    bold: Callable[[str], str]


PLAIN = Markup(esc=lambda s: s, bold=lambda s: s)
HTML = Markup(esc=lambda s: html.escape(s, quote=False), bold=lambda s: f"<b>{s}</b>")

_TAG = re.compile(r"<[^>]*>")


def html_to_plain(text: str) -> str:
    """Our chat HTML as terminal text."""
    return html.unescape(_TAG.sub("", text))


def count(n: int, noun: str) -> str:
    """'1 feed', '2 feeds': a number and its noun, in the plural unless it is one."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def percent(p: float) -> str:
    return f"{p * 100:.1f}".rstrip("0").rstrip(".") + "%"


def when(at: datetime, tz: ZoneInfo) -> str:
    try:
        local = at.astimezone(tz)
    except OverflowError:  # year 1 (a feed's placeholder date, kept before such dates were dropped) west of UTC
        local = at
    return local.strftime("%Y-%m-%d %H:%M")


def review(claim: Claim, today: date) -> str:
    return _review(claim.review_date, claim.outcome is None, today)


def _review(review_date: date | None, open_: bool, today: date) -> str:
    if review_date is None:
        return "no review date"
    if open_ and review_date < today:
        return f"review {review_date} (overdue)"
    if open_ and review_date == today:
        return f"review {review_date} (today)"
    return f"review {review_date}"


def claim_line(claim: Claim, today: date, m: Markup = PLAIN) -> str:
    state = claim.outcome.value.value if claim.outcome else review(claim, today)
    return _line(claim.id, claim.kind.value, state, claim.text, claim.tags, m)


def _line(number: int, kind: str, state: str, text: str, tags: Sequence[str], m: Markup) -> str:
    """A claim on one line, from what the line shows (see claim_line and claim_dict_lines)."""
    shown = "#" + " #".join(tags) if tags else ""
    if m is PLAIN:
        return f"#{number:<4} {kind:<8} {state:<30} {text}" + (f"  {shown}" if shown else "")
    return f"{m.bold(f'#{number}')} {m.esc(text)} · {state}" + (f" · {m.esc(shown)}" if shown else "")


def claim_list(claims: list[Claim], today: date, empty: str = "no claims", m: Markup = PLAIN) -> str:
    return "\n".join(claim_line(c, today, m) for c in claims) if claims else empty


def claim_dict_lines(claims: Iterable[tuple[int, dict[str, Any]]], today: date, m: Markup = PLAIN) -> list[str]:
    """claim_line of each (number, claim in its dict form, read by the store and checked as claim_from_dict reads it),
    without making the Claim: a listing of thousands shows five fields of each, and making whole claims (their
    forecasts, their times) cost 13 us a claim against 2 here. A date is parsed once per day shown."""
    states: dict[Any, str] = {}  # a state by outcome value or review date as stored
    kinds: dict[Any, str] = {}
    lines = []
    for number, d in claims:
        outcome = d.get("outcome")
        key = ("outcome", outcome["value"]) if outcome else d.get("review_date")
        state = states.get(key)
        if state is None:
            state = states[key] = OutcomeValue(key[1]).value if outcome else \
                _review(date.fromisoformat(key) if key else None, True, today)
        kind = kinds.get(d.get("kind"))
        if kind is None:
            kind = kinds[d.get("kind")] = Kind(d.get("kind") or Kind.CLAIM).value
        lines.append(_line(number, kind, state, d["text"], d.get("tags") or (), m))
    return lines


def own_forecast_list(rows: list[Any], today: date, empty: str, m: Markup = PLAIN) -> str:
    """ledger.OwnForecast rows: each claim with your forecast and the team's median."""
    return "\n".join(f"{claim_line(r.claim, today, m)} · you {percent(r.p)}, team median {percent(r.team)} "
                     f"({r.forecasters} forecaster{'s' * (r.forecasters != 1)})" for r in rows) if rows else empty


def claim_detail(claim: Claim, evidence: list[Evidence], today: date, tz: ZoneInfo, m: Markup = PLAIN,
                 hidden: int = 0) -> str:
    """A claim in full; `hidden`: how many forecasters' forecasts are hidden from the reader (who has not
    forecast it yet, when the team hides forecasts until one's own)."""
    e = m.esc
    lines = [m.bold(f"#{claim.id}") + f" {claim.kind.value}, {claim.status}{', deleted' if claim.archived else ''}, "
             f"{review(claim, today)}"
             + (f"  [{e(claim.ext_id)}]" if claim.ext_id else ""), e(claim.text)]
    s = claim.source
    if s.title or s.url or s.author:
        parts = [x for x in (s.title, s.author, str(s.published or ""), s.url) if x]
        lines.append("Source: " + e(" · ".join(parts)))
    if s.quote:
        lines.append(f"  “{e(s.quote)}”")
    if claim.tags:
        lines.append("Tags: " + e(" ".join("#" + t for t in claim.tags)))
    if claim.watch:
        lines.append("Watch: " + e(", ".join(claim.watch)))
    if claim.p is not None:
        lines.append(f"Source's probability: {percent(claim.p)}")
    lines.append(f"Recorded {when(claim.created_at, tz)} by {e(claim.created_by)}")
    if claim.archived:
        a = claim.archived
        lines.append(f"Deleted {when(a.at, tz)} by {e(a.by)}" + (f" — {e(a.reason)}" if a.reason else "")
                     + f"; restore {claim.id} brings it back")
    current = claim.current_forecasts()
    if hidden:
        lines.append(f"Forecasts: {hidden} forecaster{'s' * (hidden != 1)}, hidden until you make your own "
                     "(the team forecasts before it looks)")
    if current:
        lines.append("Forecasts (latest of each forecaster):")
        for f in sorted(current.values(), key=lambda f: f.at):
            lines.append(f"  {e(f.by)}: {percent(f.p)} on {when(f.at, tz)}" + (f" — {e(f.note)}" if f.note else ""))
    withdrawn = sum(1 for f in claim.forecasts if f.withdrawn_at)
    if withdrawn:
        lines.append(f"  ({withdrawn} withdrawn forecast{'s' * (withdrawn != 1)}, not scored: see the history)")
    o = claim.outcome
    if o:
        happened = f", happened {o.event_date}" if o.event_date else ""
        lines.append(f"Outcome: {m.bold(o.value.value)}{happened}; recorded {when(o.at, tz)} by {e(o.by)}"
                     + (f" — {e(o.note)}" if o.note else ""))
        lines += [f"  evidence: {e(url)}" for url in o.evidence]
        late = hindsight(claim, tz)
        if late:
            lines.append(e(late))
    if evidence:
        lines.append(f"Evidence ({len(evidence)}, latest first):")
        for item in evidence[:5]:
            lines.append(f"  [{item.seq or item.id}] {e(item.title)} — {e(item.url)} ({item.stance.value})")
    return "\n".join(lines)


def read_as(claim: Claim, field: str) -> str:
    """How an edited probability or review date was read (' (now 1.5%)'), for the reply: a probability typed as
    a bare number above 1 is a percentage, and a date may be a phrase; '' for other fields."""
    field = field.lower()
    if field == "p":
        return f" (now {percent(claim.p) if claim.p is not None else 'none'})"
    if field == "due":
        return f" (now {claim.review_date or 'none'})"
    return ""


def past_review(claim: Claim, today: date) -> str:
    """A warning (not an error: a back-filled claim may be due already) when an open claim's review date has passed."""
    if claim.outcome is None and claim.review_date is not None and claim.review_date < today:
        return f"the review date {claim.review_date} is in the past, so #{claim.id} is due for review now"
    return ""


def hindsight(claim: Claim, tz: ZoneInfo) -> str:
    """'2 forecasts (ann, bo) were made after the event, so they are not scored.', or '' when none were."""
    late = accuracy.late_forecasts(claim_to_dict(claim), tz)
    if not late:
        return ""
    names = ", ".join(dict.fromkeys(f["by"] for f in late))
    event = claim.outcome.event_date if claim.outcome and claim.outcome.event_date else None
    return (f"{len(late)} forecast{'s' * (len(late) != 1)} ({names}) {'were' if len(late) != 1 else 'was'} made "
            f"after the event{f' ({event})' if event else ''}, so {'they are' if len(late) != 1 else 'it is'} "
            "not scored (hindsight).")


def feed_line(feed: Feed, tz: ZoneInfo) -> str:
    """A feed and its health, one line."""
    if not feed.enabled:
        state = f"disabled: {feed.disabled_reason}"
    elif feed.failures:
        state = f"failing ({feed.failures}x: {feed.error}), next try {when(feed.next_check, tz) if feed.next_check else 'now'}"
    elif feed.last_success:
        state = f"ok, checked {when(feed.last_success, tz)}, next {when(feed.next_check, tz) if feed.next_check else 'now'}"
    else:
        state = "not checked yet"
    return f"{feed.id:>3} {feed.name} <{shown_url(feed.url)}> — {state}; {feed.entries_seen} entries seen"


def evidence_line(item: Evidence, tz: ZoneInfo, m: Markup = PLAIN) -> str:
    when_ = when(item.published or item.found_at, tz)
    return (f"[{item.seq or item.id}] {when_} {m.esc(item.title)} — {m.esc(item.url)} ({item.stance.value}; "
            f"{m.esc(item.feed)}; matched {m.esc(', '.join(item.reasons()))}{'; earlier news' if item.backfill else ''})")


def tried_terms(found: list[tuple[NewsItem, Match]], days: int, tz: ZoneInfo, m: Markup = PLAIN,
                shown: int = 10) -> str:
    """What watch terms would match in the recent news: how many, and the newest `shown` of them."""
    if not found:
        return f"No news from the last {days} days matches these terms."
    lines = [f"{len(found)} news item{'s' * (len(found) != 1)} from the last {days} days "
             f"match{'es' * (len(found) == 1)}"
             + (f" (the newest {shown}):" if len(found) > shown else ":")]
    for item, match in found[:shown]:
        reasons = match_reasons(match.terms, match.words)
        lines.append(f"{when(item.published, tz)} {m.esc(item.title)} — {m.esc(item.link)} "
                     f"({m.esc(item.feed)}; matched {m.esc(', '.join(reasons))})")
    return "\n".join(lines)


def _describe(value: dict[str, Any] | None) -> str:
    if not value:
        return ""
    if "p" in value and "by" in value:  # a forecast
        return (percent(value["p"]) + (f" — {value['note']}" if value.get("note") else "")
                + (f" (of {value['at'][:16].replace('T', ' ')}, withdrawn)" if value.get("withdrawn") else ""))
    if "value" in value:  # an outcome
        return value["value"] + (f" — {value['note']}" if value.get("note") else "")
    if "text" in value and "kind" in value:  # a whole claim
        return value["text"]
    if value.keys() == {"note"}:  # why (a reopening's)
        return value["note"]
    return ", ".join(f"{k} {_field(k, v)}" for k, v in value.items())


def _field(key: str, value: Any) -> str:
    """A field's value as people read it: tags as a list, a source by its parts, 'none' for nothing."""
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    elif isinstance(value, dict):
        value = ", ".join(str(v) for v in value.values() if v)
    elif key == "p" and isinstance(value, float):
        value = percent(value)
    return "none" if value is None or value == "" else str(value)


def change_line(change: Change, tz: ZoneInfo, m: Markup = PLAIN) -> str:
    after, before = _describe(change.after), _describe(change.before)
    what = after
    if before and after:
        what = f"{after} (was {before})"
    elif before:
        what = f"(was {before})"
    if m is PLAIN:
        return f"{when(change.at, tz)}  {change.by:<12} {change.action:<9} {what}".rstrip()
    return f"{when(change.at, tz)} {m.esc(change.by)} {m.bold(change.action)} {m.esc(what)}".rstrip()


def history(changes: list[Change], tz: ZoneInfo, m: Markup = PLAIN) -> str:
    return "\n".join(change_line(c, tz, m) for c in changes) if changes else "no changes recorded"


_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?!\n)")


def visible(text: str) -> str:
    """Text as it may reach a screen: each control character but line breaks and tabs shown as an escape
    (`\\x1b`), so a value quoted from a sender, a feed or old data cannot drive a terminal (ESC[2J)."""
    return _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)


# --- splitting long chat messages ------------------------------------------------------------

TELEGRAM_TEXT_LIMIT = 4096  # UTF-16 code units
TELEGRAM_CAPTION_LIMIT = 1024
_BREAKS = (re.compile(r"\n\s*\n"), re.compile(r"\n"), re.compile(r"(?<=[.!?…])\s+|(?<=[。！？；])"),
           re.compile(r"\s+"))  # paragraphs, lines, sentences (CJK punctuation too), words


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_message(text: str, limit: int = TELEGRAM_TEXT_LIMIT) -> list[str]:
    """Pieces of at most `limit` UTF-16 units, cut at paragraphs, else lines, else sentences, else
    spaces, else anywhere; never inside an HTML tag or entity."""
    pieces: list[str] = []
    while utf16_len(text) > limit:
        window = _fitting(text, limit)
        cut = end = 0
        for pattern in _BREAKS:
            found = [m for m in pattern.finditer(window) if m.start() > 0 and not _inside_markup(window, m.start())]
            if found:
                cut, end = found[-1].start(), found[-1].end()
                break
        if not cut:  # one unbroken run
            cut = end = _outside_markup(window, len(window))
        pieces.append(text[:cut].rstrip())
        text = text[end:].lstrip()
    return pieces + [text] if text or not pieces else pieces


def shorten(text: str, limit: int) -> str:
    """`text`, or as much of it as fits in `limit` UTF-16 units followed by " …": cut at a space where it
    can, never inside an HTML tag or entity."""
    if utf16_len(text) <= limit:
        return text
    window = _fitting(text, limit - 2)
    spaces = [m.start() for m in re.finditer(r"\s", window) if m.start() > 0 and not _inside_markup(window, m.start())]
    cut = spaces[-1] if spaces else _outside_markup(window, len(window))
    return text[:cut].rstrip() + " …"


def _fitting(text: str, limit: int) -> str:
    """The longest prefix of `text` within `limit` UTF-16 units."""
    units = 0
    for i, ch in enumerate(text):
        units += 2 if ord(ch) > 0xFFFF else 1
        if units > limit:
            return text[:i]
    return text


def _inside_markup(text: str, at: int) -> bool:
    return _outside_markup(text, at) != at


def _outside_markup(text: str, at: int) -> int:
    """`at`, or the start of the tag or entity that `at` would cut in two."""
    opened = max(text.rfind("<", 0, at), text.rfind("&", 0, at))
    if opened >= 0 and text.find(">" if text[opened] == "<" else ";", opened, at) == -1:
        return opened if opened > 0 else at
    return at
