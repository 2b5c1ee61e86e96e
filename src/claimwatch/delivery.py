"""Alerts, review reminders and digests: from what happened to the outbox, and from the outbox to chats.

1. A cause writes an alert event beside itself, in the same store write: new evidence in its
   evidence file, an outcome in its claim's file.
2. `prepare()` fans the events out into the persisted outbox (one message per chat and event, its
   key `chat/event`, so a repeat after a crash adds nothing) and adds the day's review reminders and
   the digests that are due, each with the state that says it was done, in one transaction. Each
   step reads what it decides on inside that transaction (the writers' lock held, files another
   process changed read again), so the bot and `claimwatch watch` on one data directory neither
   queue a message twice nor remove an event they did not fan out.
3. A sender takes `next_batch()` (at most one message per chat; several alerts for one chat grouped
   by claim into one message): the bot every Telegram chat's, `claimwatch watch` the console chat's
   (CONSOLE_CHAT, which Telegram does not know). Each fits one Telegram message (MESSAGE_BUDGET: a
   digest shows what fits, an overlong alert is cut short), so it is never sent in pieces, of which a
   retry would send the first ones again. The sender reports each message back: `sent`,
   `retry`, `unreachable`, `migrated` or `dropped`. What was not reported sent is sent again after a
   restart; only a message Telegram accepted in the instant before it was recorded can arrive twice.

Who hears what: a chat hears about a claim when one of its subscriptions covers the claim (all
claims, one of its tags, or the claim itself) and asks for that kind (evidence, due, outcome,
digest), the chat is active and it has not muted the claim. Reminders go to chats subscribed for
"due" alerts: once per claim per day at CLAIMWATCH_REMIND_AT; after downtime, once at start-up.
"""

from __future__ import annotations

import functools
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from claimwatch import render, scores
from claimwatch.chat import Button
from claimwatch.model import (
    CONSOLE_CHAT,
    Chat,
    Claim,
    Evidence,
    Role,
    Subscription,
    TELEGRAM_IDENTITY,
    iso_utc,
    outcome_from_dict,
    parse_datetime,
)
from claimwatch.render import HTML, shorten, utf16_len
from claimwatch.store import ClaimFilter, Store

log = logging.getLogger(__name__)

MESSAGE_BUDGET = 3500  # UTF-16 units of one outbox message, so it goes as one Telegram message (4096)
TITLE_BUDGET = 300  # UTF-16 units of a claim's text heading its part of a grouped message
DIGEST_ITEMS = 15  # per section of a digest, at most
# Messages Telegram refused, or for a chat gone, are kept this long to look into. The console chat's messages
# wait this long for `claimwatch watch` to print them (the bot leaves them), then are forgotten too: a console
# that once subscribed would otherwise grow the outbox, which every send rewrites, without end.
KEEP_DROPPED = timedelta(days=7)
MAX_BACKOFF = timedelta(hours=1)
SOON = timedelta(days=7)  # "reviews due soon" in a digest
BUTTON_CLAIMS = 6  # claims in one message that get their own buttons
LABELS = {"evidence": "New evidence", "due": "Review due", "outcome": "Outcome recorded"}


@dataclass(frozen=True)
class Outgoing:
    """One message for one chat, made of the outbox messages `keys`."""

    chat: int
    keys: tuple[str, ...]
    text: str  # Telegram HTML
    buttons: tuple[tuple[Button, ...], ...] = ()
    attempts: int = 0  # failed attempts so far


# --- from causes to the outbox -------------------------------------------------------------------


def prepare(store: Store, now: datetime, tz: ZoneInfo, remind_at: time) -> int:
    """Fan out the alert events, then queue the reminders, nudges and digests that are due; how many new messages."""
    return (fan_out(store, now, tz) + queue_reminders(store, now, tz, remind_at) + queue_nudges(store, now, tz, remind_at)
            + queue_digests(store, now, tz))


def fan_out(store: Store, now: datetime, tz: ZoneInfo) -> int:
    """Turn every waiting alert event into outbox messages for the chats that want it."""
    with store.transaction():  # read and written under the writers' lock: no other process acts meanwhile
        events = store.alert_events()
        if not events:
            return 0
        audience = _Audience(store)
        evidence: dict[int, dict[int, Evidence]] = {}
        messages = []
        for event in events:
            claim = store.get_claim(event["claim"])
            if claim.archived:  # deleted meanwhile: announced to nobody
                continue
            item = None
            if event["kind"] == "evidence":
                found = evidence.setdefault(claim.id, {e.id: e for e in store.evidence_for(claim.id)})
                item = found.get(event["evidence"])
                if item is None:
                    continue
            reopened = event.get("reopened") is not None
            name = f"evidence:{claim.id}:{item.id}" if item else \
                f"{'reopen' if reopened else 'outcome'}:{claim.id}:{event['created']}"
            for chat in audience.chats(claim, event["kind"], since=parse_datetime(event["created"])):
                line = render.evidence_line(item, chat_tz(audience.chats_by_id.get(chat), tz), HTML) if item \
                    else outcome_text(claim, event)
                message = _message(chat, name, event["kind"], claim, line, now)
                if reopened:
                    message["label"] = "Reopened"
                messages.append(message)
        return store.queue_messages(messages, done_events=[e["ref"] for e in events])


def queue_reminders(store: Store, now: datetime, tz: ZoneInfo, remind_at: time) -> int:
    """Once a day, after `remind_at` local time: a reminder per claim due that day or overdue, to each
    chat following it for "due" alerts. A day missed during downtime is not made up: the next run
    reminds once, as of its own day."""
    with store.transaction():  # read and written under the writers' lock: no other process acts meanwhile
        local = now.astimezone(tz)
        day = local.date() if local.time() >= remind_at else local.date() - timedelta(days=1)
        if store.outbox_state().get("reminded", "") >= day.isoformat():
            return 0
        audience = _Audience(store)
        claims = sorted(store.find_claims(ClaimFilter(status="open", due_by=day)), key=lambda c: (c.review_date, c.id))
        # Said as of the day it goes out: a round missed yesterday, sent this morning, calls yesterday overdue.
        # To the chats that follow the claim, and to each of its forecasters in private: one message a chat.
        messages = [_message(chat, f"due:{claim.id}:{day}", "due", claim, render.review(claim, local.date()), now)
                    for claim in claims
                    for chat in dict.fromkeys([*audience.chats(claim, "due"), *audience.forecasters(claim)])]
        return store.queue_messages(messages, state={"reminded": day.isoformat()})


NUDGE_DAYS = 14  # the weekly nudge lists the claims due within this many days


def queue_nudges(store: Store, now: datetime, tz: ZoneInfo, remind_at: time) -> int:
    """Once a week, on Mondays after `remind_at` local time: each analyst who has a private chat with the bot
    (and has not turned nudges off) gets the open claims due within NUDGE_DAYS that they have not forecast.
    A week missed during downtime is not made up; nobody gets an empty list."""
    with store.transaction():
        local = now.astimezone(tz)
        monday = local.date() - timedelta(days=local.weekday())  # this week's round, due from Monday at remind_at
        if local.date() == monday and local.time() < remind_at or store.outbox_state().get("nudged", "") >= monday.isoformat():
            return 0
        soon = local.date() + timedelta(days=NUDGE_DAYS)
        claims = sorted(store.find_claims(ClaimFilter(status="open", due_by=soon)), key=lambda c: (c.review_date, c.id))
        audience = _Audience(store)
        messages = []
        for user in store.users():
            chat = audience.chats_by_id.get(user.id)
            if chat is None or not chat.active or not chat.nudges or not user.role.allows(Role.ANALYST):
                continue
            mine = (f"{TELEGRAM_IDENTITY}{user.id}", user.name)  # a forecast from before identities: by name
            todo = [c for c in claims if not any(f.forecaster in mine for f in c.forecasts) and c.id not in chat.muted]
            if todo:
                lines = "\n".join(render.claim_line(c, local.date(), HTML) for c in todo[:DIGEST_ITEMS])
                more = f"\n… and {len(todo) - DIGEST_ITEMS} more (/todo)" if len(todo) > DIGEST_ITEMS else ""
                messages.append(_message(user.id, f"nudge:{monday}", "digest", None,  # a message of its own, as a digest
                                         f"<b>Due within {NUDGE_DAYS} days, not forecast by you</b> ({len(todo)}):\n"
                                         f"{lines}{more}\n/settings nudges off stops these.", now))
        return store.queue_messages(messages, state={"nudged": monday.isoformat()})


def queue_digests(store: Store, now: datetime, tz: ZoneInfo) -> int:
    """A digest for each chat whose digest time has come since its last one; an empty one is skipped
    (but counts as done). A chat that just turned its digest on (or is reachable again) gets its first
    one at the next digest time, covering what happened from the one before (nothing is sent for times
    before it asked). A digest covers at most one period (day or week) before its time: after downtime,
    the last one."""
    with store.transaction():  # read and written under the writers' lock: no other process acts meanwhile
        state = store.outbox_state()
        last: dict[str, str] = dict(state.get("digests", {}))
        chats = [c for c in store.chats() if c.active and c.digest != "off"]
        due = [(c, slot) for c in chats if (slot := digest_slot(c, now, chat_tz(c, tz)))
               and last.get(str(c.id), "") < iso_utc(slot)]
        if not due:
            return 0
        claims = store.find_claims()
        found = store.evidence_between(min(_since(c, slot, last, chat_tz(c, tz)) for c, slot in due), now)
        subscriptions = _by_chat(store.subscriptions())
        messages = []
        for chat, slot in due:
            if str(chat.id) not in last:
                last[str(chat.id)] = iso_utc(slot)
                continue
            since = _since(chat, slot, last, chat_tz(chat, tz))
            follows = [s for s in subscriptions.get(chat.id, []) if "digest" in s.kinds]
            text = digest_text([c for c in claims if any(s.covers(c.id, c.tags) for s in follows)
                                and c.id not in chat.muted], found, since, slot, chat_tz(chat, tz))
            last[str(chat.id)] = iso_utc(slot)
            if text:
                messages.append(_message(chat.id, f"digest:{slot.date()}", "digest", None, text, now))
        store.queue_messages(messages, state={"digests": last})
        return len(messages)


def digest_slot(chat: Chat, now: datetime, tz: ZoneInfo) -> datetime | None:
    """The latest time at or before `now` when this chat's digest was due (None when it takes none).
    Compared as instants in UTC (Python compares two times of one zone by their wall clock): a digest
    time that a spring-forward gap skips (02:30 in Berlin) comes when the clocks went past it (03:30)."""
    if chat.digest == "off":
        return None
    day = now.astimezone(tz).date()
    while True:
        if chat.digest == "weekly":
            day -= timedelta(days=day.weekday())  # Monday
        slot = datetime.combine(day, chat.digest_at, tz).astimezone(UTC)
        if slot <= now.astimezone(UTC):
            return slot.astimezone(tz)
        day -= timedelta(days=1)


def digest_text(claims: list[Claim], evidence: list[Evidence], since: datetime, until: datetime,
                tz: ZoneInfo) -> str:
    """New claims, new evidence, reviews due soon and outcomes among `claims`, in one message (each section
    gets an equal share of MESSAGE_BUDGET); "" when there is nothing."""
    ids = {c.id: c for c in claims}
    day = until.astimezone(tz).date()
    sections = {
        "New claims": [render.claim_line(c, day, HTML) for c in claims if since < c.created_at <= until],
        "New evidence": [f"#{e.claim}: {render.evidence_line(e, tz, HTML)}" for e in evidence
                         if e.claim in ids and since < e.found_at <= until],
        "Reviews due soon": [render.claim_line(c, day, HTML) for c in sorted(claims, key=lambda c: (c.review_date or day, c.id))
                             if c.outcome is None and c.review_date and c.review_date <= day + SOON],
        "Outcomes": [render.claim_line(c, day, HTML) for c in claims if c.outcome and since < c.outcome.at <= until],
    }
    if not any(sections.values()):
        return ""
    header = f"<b>Digest</b> · {since.astimezone(tz):%Y-%m-%d %H:%M} to {until.astimezone(tz):%Y-%m-%d %H:%M}"
    filled = {title: lines for title, lines in sections.items() if lines}
    share = (MESSAGE_BUDGET - utf16_len(header)) // len(filled) - 2
    return "\n\n".join([header, *(_section(title, lines, share) for title, lines in filled.items())])


def _section(title: str, lines: list[str], budget: int) -> str:
    """A digest section within `budget` UTF-16 units: the first lines that fit (at most DIGEST_ITEMS; the first
    one cut short if it alone is too long), then how many more there are."""
    head = f"<b>{title}</b> ({len(lines)})"
    used = utf16_len(head) + len(f"\n… and {len(lines)} more")
    shown: list[str] = []
    for line in lines[:DIGEST_ITEMS]:
        item = f"• {line}" if shown else shorten(f"• {line}", budget - used - 1)
        if shown and used + 1 + utf16_len(item) > budget:
            break
        shown.append(item)
        used += 1 + utf16_len(item)
    more = [f"… and {len(lines) - len(shown)} more"] if len(lines) > len(shown) else []
    return "\n".join([head, *shown, *more])


def outcome_text(claim: Claim, event: dict[str, Any] | None = None) -> str:
    """What the outcome event says: the outcome, its note and evidence, and how each forecaster's last forecast
    scored (Brier), as they were when it was recorded; or the outcome a reopening set aside, and why. An event
    written before events carried their snapshot is told from the claim as it is now."""
    if event is not None and event.get("reopened") is not None:
        old = outcome_from_dict(event["reopened"])
        return f"was <b>{old.value.value}</b>" + (f" — {HTML.esc(event['note'])}" if event.get("note") else "")
    if event is not None and event.get("outcome") is not None:
        outcome = outcome_from_dict(event["outcome"])
        kept = event.get("forecasts") or []  # (name, p) pairs; a name -> p dict in events kept before
        source_p, forecasts = event.get("source_p"), list(kept.items() if isinstance(kept, dict) else map(tuple, kept))
    else:
        outcome = claim.outcome
        source_p, forecasts = claim.p, [(f.by, f.p) for f in claim.current_forecasts().values()]
    if outcome is None:
        return "reopened since"
    parts = [f"<b>{outcome.value.value}</b>" + (f" (event {outcome.event_date})" if outcome.event_date else "")
             + (f" — {HTML.esc(outcome.note)}" if outcome.note else "")]
    if outcome.evidence:
        parts.append("Evidence: " + ", ".join(HTML.esc(url) for url in outcome.evidence))
    o = scores.outcome_code(outcome.value)
    latest = ([("the source", source_p)] if source_p is not None else []) + forecasts
    if latest and o is not None:
        parts.append("Brier: " + "; ".join(f"{HTML.esc(who)} {render.percent(p)} → {scores.brier(p, o):.3f}"
                                           for who, p in latest))
    elif latest:
        parts.append("Void: forecasts are not scored.")
    return "\n".join(parts)


# --- from the outbox to chats --------------------------------------------------------------------


def next_batch(store: Store, now: datetime, *, console: bool = False, web_url: str = "") -> list[Outgoing]:
    """The next message for every Telegram chat that has one due (with `console`, for the console chat
    alone): a digest alone, else its alerts grouped by claim, each claim with a button to its web page when
    `web_url` (CLAIMWATCH_PUBLIC_URL) is given."""
    due = iso_utc(now)
    by_chat: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for m in store.outbox("pending"):
        if m["next_try"] <= due and (m["chat"] == CONSOLE_CHAT) == console:
            by_chat[m["chat"]].append(m)
    return [_compose(chat, rows, web_url) for chat, rows in by_chat.items()]


def sent(store: Store, *messages: Outgoing) -> None:
    """Telegram accepted these messages: they leave the outbox, in one store write (their events were consumed
    by the fan-out that made them, so nothing can make them again)."""
    store.forget_messages([key for m in messages for key in m.keys], chats={m.chat for m in messages})


def retry(store: Store, message: Outgoing, now: datetime, error: str, after: float | None = None) -> None:
    """Try again later: after `after` seconds (flood control), else backing off 10 s, 20 s ... up to an hour."""
    attempts = message.attempts + 1
    wait = timedelta(seconds=after) if after is not None else min(MAX_BACKOFF, timedelta(seconds=10 * 2 ** (attempts - 1)))
    store.update_messages(list(message.keys), chat=message.chat, attempts=attempts, next_try=iso_utc(now + wait),
                          error=error)


def dropped(store: Store, message: Outgoing, now: datetime, error: str) -> None:
    """Telegram refused the message itself (not the chat): it will never go through."""
    store.update_messages(list(message.keys), chat=message.chat, status="dropped", sent_at=iso_utc(now), error=error)


def unreachable(store: Store, chat: int, reason: str, now: datetime) -> None:
    store.deactivate_chat(chat, reason, now)


def migrated(store: Store, old: int, new: int, now: datetime) -> None:
    store.migrate_chat(old, new, now)


def forget_dropped(store: Store, now: datetime) -> int:
    """Forget messages dropped, and the console chat's messages queued, more than KEEP_DROPPED ago."""
    return store.prune_outbox(now - KEEP_DROPPED, pending_for=(CONSOLE_CHAT,))


# --- helpers -------------------------------------------------------------------------------------


def chat_tz(chat: Chat | None, default: ZoneInfo) -> ZoneInfo:
    """The chat's time zone; the default when it has none, or when its zone is no longer known (a tzdata
    update renamed it, or people.json was edited by hand): one chat's setting never stops delivery."""
    zone = _zone(chat.tz) if chat is not None and chat.tz else None
    return zone or default


@functools.cache
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("time zone %r of a chat is not known here; using the default (change it with /settings tz)",
                    name)
        return None


def hears(store: Store, chat_id: int, kind: str) -> Callable[[int], bool]:
    """Whether a chat hears `kind` alerts about a claim (by number), as the fan-out decides: it follows
    the claim for that kind, is active, and has not muted it."""
    audience = _Audience(store)
    return lambda number: chat_id in audience.chats(store.get_claim(number), kind)


class _Audience:
    """Which chats want which alerts about a claim."""

    def __init__(self, store: Store) -> None:
        self.chats_by_id = {c.id: c for c in store.chats()}
        self.subscriptions = store.subscriptions()
        self.users_by_name = {u.name: u.id for u in store.users()}  # who forecasts under which name

    def chats(self, claim: Claim, kind: str, since: datetime | None = None) -> list[int]:
        """The chats to tell; with `since` (when the event happened), only those that followed the claim by then,
        so a new subscriber is not told the news that came before it."""
        found = dict.fromkeys(s.chat for s in self.subscriptions if kind in s.kinds and s.covers(claim.id, claim.tags)
                              and (since is None or s.since <= since))
        return [c for c in found if (chat := self.chats_by_id.get(c)) is None
                or chat.active and claim.id not in chat.muted]

    def forecasters(self, claim: Claim) -> list[int]:
        """The private chats of a claim's forecasters who have one with the bot (reachable, not muting it): a
        Telegram user by their identity, a forecast from before identities by the user's name."""
        found = [_telegram_user(f.forecaster) or self.users_by_name.get(f.by)
                 for f in claim.current_forecasts().values()]
        return [user for user in dict.fromkeys(found) if user is not None
                and (chat := self.chats_by_id.get(user)) is not None and chat.type == "private" and chat.active
                and claim.id not in chat.muted]


def _telegram_user(identity: str) -> int | None:
    """The Telegram user id of a forecaster's identity ("tg:<id>"), None for a command-line name."""
    rest = identity.removeprefix(TELEGRAM_IDENTITY)
    return int(rest) if rest != identity and rest.isdecimal() else None


def _by_chat(subscriptions: list[Subscription]) -> dict[int, list[Subscription]]:
    out: dict[int, list[Subscription]] = defaultdict(list)
    for s in subscriptions:
        out[s.chat].append(s)
    return out


def _since(chat: Chat, slot: datetime, last: dict[str, str], tz: ZoneInfo) -> datetime:
    """Where the digest due at `slot` starts: at the chat's last one, but at most one period before `slot`."""
    recorded = last.get(str(chat.id))
    previous = digest_slot(chat, slot - timedelta(seconds=1), tz)
    return max(parse_datetime(recorded), previous) if recorded and previous else slot


def _message(chat: int, event: str, kind: str, claim: Claim | None, line: str, now: datetime) -> dict[str, Any]:
    return {"key": f"{chat}/{event}", "chat": chat, "event": event, "kind": kind,
            "claim": claim.id if claim else None, "title": claim.text if claim else "",
            "line": shorten(line, MESSAGE_BUDGET),  # bounded: one outbox message is one Telegram message at most
            "created": iso_utc(now), "status": "pending", "attempts": 0, "next_try": iso_utc(now), "sent_at": None, "error": ""}


def _compose(chat: int, rows: list[dict[str, Any]], web_url: str = "") -> Outgoing:
    first = rows[0]
    if first["kind"] == "digest":
        return Outgoing(chat, (first["key"],), first["line"], (), first["attempts"])
    by_claim: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["kind"] != "digest":
            by_claim[r["claim"]].append(r)
    blocks: list[tuple[int, list[dict[str, Any]], str]] = []
    used = 0
    for number, items in by_claim.items():
        if not blocks:  # the first claim always goes: as many of its items as fit, cut short if one alone does not
            items = _fitting(items)
        block = shorten(_block(number, items), MESSAGE_BUDGET)
        if blocks and used + utf16_len(block) > MESSAGE_BUDGET:
            break  # the rest goes in the next message
        blocks.append((number, items, block))
        used += utf16_len(block) + 2
    items_sent = [r for _, items, _ in blocks for r in items]
    buttons = tuple(row for number, items, _ in blocks[:BUTTON_CLAIMS] for row in _buttons(number, items, web_url))
    return Outgoing(chat, tuple(r["key"] for r in items_sent), "\n\n".join(b for _, _, b in blocks), buttons,
                    max(r["attempts"] for r in items_sent))


def _block(number: int, items: list[dict[str, Any]]) -> str:
    """One claim's part of a grouped message."""
    return f"<b>#{number}</b> {_title(items)}\n" + "\n".join(f"{r.get('label') or LABELS[r['kind']]}: {r['line']}" for r in items)


def _title(items: list[dict[str, Any]]) -> str:
    return shorten(HTML.esc(items[0]["title"]), TITLE_BUDGET)


def _fitting(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first of a claim's items that fit in one message (at least one)."""
    kept, used = [], utf16_len(_title(items)) + 20
    for r in items:
        used += utf16_len(r["line"]) + 20
        if kept and used > MESSAGE_BUDGET:
            break
        kept.append(r)
    return kept


def _buttons(number: int, items: list[dict[str, Any]], web_url: str = "") -> list[tuple[Button, ...]]:
    kinds = {r["kind"] for r in items}
    rows: list[tuple[Button, ...]] = [(Button(f"Open #{number} in browser", "", url=f"{web_url}/claims/{number}"),)] \
        if web_url else []
    if "due" in kinds:
        rows.append((Button(f"Resolve #{number}", f"/resolve {number}"),
                     Button("Snooze a week", f"/snooze {number} 7"), Button("Move…", f"/snooze {number}")))
    if "evidence" in kinds:
        rows.append((Button(f"Evidence #{number}", f"/evidence {number}"), Button(f"Mute #{number}", f"/mute {number}")))
    return rows

