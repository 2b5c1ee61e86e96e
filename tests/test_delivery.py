"""From causes to the outbox and from the outbox to messages: fan-out, keys, grouping, reminders, digests."""

from __future__ import annotations

import os
import threading
import time as time_
import uuid
from dataclasses import replace
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from conftest import NOW, UTC_TZ

from claimwatch import delivery, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.model import Chat, Evidence, OutcomeValue, Role
from claimwatch.render import split_message, utf16_len
from claimwatch.store import FileStore, OUTBOX_SHARDS, Store, open_store

NINE = time(9, 0)


def claim(store: Store, text: str, *, tags: tuple[str, ...] = (), review: date | None = None, p: float | None = None) -> int:
    return ledger.add_claim(store, ledger.NewClaim(text=text, tags=tags, review_date=review, p=p), "ann", NOW).id


def evidence(store: Store, number: int, title: str, at=NOW) -> Evidence:
    return store.add_evidence([Evidence(0, number, f"https://n.example/{title}", title, at, feed="Wire",
                                        matched=("gas",))], alert=True)[0]


def pending(store: Store) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for m in store.outbox("pending"):
        out.setdefault(m["chat"], []).append(m)
    return out


def test_evidence_reaches_the_chats_that_follow_the_claim_for_that_kind(store: Store) -> None:
    energy = claim(store, "Power of Siberia 2 stays stalled", tags=("energy",))
    other = claim(store, "China skips the summit", tags=("diplomacy",))
    store.subscribe(1, "all", NOW)
    store.subscribe(2, "#energy", NOW, ("evidence",))
    store.subscribe(3, str(other), NOW)
    store.subscribe(4, "#energy", NOW, ("outcome",))  # wants no evidence
    store.subscribe(5, "all", NOW)
    store.save_chat(Chat(5, "private", "blocked", active=False, reason="blocked"))
    store.subscribe(6, "all", NOW)
    store.save_chat(Chat(6, "private", "muter", muted=(energy,)))
    evidence(store, energy, "talks")
    assert len(store.alerts(energy)) == 1
    assert delivery.fan_out(store, NOW, UTC_TZ) == 2
    assert sorted(pending(store)) == [1, 2]
    assert store.alerts(energy) == []  # the event became messages
    assert delivery.fan_out(store, NOW, UTC_TZ) == 0


def test_a_fan_out_repeated_after_a_crash_adds_nothing(store: Store) -> None:
    number = claim(store, "Gas deal signed")
    store.subscribe(1, "all", NOW)
    store.subscribe(2, "all", NOW)
    evidence(store, number, "signed")
    events = store.alert_events()
    # A crash after the outbox was written but before the events were removed: the same messages again.
    first = [delivery._message(chat, f"evidence:{number}:{events[0]['evidence']}", "evidence",
                               store.get_claim(number), "line", NOW) for chat in (1, 2)]
    assert store.queue_messages(first) == 2
    assert delivery.fan_out(store, NOW, UTC_TZ) == 0
    assert len(store.outbox()) == 2 and store.alert_events() == []


def test_many_matches_for_one_chat_become_one_message_grouped_by_claim(store: Store) -> None:
    a, b = claim(store, "Claim A"), claim(store, "Claim B")
    store.subscribe(1, "all", NOW)
    for i in range(3):
        evidence(store, a, f"a{i}")
    evidence(store, b, "b0")
    delivery.fan_out(store, NOW, UTC_TZ)
    batch = delivery.next_batch(store, NOW)
    assert len(batch) == 1 and len(batch[0].keys) == 4
    text = batch[0].text
    assert text.index(f"<b>#{a}</b>") < text.index("a2") < text.index(f"<b>#{b}</b>") < text.index("b0")
    assert text.count("New evidence") == 4
    assert f"Mute #{a}" in [btn.label for row in batch[0].buttons for btn in row]
    delivery.sent(store, batch[0])
    assert delivery.next_batch(store, NOW) == [] and store.outbox() == []  # delivered: out of the outbox


def test_several_sends_recorded_together_leave_the_outbox_and_the_other_chats_keep_theirs(store: Store) -> None:
    number = claim(store, "Claim")
    chats = (1, 2, 1 + OUTBOX_SHARDS, 5)  # two of them share an outbox file
    for chat in chats:
        store.subscribe(chat, "all", NOW)
    evidence(store, number, "one")
    delivery.fan_out(store, NOW, UTC_TZ)
    batch = {m.chat: m for m in delivery.next_batch(store, NOW)}
    delivery.sent(store, batch[1], batch[2], batch[1 + OUTBOX_SHARDS])
    assert list(pending(store)) == [5]
    delivery.sent(store, batch[1], batch[5])  # one recorded again (its write was lost, it went again): harmless
    assert store.outbox() == []


def test_a_long_group_is_split_into_messages_under_the_limit(store: Store) -> None:
    numbers = [claim(store, f"Claim {i} " + "x" * 200) for i in range(40)]
    store.subscribe(1, "all", NOW)
    for n in numbers:
        evidence(store, n, "y" * 100)
    delivery.fan_out(store, NOW, UTC_TZ)
    sizes = []
    while batch := delivery.next_batch(store, NOW):
        assert len(batch) == 1 and len(batch[0].text) <= delivery.MESSAGE_BUDGET
        sizes.append(len(batch[0].keys))
        delivery.sent(store, batch[0])
    assert sum(sizes) == 40 and len(sizes) > 1


def test_failures_back_off_and_unreachable_chats_are_deactivated(store: Store) -> None:
    number = claim(store, "Claim")
    for chat in (1, 2):
        store.subscribe(chat, "all", NOW)
    evidence(store, number, "one")
    delivery.fan_out(store, NOW, UTC_TZ)
    first, second = sorted(delivery.next_batch(store, NOW), key=lambda m: m.chat)
    delivery.retry(store, first, NOW, "Bad Gateway")
    delivery.unreachable(store, second.chat, "Forbidden: bot was blocked by the user", NOW)
    assert delivery.next_batch(store, NOW + timedelta(seconds=9)) == []
    again = delivery.next_batch(store, NOW + timedelta(seconds=10))
    assert [m.chat for m in again] == [1] and again[0].attempts == 1
    delivery.retry(store, again[0], NOW, "Bad Gateway")
    assert delivery.next_batch(store, NOW + timedelta(seconds=19)) == []  # 20 s the second time
    assert not store.chat(2).active and store.outbox("dropped")[0]["chat"] == 2
    evidence(store, number, "two")
    delivery.fan_out(store, NOW, UTC_TZ)
    assert {m["chat"] for m in store.outbox("pending")} == {1}  # an inactive chat gets nothing new


def test_a_migrated_group_is_followed(store: Store) -> None:
    number = claim(store, "Claim")
    store.subscribe(-100, "all", NOW)
    store.save_chat(Chat(-100, "group", "Desk", digest="daily"))
    evidence(store, number, "one")
    delivery.fan_out(store, NOW, UTC_TZ)
    delivery.migrated(store, -100, -1001234, NOW)
    assert [m.chat for m in delivery.next_batch(store, NOW)] == [-1001234]
    assert [s.chat for s in store.subscriptions()] == [-1001234]
    assert store.chat(-1001234).digest == "daily" and store.chat(-100) is None


def test_a_migrated_group_keeps_its_digest(store: Store) -> None:
    store.subscribe(-100, "all", NOW, ("digest",))
    store.save_chat(Chat(-100, "group", "Desk", digest="weekly"))
    assert delivery.queue_digests(store, NOW, UTC_TZ) == 0  # turned on: this Monday's time is recorded
    ledger.add_claim(store, ledger.NewClaim(text="Made during the week"), "ann", NOW + timedelta(days=2))
    delivery.migrated(store, -100, -1001234, NOW + timedelta(days=3))
    assert delivery.queue_digests(store, NOW + timedelta(days=7), UTC_TZ) == 1
    [message] = store.outbox("pending")
    assert message["chat"] == -1001234 and "Made during the week" in message["line"]
    assert set(store.outbox_state()["digests"]) == {"-1001234"}


def test_outcome_is_announced_with_each_forecasters_brier(store: Store) -> None:
    number = claim(store, "China will not attend", tags=("diplomacy",), p=0.8)
    ledger.add_forecast(store, number, 0.7, "ann", NOW)
    ledger.add_forecast(store, number, 0.4, "bob", NOW)
    ledger.add_forecast(store, number, 0.9, "ann", NOW + timedelta(hours=1))  # ann's last one counts
    store.subscribe(1, "#diplomacy", NOW, ("outcome",))
    store.subscribe(2, "#diplomacy", NOW, ("evidence",))
    ledger.resolve(store, number, OutcomeValue.TRUE, "ann", NOW + timedelta(days=1), note="stayed away",
                   evidence=("https://n.example/absent",))
    assert [e["kind"] for e in store.alerts(number)] == ["outcome"]
    delivery.fan_out(store, NOW + timedelta(days=1), UTC_TZ)
    [message] = delivery.next_batch(store, NOW + timedelta(days=1))
    assert message.chat == 1
    assert "Outcome recorded: <b>true</b> — stayed away" in message.text
    assert "https://n.example/absent" in message.text
    assert "the source 80% → 0.040" in message.text and "ann 90% → 0.010" in message.text
    assert "bob 40% → 0.360" in message.text


def test_each_outcome_event_is_announced_once_as_it_was_when_it_happened(store: Store) -> None:
    number = claim(store, "Power of Siberia 2 contract signed", tags=("energy",))
    ledger.add_forecast(store, number, 0.3, "ann", NOW)
    store.subscribe(1, "all", NOW, ("outcome",))
    later = NOW + timedelta(hours=1)
    ledger.resolve(store, number, OutcomeValue.FALSE, "ann", NOW + timedelta(minutes=1), note="first call")
    ledger.reopen(store, number, "ann", NOW + timedelta(minutes=2), note="resolved too early")
    ledger.add_forecast(store, number, 0.8, "ann", NOW + timedelta(minutes=3))
    ledger.resolve(store, number, OutcomeValue.TRUE, "ann", NOW + timedelta(minutes=4), note="second call")
    assert delivery.fan_out(store, later, UTC_TZ) == 3
    [message] = delivery.next_batch(store, later)
    lines = message.text.splitlines()[1:]
    assert lines == ["Outcome recorded: <b>false</b> — first call", "Brier: ann 30% → 0.090",
                     "Reopened: was <b>false</b> — resolved too early",
                     "Outcome recorded: <b>true</b> — second call", "Brier: ann 80% → 0.040"]
    assert delivery.fan_out(store, later, UTC_TZ) == 0


def test_reminders_once_a_day_and_once_after_three_days_down(store: Store) -> None:
    tz = ZoneInfo("Europe/Berlin")
    due = claim(store, "Due claim", review=date(2026, 3, 1))
    later = claim(store, "Later claim", review=date(2026, 3, 20))
    store.subscribe(1, "all", NOW, ("due",))
    store.subscribe(2, "all", NOW, ("evidence",))  # no reminders
    early = NOW.replace(hour=7)  # 08:00 in Berlin: before 09:00, so yesterday's round
    assert delivery.queue_reminders(store, early, tz, NINE) == 1
    assert store.outbox_state()["reminded"] == "2026-03-01"
    assert delivery.queue_reminders(store, early, tz, NINE) == 0
    assert delivery.queue_reminders(store, NOW, tz, NINE) == 1  # 10:30 in Berlin: today's round
    assert delivery.queue_reminders(store, NOW + timedelta(hours=5), tz, NINE) == 0
    # Three days down: one round at start-up, as of that day, not one per day missed.
    back = NOW + timedelta(days=3)
    assert delivery.queue_reminders(store, back, tz, NINE) == 1
    assert delivery.queue_reminders(store, back + timedelta(minutes=1), tz, NINE) == 0
    keys = [m["key"] for m in store.outbox()]
    assert keys == [f"1/due:{due}:2026-03-01", f"1/due:{due}:2026-03-02", f"1/due:{due}:2026-03-05"]
    assert all(str(later) not in k.split(":")[1] for k in keys)
    [message] = delivery.next_batch(store, back)
    assert "Review due" in message.text
    assert [b.command for b in message.buttons[0]] == [f"/resolve {due}", f"/snooze {due} 7", f"/snooze {due}"]


def test_a_reminder_missed_yesterday_says_the_real_date_not_today(store: Store) -> None:
    due = claim(store, "Due yesterday", review=date(2026, 3, 1))
    store.subscribe(1, "all", NOW, ("due",))
    assert delivery.queue_reminders(store, NOW.replace(hour=7), UTC_TZ, NINE) == 1  # started before 09:00
    [message] = delivery.next_batch(store, NOW)
    assert "Review due: review 2026-03-01 (overdue)" in message.text and "(today)" not in message.text
    assert [m["key"] for m in store.outbox()] == [f"1/due:{due}:2026-03-01"]


def test_a_new_subscriber_hears_nothing_of_what_happened_before_it_subscribed(store: Store) -> None:
    old, new = claim(store, "Resolved long ago"), claim(store, "Resolved later")
    ledger.resolve(store, old, OutcomeValue.TRUE, "ann", NOW)
    evidence(store, old, "old-news", at=NOW)
    store.subscribe(1, "all", NOW + timedelta(minutes=1))
    ledger.resolve(store, new, OutcomeValue.FALSE, "ann", NOW + timedelta(minutes=2))
    delivery.fan_out(store, NOW + timedelta(minutes=3), UTC_TZ)
    assert [(m["chat"], m["claim"]) for m in store.outbox("pending")] == [(1, new)]
    assert store.alert_events() == []


def test_snooze_and_move_from_a_reminder(store: Store) -> None:
    number = claim(store, "Due claim", review=date(2026, 3, 1))
    service = ChatService(store, ChatSettings(UTC_TZ, admins=frozenset({7})))

    def press(command: str) -> str:
        return service.handle(Incoming(7, 7, command, "ann", pressed=True), NOW)[0].text

    assert "Move the review" in press(f"/snooze {number}")
    assert "next review 2026-03-09 (7 days from today)" in press(f"/snooze {number} 7")
    assert store.get_claim(number).review_date == date(2026, 3, 9)
    # Now due later than today: a snooze counts from the review date.
    assert "next review 2026-04-08 (30 days from its review date, 2026-03-09)" in press(f"/snooze {number} 30")
    assert "days" in press(f"/snooze {number} soon")
    assert store.get_claim(number).review_date == date(2026, 4, 8)
    assert [c.action for c in store.history(number)][-2:] == ["edit", "edit"]


def test_snoozing_never_moves_a_review_date_earlier(store: Store) -> None:
    number = claim(store, "Due in a year", review=date(2027, 6, 2))
    service = ChatService(store, ChatSettings(UTC_TZ, admins=frozenset({7})))
    choice = service.handle(Incoming(7, 7, f"/snooze {number}", "ann"), NOW)[0]
    assert "counting from its review date, 2027-06-02" in choice.text
    assert [b.label for b in choice.buttons[0]][1] == "a week (2027-06-09)"
    assert "next review 2027-06-09" in service.handle(Incoming(7, 7, f"/snooze {number} 7", "ann"), NOW)[0].text
    assert store.get_claim(number).review_date == date(2027, 6, 9)


def test_digest_at_the_chats_local_time_and_an_empty_one_is_not_sent(store: Store) -> None:
    tokyo = ZoneInfo("Asia/Tokyo")
    store.subscribe(1, "#energy", NOW)
    store.save_chat(Chat(1, "private", "ann", digest="daily", digest_at=time(8, 0), tz="Asia/Tokyo"))
    store.subscribe(2, "#energy", NOW)
    store.save_chat(Chat(2, "private", "bob", digest="daily", digest_at=time(20, 0), tz="Asia/Tokyo"))
    # 2026-03-02 09:30 UTC is 18:30 in Tokyo: ann's 08:00 digest is due, bob's 20:00 one is not yet.
    # Digests were just turned on: the rounds before now count as done, nothing is sent for them.
    assert delivery.queue_digests(store, NOW, UTC_TZ) == 0
    assert set(store.outbox_state()["digests"]) == {"1", "2"}
    number = claim(store, "Arctic route opens", tags=("energy",), review=date(2026, 3, 5))
    evidence(store, number, "icebreakers", at=NOW + timedelta(minutes=5))
    assert delivery.queue_digests(store, NOW + timedelta(minutes=10), UTC_TZ) == 0  # ann had hers today
    at_eight_pm = NOW + timedelta(hours=1, minutes=30)  # 20:00 in Tokyo
    assert delivery.queue_digests(store, at_eight_pm, UTC_TZ) == 1
    [message] = [m for m in store.outbox() if m["kind"] == "digest"]
    assert message["chat"] == 2 and message["key"] == "2/digest:2026-03-02"
    assert "New claims</b> (1)" in message["line"] and "icebreakers" in message["line"]
    assert "Reviews due soon</b> (1)" in message["line"] and "Outcomes" not in message["line"]
    next_morning = datetime_tokyo(2026, 3, 3, 8, 0, tokyo)
    assert delivery.queue_digests(store, next_morning, UTC_TZ) == 1  # ann's covers since yesterday 08:00
    assert delivery.queue_digests(store, next_morning, UTC_TZ) == 0
    quiet = next_morning + timedelta(days=1)  # a day with nothing new and no reviews close: no digest
    ledger.edit_claim(store, number, "due", "2026-06-01", "ann", NOW, UTC_TZ)
    assert delivery.queue_digests(store, quiet, UTC_TZ) == 0
    assert store.outbox_state()["digests"]["1"].startswith("2026-03-03T23:00")


def datetime_tokyo(y: int, m: int, d: int, hh: int, mm: int, tz: ZoneInfo):
    from datetime import datetime
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def test_a_digest_time_skipped_by_the_clocks_going_forward_leaves_nothing_out(store: Store) -> None:
    number = claim(store, "Gas deal signed")
    store.subscribe(1, "all", NOW, ("digest",))
    store.save_chat(Chat(1, "private", "ann", digest="daily", digest_at=time(2, 30), tz="Europe/Berlin"))
    # 02:30 in Berlin does not exist on 2026-03-29: the clocks go from 02:00 to 03:00 (01:00 UTC).
    store.queue_messages([], state={"digests": {"1": "2026-03-28T01:30:00+00:00"}})
    at = datetime(2026, 3, 29, 1, 10, tzinfo=UTC)  # 03:10 in Berlin
    evidence(store, number, "found-after-three", at=at)
    t = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    while t < datetime(2026, 3, 30, 1, 0, tzinfo=UTC):
        delivery.queue_digests(store, t, UTC_TZ)
        t += timedelta(minutes=5)
    [digest] = [m["line"] for m in store.outbox("pending")]  # the next day's has nothing new
    assert "2026-03-28 02:30 to 2026-03-29 03:30" in digest and "found-after-three" in digest
    assert store.outbox_state()["digests"]["1"] == "2026-03-30T00:30:00+00:00"


def test_a_digest_turned_on_again_starts_afresh_and_never_covers_more_than_its_day(store: Store) -> None:
    def made(text: str, at) -> None:
        ledger.add_claim(store, ledger.NewClaim(text=text), "ann", at)

    store.subscribe(1, "all", NOW, ("digest",))
    store.save_chat(Chat(1, "private", "ann", digest="daily"))
    assert delivery.queue_digests(store, NOW, UTC_TZ) == 0  # turned on: today's 09:00 is recorded
    store.save_chat(replace(store.chat(1), digest="off"))
    for day in range(1, 30):
        made(f"made while off {day}", NOW + timedelta(days=day))
    back = NOW + timedelta(days=30, hours=3)  # Wednesday 2026-04-01 12:30, after that day's 09:00
    store.save_chat(replace(store.chat(1), digest="daily"))
    assert delivery.queue_digests(store, back, UTC_TZ) == 0  # the first one comes at the next digest time
    made("made after it was on again", back + timedelta(hours=1))
    assert delivery.queue_digests(store, back + timedelta(days=1), UTC_TZ) == 1
    [digest] = [m["line"] for m in store.outbox("pending")]
    assert "made after it was on again" in digest and "made while off" not in digest
    store.forget_messages([m["key"] for m in store.outbox()])
    # Nothing ran for a week (the bot was down): the next digest covers its own day, not the week.
    made("made early in the week", back + timedelta(days=3))
    made("made the day before", back + timedelta(days=7))
    assert delivery.queue_digests(store, back + timedelta(days=8), UTC_TZ) == 1
    [digest] = [m["line"] for m in store.outbox("pending")]
    assert "2026-04-08 09:00 to 2026-04-09 09:00" in digest and "made the day before" in digest
    assert "made early in the week" not in digest


def test_chat_commands_for_kinds_mute_and_settings(store: Store) -> None:
    number = claim(store, "Claim", tags=("energy",))
    service = ChatService(store, ChatSettings(UTC_TZ, admins=frozenset({7}), access="open"))

    def say(text: str, pressed: bool = False):
        return service.handle(Incoming(7, 7, text, "ann", pressed=pressed), NOW)

    assert "evidence, outcome" in say("/subscribe #energy evidence outcome")[0].text
    assert store.subscriptions(7)[0].kinds == ("evidence", "outcome")
    listing = say("/subscriptions")[0]
    toggles = {b.label: b.command for row in listing.buttons for b in row}
    assert toggles["· due"] == "/subscribe #energy evidence due outcome"
    assert toggles["✓ outcome"] == "/subscribe #energy evidence"
    assert say(toggles["· due"], pressed=True)[0].edit
    assert store.subscriptions(7)[0].kinds == ("evidence", "due", "outcome")
    assert "muted here" in say(f"/mute {number}")[0].text and store.chat(7).muted == (number,)
    assert "no longer muted" in say(f"/unmute {number}")[0].text and store.chat(7).muted == ()
    assert "Digest: <b>weekly</b>" in say("/settings digest weekly")[0].text
    assert "08:30" in say("/settings time 8:30")[0].text
    assert "Asia/Tokyo" in say("/settings tz Asia/Tokyo")[0].text
    assert "⚠️" in say("/settings tz Mars/Olympus")[0].text and store.chat(7).tz == "Asia/Tokyo"
    assert "⚠️" in say("/settings time 25:00")[0].text
    chat = store.chat(7)
    assert (chat.digest, chat.digest_at, chat.tz) == ("weekly", time(8, 30), "Asia/Tokyo")
    store.deactivate_chat(99, "Forbidden: bot was blocked by the user", NOW)
    assert "99" in say("/chats")[0].text and "inactive" in say("/chats")[0].text
    assert store.chat(7).active  # a chat that writes is active


def test_muting_a_claim_drops_its_alerts_still_waiting_for_the_chat(store: Store) -> None:
    noisy, quiet = claim(store, "Noisy claim", review=date(2026, 3, 1)), claim(store, "Quiet claim")
    store.subscribe(7, "all", NOW)
    store.subscribe(8, "all", NOW)
    for number in (noisy, noisy, quiet):
        evidence(store, number, f"story-{uuid.uuid4().hex[:6]}")
    delivery.fan_out(store, NOW, UTC_TZ)
    delivery.queue_reminders(store, NOW, UTC_TZ, NINE)
    service = ChatService(store, ChatSettings(UTC_TZ, admins=frozenset({7})))
    assert "muted here" in service.handle(Incoming(7, 7, f"/mute {noisy}", "ann"), NOW)[0].text
    assert [(m["chat"], m["claim"]) for m in store.outbox("pending") if m["chat"] == 7] == [(7, quiet)]
    assert len(pending(store)[8]) == 4  # another chat keeps its own


def test_role_check_on_snooze(store: Store) -> None:
    number = claim(store, "Claim", review=date(2026, 3, 1))
    store.set_role(8, Role.SUBSCRIBER, "sub", "admin", NOW)
    service = ChatService(store, ChatSettings(UTC_TZ))
    reply = service.handle(Incoming(8, 8, f"/snooze {number} 7", "sub"), NOW)[0].text
    assert "for analysts" in reply and store.get_claim(number).review_date == date(2026, 3, 1)


def test_alert_times_are_shown_in_the_chats_time_zone(store: Store) -> None:
    number = claim(store, "Claim")
    store.subscribe(1, "all", NOW)
    store.save_chat(Chat(1, "private", "ann", tz="Asia/Tokyo"))
    store.subscribe(2, "all", NOW)
    evidence(store, number, "talks")
    delivery.fan_out(store, NOW, UTC_TZ)
    lines = {m["chat"]: m["line"] for m in store.outbox()}
    assert "2026-03-02 18:30" in lines[1] and "2026-03-02 09:30" in lines[2]


def test_a_chat_zone_no_longer_known_falls_back_to_the_default_and_delivery_goes_on(store: Store, caplog) -> None:
    number = claim(store, "Claim")
    store.subscribe(1, "all", NOW)
    lost = f"Europe/Atlantis_{uuid.uuid4().hex[:8]}"  # renamed by a tzdata update, or hand-edited; warned of once a process
    store.save_chat(Chat(1, "private", "ann", tz=lost))
    store.subscribe(2, "all", NOW)
    store.save_chat(Chat(2, "private", "bob", tz="Asia/Tokyo"))
    evidence(store, number, "talks")
    assert delivery.fan_out(store, NOW, ZoneInfo("Europe/Berlin")) == 2
    lines = {m["chat"]: m["line"] for m in store.outbox()}
    assert "2026-03-02 10:30" in lines[1] and "2026-03-02 18:30" in lines[2]
    assert repr(lost) in caplog.text


def test_one_claim_with_more_items_than_fit_goes_out_in_several_messages(store: Store) -> None:
    number = claim(store, "Busy claim")
    store.subscribe(1, "all", NOW)
    for i in range(60):
        evidence(store, number, f"{i}-" + "z" * 150)
    delivery.fan_out(store, NOW, UTC_TZ)
    parts = []
    while batch := delivery.next_batch(store, NOW):
        assert len(batch[0].text) <= delivery.MESSAGE_BUDGET and batch[0].text.startswith(f"<b>#{number}</b>")
        parts.append(len(batch[0].keys))
        delivery.sent(store, batch[0])
    assert sum(parts) == 60 and len(parts) > 1


def test_a_long_digest_fits_in_one_telegram_message(store: Store) -> None:
    text = "Russia and China sign a binding contract for the Power of Siberia 2 pipeline before the end of 2026"
    numbers = [ledger.add_claim(store, ledger.NewClaim(text=("Long " * 790 if i == 0 else f"{text} ({i})"),
                                                      tags=("energy",), review_date=date(2026, 3, 5)),
                                "ann", NOW + timedelta(hours=1)).id for i in range(20)]
    store.subscribe(1, "all", NOW, ("digest",))
    store.save_chat(Chat(1, "private", "ann", digest="daily"))
    store.queue_messages([], state={"digests": {"1": "2026-03-02T09:00:00+00:00"}})
    store.add_evidence([Evidence(0, n, f"https://www.reuters.com/business/energy/some-long-article-slug-{n}",
                                 "Gazprom and CNPC said to near agreement on Power of Siberia 2 pricing",
                                 NOW + timedelta(hours=2), feed="Reuters Energy", matched=("Power of Siberia",))
                        for n in numbers])
    assert delivery.queue_digests(store, NOW + timedelta(days=1), UTC_TZ) == 1
    [message] = delivery.next_batch(store, NOW + timedelta(days=1))
    assert utf16_len(message.text) <= delivery.MESSAGE_BUDGET and split_message(message.text) == [message.text]
    for section in ("New claims</b> (20)", "New evidence</b> (20)", "Reviews due soon</b> (20)"):
        assert section in message.text
    assert message.text.count("more") == 3 and "Long Long …" in message.text


def test_an_alert_too_long_for_one_message_is_cut_to_fit(store: Store) -> None:
    number = claim(store, "x " * 1900)
    store.subscribe(1, "all", NOW)
    ledger.resolve(store, number, OutcomeValue.TRUE, "ann", NOW, note="because " * 500,
                   evidence=tuple(f"https://e.example/{i}" for i in range(5)))
    delivery.fan_out(store, NOW, UTC_TZ)
    [message] = delivery.next_batch(store, NOW)
    assert utf16_len(message.text) <= delivery.MESSAGE_BUDGET and split_message(message.text) == [message.text]
    assert "x x …\nOutcome recorded: <b>true</b> — because because" in message.text and message.text.endswith(" …")


def test_a_weekly_digest_is_due_on_mondays_at_the_chats_time() -> None:
    chat = Chat(1, "private", "ann", digest="weekly", digest_at=time(8, 0))
    berlin = ZoneInfo("Europe/Berlin")
    # NOW is Monday 2026-03-02 10:30 in Berlin: this Monday's 08:00 has come.
    assert delivery.digest_slot(chat, NOW, berlin).isoformat() == "2026-03-02T08:00:00+01:00"
    # Sunday evening: still the previous Monday's.
    assert delivery.digest_slot(chat, NOW - timedelta(hours=14), berlin).isoformat() == "2026-02-23T08:00:00+01:00"
    daily = Chat(1, "private", "ann", digest="daily", digest_at=time(11, 0))
    assert delivery.digest_slot(daily, NOW, berlin).isoformat() == "2026-03-01T11:00:00+01:00"
    assert delivery.digest_slot(Chat(1, "private", "ann"), NOW, berlin) is None


# --- the bot and `claimwatch watch` on one data directory ------------------------------------------


def at_once(data: Path, bot_round: Callable[[Store], None], watch_round: Callable[[Store], None]) -> Store:
    """The bot's store does `bot_round` while holding the writers' lock, begun just before `claimwatch watch`'s
    store runs `watch_round` and only once that one waits for the lock. The bot's store is returned."""
    bot, watch = open_store(data), open_store(data)
    watch.outbox()  # the watch process has read the files before
    holding = threading.Event()
    failed: list[BaseException] = []

    def bot_process() -> None:
        try:
            with bot.transaction():
                holding.set()
                lock = f":{os.stat(data / '.lock').st_ino} "  # a waiter shows in /proc/locks as "-> FLOCK ..."
                deadline = time_.monotonic() + 30
                while not any("->" in line and lock in line for line in Path("/proc/locks").read_text().splitlines()):
                    assert time_.monotonic() < deadline, "the watch process never waited for the lock"
                    time_.sleep(0.01)
                bot_round(bot)
        except BaseException as e:
            failed.append(e)
        finally:
            holding.set()

    thread = threading.Thread(target=bot_process)
    thread.start()
    holding.wait()
    try:
        watch_round(watch)
    finally:
        thread.join()
    if failed:
        raise failed[0]
    return bot


def deliver_all(store: Store) -> None:
    while batch := delivery.next_batch(store, NOW):
        for message in batch:
            delivery.sent(store, message)


def test_a_fan_out_in_the_other_process_neither_repeats_a_sent_alert_nor_loses_a_new_one(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    number = claim(store, "China skips the summit")
    store.subscribe(1, "all", NOW)
    ledger.resolve(store, number, OutcomeValue.TRUE, "ann", NOW)

    def bot_round(bot: Store) -> None:
        delivery.fan_out(bot, NOW, UTC_TZ)
        deliver_all(bot)  # the outcome went out: its message left the outbox
        ledger.reopen(bot, number, "ann", NOW)
        ledger.resolve(bot, number, OutcomeValue.FALSE, "ann", NOW + timedelta(minutes=5))  # a new alert event

    bot = at_once(tmp_path / "data", bot_round, lambda watch: delivery.fan_out(watch, NOW, UTC_TZ))
    assert [m["event"] for m in bot.outbox("pending")] == [f"reopen:{number}:2026-03-02T09:30:00+00:00",
                                                          f"outcome:{number}:2026-03-02T09:35:00+00:00"]
    assert bot.alert_events() == []


def test_reminders_in_the_other_process_are_not_queued_again_after_they_went_out(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    claim(store, "Due claim", review=NOW.date())
    store.subscribe(1, "all", NOW, ("due",))

    def bot_round(bot: Store) -> None:
        assert delivery.queue_reminders(bot, NOW, UTC_TZ, NINE) == 1
        deliver_all(bot)

    bot = at_once(tmp_path / "data", bot_round, lambda watch: delivery.queue_reminders(watch, NOW, UTC_TZ, NINE))
    assert bot.outbox() == []


def test_a_digest_in_the_other_process_is_not_queued_again_after_it_went_out(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    claim(store, "Due tomorrow", review=NOW.date() + timedelta(days=1))
    store.subscribe(1, "all", NOW, ("digest",))
    store.save_chat(Chat(1, "private", "ann", digest="daily"))
    store.queue_messages([], state={"digests": {"1": "2026-03-01T09:00:00+00:00"}})

    def bot_round(bot: Store) -> None:
        assert delivery.queue_digests(bot, NOW, UTC_TZ) == 1
        deliver_all(bot)

    bot = at_once(tmp_path / "data", bot_round, lambda watch: delivery.queue_digests(watch, NOW, UTC_TZ))
    assert bot.outbox() == []


def test_console_messages_nobody_prints_are_forgotten_after_a_week_like_dropped_ones(store: Store) -> None:
    from claimwatch.model import CONSOLE_CHAT
    number = claim(store, "Gas deal signed")
    store.subscribe(CONSOLE_CHAT, "all", NOW)  # `claimwatch console` subscribed once; `claimwatch watch` never runs
    store.subscribe(7, "all", NOW)
    for day in range(9):
        at = NOW + timedelta(days=day)
        evidence(store, number, f"day{day}", at)
        delivery.fan_out(store, at, UTC_TZ)
        for message in delivery.next_batch(store, at):  # what the bot sends: chat 7's, never the console's
            delivery.sent(store, message)
        delivery.forget_dropped(store, at)  # the bot's daily job
    assert pending(store).keys() == {CONSOLE_CHAT}
    assert [m["created"] for m in pending(store)[CONSOLE_CHAT]] == [
        delivery.iso_utc(NOW + timedelta(days=d)) for d in range(1, 9)]  # at most a week's worth waits


def test_an_outbox_message_that_cannot_be_read_is_left_out_and_delivery_goes_on(tmp_path: Path, caplog) -> None:
    import json
    store = open_store(tmp_path)
    number = claim(store, "Gas deal signed")
    store.subscribe(42, "all", NOW)
    evidence(store, number, "signed")
    delivery.fan_out(store, NOW, UTC_TZ)
    path = tmp_path / f"outbox-{42 % OUTBOX_SHARDS:03d}.json"  # chat 42's messages
    data = json.loads(path.read_text())
    data["messages"]["99"] = {"key": "7/x", "chat": 7, "status": "dropped", "error": "", "sent_at": "2026-03-01T00:00:00Z"}
    path.write_text(json.dumps(data))  # a hand edit: a dropped message without its `created`

    store = open_store(tmp_path)  # as the bot after a restart
    (message,) = delivery.next_batch(store, NOW)
    delivery.sent(store, message)  # Telegram accepted it: recorded, not sent again every 2 s
    assert delivery.next_batch(store, NOW) == []
    assert json.loads(path.read_text())["messages"] == {}  # the damaged one left out when the outbox was written
    assert [r.getMessage().split(" (")[0] for r in caplog.records if r.levelname == "WARNING"] == [
        f"{path}: outbox message 99 cannot be read"]


def test_an_outbox_message_is_bounded_whatever_the_evidence_title(store: Store) -> None:
    number = claim(store, "Gas deal")
    store.subscribe(5, "all", NOW)
    evidence(store, number, "gas " * 250_000)  # a 1 MB title from a hostile feed
    delivery.fan_out(store, NOW, UTC_TZ)
    [message] = store.outbox("pending")
    assert utf16_len(message["line"]) <= delivery.MESSAGE_BUDGET


def test_a_send_rewrites_a_small_part_of_a_large_backlog(tmp_path: Path) -> None:
    """The outbox was one file rewritten at every send (5,000 chats: 83 sends/s against 191 at 1,000). In files
    by chat, a send writes a few chats' messages. Counted in bytes written, not timed."""
    from claimwatch.store import FileBackend, FileStore, Store

    class Counting(FileBackend):
        written = 0

        def commit(self, files):  # type: ignore[no-untyped-def]
            signatures = super().commit(files)
            Counting.written += sum(signatures[name][2] for name in files)
            return signatures

    store = FileStore(Counting(tmp_path / "data"))
    number = claim(store, "Gas deal signed")
    for chat in range(1, 1_501):
        store.subscribe(chat, "all", NOW)
    evidence(store, number, "signed")
    delivery.fan_out(store, NOW, UTC_TZ)
    backlog = sum(p.stat().st_size for p in (tmp_path / "data").glob("outbox*.json"))
    batch = delivery.next_batch(store, NOW)
    assert len(batch) == 1_500
    before = Counting.written
    for message in batch[:10]:
        delivery.sent(store, message)
    per_send = (Counting.written - before) / 10
    assert per_send < backlog / 30, (per_send, backlog)
    assert len(store.outbox("pending")) == 1_490


def test_messages_queued_before_the_outbox_was_split_are_still_sent_once(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    number = claim(store, "Gas deal signed")
    store.subscribe(42, "all", NOW)
    evidence(store, number, "signed")
    delivery.fan_out(store, NOW, UTC_TZ)
    [queued] = store.outbox()
    with store.transaction():  # as an older claimwatch left it: in outbox.json
        store.forget_messages([queued["key"]])
        store._db("outbox").table("messages").insert(queued)
    assert [p.name for p in (tmp_path / "data").glob("outbox*.json") if b"signed" in p.read_bytes()] == ["outbox.json"]
    store = open_store(tmp_path / "data")
    [message] = delivery.next_batch(store, NOW)
    delivery.sent(store, message)
    assert store.outbox() == [] and delivery.next_batch(store, NOW) == []
