"""Forecasters by stable identity: a Telegram user by their id, a command-line name as itself; two people never
merge, one person keeps one track record through a change of name; older data migrates, with a backup."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from claimwatch import accuracy, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.errors import InputError
from claimwatch.model import Evidence, OutcomeValue, Role, Stance
from claimwatch.store import SCHEMA_VERSION, open_store
from conftest import NOW, UTC_TZ, postgres_location, run_cli


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
    assert ledger.analyst_identity(store, "alice (tg:5)") == "tg:5"  # as the leaderboard shows them
    assert ledger.analyst_identity(store, "alice") == "alice"  # a name typed is its own identity first


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
    for args in (("forecast", str(number), "50%"), ("add", "Another"), ("resolve", str(number), "true"),
                 ("delete", str(number)), ("evidence", str(number), "--label", "1", "supports")):
        run = run_cli(*args, "--by", "tg:5", data=data)
        assert run.returncode == 2 and "kept for Telegram users" in run.stderr, args
    assert store.get_claim(number).outcome is None and store.get_claim(number).archived is None


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
    assert bad.returncode == 2 and "claims[0].forecasts[0].who: 'alice' is not a person's identity" in bad.stderr
    claim["forecasts"][0]["who"] = "tg:5"
    claim["outcome"] = {"value": "true", "who": "tg:5"}  # an identity with no name: not the importer's
    doc.write_text(json.dumps({"version": 1, "claims": [claim]}))
    assert run_cli("import", str(doc), data=tmp_path / "fourth").returncode == 0
    outcome = open_store(tmp_path / "fourth").find_claims()[-1].outcome
    assert outcome is not None and outcome.by == outcome.actor  # the importer (the command line's name) alone


# --- who recorded, resolved, deleted and changed a claim: by identity too (issue 12, point 2) ---------------------

CAROL = 5  # a Telegram user whose @username is carol


def analysts(data: Path | str, *users: tuple[int, str]) -> tuple:
    """A store at `data` where each (Telegram user id, name) is an analyst, and the chat they use (admin: user 1)."""
    store = open_store(data)
    for user_id, name in users:
        store.set_role(user_id, Role.ANALYST, name, "test", NOW - timedelta(days=9))
    return store, ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))


def say(service: ChatService, user_id: int, name: str, text: str, days_ago: int = 0) -> str:
    return "\n".join(r.text for r in service.handle(Incoming(user_id, user_id, text, name), NOW - timedelta(days=days_ago)))


def test_a_telegram_user_and_a_command_line_name_alike_keep_their_claims_and_records_apart(data: Path | str) -> None:
    store, chat = analysts(data, (CAROL, "carol"))
    say(chat, CAROL, "carol", "/add Deal signed", days_ago=5)
    assert run_cli("add", "Pipeline", "built", "--by", "carol", data=data).returncode == 0
    ours, theirs = (c.id for c in store.find_claims())
    say(chat, CAROL, "carol", f"/forecast {ours} 80%", days_ago=4)
    assert run_cli("forecast", str(theirs), "30%", "--by", "carol", data=data).returncode == 0
    # each sees their own open forecasts only
    assert "Deal signed" in say(chat, CAROL, "carol", "/mine") and "Pipeline" not in say(chat, CAROL, "carol", "/mine")
    mine = run_cli("mine", "--by", "carol", data=data).stdout
    assert "Pipeline" in mine and "Deal signed" not in mine
    # a claim the command line's carol recorded is not the Telegram user's to delete
    refused = say(chat, CAROL, "carol", f"/delete {theirs}")
    assert f"#{theirs} was recorded by carol: only they or an admin may delete" in refused
    assert store.get_claim(theirs).archived is None
    say(chat, CAROL, "carol", f"/resolve {ours} true", days_ago=1)
    assert run_cli("resolve", str(theirs), "false", "--by", "carol", data=data).returncode == 0
    store = open_store(data)  # as the command line left it
    made, other = store.get_claim(ours), store.get_claim(theirs)
    assert (made.created_by, made.creator, made.outcome.by, made.outcome.actor) == ("carol", "tg:5", "carol", "tg:5")
    assert (other.created_by, other.creator, other.outcome.by, other.outcome.actor) == ("carol", "carol", "carol", "carol")
    assert {c.actor for c in store.history(ours)} == {"tg:5"} and {c.actor for c in store.history(theirs)} == {"carol"}
    # each has a record of one forecast: 80% on true (Brier 0.04) and 30% on false (0.09)
    assert "Track record of carol: n = 1, too few to judge (Brier 0.040 so far)" in say(chat, CAROL, "carol", "/me")
    me = json.loads(run_cli("me", "--json", "--by", "carol", data=data).stdout)
    assert me["record"]["n"] == 1 and round(me["record"]["brier"], 3) == 0.09
    stats = json.loads(run_cli("stats", "--json", "--by", "carol", data=data).stdout)
    assert stats["n_forecasts"] == 1 and round(stats["brier"], 3) == 0.09  # a name typed is its own identity first
    assert round(json.loads(run_cli("stats", "--json", "--by", "tg:5", data=data).stdout)["brier"], 3) == 0.04
    listed = json.loads(run_cli("list", "--json", "@carol", data=data).stdout)
    assert [c["number"] for c in listed] == [theirs]
    assert sorted(review(store)["by_forecaster"]) == ["carol", "carol (tg:5)"]


def test_a_username_telegram_gives_to_someone_else_inherits_nothing(data: Path | str) -> None:
    new = 9  # the next to be called carol
    store, chat = analysts(data, (CAROL, "carol"))
    say(chat, CAROL, "carol", "/add Deal signed", days_ago=8)
    say(chat, CAROL, "carol", "/add Pipeline built", days_ago=8)
    deal, pipeline = (c.id for c in store.find_claims())
    say(chat, CAROL, "carol", f"/forecast {deal} 80%", days_ago=7)
    say(chat, CAROL, "carol", f"/forecast {pipeline} 60%", days_ago=7)
    say(chat, CAROL, "carol", f"/resolve {deal} true", days_ago=6)
    assert "accuracy (@carol)" in say(chat, 1, "admin", "/stats @carol")  # found by identity, shown as typed
    store.set_role(new, Role.ANALYST, "carol", "test", NOW - timedelta(days=5))  # user 5 has another name by now
    assert "no resolved claim with a forecast of yours yet" in say(chat, new, "carol", "/me")
    assert "You have no open forecasts" in say(chat, new, "carol", "/mine")
    assert f"#{pipeline}" in say(chat, new, "carol", "/todo")
    assert "only they or an admin may delete" in say(chat, new, "carol", f"/delete {pipeline}")
    assert "until-own" in say(chat, 1, "admin", "/settings hide-forecasts until-own")
    assert "60%" not in say(chat, new, "carol", f"/history {pipeline}")  # user 5's forecast, hidden from another
    assert "60%" in say(chat, CAROL, "carol_now", f"/history {pipeline}")  # not from its maker, renamed since
    say(chat, new, "carol", f"/forecast {pipeline} 20%")
    ambiguous = say(chat, 1, "admin", "/stats @carol")
    assert "2 analysts have forecast as 'carol': say which, as @tg:5 or @tg:9" in ambiguous
    assert "n = 1" in say(chat, 1, "admin", "/stats @tg:5")


def test_who_did_what_before_identities_migrates_with_a_backup(tmp_path: Path) -> None:
    data = tmp_path / "data"
    old = open_store(data, schema_version=2, migrations={})  # as claimwatch wrote before: names alone
    old.set_role(555, Role.ANALYST, "alice", "invite", NOW)
    number = ledger.add_claim(old, ledger.NewClaim(text="Deal signed"), "alice", NOW).id
    kept = ledger.add_claim(old, ledger.NewClaim(text="Pipeline built"), "carol", NOW).id
    ledger.add_forecast(old, number, 0.7, "alice", NOW, who="tg:555")  # forecasts had identities already
    ledger.add_forecast(old, number, 0.4, "alice", NOW)  # the command line's alice, not the Telegram user
    ledger.resolve(old, number, OutcomeValue.TRUE, "Bob Smith (777)", NOW)
    old.add_evidence([Evidence(0, number, "https://example.org/a", "Signed", NOW)])
    old.label_evidence(number, 1, Stance.SUPPORTS, "alice", NOW)
    ledger.delete_claim(old, number, "alice", NOW + timedelta(minutes=1))
    migrated = open_store(data)
    assert migrated.schema_version == SCHEMA_VERSION and migrated.migrated_backup is not None
    claim = migrated.get_claim(number)
    assert (claim.created_by, claim.created_who) == ("alice", "tg:555")
    assert (claim.outcome.by, claim.outcome.who) == ("Bob Smith (777)", "tg:777")
    assert (claim.archived.by, claim.archived.who) == ("alice", "tg:555")
    assert [(c.action, c.by, c.who) for c in migrated.history(number)] == [
        ("add", "alice", "tg:555"), ("forecast", "alice", "tg:555"), ("forecast", "alice", ""),
        ("resolve", "Bob Smith (777)", "tg:777"), ("label", "alice", "tg:555"), ("delete", "alice", "tg:555")]
    assert migrated.get_claim(kept).creator == "carol"  # no Telegram user's name: a command-line name
    backup = Path(migrated.migrated_backup)
    assert "created_who" not in (backup / "claims-0000.json").read_text()  # the data as it was before
    assert "tg:" not in (backup / "evidence-0000.json").read_text()


def test_a_directory_from_when_schema_3_meant_audit_files_gets_identities_too(tmp_path: Path) -> None:
    """Commit 6585a65 numbered the audit files' move 2 -> 3, before identities took that number: its directories
    say schema 3 without identities, and get them in the step to 4."""
    from claimwatch.store import _audit_in_files_of_its_own

    data = tmp_path / "data"
    old = open_store(data, schema_version=2, migrations={})
    old.set_role(555, Role.ANALYST, "alice", "invite", NOW)
    number = ledger.add_claim(old, ledger.NewClaim(text="Deal signed"), "alice", NOW).id
    ledger.resolve(old, number, OutcomeValue.TRUE, "Bob Smith (777)", NOW)
    assert open_store(data, schema_version=3, migrations={2: _audit_in_files_of_its_own}).schema_version == 3
    claim = open_store(data).get_claim(number)
    assert (claim.created_who, claim.outcome.who) == ("tg:555", "tg:777")
    assert [(c.action, c.who) for c in open_store(data).history(number)] == [("add", "tg:555"), ("resolve", "tg:777")]


def test_who_did_what_before_identities_migrates_in_postgresql(postgres_database: str) -> None:
    from claimwatch.pgstore import ACTORS_SCHEMA, MIGRATIONS, SCHEMA_VERSION as PG_SCHEMA

    location = postgres_location(postgres_database)
    at = "'2026-03-01 12:00+00'"
    old_rows = f"""
        insert into users values (555, 'alice', 'analyst', 'invite', {at});
        insert into claims (number, kind, text, created_at, created_by, archived_at, archived_by, archived_reason,
                            changed) values (1, 'claim', 'Deal signed', {at}, 'alice', {at}, 'alice', '', 1),
                                            (2, 'claim', 'Pipeline built', {at}, 'carol', null, null, null, 1);
        insert into sources values (1, '', '', '', null, ''), (2, '', '', '', null, '');
        insert into forecasts values (1, 1, 'alice', 'tg:555', 0.7, {at}, '', null), (1, 2, 'alice', '', 0.4, {at}, '', null);
        insert into outcomes values (1, 'true', {at}, 'Bob Smith (777)', null, '', '{{}}');
        insert into audit (claim, at, by_name, action, before, after) values
            (1, {at}, 'alice', 'add', null, null),
            (1, {at}, 'alice', 'forecast', null, '{{"by": "alice", "who": "tg:555", "p": 0.7}}'),
            (1, {at}, 'alice', 'forecast', null, '{{"by": "alice", "p": 0.4}}'),
            (1, {at}, 'Bob Smith (777)', 'resolve', null, null),
            (1, {at}, 'alice', 'delete', null, null);
        update meta set value = 1 where key = 'claims_changes';
    """
    step = next(n for n, statements in MIGRATIONS.items() if statements is ACTORS_SCHEMA)  # the schema before it
    before = {n: MIGRATIONS[n] + (old_rows if n == step - 1 else "") for n in range(step)}
    open_store(location, schema_version=step, migrations=before)
    migrated = open_store(location)
    assert migrated.schema_version == PG_SCHEMA
    claim = migrated.get_claim(1)
    assert (claim.created_who, claim.outcome.who, claim.archived.who) == ("tg:555", "tg:777", "tg:555")
    assert [f.forecaster for f in claim.forecasts] == ["tg:555", "alice"]  # as they were
    assert [(c.action, c.who) for c in migrated.history(1)] == [
        ("add", "tg:555"), ("forecast", "tg:555"), ("forecast", ""), ("resolve", "tg:777"), ("delete", "tg:555")]
    assert migrated.get_claim(2).creator == "carol"


def test_an_outcome_alert_scores_two_forecasters_of_one_name_each(store) -> None:
    from claimwatch import delivery
    from claimwatch.model import outcome_to_dict

    number = ledger.add_claim(store, ledger.NewClaim(text="Deal signed"), "ana", NOW - timedelta(days=2)).id
    ledger.add_forecast(store, number, 0.8, "carol", NOW - timedelta(days=1), who="tg:5")
    ledger.add_forecast(store, number, 0.3, "carol", NOW - timedelta(days=1))
    store.subscribe(1, "all", NOW - timedelta(days=2), ("outcome",))
    claim = ledger.resolve(store, number, OutcomeValue.TRUE, "ana", NOW)
    delivery.fan_out(store, NOW, UTC_TZ)
    [message] = delivery.next_batch(store, NOW)
    assert "carol 80% → 0.040" in message.text and "carol 30% → 0.490" in message.text
    kept_before = {"outcome": outcome_to_dict(claim.outcome), "source_p": None, "forecasts": {"carol": 0.8}}
    assert "carol 80% → 0.040" in delivery.outcome_text(claim, kept_before)  # an event queued as they were
