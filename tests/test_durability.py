"""Crash safety and several writers, with real processes on a real data directory."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from claimwatch.store import open_store

# A writer that records claims (and a forecast on claim 1, so writers contend for one file)
# and prints each number only after the write returned: every printed line is acknowledged.
WRITER = """
import sys
from datetime import UTC, datetime
from claimwatch import ledger
from claimwatch.store import open_store
store = open_store(sys.argv[1])
tag, count = sys.argv[2], int(sys.argv[3])
now = datetime(2026, 3, 2, tzinfo=UTC)
print("ready", flush=True)
for i in range(count):
    claim = ledger.add_claim(store, ledger.NewClaim(text=f"{tag} claim {i}", tags=("load",)), tag, now)
    ledger.add_forecast(store, 1, (i % 100) / 100, f"{tag}-{i}", now)
    print(claim.id, claim.text, flush=True)
"""


def start_writer(data: Path, tag: str, count: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(data), tag, str(count)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    return proc


def acknowledged(lines: list[str]) -> dict[int, str]:
    """Complete lines only: a line cut off by the kill was not acknowledged."""
    return {int(n): text for n, text in (line.rstrip("\n").split(" ", 1) for line in lines if line.endswith("\n"))}


def test_sigkill_at_random_moments_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed = open_store(data)
    from claimwatch import ledger
    from conftest import NOW
    ledger.add_claim(seed, ledger.NewClaim(text="forecast target"), "seed", NOW)
    expected: dict[int, str] = {1: "forecast target"}
    forecasts_acked = 0
    rng = random.Random(20261128)
    for round_ in range(32):
        proc = start_writer(data, f"r{round_}", 100_000)
        assert proc.stdout is not None
        # The kill lands at a random moment of the write stream: in one round of four from the writer's start
        # (its first write included), in the others after its first acknowledged write (a slow machine may take
        # longer than the whole window to make its first).
        first = "" if round_ % 4 == 0 else proc.stdout.readline()
        time.sleep(rng.uniform(0.0, 0.12))
        os.kill(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        assert proc.returncode == -signal.SIGKILL, "the writer was killed in the middle of its writes"
        acked = acknowledged([first, *out.splitlines(keepends=True)])
        assert acked or not first, "the first write was acknowledged before the kill"
        expected |= acked
        forecasts_acked += len(acked)

        store = open_store(data)  # must open after every kill
        claims = {c.id: c.text for c in store.find_claims()}
        missing = {n: t for n, t in expected.items() if claims.get(n) != t}
        assert not missing, f"round {round_}: acknowledged claims lost: {missing}"
        # a forecast is made after its claim, so at least one per acknowledged claim survives
        assert len(store.get_claim(1).forecasts) >= forecasts_acked
        assert not list(data.glob(".*.tmp")), "opening cleans a killed writer's temp file"


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    from claimwatch import ledger
    from conftest import NOW
    ledger.add_claim(open_store(data), ledger.NewClaim(text="forecast target"), "seed", NOW)
    writers = [start_writer(data, tag, 150) for tag in ("a", "b")]
    outputs = [w.communicate()[0] for w in writers]
    assert all(w.returncode == 0 for w in writers)

    store = open_store(data)
    claims = store.find_claims()
    assert len(claims) == 301
    assert len({c.id for c in claims}) == 301
    for out in outputs:
        acked = acknowledged(out.splitlines(keepends=True))
        assert len(acked) == 150
        assert all(store.get_claim(n).text == text for n, text in acked.items())
    forecasters = {f.by for f in store.get_claim(1).forecasts}
    assert forecasters == {f"{tag}-{i}" for tag in ("a", "b") for i in range(150)}
    assert len(store.history(1)) == 301  # the add and 300 forecasts
