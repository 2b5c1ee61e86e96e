"""Deleting (archiving), restoring and purging claims; withdrawing a forecast."""

from __future__ import annotations

import json
from datetime import date, time, timedelta
from pathlib import Path

import pytest

from claimwatch import delivery, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming, identity
from claimwatch.errors import InputError, NotFound
from claimwatch.model import Chat, Evidence, OutcomeValue, Role
from claimwatch.store import ClaimFilter, Store, open_store

from conftest import NOW, UTC_TZ, run_cli

NINE = time(9, 0)
ADMIN, ANA, BOB = 1, 2, 3


def claim(store: Store, text: str, **fields) -> int:
    return ledger.add_claim(store, ledger.NewClaim(text=text, **fields), "ana", NOW).id


def test_a_deleted_claim_leaves_lists_reminders_digests_matching_and_stats_until_restored(store: Store) -> None:
    gone = claim(store, "Typo claim", review_date=date(2026, 3, 1), tags=("energy",), watch=("gas",))
    kept = claim(store, "Real claim", review_date=date(2026, 3, 1), tags=("energy",))
    for number in (gone, kept):
        ledger.add_forecast(store, number, 0.8, "bob", NOW - timedelta(days=2))
        ledger.resolve(store, number, OutcomeValue.TRUE, "ana", NOW - timedelta(days=1))
        ledger.reopen(store, number, "ana", NOW - timedelta(hours=1))
    store.subscribe(1, "all", NOW, ("due", "evidence", "digest"))
    store.save_chat(Chat(1, "private", "ann", digest="daily", digest_at=time(8, 0)))
    ledger.delete_claim(store, gone, "ana", NOW, "entered twice")

    assert [c.id for c in store.find_claims()] == [kept]
    assert [c.id for c in store.find_claims(ledger.parse_list_filter(["deleted"], NOW.date()))] == [gone]
    assert [c.id for c in ledger.due(store, NOW.date())] == [kept]
    assert delivery.queue_reminders(store, NOW, UTC_TZ, NINE) == 1
    assert [m["claim"] for m in store.outbox()] == [kept]
    store.add_evidence([Evidence(0, gone, "https://n.example/1", "gas news", NOW, matched=("gas",))], alert=True)
    assert delivery.fan_out(store, NOW, UTC_TZ) == 0  # an alert about a deleted claim goes to nobody
    assert ledger.match_recent_news(store, [store.get_claim(gone)], NOW) == 0  # not watched either
    assert "entered twice" in store.get_claim(gone).archived.reason
    with pytest.raises(InputError, match="is deleted; restore it first"):
        ledger.add_forecast(store, gone, 0.5, "bob", NOW)

    ledger.restore_claim(store, gone, "ana", NOW + timedelta(minutes=1))
    assert [c.id for c in store.find_claims()] == [gone, kept]
    assert store.get_claim(gone).archived is None
    assert [c.action for c in store.history(gone)][-2:] == ["delete", "restore"]
    with pytest.raises(InputError, match="not deleted"):
        ledger.restore_claim(store, gone, "ana", NOW)


def test_stats_leave_out_a_deleted_claim(store: Store) -> None:
    numbers = [claim(store, f"Claim {i}") for i in range(2)]
    for number in numbers:
        ledger.add_forecast(store, number, 0.9, "bob", NOW - timedelta(days=1))
        ledger.resolve(store, number, OutcomeValue.FALSE, "ana", NOW)
    assert ledger.accuracy_review(store, UTC_TZ)["n_claims"] == 2
    ledger.delete_claim(store, numbers[0], "ana", NOW)
    assert ledger.accuracy_review(store, UTC_TZ)["n_claims"] == 1
    ledger.restore_claim(store, numbers[0], "ana", NOW)
    assert ledger.accuracy_review(store, UTC_TZ)["n_claims"] == 2


def test_purge_removes_a_deleted_claim_with_its_history_evidence_and_waiting_messages(store: Store) -> None:
    number = claim(store, "Test claim")
    other = claim(store, "Other claim")
    store.add_evidence([Evidence(0, n, f"https://n.example/{n}", "news", NOW, matched=("x",)) for n in (number, other)],
                       alert=True)
    store.subscribe(1, "all", NOW)
    delivery.fan_out(store, NOW, UTC_TZ)
    with pytest.raises(InputError, match="delete it first"):
        ledger.purge_claim(store, number)
    ledger.delete_claim(store, number, "ana", NOW)
    assert ledger.purge_claim(store, number) == 1
    assert [c.id for c in store.find_claims(ClaimFilter(archived=None))] == [other]
    assert store.evidence_for(number) == []
    with pytest.raises(NotFound):
        store.history(number)
    assert [m["claim"] for m in store.outbox("pending")] == [other]
    assert len(store.evidence_for(other)) == 1


def test_a_withdrawn_forecast_stays_in_the_history_and_is_not_scored(store: Store) -> None:
    number = claim(store, "Claim")
    ledger.add_forecast(store, number, 0.3, "bob", NOW - timedelta(days=3))
    ledger.add_forecast(store, number, 0.99, "bob", NOW - timedelta(days=2))  # a typo
    withdrawn = ledger.withdraw_forecast(store, number, "bob", NOW - timedelta(days=1))
    assert withdrawn.current_forecasts()["bob"].p == 0.3
    ledger.resolve(store, number, OutcomeValue.FALSE, "ana", NOW)
    assert round(ledger.accuracy_review(store, UTC_TZ)["by_forecaster"]["bob"]["brier"], 4) == 0.09  # 0.3 counts
    assert [c.action for c in store.history(number)].count("withdraw") == 1
    with pytest.raises(InputError, match="no forecast on"):
        ledger.withdraw_forecast(store, number, "carol", NOW)


def test_delete_restore_and_withdraw_in_chat_by_the_author_or_an_admin(store: Store) -> None:
    store.set_role(ANA, Role.ANALYST, "ana", "test", NOW)
    store.set_role(BOB, Role.ANALYST, "bob", "test", NOW)
    number = ledger.add_claim(store, ledger.NewClaim(text="Ana's claim"), "ana", NOW, who=identity(ANA)).id  # in Telegram
    chat = ChatService(store, ChatSettings(UTC_TZ, frozenset({ADMIN}), "invite", "claimwatch_test_bot"))

    def say(user: int, text: str) -> str:
        name = {ADMIN: "admin", ANA: "ana", BOB: "bob"}[user]
        return "\n".join(r.text for r in chat.handle(Incoming(user, user, text, name, "private"), NOW))

    assert "only they or an admin may delete" in say(BOB, f"/delete {number}")
    assert "is deleted" in say(ANA, f"/delete {number} a test")
    assert "No claims" in say(BOB, "/list") or "Ana's claim" not in say(BOB, "/list")
    assert "deleted" in say(BOB, f"/show {number}")
    assert "is back" in say(ADMIN, f"/restore {number}")
    say(BOB, f"/forecast {number} 40%")
    say(BOB, f"/forecast {number} 90%")
    assert "your forecast is 40% again" in say(BOB, f"/forecast {number} withdraw")
    assert "no forecast on" in say(ANA, f"/forecast {number} withdraw")


def test_delete_restore_purge_and_withdraw_on_the_command_line(tmp_path: Path, data: Path | str) -> None:
    assert run_cli("forecast", "3", "40%", "--by", "alice", data=data).returncode == 0
    assert run_cli("forecast", "3", "withdraw", "--by", "alice", data=data).returncode == 0
    assert json.loads(run_cli("show", "3", "--json", data=data).stdout)["forecasts"][0]["withdrawn"]
    assert "#3 is deleted" in run_cli("delete", "3", "entered", "twice", data=data).stdout
    assert not any(line.startswith("#3 ") for line in run_cli("list", "all", data=data).stdout.splitlines())
    assert run_cli("list", "deleted", data=data).stdout.startswith("#3 ")
    refused = run_cli("purge", "3", data=data, input="")
    assert refused.returncode == 2 and "was not purged" in refused.stderr
    backup = json.loads(run_cli("export", data=data).stdout)
    assert [c["archived"]["reason"] for c in backup["claims"] if c["number"] == 3] == ["entered twice"]
    assert "#3 is purged" in run_cli("purge", "3", "--yes", data=data).stdout
    gone = run_cli("show", "3", data=data)
    assert gone.returncode != 0 and "no claim #3" in gone.stderr


def test_through_the_bot_a_deleted_claim_gets_no_reminder_and_a_restored_one_does(tmp_path: Path, data: Path | str) -> None:
    from fakebot import FakeBotAPI, running
    from test_bot import ADMIN
    from test_delivery_bot import bot_for

    store = open_store(data)
    gone = claim(store, "Typo claim", review_date=date(2026, 3, 1))
    kept = claim(store, "Real claim", review_date=date(2026, 3, 1))
    store.subscribe(ADMIN, "all", NOW, ("due",))
    store.queue_messages([], state={"reminded": "2026-03-02"})  # today's round is done
    tomorrow, after = NOW + timedelta(days=1), NOW + timedelta(days=2)
    with FakeBotAPI() as api:
        with running(bot_for(api, store, data, clock=lambda: NOW)):
            mark = api.mark()
            api.user_message(ADMIN, f"/delete {gone} typo", username="admin")
            assert "is deleted" in api.wait_reply(ADMIN, mark).text
        with running(bot_for(api, store, data, clock=lambda: tomorrow)):
            reminder = api.wait_for(lambda s: s.chat_id == ADMIN and "Review due" in (s.text or ""))
            mark = api.mark()
            api.user_message(ADMIN, f"/restore {gone}", username="admin")
            assert "is back" in api.wait_reply(ADMIN, mark).text
        assert f"#{kept}" in reminder.text and f"#{gone}" not in reminder.text
        with running(bot_for(api, store, data, clock=lambda: after)):
            back = api.wait_for(lambda s: s.chat_id == ADMIN and "Review due" in (s.text or "")
                                and s.message_id > reminder.message_id)
        assert f"#{gone}" in back.text
