"""Watch-cycle benchmark: 500 feeds of 50 entries served from 127.0.0.1.

Baseline in the same run: a sequential `feedparser.parse(url)` loop over the same feeds. Targets:
the cold cycle at least 5x faster than the baseline; the steady state (every feed answers 304) at
least 50x faster than the cold cycle. Prints wall time, CPU time and peak memory.

    python bench/watch_bench.py [--feeds 500] [--entries 50]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser  # the baseline only

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from feedserver import FeedServer  # noqa: E402  (the test suite's feed server)

from aiohttp import web  # noqa: E402

from claimwatch import ledger  # noqa: E402
from claimwatch.fetch import Fetcher  # noqa: E402
from claimwatch.store import open_store  # noqa: E402
from claimwatch.watcher import Watcher  # noqa: E402

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def feed_document(i: int, entries: int) -> bytes:
    items = "".join(
        f"<item><guid>f{i}-e{j}</guid><title>Item {j} of feed {i}: talks on Power of Siberia {j % 7} and trade</title>"
        f"<link>https://n.example/{i}/{j}</link><description>&lt;p&gt;Summary {j} about gas, the Arctic route "
        f"and exports.&lt;/p&gt;</description><pubDate>Mon, 02 Mar 2026 08:{j % 60:02d}:00 GMT</pubDate></item>"
        for j in range(entries))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>{items}</channel></rss>'.encode()


def serve(document: bytes, tag: str, latency: float):
    async def handler(request: web.Request) -> web.Response:
        if latency:
            await asyncio.sleep(latency)
        if request.headers.get("If-None-Match") == tag:
            return web.Response(status=304)
        return web.Response(body=document, headers={"ETag": tag, "Content-Type": "application/rss+xml"})
    return handler


def run_server(feeds: int, entries: int, latency: float, address, stop) -> None:
    """The feeds, served from their own process: the benchmark measures the reader, not the server."""
    with FeedServer() as server:
        for i in range(feeds):
            server.routes[f"/f{i}"] = serve(feed_document(i, entries), f'"v{i}"', latency)
        address.send(server.url)
        stop.wait()


def measured(action) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parsers(server: multiprocessing.Process) -> list[tuple[float, float]]:
    """(CPU seconds, peak MiB) of each parser process so far (Linux /proc), while they still run."""
    found = []
    for child in multiprocessing.active_children():
        if child.pid == server.pid:
            continue
        try:
            stat = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        cpu = (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        peak = next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))
        found.append((cpu, peak))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0,
                        help="milliseconds the server waits before each answer (a remote site's round trip)")
    args = parser.parse_args()
    receive, send = multiprocessing.Pipe(duplex=False)
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=run_server, daemon=True,
                                     args=(args.feeds, args.entries, args.latency / 1000, send, stop))
    server.start()
    url = receive.recv()
    with tempfile.TemporaryDirectory() as tmp:
        urls = [f"{url}/f{i}" for i in range(args.feeds)]
        store = open_store(Path(tmp) / "data")
        for n in range(7):
            ledger.add_claim(store, ledger.NewClaim(text=f"Claim {n}", watch=(f"Power of Siberia {n}", "+gas")),
                             "bench", NOW)
        ledger.add_feeds(store, [type("F", (), {"url": u, "title": u})() for u in urls], "bench", NOW)

        _, base_wall, base_cpu = measured(lambda: [feedparser.parse(u) for u in urls])
        base_peak = peak_mib()

        async def cycles() -> list[tuple[object, float, float]]:
            fetcher = Fetcher(allow_private=True, per_host=8)  # every feed is on one host here
            watcher = Watcher(store, fetcher)
            out = []
            for _ in range(2):
                wall, cpu = time.perf_counter(), time.process_time()
                reports = await watcher.cycle(NOW, every_feed=True)
                out.append((reports, time.perf_counter() - wall, time.process_time() - cpu))
            await fetcher.aclose()
            return out

        (cold, cold_wall, cold_cpu), (steady, steady_wall, steady_cpu) = asyncio.run(cycles())
        peak = peak_mib()
    workers = parsers(server)
    stop.set()
    server.join(10)

    new = sum(r.new for r in cold)
    print(f"{args.feeds} feeds x {args.entries} entries from 127.0.0.1, {args.latency:g} ms latency, served by "
          f"another process ({new} new entries in the cold cycle, "
          f"{sum(r.outcome == 'not modified' for r in steady)} not modified in the steady one)")
    print(f"{'':<34} {'wall s':>8} {'cpu s':>8} {'peak MiB':>9}")
    print(f"{'baseline: feedparser.parse(url) loop':<34} {base_wall:8.2f} {base_cpu:8.2f} {base_peak:9.0f}")
    print(f"{'cold cycle':<34} {cold_wall:8.2f} {cold_cpu:8.2f} {peak:9.0f}")
    print(f"{'steady cycle (all 304)':<34} {steady_wall:8.2f} {steady_cpu:8.2f} {peak:9.0f}")
    parse_cpu, parse_peak = sum(c for c, _ in workers), max((m for _, m in workers), default=0)
    print(f"the cpu and peak columns are this process; the cycles' parsing ran in {len(workers)} parser "
          f"processes: {parse_cpu:.2f} s cpu in all, peak {parse_peak:.0f} MiB each at most")
    cold_ratio, steady_ratio = base_wall / cold_wall, cold_wall / steady_wall
    print(f"\ncold cycle {cold_ratio:.1f}x faster than the baseline (target >= 5x: {'met' if cold_ratio >= 5 else 'MISSED'})")
    print(f"steady state {steady_ratio:.1f}x faster than the cold cycle (target >= 50x: "
          f"{'met' if steady_ratio >= 50 else 'MISSED'})")
    return 0 if cold_ratio >= 5 and steady_ratio >= 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
