"""The audit trail in files of its own (audit-NNNN.json): listing claims never reads it, history and export stay
whole, and a data directory written before (schema 2, the audit inside claims-NNNN.json) migrates with a backup."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson

from claimwatch import ledger
from claimwatch.model import change_to_dict
from claimwatch.store import SCHEMA_VERSION, ClaimFilter, FileStore, open_store
from conftest import ROOT, CountingBackend

# tests/data/schema2: the example claims, a claim in the second shard, forecasts, an edit, resolve-reopen-resolve,
# evidence with a label and a deleted claim, as claimwatch wrote them at schema 2; schema2-expected.json: what that
# claimwatch printed for them (every claim's history; the exports, made at WRITTEN in Berlin time)
OLD = ROOT / "tests" / "data" / "schema2"
EXPECTED = json.loads((ROOT / "tests" / "data" / "schema2-expected.json").read_text("utf-8"))
WRITTEN = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")


def old_directory(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    shutil.copytree(OLD, data)
    return data


def tables(path: Path) -> dict[str, dict]:
    return orjson.loads(path.read_bytes())


def test_an_old_directory_moves_its_audit_trail_to_audit_files_and_keeps_a_backup(tmp_path: Path) -> None:
    data = old_directory(tmp_path)
    before = {p.name: p.read_bytes() for p in data.glob("*.json")}
    old_audit = {name: tables(data / f"claims-{name}.json")["audit"] for name in ("0000", "0001")}
    old_alerts = tables(data / "claims-0000.json")["alerts"]
    store = open_store(data)
    assert store.schema_version == SCHEMA_VERSION
    backup = Path(store.migrated_backup or "")
    assert backup.name.startswith("backup-schema2-")
    assert {p.name: p.read_bytes() for p in backup.glob("*.json")} == before
    for name, entries in old_audit.items():
        assert "audit" not in tables(data / f"claims-{name}.json")
        assert list(tables(data / f"audit-{name}.json")["audit"].values()) == list(entries.values())
    assert tables(data / "claims-0000.json")["alerts"] == old_alerts  # alert events stay beside their claims
    assert open_store(data).migrated_backup is None  # done once


def test_an_old_directory_keeps_every_claims_history_and_exports_as_before(tmp_path: Path) -> None:
    store = open_store(old_directory(tmp_path))
    claims = store.find_claims(ClaimFilter(archived=None))
    assert sorted(str(c.id) for c in claims) == sorted(EXPECTED["history"])
    for claim in claims:
        assert [change_to_dict(c) for c in store.history(claim.id)] == EXPECTED["history"][str(claim.id)]
    for fmt, text in EXPECTED["exports"].items():
        assert ledger.export_claims(store, fmt, WRITTEN, BERLIN) == text, fmt


def test_listing_and_changing_claims_never_read_their_history(tmp_path: Path) -> None:
    open_store(old_directory(tmp_path))  # migrated
    backend = CountingBackend(tmp_path / "data")
    store = FileStore(backend)
    ledger.list_claims(store, ["all"], WRITTEN.date())
    ledger.due(store, WRITTEN.date())
    store.claim_dicts()
    store.get_claim(501)
    assert not [name for name in backend.reads if name.startswith("audit-")]
    ledger.add_forecast(store, 501, 0.4, "bo", WRITTEN)  # a change reads and writes its shard's audit file
    assert [name for name in backend.reads if name.startswith("audit-")] == ["audit-0001"]
    assert [c.action for c in store.history(501)][-1] == "forecast"


def test_a_purged_claim_leaves_nothing_in_the_audit_file(tmp_path: Path) -> None:
    data = old_directory(tmp_path)
    store = open_store(data)
    deleted = store.find_claims(ClaimFilter(archived=True))[0].id
    ledger.purge_claim(store, deleted)
    assert all(d["claim"] != deleted for d in tables(data / "audit-0000.json")["audit"].values())
    assert any(d["claim"] == 1 for d in tables(data / "audit-0000.json")["audit"].values())
