"""An analyst's own views: open forecasts (/mine, `mine`), claims not yet forecast (/todo, `todo`), and
the track record (/me, `me`)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from claimwatch import ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.model import OutcomeValue, Role
from claimwatch.store import Store

from conftest import NOW, UTC_TZ, run_cli

ANA, BOB = 2, 3


@pytest.fixture
def team(store: Store) -> tuple[Store, ChatService]:
    """Two analysts and four open claims, on each kind of store."""
    store.set_role(ANA, Role.ANALYST, "ana", "test", NOW)
    store.set_role(BOB, Role.ANALYST, "bob", "test", NOW)
    for text, due in (("Late", date(2026, 9, 1)), ("Soon", date(2026, 4, 1)), ("Undated", None), ("Sooner", date(2026, 3, 20))):
        ledger.add_claim(store, ledger.NewClaim(text=text, review_date=due), "seed", NOW)
    chat = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "claimwatch_test_bot"))
    return store, chat


def say(chat: ChatService, user: int, text: str) -> list:
    return chat.handle(Incoming(user, user, text, {ANA: "ana", BOB: "bob"}.get(user, "admin"), "private"), NOW)


def test_mine_lists_my_open_forecasts_due_soonest_with_the_team_median(team: tuple[Store, ChatService]) -> None:
    store, chat = team
    for claim, p in ((1, "30%"), (2, "60%"), (3, "50%")):
        say(chat, ANA, f"/forecast {claim} {p}")
    say(chat, BOB, "/forecast 2 90%")
    say(chat, BOB, "/forecast 2 80%")  # bob's current view counts, not his first
    ledger.resolve(store, 1, OutcomeValue.TRUE, "ana", NOW)  # resolved: no longer open
    (reply,) = say(chat, ANA, "/mine")
    lines = reply.text.splitlines()
    assert lines[0] == "Your open forecasts (2), due soonest first:"
    assert "Soon" in lines[1] and "you 60%, team median 70% (2 forecasters)" in lines[1]
    assert "Undated" in lines[2] and "you 50%, team median 50% (1 forecaster)" in lines[2]
    assert "no open forecasts" in say(chat, 1, "/mine")[0].text


def test_todo_lists_the_open_claims_i_have_not_forecast_with_a_button_each(team: tuple[Store, ChatService]) -> None:
    store, chat = team
    say(chat, ANA, "/forecast 2 60%")
    (reply,) = say(chat, ANA, "/todo")
    assert [line.split(" ", 1)[1].split(" · ")[0] for line in reply.text.splitlines()[1:]] == ["Sooner", "Late", "Undated"]
    assert [b.command for row in reply.buttons for b in row] == ["/forecast 4", "/forecast 1", "/forecast 3"]
    for n in (1, 3, 4):
        say(chat, ANA, f"/forecast {n} 50%")
    assert say(chat, ANA, "/todo")[0].text == "You have forecast every open claim."


def test_me_gives_my_record_beside_the_team_with_a_chart(team: tuple[Store, ChatService]) -> None:
    store, chat = team
    assert "no resolved claim with a forecast of yours yet" in say(chat, ANA, "/me")[0].text
    say(chat, ANA, "/forecast 1 90%")
    say(chat, BOB, "/forecast 1 50%")
    ledger.resolve(store, 1, OutcomeValue.TRUE, "ana", NOW + timedelta(days=1))
    record, chart = say(chat, ANA, "/me")
    assert "Track record of ana: n = 1, too few to judge (Brier 0.010 so far)" in record.text
    assert "your difference from it: -0.080" in record.text  # 0.01 against the median 70%: 0.09
    assert chart.attachment is not None and chart.attachment.content[:4] == b"\x89PNG"
    assert "takes no arguments" in say(chat, ANA, "/me bob")[0].text


def test_mine_todo_and_me_on_the_command_line(tmp_path: Path, data: Path | str) -> None:
    assert run_cli("forecast", "3", "40%", "--by", "alice", data=data).returncode == 0
    assert run_cli("forecast", "3", "60%", "--by", "bob", data=data).returncode == 0
    mine = run_cli("mine", "--by", "alice", data=data)
    assert mine.stdout.startswith("#3 ") and "you 40%, team median 50% (2 forecasters)" in mine.stdout
    (row,) = json.loads(run_cli("mine", "--json", "--by", "bob", data=data).stdout)
    assert (row["number"], row["my_p"], row["team_median"]) == (3, 0.6, 0.5)
    todo = run_cli("todo", "--by", "alice", data=data).stdout.splitlines()
    assert len(todo) == 17 and not any(line.startswith("#3 ") for line in todo)
    assert "no resolved claim" in run_cli("me", "--by", "alice", data=data).stdout
    assert run_cli("resolve", "3", "false", "--by", "alice", data=data).returncode == 0
    me = json.loads(run_cli("me", "--json", "--by", "alice", data=data).stdout)
    assert me["record"]["n"] == 1 and round(me["record"]["brier"], 3) == 0.16


def test_hidden_forecasts_on_the_command_line(tmp_path: Path, data: Path | str) -> None:
    assert run_cli("forecast", "3", "40%", "--by", "bob", data=data).returncode == 0
    assert run_cli("settings", data=data).stdout == "hide-forecasts off\npublic-names off\n"
    assert run_cli("settings", "--hide-forecasts", "until-own", data=data).stdout == "hide-forecasts until-own\npublic-names off\n"
    assert json.loads(run_cli("settings", "--json", data=data).stdout) == {"hide-forecasts": "until-own", "public-names": "off"}
    bad = run_cli("settings", "hide-forecasts", "sometimes", data=data)
    assert bad.returncode == 2 and "one of off, until-own" in bad.stderr
    hidden = json.loads(run_cli("show", "3", "--json", "--by", "alice", data=data).stdout)
    assert (hidden["forecasts"], hidden["hidden_forecasters"]) == ([], 1)
    assert "40%" not in run_cli("history", "3", "--by", "alice", data=data).stdout
    assert "bob: 40%" in run_cli("show", "3", "--by", "bob", data=data).stdout  # your own claim's forecasts
    assert run_cli("forecast", "3", "60%", "--by", "alice", data=data).returncode == 0
    assert "bob: 40%" in run_cli("show", "3", "--by", "alice", data=data).stdout
