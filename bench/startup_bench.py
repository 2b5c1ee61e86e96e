"""Start-up benchmark: commands that draw nothing, as a user runs them (a new process each). Target: each at
most 0.25 s. A command that draws (report, /stats in the console) loads matplotlib, which alone takes longer;
the others must not load it, nor any other library they do not use.

Prints the median of the runs of each command on the example claims, beside the baseline measured in the same
run: a Python process that only starts (`python -c pass`), and one that imports matplotlib.

    python bench/startup_bench.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET = 0.25
COMMANDS = [["--help"], ["list"], ["due"], ["show", "2"], ["history", "2"], ["stats"], ["evidence", "2"],
            ["export"], ["forecast", "3", "60%", "--by", "bench"]]


def median_seconds(argv: list[str], env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
        env |= {"CLAIMWATCH_DATA": str(Path(tmp) / "data"), "CLAIMWATCH_USER": "bench"}
        subprocess.run([sys.executable, "-m", "claimwatch", "add", "seed"], env=env, capture_output=True, check=True)
        bare = median_seconds([sys.executable, "-c", "pass"], env, args.runs)
        plotting = median_seconds([sys.executable, "-c", "import matplotlib.figure"], env, args.runs)
        print(f"baseline: python starts in {bare:.3f} s; importing matplotlib.figure takes {plotting:.3f} s")
        missed = 0
        for command in COMMANDS:
            took = median_seconds([sys.executable, "-m", "claimwatch", *command], env, args.runs)
            ok = took <= TARGET
            missed += not ok
            print(f"claimwatch {' '.join(command):<34} {took:.3f} s  ({took / bare:4.1f}x python alone)  "
                  f"{'met' if ok else 'not met'} (target {TARGET} s)")
        print(f"median of {args.runs} runs each; {len(COMMANDS) - missed} of {len(COMMANDS)} commands within target")
    return 0


if __name__ == "__main__":
    sys.exit(main())
