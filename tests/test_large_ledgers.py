"""What keeps a large ledger cheap to read, on both stores: `export` writes claims as it reads them, a file (or a
batch) at a time, the same text as one json.dumps of the whole; a store opened to read once (a reading command)
finds what a long-running one finds, keeping none of it, and refuses a claim it cannot read when it shows it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path

from claimwatch import ledger
from claimwatch.model import OutcomeValue
import orjson
import pytest

from claimwatch.errors import StoreError
from claimwatch.store import SHARD_SIZE, ClaimFilter, open_store
from conftest import NOW, UTC_TZ, files_of, run_cli


def fill(store) -> list[int]:
    """Claims in three files (batches), one deleted, some resolved; their numbers."""
    claims = [{"number": n, "text": f"Claim {n} «quoted» 中文", "tags": ["t"], "forecasts": [
        {"by": "ana", "p": 0.3, "at": (NOW - timedelta(days=2)).isoformat()}]}
        for n in (1, 2, SHARD_SIZE, SHARD_SIZE + 1, 2 * SHARD_SIZE + 7)]
    ledger.import_claims(store, {"version": 1, "claims": claims}, "ana", NOW - timedelta(days=3))
    ledger.resolve(store, 2, OutcomeValue.TRUE, "ana", NOW, note="it did")
    ledger.resolve(store, SHARD_SIZE + 1, OutcomeValue.FALSE, "ana", NOW)
    ledger.delete_claim(store, SHARD_SIZE, "ana", NOW, "duplicate")
    return [c["number"] for c in claims]


def test_an_export_is_what_one_dump_of_the_whole_writes(data: Path | str) -> None:
    store = open_store(data)
    numbers = fill(store)
    text = ledger.export_claims(store, "json", NOW, UTC_TZ)
    doc = json.loads(text)
    assert text == json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    assert [c["number"] for c in doc["claims"]] == numbers  # the deleted one too: a backup
    reviews = ledger.export_claims(store, "claimreview", NOW, UTC_TZ)
    assert reviews == json.dumps(json.loads(reviews), ensure_ascii=False, indent=2) + "\n"
    assert [r["reviewRating"]["alternateName"] for r in json.loads(reviews)] == ["True", "False"]
    rows = list(csv.DictReader(io.StringIO(ledger.export_claims(store, "csv", NOW, UTC_TZ))))
    assert [int(r["number"]) for r in rows] == [n for n in numbers if n != SHARD_SIZE]


def test_an_empty_export_is_what_one_dump_writes(data: Path | str) -> None:
    store = open_store(data)
    text = ledger.export_claims(store, "json", NOW, UTC_TZ)
    assert text == json.dumps({"version": 1, "exported": NOW.isoformat(), "claims": []}, indent=2) + "\n"
    assert ledger.export_claims(store, "claimreview", NOW, UTC_TZ) == "[]\n"


def test_claim_batches_hold_what_find_claims_finds(data: Path | str) -> None:
    store = open_store(data)
    fill(store)
    for where in (None, ClaimFilter(archived=None), ClaimFilter(status="resolved"), ClaimFilter(words=("Claim", "2"))):
        batches = list(store.claim_batches(where))
        assert [c for batch in batches for c in batch] == store.find_claims(where)
        assert all(len(batch) <= SHARD_SIZE for batch in batches)


def test_an_export_to_a_file_replaces_it_whole_and_counts_what_it_wrote(tmp_path: Path, data: Path | str) -> None:
    fill(open_store(data))
    out = tmp_path / "out" / "claims.json"
    out.parent.mkdir()
    out.write_text("an older export")
    run = run_cli("export", "-o", str(out), data=data, examples=False)
    assert run.returncode == 0 and run.stderr == f"exported 5 claims to {out}\n", run.stderr
    assert len(json.loads(out.read_text("utf-8"))["claims"]) == 5
    assert sorted(p.name for p in out.parent.iterdir()) == ["claims.json"]  # no partial file left beside it


FILTERS = (None, ClaimFilter(archived=None), ClaimFilter(archived=True), ClaimFilter(status="open"),
           ClaimFilter(status="resolved"), ClaimFilter(due_by=NOW.date()), ClaimFilter(tag="t"),
           ClaimFilter(forecaster="ana"), ClaimFilter(words=("claim", "2")))


def test_a_store_reading_once_finds_what_a_long_running_one_finds(data: Path | str) -> None:
    fill(open_store(data))
    ledger.add_claim(open_store(data), ledger.NewClaim(text="Due now", review_date=NOW.date()), "ana", NOW)
    kept, once = open_store(data), open_store(data, once=True)
    for where in FILTERS:
        assert once.find_claims(where) == kept.find_claims(where), where
        assert once.claim_dicts(where) == kept.claim_dicts(where), where
    assert once.get_claim(SHARD_SIZE + 1) == kept.get_claim(SHARD_SIZE + 1)
    assert [c.text for c in once.find_claims(ClaimFilter(due_by=NOW.date()))] == ["Due now"]


def test_a_claim_that_cannot_be_read_stops_a_listing_that_reads_once(tmp_path: Path, data: Path | str) -> None:
    fill(open_store(data))
    path = files_of(data) / "claims-0001.json"
    doc = orjson.loads(path.read_bytes())
    doc["claims"][str(SHARD_SIZE + 1)]["tags"] = "not a list"
    path.write_bytes(orjson.dumps(doc))
    once = open_store(data, once=True)
    for read in (once.find_claims, once.claim_dicts, lambda: list(once.claim_batches())):
        with pytest.raises(StoreError, match="claims-0001.json is not readable claimwatch data"):
            read()
    run = run_cli("list", "all", data=data, examples=False)
    assert run.returncode == 1 and "claims-0001.json is not readable claimwatch data" in run.stderr
    shown = run_cli("list", data=data, examples=False)  # the open claims: it is resolved, so not one to check
    assert shown.returncode == 0 and f"#{SHARD_SIZE + 1} " not in shown.stdout and "#1007 " in shown.stdout
    doc["claims"][str(SHARD_SIZE + 1)] |= {"outcome": None, "review_date": NOW.date().isoformat()}  # open and due
    path.write_bytes(orjson.dumps(doc))
    with pytest.raises(StoreError, match="claims-0001.json is not readable claimwatch data"):
        ledger.due(open_store(data, once=True), NOW.date())
