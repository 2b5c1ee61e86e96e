"""Stats benchmark: `claimwatch stats` over 100k forecasts on 20k resolved claims. Target: at most 1 s.

Prints the whole command as a user runs it (a new process, data read from disk), the review alone
in this process, and the baseline in the same run: reading the claims without scoring them.

    python bench/stats_bench.py [--claims 20000] [--forecasts 5]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from store_bench import NOW, claims_document

from claimwatch import ledger
from claimwatch.store import ClaimFilter, open_store

OUTCOMES = ["true", "false", "partial", "void"]


def resolved_document(count: int, per_claim: int, rng: random.Random) -> dict:
    doc = claims_document(count, rng)
    for i, claim in enumerate(doc["claims"]):
        claim["id"] = f"stats-{i}"
        claim["forecasts"] = [{"by": f"analyst{rng.randint(0, 29)}", "p": round(rng.random(), 2),
                               "at": (NOW - timedelta(days=40 - j)).isoformat(), "note": ""} for j in range(per_claim)]
        claim["outcome"] = {"value": rng.choice(OUTCOMES), "event_date": (NOW - timedelta(days=rng.randint(0, 9))).date().isoformat(),
                            "at": NOW.isoformat(), "by": "bench", "note": "", "evidence": []}
    return doc


def median_of(runs: int, action) -> float:
    """The median time of `runs` runs: what a user typically waits (the best run flatters a noisy machine)."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        action()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def process_runs(runs: int, command: list[str], env: dict[str, str]) -> tuple[list[float], list[float]]:
    """Wall and CPU time (user + system, from the kernel's count for children) of `runs` runs of `command`: on a
    shared machine the wall time stretches with the load, the CPU time much less."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run(command, env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


def spread(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s (runs {min(values):.2f}-{max(values):.2f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=20_000)
    parser.add_argument("--forecasts", type=int, default=5, help="forecasts per claim")
    args = parser.parse_args()
    tz = ZoneInfo("UTC")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        ledger.import_claims(open_store(data), resolved_document(args.claims, args.forecasts, random.Random(5)),
                             "bench", NOW)
        env = {**os.environ, "CLAIMWATCH_DATA": str(data)}
        command = [sys.executable, "-m", "claimwatch", "stats", "--json"]
        walls, cpus = process_runs(5, command, env)
        whole = statistics.median(walls)
        startup_walls, startup_cpus = process_runs(5, [sys.executable, "-m", "claimwatch", "--version"], env)
        load = median_of(5, lambda: open_store(data).claim_dicts(ClaimFilter(status="resolved")))
        review = median_of(5, lambda: ledger.accuracy_review(open_store(data), tz))
        result = ledger.accuracy_review(open_store(data), tz)

    print(f"{args.claims} resolved claims, {args.claims * args.forecasts} forecasts "
          f"({result['n_forecasts']} count, {result['n_claims']} claims scored)")
    print(f"claimwatch stats --json (new process, 5 runs): wall {spread(walls)}, CPU {spread(cpus)}   "
          f"target <= 1 s (median wall): {'met' if whole <= 1 else 'not met'}")
    print(f"  python start-up and imports:        wall {spread(startup_walls)}, CPU {spread(startup_cpus)}")
    print(f"  review in process (read + score):   {review:.2f} s")
    print(f"  baseline, read claims only:         {load:.2f} s")
    print(f"scoring costs {review / load:.2f}x the reading it stands on")
    return 0 if whole <= 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
