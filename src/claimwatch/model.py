"""Domain types: claims, forecasts, outcomes, evidence and the audit trail, with their dict form.

The dict form of a claim is the interchange format (`claims.json`, import and export) and also what
the store keeps, so there is one conversion in each direction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    CLAIM = "claim"  # a factual statement to verify
    FORECAST = "forecast"  # an event that will or won't happen


class OutcomeValue(StrEnum):
    TRUE = "true"
    FALSE = "false"
    PARTIAL = "partial"
    VOID = "void"  # the question fell away; not scored


class Stance(StrEnum):
    UNLABELLED = "unlabelled"
    SUPPORTS = "supports"
    CONTRADICTS = "contradicts"
    IRRELEVANT = "irrelevant"


@dataclass(frozen=True)
class Source:
    title: str = ""
    url: str = ""
    author: str = ""
    published: date | None = None
    quote: str = ""

    def label(self) -> str:
        """The title, else the url, else an empty string."""
        return self.title or self.url


class _Acted:
    """What a person did, recorded as `by` (their name as shown then) and `who` (their stable identity: "tg:<user
    id>" for a Telegram user; "" for command-line and console names, which are their own identity)."""

    by: str
    who: str

    @property
    def actor(self) -> str:
        """Who did it, for good: two people never share one, one person keeps theirs through a change of name."""
        return self.who or self.by


@dataclass(frozen=True)
class Forecast(_Acted):
    by: str  # who, as shown: a name given on the command line, or a Telegram name as it was then
    p: float
    at: datetime
    note: str = ""
    withdrawn_at: datetime | None = None  # withdrawn by its author: kept in the history, never scored
    who: str = ""  # see _Acted

    forecaster = _Acted.actor  # the forecaster's stable identity

    def __post_init__(self) -> None:
        if not (isinstance(self.p, int | float) and math.isfinite(self.p) and 0 <= self.p <= 1):
            raise ValueError(f"a forecast's probability must be within [0, 1], not {self.p!r}")


@dataclass(frozen=True)
class Outcome(_Acted):
    value: OutcomeValue
    at: datetime  # when it was recorded
    by: str
    event_date: date | None = None  # when the event happened, if not the day it was recorded
    note: str = ""
    evidence: tuple[str, ...] = ()
    who: str = ""  # see _Acted


@dataclass(frozen=True)
class Archived(_Acted):
    """Why and by whom a claim was deleted; `restore` brings it back."""

    at: datetime
    by: str
    reason: str = ""
    who: str = ""  # see _Acted


@dataclass(frozen=True)
class Claim:
    id: int  # the short number users see as #id; 0 until the store assigns one
    text: str
    created_at: datetime
    created_by: str
    kind: Kind = Kind.CLAIM
    ext_id: str | None = None  # an id from elsewhere; import is idempotent on it
    source: Source = field(default_factory=Source)
    review_date: date | None = None
    tags: tuple[str, ...] = ()
    watch: tuple[str, ...] = ()  # watch terms, each in the syntax of parsing.parse_watch_terms
    p: float | None = None  # the probability the source itself gives, scored as its track record
    forecasts: tuple[Forecast, ...] = ()  # every forecast ever made, oldest first
    outcome: Outcome | None = None
    archived: Archived | None = None  # deleted: out of lists, reminders, digests, matching and stats
    created_who: str = ""  # the stable identity of who recorded it, when `created_by` is only a name (see _Acted)

    @property
    def creator(self) -> str:
        """Who recorded the claim, for good (see _Acted.actor)."""
        return self.created_who or self.created_by

    @property
    def status(self) -> str:
        return "resolved" if self.outcome else "open"

    def current_forecasts(self) -> dict[str, Forecast]:
        """Each forecaster's latest forecast not withdrawn: their current view."""
        latest: dict[str, Forecast] = {}
        for f in sorted(self.forecasts, key=lambda f: f.at):
            if f.withdrawn_at is None:
                latest[f.forecaster] = f
        return latest

    def with_changes(self, **changes: Any) -> Claim:
        return replace(self, **changes)


@dataclass(frozen=True)
class Evidence:
    id: int  # 0 until stored
    claim: int
    url: str
    title: str
    found_at: datetime
    feed: str = ""
    published: datetime | None = None
    matched: tuple[str, ...] = ()  # the watch terms that matched
    stance: Stance = Stance.UNLABELLED
    words: tuple[str, ...] = ()  # for each matched term, the words of the item that matched it ("Минске")
    backfill: bool = False  # found in news that came before the claim or its terms: alerted to nobody
    seq: int = 0  # its number among the claim's evidence (1, 2, 3 …, in the order found): what people see and type

    def reasons(self) -> tuple[str, ...]:
        return match_reasons(self.matched, self.words)

    def numbered(self, id: int, seq: int) -> Evidence:
        """This evidence as stored: its row's id and its number among its claim's. A copy of its fields, not
        dataclasses.replace, which runs __init__ over every field at three times the cost: a watch cycle numbers
        tens of thousands."""
        stored = object.__new__(Evidence)
        stored.__dict__.update(self.__dict__, id=id, seq=seq)
        return stored


def match_reasons(terms: tuple[str, ...], words: tuple[str, ...]) -> tuple[str, ...]:
    """Why an item matched, per term: "Минске ← Минск", or the term alone where the item has it as written
    (or where the words are not known: evidence kept before they were)."""
    words = words if len(words) == len(terms) else ("",) * len(terms)
    return tuple(f"{w} ← {t}" if w and w.casefold() != t.lstrip("=").replace("*", "").casefold() else t
                 for w, t in zip(words, terms))


@dataclass(frozen=True)
class NewsItem:
    """An entry the watcher fetched, kept for a while so new claims can be matched against recent news."""

    feed: str  # the feed's name
    link: str
    title: str
    summary: str
    published: datetime  # as the feed dates it, else when it was fetched


@dataclass(frozen=True)
class Change(_Acted):
    """One entry of the audit trail: who changed what on a claim, and when."""

    claim: int
    at: datetime
    by: str
    action: str  # add, import, forecast, resolve, reopen, edit, label
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    who: str = ""  # see _Acted


# --- dict form -------------------------------------------------------------------------------


def iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def iso_utc(value: datetime) -> str:
    """A time as ISO 8601 in UTC: stored this way, texts compare as the times do."""
    return value.astimezone(UTC).isoformat()


def parse_datetime(text: str) -> datetime:
    """An ISO datetime; one without an offset is taken as UTC."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _date(text: str | None) -> date | None:
    return None if not text else date.fromisoformat(text)


def source_to_dict(source: Source) -> dict[str, Any]:
    return {
        "title": source.title,
        "url": source.url,
        "author": source.author,
        "published": iso(source.published),
        "quote": source.quote,
    }


def forecast_to_dict(f: Forecast) -> dict[str, Any]:
    d = {"by": f.by, "p": f.p, "at": iso(f.at), "note": f.note, **who_field(f.who)}
    return d | {"withdrawn": iso(f.withdrawn_at)} if f.withdrawn_at else d


def forecast_from_dict(d: dict[str, Any]) -> Forecast:
    return Forecast(by=d["by"], p=float(d["p"]), at=parse_datetime(d["at"]), note=d.get("note") or "",
                    withdrawn_at=parse_datetime(d["withdrawn"]) if d.get("withdrawn") else None,
                    who=d.get("who") or "")


def outcome_to_dict(o: Outcome) -> dict[str, Any]:
    return {
        "value": o.value.value,
        "event_date": iso(o.event_date),
        "at": iso(o.at),
        "by": o.by,
        "note": o.note,
        "evidence": list(o.evidence),
        **who_field(o.who),
    }


def who_field(who: str) -> dict[str, str]:
    """An identity in the dict form: only when there is one, so what a command-line name did reads as before."""
    return {"who": who} if who else {}


def outcome_from_dict(d: dict[str, Any]) -> Outcome:
    return Outcome(
        value=OutcomeValue(d["value"]),
        at=parse_datetime(d["at"]),
        by=d.get("by") or "",
        event_date=_date(d.get("event_date")),
        note=d.get("note") or "",
        evidence=tuple(d.get("evidence") or ()),
        who=d.get("who") or "",
    )


def claim_to_dict(claim: Claim) -> dict[str, Any]:
    """The interchange form; `number` is the short id, `id` the external id."""
    d: dict[str, Any] = {"number": claim.id} if claim.id else {}
    d |= {
        "id": claim.ext_id,
        "kind": claim.kind.value,
        "text": claim.text,
        "source": source_to_dict(claim.source),
        "created": iso(claim.created_at),
        "created_by": claim.created_by,
        "review_date": iso(claim.review_date),
        "tags": list(claim.tags),
        "watch": list(claim.watch),
        "p": claim.p,
        "forecasts": [forecast_to_dict(f) for f in claim.forecasts],
        "outcome": outcome_to_dict(claim.outcome) if claim.outcome else None,
    }
    if claim.created_who:  # only when set, as the other identities
        d["created_who"] = claim.created_who
    if claim.archived:  # only when set: what every claim carries stays as it was
        a = claim.archived
        d["archived"] = {"at": iso(a.at), "by": a.by, "reason": a.reason, **who_field(a.who)}
    return d


def claim_from_dict(d: dict[str, Any], number: int | None = None, *, default_created: datetime | None = None,
                    default_by: str = "", default_who: str = "") -> Claim:
    """A claim from its dict form; `number` overrides the dict's own `number`; without a `created_by`, it was
    recorded by `default_by` (who is `default_who`)."""
    s = d.get("source") or {}
    created = d.get("created")
    named = bool(d.get("created_by"))
    return Claim(
        id=number if number is not None else int(d.get("number") or 0),
        ext_id=d.get("id") or None,
        kind=Kind(d.get("kind") or Kind.CLAIM),
        text=d["text"],
        source=Source(
            title=s.get("title") or "",
            url=s.get("url") or "",
            author=s.get("author") or "",
            published=_date(s.get("published")),
            quote=s.get("quote") or "",
        ),
        created_at=parse_datetime(created) if created else _required(default_created, "created"),
        created_by=d["created_by"] if named else default_by,
        created_who=(d.get("created_who") or "") if named else default_who,
        review_date=_date(d.get("review_date")),
        tags=tuple(d.get("tags") or ()),
        watch=tuple(d.get("watch") or ()),
        p=None if d.get("p") is None else float(d["p"]),
        forecasts=tuple(forecast_from_dict(f) for f in d.get("forecasts") or ()),
        outcome=outcome_from_dict(d["outcome"]) if d.get("outcome") else None,
        archived=Archived(parse_datetime(a["at"]), a.get("by") or "", a.get("reason") or "", a.get("who") or "")
        if (a := d.get("archived")) else None,
    )


def _required(value: Any, name: str) -> Any:
    if value is None:
        raise ValueError(f"{name} is missing")
    return value


def evidence_to_dict(e: Evidence) -> dict[str, Any]:
    return {
        "claim": e.claim,
        "url": e.url,
        "title": e.title,
        "feed": e.feed,
        "published": iso(e.published),
        "found_at": iso(e.found_at),
        "matched": tuple(e.matched),  # written as JSON arrays; a tuple given is kept, not copied (a cycle keeps thousands)
        "stance": e.stance.value,
        "words": tuple(e.words),
        "backfill": e.backfill,
    }


def evidence_from_dict(d: dict[str, Any], id: int = 0) -> Evidence:
    return Evidence(
        id=id,
        claim=d["claim"],
        url=d["url"],
        title=d.get("title") or "",
        feed=d.get("feed") or "",
        published=parse_datetime(d["published"]) if d.get("published") else None,
        found_at=parse_datetime(d["found_at"]),
        matched=tuple(d.get("matched") or ()),
        stance=Stance(d.get("stance") or Stance.UNLABELLED),
        words=tuple(d.get("words") or ()),
        backfill=bool(d.get("backfill")),
    )


def news_item_to_dict(item: NewsItem) -> dict[str, Any]:
    """Its date in UTC, as the news window keeps it: the texts compare as the times do."""
    return {"feed": item.feed, "link": item.link, "title": item.title, "summary": item.summary,
            "published": iso_utc(item.published)}


def news_item_from_dict(d: dict[str, Any]) -> NewsItem:
    return NewsItem(d["feed"], d["link"], d["title"], d["summary"], parse_datetime(d["published"]))


def change_to_dict(c: Change) -> dict[str, Any]:
    return {"claim": c.claim, "at": iso(c.at), "by": c.by, **who_field(c.who), "action": c.action, "before": c.before,
            "after": c.after}


def change_from_dict(d: dict[str, Any]) -> Change:
    return Change(claim=d["claim"], at=parse_datetime(d["at"]), by=d["by"], action=d["action"],
                  before=d.get("before"), after=d.get("after"), who=d.get("who") or "")


# --- people and chats ------------------------------------------------------------------------


class Role(StrEnum):
    SUBSCRIBER = "subscriber"  # reads and follows claims
    ANALYST = "analyst"  # also records, forecasts and resolves
    ADMIN = "admin"  # also manages who may do what

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


@dataclass(frozen=True)
class User:
    id: int  # the Telegram user id
    name: str
    role: Role
    granted_by: str
    granted_at: datetime


DIGEST_FREQUENCIES = ("off", "daily", "weekly")  # a weekly digest comes on Mondays


@dataclass(frozen=True)
class Chat:
    id: int  # the Telegram chat id (negative for groups)
    type: str  # private, group, supergroup, channel, console
    title: str
    active: bool = True  # False once the bot was blocked or removed there (its alerts are dropped)
    reason: str = ""
    changed_at: datetime | None = None
    digest: str = "off"  # one of DIGEST_FREQUENCIES
    digest_at: time = time(9, 0)  # local time of the digest
    tz: str = ""  # the chat's time zone name; "" is CLAIMWATCH_TZ
    muted: tuple[int, ...] = ()  # claims whose alerts this chat does not want
    nudges: bool = True  # a person's private chat: the weekly list of claims due soon they have not forecast


ALERT_KINDS = ("evidence", "due", "outcome", "digest")  # what a subscription can ask for
CONSOLE_CHAT = 0  # the chat (and user) of `claimwatch console`: no Telegram chat has this id
# Telegram user ids that many people write as: Channel_Bot (a message sent as a channel), GroupAnonymousBot
# (an anonymous group admin) and Telegram's service account (posts forwarded from a linked channel). A role
# given to one would be everyone's, so none of them ever holds one.
CHANNEL_BOT = 136817688
SHARED_SENDERS = frozenset({CHANNEL_BOT, 1087968824, 777000})
TELEGRAM_IDENTITY = "tg:"  # the identity prefix of a Telegram user id (_Acted.who, Forecast.who, Claim.created_who)
WRITE_AS_YOURSELF = ("write to claimwatch as yourself: messages sent as a channel or as an anonymous admin could "
                     "come from anyone, so they get no role and run no command")


@dataclass(frozen=True)
class Subscription:
    chat: int
    target: str  # "all", "#tag", or a claim number as text
    since: datetime
    kinds: tuple[str, ...] = ALERT_KINDS  # a subset of ALERT_KINDS, in that order

    def covers(self, number: int, tags: tuple[str, ...]) -> bool:
        if self.target.startswith("#"):
            return self.target[1:] in tags
        return self.target in ("all", str(number))


# --- feeds -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feed:
    """A watched RSS/Atom feed and its health."""

    id: int  # 0 until stored
    url: str
    name: str
    added_at: datetime
    added_by: str
    enabled: bool = True
    disabled_reason: str = ""  # e.g. 410 Gone
    etag: str | None = None
    last_modified: str | None = None
    last_success: datetime | None = None
    last_error_at: datetime | None = None
    error: str = ""  # the last error's one-line message
    failures: int = 0  # consecutive
    next_check: datetime | None = None  # None: at once
    entries_seen: int = 0
    ttl_minutes: int | None = None  # the feed's own <ttl>, remembered for the checks that get a 304


_FEED_TIMES = ("added_at", "last_success", "last_error_at", "next_check")


def feed_to_dict(feed: Feed) -> dict[str, Any]:
    d = {k: v for k, v in feed.__dict__.items() if k != "id"}
    return d | {k: iso(d[k]) for k in _FEED_TIMES}


def feed_from_dict(d: dict[str, Any], id: int) -> Feed:
    return Feed(id=id, **(d | {k: parse_datetime(d[k]) if d.get(k) else None for k in _FEED_TIMES}))
