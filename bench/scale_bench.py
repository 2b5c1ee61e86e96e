"""Scale benchmark: `list`, `due` and `export` over 50,000 claims, each a new process, as a user runs them.

Targets (issue 13): `list` and `due` at most 0.5 s (the median of the runs; their CPU time is printed too, as a
shared machine stretches the wall clock) and 150 MiB peak memory (RSS) each; `export` in bounded
memory: its peak must not grow with the ledger, so it is also run at a fifth of the claims, and its peak there
printed beside it. Each claim carries a history of eight changes (added, four forecasts, re-imported, edited;
a third resolved), as a ledger that has been used for a while does.

The data directory is built once per run (about a minute), through the store. Printed beside each figure, measured
in the same run: a Python process that only starts (`python -c pass`) and one that reads every claims file with
orjson (`read files`: what any command that reads the files whole pays before it does anything).

    python bench/scale_bench.py [--claims 50000] [--runs 5] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from store_bench import NOW, TODAY, claims_document  # noqa: E402  (the claims every store benchmark uses)

from claimwatch.model import Change, claim_from_dict  # noqa: E402
from claimwatch.store import SHARD_SIZE, open_store  # noqa: E402

SECONDS, MIB = 0.5, 150
READ_FILES = ("import glob, orjson, sys\n"
              "for name in glob.glob(sys.argv[1] + '/claims-*.json'): orjson.loads(open(name, 'rb').read())")


def history(doc: dict, number: int, rng: random.Random) -> tuple[dict, list[Change]]:
    """A claim as it stands after eight changes, and those changes."""
    # review dates as store_bench spreads them (about 5% due), counted from the day the commands run
    doc = dict(doc, review_date=(date.today() + (date.fromisoformat(doc["review_date"]) - TODAY)).isoformat())
    added = dict(doc, forecasts=[])
    changes = [Change(number, NOW - timedelta(days=40), "analyst0", "add", None, added)]
    changes += [Change(number, NOW - timedelta(days=30 - j), f["by"], "forecast", None, f)
                for j, f in enumerate(doc["forecasts"])]
    edited = dict(doc, text=doc["text"] + " (re-imported)")
    changes.append(Change(number, NOW - timedelta(days=20), "importer", "import", doc, edited))
    changes.append(Change(number, NOW - timedelta(days=10), "analyst1", "edit", {"tags": doc["tags"]},
                          {"tags": [*doc["tags"], "edited"]}))
    final = dict(edited, tags=[*doc["tags"], "edited"])
    if rng.random() < 1 / 3:
        final["outcome"] = {"value": rng.choice(["true", "false", "partial"]), "event_date": "2026-02-01",
                            "at": NOW.isoformat(), "by": "analyst2", "note": "as the ministry said", "evidence": []}
        changes.append(Change(number, NOW - timedelta(days=1), "analyst2", "resolve", None, final["outcome"]))
    return final, changes


def build(root: Path, count: int) -> None:
    rng = random.Random(13)
    docs = claims_document(count, rng)["claims"]
    store = open_store(root)
    for start in range(0, count, SHARD_SIZE):
        with store.transaction():  # one write per file
            for number in range(start + 1, min(start + SHARD_SIZE, count) + 1):
                doc, changes = history(docs[number - 1], number, rng)
                store.load_claim(claim_from_dict(doc, number), changes)
    store.close()


def run(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one new process, measured by /usr/bin/time (a small process:
    a child forked from a large one has its parent's peak counted as its own)."""
    with tempfile.NamedTemporaryFile("r") as usage:
        start = time.perf_counter()
        done = subprocess.run(["/usr/bin/time", "-f", "%M %U %S", "-o", usage.name, *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        took = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode})")
        peak, user, system = usage.read().split()[-3:]
        return took, float(user) + float(system), int(peak) / 1024


def measure(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float, float, float]:
    """Median and worst wall seconds, median CPU seconds and the largest peak RSS, over `runs` runs."""
    results = [run(argv, env) for _ in range(runs)]
    times = [t for t, _, _ in results]
    return (statistics.median(times), max(times), statistics.median(c for _, c, _ in results),
            max(m for _, _, m in results))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="build the data directory here and keep it; reused when there")
    parser.add_argument("--build", type=Path, help=argparse.SUPPRESS)  # (in a process of its own: memory is freed)
    args = parser.parse_args()
    if args.build:
        build(args.build, args.claims)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {args.claims: (args.keep or Path(tmp)) / f"data-{args.claims}",
                 args.claims // 5: (args.keep or Path(tmp)) / f"data-{args.claims // 5}"}
        for count, root in sizes.items():
            if not (root / "meta.json").exists():
                t0 = time.perf_counter()
                subprocess.run([sys.executable, __file__, "--build", str(root), "--claims", str(count)], check=True)
                print(f"built {count:,} claims in {time.perf_counter() - t0:.0f} s", flush=True)
        root = sizes[args.claims]
        size = sum(p.stat().st_size for p in root.glob("*.json"))
        claims_files = sum(p.stat().st_size for p in root.glob("claims-*.json"))
        print(f"{args.claims:,} claims: {size / 2**20:.0f} MiB of data files, of which claims-*.json "
              f"{claims_files / 2**20:.0f} MiB ({claims_files / args.claims / 1024:.1f} KiB per claim)")
        # as users run it: with the bytecode Python writes on a first run (a shell may say not to write it)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_") and k != "PYTHONDONTWRITEBYTECODE"}
        env |= {"CLAIMWATCH_USER": "bench", "CLAIMWATCH_TZ": "UTC"}
        run([sys.executable, "-m", "claimwatch", "--help"], env)
        py = sys.executable
        baselines = {"python -c pass": [py, "-c", "pass"], "read files": [py, "-c", READ_FILES, str(root)]}
        for name, argv in baselines.items():
            median, worst, cpu, peak = measure(argv, env, args.runs)
            print(f"baseline {name:<24} {median:6.2f} s (worst {worst:.2f}, CPU {cpu:.2f})  {peak:6.0f} MiB")
        missed = 0
        print(f"{'command':<33} {'median':>8} {'worst':>7} {'CPU':>7} {'peak RSS':>9}   target")
        for command in (["list"], ["due"], ["list", "all"], ["export"], ["export", "--format", "csv"]):
            median, worst, cpu, peak = measure([py, "-m", "claimwatch", *command],
                                               env | {"CLAIMWATCH_DATA": str(root)}, args.runs)
            line = f"claimwatch {' '.join(command):<22} {median:6.2f} s {worst:6.2f} s {cpu:5.2f} s {peak:6.0f} MiB"
            if command[0] == "export":
                small = sizes[args.claims // 5]
                *_, small_peak = measure([py, "-m", "claimwatch", *command], env | {"CLAIMWATCH_DATA": str(small)},
                                           max(1, args.runs // 2))
                ok = peak <= small_peak * 1.25 + 10
                line += f"   peak {small_peak:.0f} MiB at {args.claims // 5:,} claims: bounded " \
                        + ("met" if ok else "not met")
            elif command == ["list", "all"]:
                ok = True
                line += "   (every claim, resolved too: no target)"
            else:
                ok = median <= SECONDS and peak <= MIB
                line += f"   <= {SECONDS} s and <= {MIB} MiB: {'met' if ok else 'not met'}"
                if not ok and cpu <= SECONDS and peak <= MIB:  # a shared machine stretches the wall clock
                    line += f" (its CPU time is within {SECONDS} s)"
            missed += not ok
            print(line, flush=True)
        print(f"{args.runs} runs each (export at the smaller size: {max(1, args.runs // 2)}); "
              f"{'every target met' if not missed else f'{missed} not met'}")
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
