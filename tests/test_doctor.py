"""claimwatch doctor: each check passing, and each failing in turn with a line that says what to do."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from claimwatch import delivery, ledger
from claimwatch.doctor import BACKLOG_AGE, check_outbox, diagnose
from claimwatch.model import Evidence, Feed
from claimwatch.store import open_store

from conftest import NOW, UTC_TZ, postgres_location, run_cli
from fakebot import FakeBotAPI

NAMES = ["configuration", "store", "token", "feeds", "outbox"]


def files(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data.iterdir()) if p.is_file()}


def snapshot(data: Path | str) -> tuple[dict, dict[str, bytes] | None]:
    """What the store holds (its export, less when it was made), and a data directory's files byte for byte."""
    exported = json.loads(run_cli("export", data=data, examples=False).stdout)
    del exported["exported"]
    return exported, files(data) if isinstance(data, Path) else None


def env_for(data: Path | str, api: FakeBotAPI, token: str | None = None) -> dict[str, str]:
    return {"CLAIMWATCH_DATA": str(data), "TELEGRAM_BOT_TOKEN": token or api.TOKEN, "TELEGRAM_API_URL": api.url}


def findings(data: Path | str, api: FakeBotAPI, **env: str) -> dict[str, tuple[bool, str]]:
    return {f.name: (f.ok, f.message) for f in diagnose(NOW, env_for(data, api) | env, env_file=None)}


def test_a_healthy_installation_is_all_ok_and_doctor_changes_nothing(data: Path | str) -> None:
    with FakeBotAPI() as api:
        assert run_cli("feeds", "add", "https://news.example.org/rss", "Wire", data=data).returncode == 0
        before = snapshot(data)
        result = run_cli("doctor", data=data, env=env_for(data, api), examples=False)
        after = snapshot(data)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0].split() for line in lines] == [["ok", name] for name in NAMES]
    assert "18 claims, writable" in lines[1]
    assert "@claimwatch_test_bot, no webhook set (long polling)" in lines[2]
    assert "1 feed, none failing" in lines[3] and "no alerts waiting" in lines[4]
    assert after == before and api.TOKEN not in result.stdout


def test_a_bad_configuration_value_is_the_one_problem_named(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        result = run_cli("doctor", data=tmp_path / "data", env=env_for(tmp_path / "data", api)
                         | {"CLAIMWATCH_POLL_SECONDS": "5"}, examples=False)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "problem  configuration: CLAIMWATCH_POLL_SECONDS='5': give a number of seconds from 60 to 86400"]
    assert not (tmp_path / "data").exists()


def test_no_data_directory_yet_is_said_and_not_made(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        found = findings(tmp_path / "data", api)
    assert found["store"][0] and "no data directory at" in found["store"][1]
    assert list(found) == ["configuration", "store", "token"] and not (tmp_path / "data").exists()


@pytest.mark.parametrize("damage, says", [
    (lambda data: (data / "meta.json").write_text(json.dumps({"meta": {"1": {"schema": 99}}})),
     "written by a newer claimwatch (schema 99"),
    (lambda data: (data / "claims-0000.json").write_text('{"claims": {"1": '),
     "claims-0000.json"),
], ids=["newer-schema", "unreadable-claims"])
def test_a_store_that_cannot_be_used_is_a_problem(tmp_path: Path, damage, says: str) -> None:
    data = tmp_path / "data"
    ledger.add_claim(open_store(data), ledger.NewClaim(text="Gas flows"), "ann", NOW)
    damage(data)
    with FakeBotAPI() as api:
        found = findings(data, api)
    ok, message = found["store"]
    assert not ok and says in message, message
    assert found["token"][0] and "feeds" not in found  # the checks that need the store are left out


def test_a_database_of_a_newer_schema_is_a_problem(postgres_database: str) -> None:
    from claimwatch.pgstore import MIGRATIONS, SCHEMA_VERSION

    data = postgres_location(postgres_database)
    newer = SCHEMA_VERSION + 1
    open_store(data, schema_version=newer, migrations=MIGRATIONS | {SCHEMA_VERSION: "create table later (x int)"})
    with FakeBotAPI() as api:
        found = findings(data, api)
    ok, message = found["store"]
    assert not ok and f"written by a newer claimwatch (schema {newer}, this one reads {SCHEMA_VERSION})" in message, \
        message


def test_a_database_that_cannot_be_reached_is_a_problem(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        found = findings(tmp_path, api, CLAIMWATCH_DATA="postgresql://claimwatch:pw@127.0.0.1:9/claimwatch")
    ok, message = found["store"]
    assert not ok and message.startswith("cannot connect to PostgreSQL at ") and "pw" not in message
    assert found["configuration"][0] and "pw" not in found["configuration"][1]


def test_a_rejected_token_is_a_problem_and_no_token_says_the_command_line_works(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        rejected = findings(tmp_path / "data", api, TELEGRAM_BOT_TOKEN="123456:WRONG")["token"]
        missing = findings(tmp_path / "data", api, TELEGRAM_BOT_TOKEN="")["token"]
    assert not rejected[0] and rejected[1].startswith("Telegram rejected the bot token") and "WRONG" not in rejected[1]
    assert not missing[0] and "the bot cannot run (the command line and claimwatch console work" in missing[1]


def test_a_webhook_is_named_with_its_waiting_updates(tmp_path: Path) -> None:
    with FakeBotAPI() as api:
        api.webhook = {"url": "https://bot.example.org/hook"}
        api.user_message(5, "/help")
        ok, message = findings(tmp_path / "data", api)["token"]
    assert ok and "updates by webhook at https://bot.example.org/hook (1 waiting)" in message


def test_disabled_and_failing_feeds_are_a_problem(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    gone, flaky, fine, once = (store.add_feed(Feed(0, f"https://{name}.example.org/rss", name, NOW, "ann"))
                               for name in ("Gone", "Flaky", "Fine", "Once"))
    store.save_feed(replace(gone, enabled=False, disabled_reason="410 Gone"))
    store.save_feed(replace(flaky, failures=3, error="HTTP 500", last_error_at=NOW))
    store.save_feed(replace(once, failures=1, error="timed out", last_error_at=NOW))  # not yet failing
    with FakeBotAPI() as api:
        ok, message = findings(data, api)["feeds"]
    assert not ok
    assert message.startswith("4 feeds, 1 disabled: Gone (410 Gone), 1 failing: Flaky (3x: HTTP 500): check")
    assert "Once" not in message and "Fine" not in message


def test_an_old_alert_backlog_is_a_problem_and_a_fresh_one_is_not(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Gas flows"), "ann", NOW).id
    store.subscribe(7, "all", NOW)
    store.add_evidence([Evidence(0, number, "https://n.example/1", "Gas flows again", NOW, feed="Wire",
                                 matched=("gas",))], alert=True)
    assert delivery.fan_out(store, NOW, UTC_TZ) == 1
    with FakeBotAPI() as api:
        fresh = findings(data, api)["outbox"]
        diagnosed_later = {f.name: f for f in diagnose(NOW + BACKLOG_AGE + timedelta(minutes=1),
                                                        env_for(data, api), env_file=None)}
    assert fresh == (True, "1 alert waiting, the oldest for 0 minutes")
    stale = diagnosed_later["outbox"]
    assert not stale.ok and stale.message.startswith("1 alert waiting, the oldest for 61 minutes: is the bot running")
    assert stale.line().startswith("problem  outbox: ")
    large = check_outbox(store, NOW, max_size=0)  # more waiting than sending keeps up with, however fresh
    assert not large.ok and large.message.startswith("1 alert waiting, the oldest for 0 minutes: is the bot running")
