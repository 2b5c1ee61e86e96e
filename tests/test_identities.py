"""Forecasters by stable identity: a Telegram user by their id, a command-line name as itself; two people never
merge, one person keeps one track record through a change of name; older data migrates, with a backup."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from claimwatch import accuracy, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.errors import InputError
from claimwatch.model import OutcomeValue, Role
from claimwatch.store import SCHEMA_VERSION, open_store
from conftest import NOW, UTC_TZ, run_cli


def review(store, by: str | None = None) -> dict:
    return accuracy.review(store.claim_dicts(), UTC_TZ, accuracy.Scope(forecaster=by))


def test_a_telegram_user_and_a_command_line_name_alike_never_merge(data: Path | str) -> None:
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Deal signed"), "ana", NOW - timedelta(days=3)).id
    service = ChatService(store, ChatSettings(UTC_TZ, frozenset({5}), "invite", "bot"))
    service.handle(Incoming(5, 5, f"/forecast {number} 80%", "alice"), NOW - timedelta(days=2))
    ledger.add_forecast(store, number, 0.1, "alice", NOW - timedelta(days=2))  # someone else, on the command line
    claim = store.get_claim(number)
    assert sorted((f.who, f.by, f.p) for f in claim.current_forecasts().values()) == [
        ("", "alice", 0.1), ("tg:5", "alice", 0.8)]
    ledger.resolve(store, number, OutcomeValue.TRUE, "ana", NOW)
    assert sorted(review(store)["by_forecaster"]) == ["alice", "alice (tg:5)"]
    assert review(store, "tg:5")["n_forecasts"] == 1  # one forecaster asked for by identity


def test_a_telegram_user_who_changes_name_keeps_one_track_record(data: Path | str) -> None:
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Deal signed"), "ana", NOW - timedelta(days=3)).id
    service = ChatService(store, ChatSettings(UTC_TZ, frozenset({5}), "invite", "bot"))
    service.handle(Incoming(5, 5, f"/forecast {number} 80%", "alice"), NOW - timedelta(days=2))
    service.handle(Incoming(5, 5, f"/forecast {number} 70%", "alice_new"), NOW - timedelta(days=1))
    assert [f.p for f in store.get_claim(number).current_forecasts().values()] == [0.7]
    ledger.resolve(store, number, OutcomeValue.TRUE, "ana", NOW)
    assert list(review(store)["by_forecaster"]) == ["alice_new"]


def test_a_typed_name_cannot_pass_for_a_telegram_user(data: Path | str) -> None:
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="x"), "ana", NOW).id
    with pytest.raises(InputError, match="kept for Telegram users"):
        ledger.add_forecast(store, number, 0.5, "tg:5", NOW)
    run = run_cli("forecast", str(number), "50%", "--by", "tg:5", data=data)
    assert run.returncode == 2 and "kept for Telegram users" in run.stderr


def test_forecasts_made_in_telegram_before_identities_migrate_with_a_backup(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = open_store(data, schema_version=1, migrations={})
    old.set_role(555, Role.ANALYST, "alice", "invite", NOW)
    number = ledger.add_claim(old, ledger.NewClaim(text="Deal signed"), "ana", NOW).id
    for by in ("alice", "Bob Smith (777)", "carol"):
        ledger.add_forecast(old, number, 0.5, by, NOW)
    migrated = open_store(data)
    assert migrated.schema_version == SCHEMA_VERSION and migrated.migrated_backup is not None
    assert sorted((f.by, f.who) for f in migrated.get_claim(number).forecasts) == [
        ("Bob Smith (777)", "tg:777"), ("alice", "tg:555"), ("carol", "")]
    assert (Path(migrated.migrated_backup) / "claims-0000.json").exists()
    assert "tg:" not in (Path(migrated.migrated_backup) / "claims-0000.json").read_text()


def test_an_export_keeps_identities_and_an_import_checks_them(tmp_path: Path, data: Path | str) -> None:
    import json

    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="Deal signed"), "ana", NOW).id
    ledger.add_forecast(store, number, 0.8, "alice", NOW, who="tg:5")
    exported = json.loads(run_cli("export", data=data).stdout)
    [claim] = [c for c in exported["claims"] if c["text"] == "Deal signed"]
    assert claim["forecasts"] == [{"by": "alice", "p": 0.8, "at": NOW.isoformat(), "note": "", "who": "tg:5"}]
    again = tmp_path / "again"
    doc = tmp_path / "claims.json"
    doc.write_text(json.dumps({"version": 1, "claims": [claim]}))
    assert run_cli("import", str(doc), data=again).returncode == 0
    assert [f.who for f in open_store(again).find_claims()[-1].forecasts] == ["tg:5"]
    claim["forecasts"][0]["who"] = "alice"
    doc.write_text(json.dumps({"version": 1, "claims": [claim]}))
    bad = run_cli("import", str(doc), data=tmp_path / "third")
    assert bad.returncode == 2 and "claims[0].forecasts[0].who: 'alice' is not a forecaster's identity" in bad.stderr
