"""`list` shows claims from their dict form, without making each Claim (render.claim_dict_lines): what it prints is
what the full Claim path renders, byte for byte, for every kind of claim, on both stores."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from claimwatch import ledger, render
from claimwatch.cli import _claim_json
from claimwatch.model import OutcomeValue
from claimwatch.store import SHARD_SIZE, ClaimFilter, Store, open_store
from conftest import NOW, run_cli

LISTINGS = [[], ["all"], ["due"], ["resolved"], ["deleted"], ["#energy"], ["@ana"], ["pipeline"], ["open", "#energy"]]


def fill_every_kind(store: Store, today: date) -> None:
    """Open, due (today and overdue), undated, resolved each way, deleted and withdrawn-forecast claims, with and
    without tags, of both kinds, in two files."""
    day = today.isoformat
    claims = [
        {"number": 1, "text": "Pipeline deal signed", "kind": "forecast", "tags": ["energy", "china"],
         "review_date": day(), "p": 0.4},
        {"number": 2, "text": "Exports fell «year on year» 中文", "review_date": (today - timedelta(days=3)).isoformat()},
        {"number": 3, "text": "No date on this one", "tags": ["energy"]},
        {"number": 4, "text": "Summit attended", "kind": "forecast", "review_date": (today + timedelta(days=40)).isoformat(),
         "tags": ["summit"]},
        {"number": 5, "text": "Resolved true", "review_date": (today - timedelta(days=9)).isoformat(), "tags": ["energy"]},
        {"number": 6, "text": "Resolved false, no date"},
        {"number": 7, "text": "Resolved partial", "review_date": day()},
        {"number": 8, "text": "Void in the end", "kind": "forecast", "review_date": (today + timedelta(days=1)).isoformat()},
        {"number": 9, "text": "Deleted one", "review_date": day(), "tags": ["energy"]},
        {"number": SHARD_SIZE + 3, "text": "In the second file, pipeline too", "review_date": day(), "tags": ["x"]},
        {"number": 2 * SHARD_SIZE + 1, "text": "A claim with a long tag", "tags": ["a-very-long-tag-name-indeed"],
         "review_date": (today - timedelta(days=1)).isoformat()},
    ]
    ledger.import_claims(store, {"version": 1, "claims": claims}, "ana", NOW - timedelta(days=5))
    for number, who, p in ((1, "ana", 0.3), (1, "bo", 0.7), (2, "ana", 0.55), (5, "bo", 0.9), (4, "bo", 0.2)):
        ledger.add_forecast(store, number, p, who, NOW - timedelta(days=4), "a note")
    ledger.withdraw_forecast(store, 4, "bo", NOW - timedelta(days=3))
    for number, value in ((5, OutcomeValue.TRUE), (6, OutcomeValue.FALSE), (7, OutcomeValue.PARTIAL),
                          (8, OutcomeValue.VOID)):
        ledger.resolve(store, number, value, "ana", NOW, note="so it went", event_date=NOW.date() - timedelta(days=1))
    ledger.delete_claim(store, 9, "ana", NOW, "a duplicate")


@pytest.mark.parametrize("words", LISTINGS, ids=" ".join)
def test_list_lines_from_dicts_are_the_claims_lines(store: Store, words: list[str]) -> None:
    today = date(2026, 3, 2)
    fill_every_kind(store, today)
    claims = ledger.list_claims(store, words, today)
    assert claims, words  # every listing here shows something
    for m in (render.PLAIN, render.HTML):
        shown = render.claim_dict_lines(ledger.list_claim_dicts(store, words, today), today, m)
        assert shown == [render.claim_line(c, today, m) for c in claims], words


def test_store_dicts_come_in_the_order_find_claims_gives(store: Store) -> None:
    today = date(2026, 3, 2)
    fill_every_kind(store, today)
    for where in (None, ClaimFilter(due_by=today), ClaimFilter(archived=True), ClaimFilter(words=("pipeline",))):
        numbers = [c.id for c in store.find_claims(where)]
        assert [n for n, _ in store.claim_dicts(where)] == numbers, where
        assert [n for batch in store.claim_dict_batches(where) for n, _ in batch] == sorted(numbers), where
    assert [n for n, _ in store.claim_dicts(ClaimFilter(due_by=today))] == [2, 2 * SHARD_SIZE + 1, 1, SHARD_SIZE + 3]


def test_list_prints_what_the_claim_path_renders(data: Path | str) -> None:
    """As a user runs it, on a data directory and on a database."""
    today = datetime.now(UTC).date()  # the command reads the clock (CLAIMWATCH_TZ=UTC)
    fill_every_kind(open_store(data), today)
    env = {"CLAIMWATCH_TZ": "UTC"}
    for words in LISTINGS:
        run = run_cli("list", *words, data=data, env=env, examples=False)
        assert run.returncode == 0, run.stderr
        expected = render.claim_list(ledger.list_claims(open_store(data), words, today), today, "no claims match")
        assert run.stdout == expected + "\n", words
        listed = run_cli("list", *words, "--json", data=data, env=env, examples=False)
        claims = ledger.list_claims(open_store(data), words, today)
        assert json.loads(listed.stdout) == [_claim_json(c) for c in claims], words
    assert run_cli("list", "nothing-says-this", data=data, env=env, examples=False).stdout == "no claims match\n"
