"""Copying one store into another: `claimwatch migrate --to LOCATION` (a data directory into PostgreSQL, or back).

Everything is copied through the store interface (store.Store), so any store copies into any other: claims
with their whole history, evidence in its numbering with its labels, the alert events still to fan out,
people, invites, chats, subscriptions, team settings, feeds with their health and seen entries, the recent
news, the outbox and its state, and which claims have a public page (at the same address). Sign-in links and
web sessions are not copied: they are short-lived, and people sign in again. The target must be empty; the source is only read.

The copy is then verified: each table of both stores is read back through the same interface, put in one
canonical form (times in UTC, rows sorted, evidence ids replaced by their claim and number, as ids are
each store's own), and its rows are counted and hashed (SHA-256); any difference is an error naming the table.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime, time
from typing import Any

import orjson

from claimwatch.errors import InputError, StoreError
from claimwatch.model import parse_datetime
from claimwatch.store import ClaimFilter, Store

BATCH = 500  # claims copied in one transaction

Progress = Callable[[str, int, int], None]  # (table, done, total)


def is_empty(store: Store) -> bool:
    return store.is_empty() and not (store.feeds() or store.users() or store.chats() or store.outbox()
                                     or store.team_settings() or store.invites())


def copy_store(source: Store, target: Store, now: datetime, progress: Progress = lambda *_: None) -> dict[str, tuple[int, str]]:
    """Copy `source` into the empty `target` and verify the copy; each table's (row count, hash)."""
    if not is_empty(target):
        raise InputError("the target holds data already: migrate copies into an empty store only")
    claims = source.find_claims(ClaimFilter(archived=None))
    ids: dict[int, int] = {}  # the source's evidence ids -> the target's
    for start in range(0, len(claims), BATCH):
        batch = claims[start:start + BATCH]
        with target.transaction():
            for claim in batch:
                history = source.history(claim.id)
                target.load_claim(claim, history)
                if (token := source.share_token(claim.id)) is not None:  # its public page keeps its address
                    shared = [change for change in history if change.action == "share"] or [None]
                    target.share_claim(claim.id, token, shared[-1].by if shared[-1] else "migrate",
                                       shared[-1].at if shared[-1] else now)
            items = [e for claim in batch for e in sorted(source.evidence_for(claim.id), key=lambda e: e.seq)]
            for old, new in zip(items, target.add_evidence([dataclasses.replace(e, id=0) for e in items]), strict=True):
                if new.seq != old.seq:
                    raise StoreError(f"claim #{old.claim}'s evidence [{old.seq}] was numbered [{new.seq}] in the copy")
                ids[old.id] = new.id
        progress("claims", start + len(batch), len(claims))
    with target.transaction():
        for event in source.alert_events():
            fields = {k: v for k, v in event.items() if k not in ("kind", "claim", "created", "ref")}
            if "evidence" in fields:
                fields["evidence"] = ids[fields["evidence"]]
            target.add_alert(event["kind"], event["claim"], parse_datetime(event["created"]), **fields)
        for user in source.users():
            target.set_role(user.id, user.role, user.name, user.granted_by, user.granted_at)
        for invite in source.invites():
            target.add_invite(invite["token"], invite["role"], invite["created_by"], invite["created_at"],
                              invite["used_by"], invite["used_at"])
        for chat in source.chats():
            target.save_chat(chat)
        for sub in source.subscriptions():
            target.subscribe(sub.chat, sub.target, sub.since, sub.kinds)
        for key, value in source.team_settings().items():
            target.save_team_setting(key, value)
        for feed in source.feeds():
            target.save_feed(feed)
            target.save_seen(feed.id, source.seen(feed.id))
        target.add_news(source.recent_news(now), now)
        target.queue_messages(source.outbox(), state=source.outbox_state())
    progress("the rest", 1, 1)
    target.vacuum()  # a database's planner learns what was copied at once, not when autovacuum comes by
    copied, stored = fingerprint(source, now), fingerprint(target, now)
    differ = [table for table in copied if copied[table] != stored[table]]
    if differ:
        raise StoreError(f"the copy differs from the source in {', '.join(differ)}; the source is unchanged")
    return copied


def fingerprint(store: Store, now: datetime) -> dict[str, tuple[int, str]]:
    """Each table's row count and the SHA-256 of its rows in canonical form."""
    claims = store.find_claims(ClaimFilter(archived=None))
    evidence = [e for c in claims for e in store.evidence_for(c.id)]
    number = {e.id: (e.claim, e.seq) for e in evidence}
    tables: dict[str, list[Any]] = {
        "claims": claims,
        "audit": [change for c in claims for change in store.history(c.id)],
        "public pages": [(c.id, token) for c in claims if (token := store.share_token(c.id)) is not None],
        "evidence": [dataclasses.replace(e, id=0) for e in evidence],
        "alert events": [{k: number.get(v, v) if k == "evidence" else v for k, v in e.items() if k != "ref"}
                         for e in store.alert_events()],
        "users": store.users(),
        "invites": store.invites(),
        "chats": store.chats(),
        "subscriptions": store.subscriptions(),
        "team settings": sorted(store.team_settings().items()),
        "feeds": store.feeds(),
        "seen entries": [(f.id, key, seen) for f in store.feeds() for key, seen in store.seen(f.id).items()],
        "recent news": store.recent_news(now),
        "outbox": store.outbox(),
        "outbox state": sorted(store.outbox_state().items()),
    }
    return {name: _digest(rows) for name, rows in tables.items()}


def _digest(rows: list[Any]) -> tuple[int, str]:
    lines = sorted(orjson.dumps(_canonical(row), option=orjson.OPT_SORT_KEYS) for row in rows)
    return len(lines), hashlib.sha256(b"\n".join(lines)).hexdigest()


def _canonical(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, str) and len(value) >= 19 and value[10:11] == "T":  # a time kept as text
        try:
            return parse_datetime(value).astimezone(UTC).isoformat()
        except ValueError:
            return value
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value


def bar(table: str, done: int, total: int, width: int = 30) -> str:
    """A progress bar: `claims   [#########.....................]  3000/10000`."""
    filled = width * done // max(total, 1)
    return f"{table:<8} [{'#' * filled}{'.' * (width - filled)}] {done:>{len(str(total))}}/{total}"
