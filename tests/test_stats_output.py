"""`claimwatch stats --json` gives, figure for figure, what it gave before its speed work.

tests/data/stats-expected.json was written by `claimwatch stats --json` at commit be038a0 (before the review
was made faster) over the ledger `ledger_doc()` builds; floats must match exactly, so sums keep their order.
Regenerate it only for a change meant to change the figures, and say so in that commit."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT, run_cli

EXPECTED = ROOT / "tests" / "data" / "stats-expected.json"
START = datetime(2024, 1, 1, tzinfo=UTC)
OFFSETS = [timezone.utc, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5)),
           timezone(timedelta(hours=5, minutes=30))]
# (name shown, identity): two Telegram users go by "ana"; tg:103 forecast as "bo", then as "bob"; cy and dee
# are command-line names (their own identity)
FORECASTERS = [("ana", "tg:101"), ("ana", "tg:102"), ("bo", "tg:103"), ("bob", "tg:103"), ("cy", None),
               ("dee", None)]
RUNS = {  # what each run of the command is given: its arguments and its time zone
    "all": ([], "UTC"),
    "all-kolkata": ([], "Asia/Kolkata"),
    "all-new-york": ([], "America/New_York"),
    "tag": (["--tag", "energy"], "UTC"),
    "by-identity": (["--by", "tg:103"], "UTC"),
    "by-name": (["--by", "cy"], "Europe/Stockholm"),
    "source": (["--source", "wire"], "UTC"),
}


def _time(rng: random.Random, start: datetime, span_days: int) -> str:
    """A time written as people's tools write it: in some offset, on the half hour or to the microsecond."""
    moment = start + timedelta(minutes=30 * rng.randint(0, span_days * 48))
    if rng.random() < 0.3:
        moment += timedelta(microseconds=rng.randint(1, 999_999))
    return moment.astimezone(rng.choice(OFFSETS)).isoformat()


def ledger_doc(count: int = 400, seed: int = 13) -> dict[str, Any]:
    """Claims of every kind the review tells apart: each outcome and none, with an event date or only the time it
    was recorded, forecasts before, at and after the cutoff, several by one analyst, withdrawn ones, analysts
    known by identity and by name, a source probability recorded before or after the event."""
    rng = random.Random(seed)
    claims = []
    for i in range(count):
        created = _time(rng, START, 200)
        forecasts = []
        for _ in range(rng.choice([0, 1, 2, 3, 5, 8])):
            name, who = rng.choice(FORECASTERS)
            f = {"by": name, "p": rng.choice([0.0, 1.0, 0.5, round(rng.random(), 2), rng.random()]),
                 "at": _time(rng, START, 400)}
            if who:
                f["who"] = who
            if rng.random() < 0.05:
                f["withdrawn"] = _time(rng, START + timedelta(days=400), 10)
            forecasts.append(f)
        value = rng.choice(["true", "false", "partial", "void", None])
        outcome = None if value is None else {
            "value": value, "at": _time(rng, START + timedelta(days=100), 300),
            **({"event_date": (START + timedelta(days=rng.randint(50, 390))).date().isoformat()}
               if rng.random() < 0.7 else {})}
        if outcome and "event_date" in outcome and forecasts and rng.random() < 0.2:  # exactly at the cutoff
            forecasts[0]["at"] = f"{outcome['event_date']}T00:00:00+00:00"
        claims.append({
            "text": f"claim {i}", "created": created, "p": rng.choice([None, 0.1, 0.35, 0.5, 0.9, rng.random()]),
            "tags": rng.sample(["energy", "china", "eu", "russia"], rng.randint(0, 2)),
            "source": rng.choice([{}, {"title": "Moscow wire"}, {"title": "Beijing energy report"},
                                  {"url": "https://wire.example/x"}, {"author": "Reuters desk"}]),
            "forecasts": forecasts, "outcome": outcome})
    return {"version": 1, "claims": claims}


def stats_runs(data: Path | str) -> dict[str, Any]:
    return {name: json.loads(_ok(run_cli("stats", "--json", *args, data=data, env={"CLAIMWATCH_TZ": tz})).stdout)
            for name, (args, tz) in RUNS.items()}


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def imported(data: Path | str, tmp_path: Path) -> Path | str:
    doc = tmp_path / "ledger.json"
    doc.write_text(json.dumps(ledger_doc()), "utf-8")
    _ok(run_cli("import", str(doc), data=data, examples=False))
    return data


def test_stats_json_is_what_it_was_before_the_speed_work(imported: Path | str) -> None:
    got = stats_runs(imported)
    expected = json.loads(EXPECTED.read_text("utf-8"))
    assert got.keys() == expected.keys()
    for name in expected:
        assert got[name] == expected[name], name
    # the ledger reaches every case the review tells apart
    everything = expected["all"]
    assert everything["n_late_forecasts"] > 0 and len(everything["by_forecaster"]) >= 5
    assert everything["n_claims_forecast"] < everything["n_claims"]  # some scored by their source or team alone
    assert any("(tg:" in name for name in everything["by_forecaster"])
    assert expected["all-kolkata"] != everything and expected["all-new-york"] != everything
