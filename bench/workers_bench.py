"""Several watch workers: a cycle over 2,000 feeds by two `claimwatch watch` workers against one, in one run.

The feeds are served from another process on 127.0.0.1 (bench/watch_bench.py's server, with --latency ms
before each answer, as a remote site's round trip), into a PostgreSQL store (a database this benchmark makes
on --store's server and drops) or, with --store DIR, a data directory. Each cycle starts from the same state
(every feed new); each worker is a process of its own (python -m claimwatch watch --once would check every
feed, so the workers run Watcher.cycle on the due feeds, as `claimwatch watch` does each minute). Prints the
wall time of each cycle and the speed-up; on 2 cores the workers share the same CPUs, so what two workers
gain is the waiting on the network they overlap.

    python bench/workers_bench.py [--store postgresql://127.0.0.1/postgres] [--feeds 2000] [--latency 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from watch_bench import NOW, feed_server, new_store  # noqa: E402  (the same feeds and claims)

WORKER = """
import asyncio, sys
from datetime import datetime
from claimwatch.fetch import Fetcher
from claimwatch.store import open_store
from claimwatch.watcher import Watcher

async def main():
    fetcher = Fetcher(allow_private=True)
    try:
        reports = await Watcher(open_store(sys.argv[1]), fetcher, worker=sys.argv[2]).cycle(
            datetime.fromisoformat(sys.argv[3]))
    finally:
        await fetcher.aclose()
    print(len(reports))
asyncio.run(main())
"""


def cycle(location: str, workers: int) -> tuple[float, list[int]]:
    """The wall time of one cycle by `workers` worker processes started together, and the feeds each checked."""
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, location, f"bench-{n}:{n}", NOW.isoformat()],
                              stdout=subprocess.PIPE, text=True) for n in range(workers)]
    counts = [int(p.communicate()[0]) for p in procs]
    return time.perf_counter() - t0, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="postgresql://127.0.0.1/postgres",
                        help="a PostgreSQL server (a database is made there and dropped), or a directory")
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--latency", type=float, default=50.0, help="milliseconds before each answer")
    args = parser.parse_args()
    from claimwatch.config import is_database

    postgresql = is_database(args.store)
    results = {}
    with feed_server(args.feeds, args.entries, args.latency / 1000) as (urls, _), \
            tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            if postgresql:
                from claimwatch.pgstore import create_database, drop_database
                name = f"claimwatch_workers_{os.getpid()}_{workers}"
                location = create_database(args.store, name)
            else:
                location = str(Path(tmp) / f"data{workers}")
            try:
                new_store(location, urls)
                results[workers] = cycle(location, workers)
            finally:
                if postgresql:
                    drop_database(args.store, name)
    print(f"{args.feeds} feeds x {args.entries} entries, {args.latency:g} ms latency, into "
          f"{'PostgreSQL' if postgresql else 'a data directory'}; {len(os.sched_getaffinity(0))} cores")
    print(f"{'':<12} {'wall s':>8} {'feeds per worker':>20}")
    for workers, (wall, counts) in results.items():
        print(f"{workers} worker{'s' * (workers > 1):<5} {wall:8.2f} {' + '.join(map(str, counts)):>20}")
    both = results[2][1]
    shared = sum(both) == args.feeds and min(both) > 0
    print(f"\ntwo workers: {results[1][0] / results[2][0]:.2f}x the one worker's speed; every feed checked once, "
          f"shared between them: {'yes' if shared else 'NO'}")
    return 0 if shared and sum(results[1][1]) == args.feeds else 1


if __name__ == "__main__":
    raise SystemExit(main())
