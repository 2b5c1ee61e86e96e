"""Alert delivery end to end: the real PTB Application (and `python bot.py`) against the fake Bot API."""

from __future__ import annotations

import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from conftest import NOW, UTC_TZ, postgres_location, store_config
from fakebot import FakeBotAPI, running
from test_bot import ADMIN, start_bot, stop_bot

from claimwatch import ledger
from claimwatch.chat import ChatService, ChatSettings
from claimwatch.config import Config
from claimwatch.jobs import console_delivery
from claimwatch.model import CONSOLE_CHAT, Evidence
from claimwatch.store import Store, open_store
from claimwatch.telegram_bot import IN_FLIGHT, build_application

FIRST_CHAT = 10_000


def world(data: Path | str, subscribers: int) -> tuple[Store, int]:
    """A claim followed by `subscribers` private chats, and one new piece of evidence waiting to go out."""
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Power of Siberia 2 stays stalled", tags=("energy",)),
                              "ann", NOW).id
    for chat in range(FIRST_CHAT, FIRST_CHAT + subscribers):
        store.subscribe(chat, "#energy", NOW, ("evidence",))
    store.add_evidence([Evidence(0, number, "https://n.example/talks", "Gazprom talks stall again", NOW,
                                 feed="Wire", matched=("Power of Siberia",))], alert=True)
    return store, number


def bot_for(api: FakeBotAPI, store: Store, data: Path | str, clock=lambda: NOW, deliver_every: float = 0.2,
            **settings):
    """The real Application on `store`, delivering every 0.2 s; `settings` are more Config fields."""
    config = store_config(data, UTC_TZ, "test", token=api.TOKEN, api_url=api.url, admins=frozenset({ADMIN}), **settings)
    return build_application(config, ChatService(store, ChatSettings(UTC_TZ, config.admins, config.access)),
                             clock=clock, deliver_every=deliver_every)


def received(api: FakeBotAPI) -> Counter[int]:
    return Counter(s.chat_id for s in list(api.sent) if "Gazprom talks" in (s.text or ""))


def wait_until(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_fan_out_to_300_with_flood_control_blocked_users_and_a_server_error(data: Path | str) -> None:
    store, _ = world(data, 300)
    blocked = set(range(FIRST_CHAT, FIRST_CHAT + 300, 30))  # 10 users blocked the bot
    clock = {"now": NOW}
    with FakeBotAPI() as api:
        for chat in blocked:
            api.block(chat)
        api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1, times=2)
        api.fail_next("sendMessage", 502, "Bad Gateway", chat_id=FIRST_CHAT + 7)
        api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=FIRST_CHAT + 299)
        api.fail_next("sendMessage", 400, "Bad Request: group chat was upgraded to a supergroup chat",
                      chat_id=FIRST_CHAT + 298, migrate_to=-1009999)
        with running(bot_for(api, store, data, lambda: clock["now"])):
            wait_until(lambda: len(received(api)) == 288)
            assert FIRST_CHAT + 7 not in received(api)  # its 502 is retried after a backoff ...
            clock["now"] = NOW + timedelta(minutes=1)
            wait_until(lambda: len(received(api)) == 289)  # ... and then it goes
            time.sleep(0.5)  # a few more delivery rounds: nothing else may go out
        counts = received(api)
    gone, moved = FIRST_CHAT + 299, FIRST_CHAT + 298
    active = set(range(FIRST_CHAT, FIRST_CHAT + 300)) - blocked - {gone, moved} | {-1009999}
    assert set(counts) == active and set(counts.values()) == {1}  # every active subscriber, exactly once
    for chat in blocked | {gone}:
        assert not store.chat(chat).active
    assert "blocked" in store.chat(FIRST_CHAT).reason and "chat not found" in store.chat(gone).reason.lower()
    assert {m["chat"] for m in store.outbox("dropped")} == blocked | {gone}
    assert -1009999 in {s.chat for s in store.subscriptions()} and moved not in {s.chat for s in store.subscriptions()}
    assert {m["status"] for m in store.outbox()} == {"dropped"}  # the sent ones left the outbox


def test_many_matches_for_one_chat_arrive_as_one_grouped_message(data: Path | str) -> None:
    store = open_store(data)
    a = ledger.add_claim(store, ledger.NewClaim(text="Arctic route doubles"), "ann", NOW).id
    b = ledger.add_claim(store, ledger.NewClaim(text="Summit without China"), "ann", NOW).id
    store.subscribe(ADMIN, "all", NOW)
    store.add_evidence([Evidence(0, n, f"https://n.example/{g}/{i}", f"story {n}.{i}", NOW, feed="Wire")
                        for g, n in enumerate((a, b, a)) for i in range(2)], alert=True)
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data)):
            message = api.wait_for(lambda s: s.chat_id == ADMIN and "story" in (s.text or ""))
            time.sleep(0.6)
        alerts = [s for s in api.messages_to(ADMIN) if "story" in (s.text or "")]
    assert alerts == [message]
    assert message.text.count("New evidence") == 6 and message.text.index("Arctic") < message.text.index("Summit")
    assert (f"Mute #{a}", f"/mute {a}") in [pair for row in message.buttons for pair in row]


def test_reminders_after_three_days_down_are_sent_once_and_snooze_works(data: Path | str) -> None:
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Deal signed by spring", review_date=date(2026, 2, 20)),
                              "ann", NOW).id
    store.subscribe(ADMIN, "all", NOW, ("due",))
    store.queue_messages([], state={"reminded": "2026-02-27"})  # the last round, three days before NOW
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data)):
            reminder = api.wait_for(lambda s: s.chat_id == ADMIN and "Review due" in (s.text or ""))
            time.sleep(0.6)
            assert [s for s in api.messages_to(ADMIN) if "Review due" in (s.text or "")] == [reminder]
            snooze = dict(pair for row in reminder.buttons for pair in row)["Snooze a week"]
            mark = api.mark()
            api.button_press(ADMIN, snooze, message_id=reminder.message_id, chat_id=ADMIN)
            assert "next review 2026-03-09" in api.wait_reply(ADMIN, mark).text
    assert "overdue" in reminder.text and f"#{number}" in reminder.text
    assert store.get_claim(number).review_date == date(2026, 3, 9)
    assert store.outbox_state()["reminded"] == "2026-03-02"


def test_bot_py_killed_mid_fan_out_delivers_the_rest_after_restart(tmp_path: Path, data: Path | str) -> None:
    store, _ = world(data, 300)
    del store
    with FakeBotAPI() as api:
        proc = start_bot(api, data)
        try:
            wait_until(lambda: len(received(api)) >= 100)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        at_kill = len(received(api))
        assert at_kill < 300, "the fan-out finished before the kill; nothing was tested"
        proc = start_bot(api, data)
        try:
            wait_until(lambda: len(received(api)) == 300)
            time.sleep(1.0)
        finally:
            stop_bot(proc, api)
        counts = received(api)
    assert set(counts) == set(range(FIRST_CHAT, FIRST_CHAT + 300))  # no gaps
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= IN_FLIGHT, f"{duplicates} sent twice; at most the {IN_FLIGHT} in flight may be"
    assert open_store(data).outbox("pending") == []


def test_a_digest_goes_out_at_the_chats_local_time_and_an_empty_one_does_not(data: Path | str) -> None:
    from datetime import time as clock_time

    from claimwatch.model import Chat

    store = open_store(data)
    ledger.add_claim(store, ledger.NewClaim(text="Arctic route opens", tags=("arctic",)), "ann",
                     NOW - timedelta(hours=2))
    for chat, tag in ((ADMIN, "#arctic"), (ADMIN + 1, "#nothing-here")):
        store.subscribe(chat, tag, NOW, ("digest",))
        # 18:00 in Tokyo is 09:00 UTC; NOW (09:30 UTC) is just past it. The last digest was a day before.
        store.save_chat(Chat(chat, "private", "reader", digest="daily", digest_at=clock_time(18, 0), tz="Asia/Tokyo"))
    store.queue_messages([], state={"digests": {str(ADMIN): "2026-03-01T09:00:00+00:00",
                                                str(ADMIN + 1): "2026-03-01T09:00:00+00:00"}})
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data)):
            digest = api.wait_for(lambda s: s.chat_id == ADMIN and "Digest" in (s.text or ""))
            time.sleep(0.6)
        assert api.messages_to(ADMIN + 1) == []  # nothing it follows happened: no digest
    assert "2026-03-01 18:00 to 2026-03-02 18:00" in digest.text and "Arctic route opens" in digest.text
    assert store.outbox_state()["digests"][str(ADMIN + 1)] == "2026-03-02T09:00:00+00:00"


def test_the_bot_leaves_the_console_chats_alerts_to_claimwatch_watch(tmp_path: Path, data: Path | str) -> None:
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Gas deal signed"), "ann", NOW).id
    store.subscribe(CONSOLE_CHAT, "all", NOW)  # `claimwatch console`: /subscribe all
    store.subscribe(ADMIN, "all", NOW)
    store.add_evidence([Evidence(0, number, "https://n.example/x", "Pipeline deal signed", NOW, feed="Wire",
                                 matched=("gas",))], alert=True)
    with FakeBotAPI() as api:
        api.fail_next("sendMessage", 400, "Bad Request: chat not found", chat_id=CONSOLE_CHAT)  # as Telegram says
        with running(bot_for(api, store, data)):
            api.wait_for(lambda s: s.chat_id == ADMIN and "Pipeline deal" in (s.text or ""))
            time.sleep(0.6)  # a few more delivery rounds
    assert store.chat(CONSOLE_CHAT) is None  # not marked unreachable
    said: list[str] = []
    assert console_delivery(store, Config(data, UTC_TZ, "test"), lambda: NOW, said.append) == 1
    assert "Pipeline deal signed" in said[0] and store.outbox() == []


def test_the_daily_reminders_run_when_their_time_comes_while_the_bot_is_busy(data: Path | str) -> None:
    now = datetime.now(UTC)
    remind = (now + timedelta(seconds=5)).replace(microsecond=0)  # 4 to 5 s from now: after the bot's start
    if remind.date() != now.date():
        pytest.skip("too close to midnight UTC: the start-up round would already be today's")
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Deal signed by spring", review_date=date(2026, 2, 20)),
                              "ann", now).id
    store.subscribe(ADMIN, "all", now, ("due",))
    store.queue_messages([], state={"reminded": (now.date() - timedelta(days=1)).isoformat()})  # yesterday's went out

    async def busy(context) -> None:  # a long step in the event loop (or a suspended host) over the reminder time
        time.sleep(max(0.0, (remind + timedelta(seconds=1.5) - datetime.now(UTC)).total_seconds()))

    with FakeBotAPI() as api:
        app = bot_for(api, store, data, lambda: datetime.now(UTC), remind_at=remind.time())
        with running(app):
            app.job_queue.run_once(busy, when=0.2)
            reminder = api.wait_for(lambda s: s.chat_id == ADMIN and "Review due" in (s.text or ""), timeout=15)
    assert f"#{number}" in reminder.text and store.outbox_state()["reminded"] == now.date().isoformat()


def test_on_a_database_an_alert_another_process_records_goes_out_without_waiting_for_a_delivery_run(
        postgres_database: str) -> None:
    data = postgres_location(postgres_database)
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Arctic route doubles"), "ann", NOW).id
    store.subscribe(ADMIN, "all", NOW)
    with FakeBotAPI() as api:
        app = bot_for(api, store, data, deliver_every=3600)  # its delivery job runs at start, then in an hour
        with running(app):
            [job] = app.job_queue.get_jobs_by_name("deliver")
            wait_until(lambda: job.next_t is not None and job.next_t > datetime.now(UTC) + timedelta(minutes=30))
            watcher = open_store(data)  # another process's store: the watcher's, which found news
            watcher.add_evidence([Evidence(0, number, "https://n.example/1", "Arctic story", NOW, feed="Wire")],
                                 alert=True)
            alert = api.wait_for(lambda s: s.chat_id == ADMIN and "Arctic story" in (s.text or ""), timeout=30)
    assert f"#{number}" in alert.text


def test_a_failed_record_of_one_send_leaves_no_other_send_in_flight_to_go_twice(
        postgres_database: str, caplog: pytest.LogCaptureFixture) -> None:
    """A store write fails for one message of a batch while another is still in flight: the delivery run ends only
    once that one is answered and recorded, so the next run does not send it again."""
    data = postgres_location(postgres_database)
    store, _ = world(data, 2)
    refused, slow = FIRST_CHAT, FIRST_CHAT + 1
    with psycopg.connect(data, autocommit=True) as db:  # the database refuses to forget `refused`'s messages
        db.execute("create function refuse() returns trigger language plpgsql as "
                   "$$ begin raise exception 'disk full (a test''s trigger)'; end $$")
        db.execute(f"create trigger refuse before delete on outbox for each row when (old.chat = {refused}) "
                   "execute function refuse()")
    with FakeBotAPI() as api:
        api.slow(slow, 4.0)  # in flight over many delivery runs (every 0.2 s)

        def attempts(chat: int) -> int:
            return sum(1 for method, p in list(api.calls) if method == "sendMessage" and p.get("chat_id") == chat)
        with running(bot_for(api, store, data)):
            wait_until(lambda: attempts(refused) >= 3)  # three delivery runs; each sends it again (never recorded)
            assert received(api)[slow] == 1
        assert attempts(slow) == 1
    assert [m["chat"] for m in store.outbox("pending")] == [refused]
    assert any(r.getMessage() == "the deliver job failed" and "disk full" in str(r.exc_info[1]) for r in caplog.records)


def test_a_delivery_on_an_announcement_that_fails_is_logged_and_listening_goes_on(
        postgres_database: str, caplog: pytest.LogCaptureFixture) -> None:
    data = postgres_location(postgres_database)
    store, number = world(data, 2)
    refused, other = FIRST_CHAT, FIRST_CHAT + 1
    db = psycopg.connect(data, autocommit=True)  # the database refuses to forget `refused`'s messages, for a while
    db.execute("create function refuse() returns trigger language plpgsql as "
               "$$ begin raise exception 'disk full (a test''s trigger)'; end $$")
    db.execute(f"create trigger refuse before delete on outbox for each row when (old.chat = {refused}) "
               "execute function refuse()")

    def alert(title: str) -> None:  # another process records news: it announces an alert
        open_store(data).add_evidence([Evidence(0, number, f"https://n.example/{title}", title, NOW, feed="Wire")],
                                      alert=True)

    with FakeBotAPI() as api:
        with running(bot_for(api, store, data, deliver_every=3600)) as app:  # a delivery run at start, then in an hour
            [job] = app.job_queue.get_jobs_by_name("deliver")
            wait_until(lambda: job.next_t is not None and job.next_t > datetime.now(UTC) + timedelta(minutes=30))
            alert("Second story")
            wait_until(lambda: any(r.getMessage() == "delivering on an announcement failed" for r in caplog.records))
            db.execute("drop trigger refuse on outbox")
            alert("Third story")
            api.wait_for(lambda s: s.chat_id == other and "Third story" in (s.text or ""), timeout=30)
    db.close()


def test_a_bot_stopping_while_sends_wait_to_be_recorded_records_them_first(postgres_database: str) -> None:
    """Telegram accepts a message while the write recording an earlier one runs: it waits for the next write. A
    bot stopped then (its delivery, begun on another process's announcement, is cancelled) writes it before it
    closes the store; otherwise it stays in the outbox, and goes again at the next start."""
    data = postgres_location(postgres_database)
    store, number = world(data, 2)
    first, second = FIRST_CHAT, FIRST_CHAT + 1
    with psycopg.connect(data, autocommit=True) as db:  # recording the first chat's messages takes 10 s
        db.execute("create function slow() returns trigger language plpgsql as "
                   "$$ begin perform pg_sleep(10); return old; end $$")
        db.execute(f"create trigger slow before delete on outbox for each row when (old.chat = {first}) "
                   "execute function slow()")
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data, deliver_every=3600)) as app:  # a delivery run at start, then in an hour
            wait_until(lambda: store.outbox("pending") == [])  # the first evidence went out and was recorded
            [job] = app.job_queue.get_jobs_by_name("deliver")
            wait_until(lambda: job.next_t is not None and job.next_t > datetime.now(UTC) + timedelta(minutes=30))
            api.slow(second, 0.5)  # accepted while the first one's record is written
            open_store(data).add_evidence([Evidence(0, number, "https://n.example/more", "Gazprom talks go on", NOW,
                                                    feed="Wire")], alert=True)  # another process announces it
            wait_until(lambda: sum("Gazprom talks go on" in (s.text or "") for s in list(api.sent)) == 2)
            time.sleep(2)  # the bot reads the second answer; the first's write still runs
    assert store.outbox("pending") == []


def test_closing_a_database_store_ends_its_wait_for_announcements_and_it_listens_again_after(
        postgres_database: str) -> None:
    """A stopping bot closes its store while its listener thread waits: the wait ends, quietly, at once."""
    data = postgres_location(postgres_database)
    store = open_store(data)
    store.announcements(0.01)  # listening
    called = threading.Event()

    def wait() -> set[str]:
        called.set()
        return store.announcements(600)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait)
        assert called.wait(60)
        time.sleep(0.2)  # into the wait
        store.close()
        assert waiting.result(timeout=60) == set()
    number = ledger.add_claim(open_store(data), ledger.NewClaim(text="Heard after a close"), "ann", NOW).id
    assert number and store.announcements(0.01) == set()  # listens again (what came before is not replayed)
    called.clear()
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(wait)
        assert called.wait(60)
        time.sleep(0.2)
        open_store(data).subscribe(ADMIN, "all", NOW)
        open_store(data).add_evidence([Evidence(0, number, "https://n.example/2", "Heard", NOW, feed="Wire")],
                                      alert=True)
        assert "alerts" in waiting.result(timeout=60)
    store.close()


def test_a_bot_that_stops_lets_go_of_the_sender_role_at_once(data: Path | str) -> None:
    store, _ = world(data, 3)
    other = open_store(data)  # another bot process's store
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data)):
            wait_until(lambda: len(received(api)) == 3)  # it sent: it holds the role
            assert not other.hold_role("sender")
        assert other.hold_role("sender")  # stopped: the role is free, not held until this process ends
    assert not store.hold_role("sender")  # and the first store, still usable, now waits its turn
