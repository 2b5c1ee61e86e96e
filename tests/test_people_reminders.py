"""Reminders to people: a claim's forecasters get its due reminder in private; analysts get a weekly nudge
about claims due soon that they have not forecast. Once each, across a restart."""

from __future__ import annotations

import time
from datetime import date, time as clock, timedelta
from pathlib import Path

from claimwatch import delivery, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.model import Chat, Role
from claimwatch.store import Store, open_store

from conftest import NOW, UTC_TZ
from fakebot import FakeBotAPI, running
from test_delivery_bot import bot_for

NINE = clock(9, 0)
ANN, BOB, SUB = 7, 8, 9  # NOW is Monday 2026-03-02 09:30 UTC


def team(data: Path) -> Store:
    store = open_store(data)
    store.set_role(ANN, Role.ANALYST, "ann", "test", NOW)
    store.set_role(BOB, Role.ANALYST, "bob", "test", NOW)
    store.set_role(SUB, Role.SUBSCRIBER, "sue", "test", NOW)
    for user, name in ((ANN, "ann"), (BOB, "bob"), (SUB, "sue")):
        store.save_chat(Chat(user, "private", name))
    return store


def claim(store: Store, text: str, review: date) -> int:
    return ledger.add_claim(store, ledger.NewClaim(text=text, review_date=review), "ann", NOW).id


def test_a_claims_forecasters_get_its_due_reminder_in_private_once(data: Path | str) -> None:
    store = team(data)
    due = claim(store, "Due claim", date(2026, 3, 1))
    ledger.add_forecast(store, due, 0.4, "ann", NOW - timedelta(days=3))
    ledger.add_forecast(store, due, 0.6, "carol", NOW - timedelta(days=3))  # no chat with the bot: nobody to tell
    store.subscribe(ANN, "all", NOW, ("due",))  # ann also follows it: still one message
    assert delivery.queue_reminders(store, NOW, UTC_TZ, NINE) == 1
    assert [(m["chat"], m["claim"]) for m in store.outbox()] == [(ANN, due)]
    assert delivery.queue_reminders(open_store(data), NOW + timedelta(hours=1), UTC_TZ, NINE) == 0
    ledger.add_forecast(store, due, 0.5, "bob", NOW)
    assert delivery.queue_reminders(store, NOW + timedelta(days=1), UTC_TZ, NINE) == 2  # the next day: ann and bob
    store.save_chat(Chat(BOB, "private", "bob", muted=(due,)))
    assert delivery.queue_reminders(store, NOW + timedelta(days=2), UTC_TZ, NINE) == 1  # bob muted it


def test_the_weekly_nudge_lists_claims_due_soon_not_yet_forecast_once_a_week(data: Path | str) -> None:
    store = team(data)
    soon = claim(store, "Due in a week", date(2026, 3, 9))
    forecast = claim(store, "Due in ten days", date(2026, 3, 12))
    claim(store, "Due in a month", date(2026, 4, 2))
    ledger.add_forecast(store, forecast, 0.3, "ann", NOW)
    assert delivery.queue_nudges(store, NOW.replace(hour=8), UTC_TZ, NINE) == 0  # before Monday 09:00: not yet
    assert delivery.queue_nudges(store, NOW, UTC_TZ, NINE) == 2  # ann and bob; sue is no analyst
    nudges = {m["chat"]: m["line"] for m in store.outbox()}
    assert f"#{soon}" in nudges[ANN] and f"#{forecast}" not in nudges[ANN] and "Due in a month" not in nudges[ANN]
    assert f"#{forecast}" in nudges[BOB] and "(2)" in nudges[BOB]
    assert delivery.queue_nudges(open_store(data), NOW + timedelta(days=3), UTC_TZ, NINE) == 0
    chat = ChatService(store, ChatSettings(UTC_TZ, frozenset(), "invite"))
    assert "Weekly nudges" in chat.handle(Incoming(BOB, BOB, "/settings nudges off", "bob"), NOW)[0].text
    assert delivery.queue_nudges(store, NOW + timedelta(days=7), UTC_TZ, NINE) == 1  # next Monday: ann only
    assert [m["chat"] for m in store.outbox() if m["event"] == "nudge:2026-03-09"] == [ANN]


def test_a_forecaster_gets_the_reminder_and_the_nudge_in_private_through_the_bot_once_across_a_restart(
        tmp_path: Path, data: Path | str) -> None:
    store = team(data)
    number = claim(store, "Deal signed by spring", date(2026, 2, 20))
    soon = claim(store, "Summit held next week", date(2026, 3, 6))
    ledger.add_forecast(store, number, 0.4, "bob", NOW - timedelta(days=10))
    store.queue_messages([], state={"reminded": "2026-03-01"})
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data)):
            reminder = api.wait_for(lambda s: s.chat_id == BOB and "Review due" in (s.text or ""))
            nudge = api.wait_for(lambda s: s.chat_id == BOB and "not forecast by you" in (s.text or ""))
            time.sleep(0.6)
        with running(bot_for(api, store, data)):  # a restart the same morning: nothing again
            time.sleep(1.0)
        assert [s for s in api.sent if "Review due" in (s.text or "")] == [reminder]  # bob only, once
        assert sorted(s.chat_id for s in api.sent if "not forecast by you" in (s.text or "")) == [ANN, BOB]
    assert f"#{number}" in reminder.text and f"#{soon}" in nudge.text and f"#{number}" not in nudge.text
