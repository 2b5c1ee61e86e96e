"""Watch-cycle benchmark: 500 feeds of 50 entries served from another process on 127.0.0.1.

Baseline in the same run: a sequential `feedparser.parse(url)` loop over the same feeds, run before each
cycle pair it is compared with (three runs by default; the median run is shown). Targets: the cold cycle
(every feed new) at least 5x faster than the loop, the steady cycle (every feed answers 304) at least 100x
faster than the loop. Prints wall and CPU time, CPU per feed of each phase
(fetch, parse, match, store; measured one phase at a time on a second data directory, so each
phase's CPU is its own), peak memory, and the floor each target meets on this machine.

    python bench/watch_bench.py [--feeds 500] [--entries 50] [--runs 3] [--latency MS]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

# Nothing heavy at module level: parser processes are spawned, and a spawned process imports the main
# module (this file) again; `claimwatch watch` pays only for what the parser needs, and so must we.
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
COLD_TARGET, STEADY_TARGET = 5, 100


def feed_document(i: int, entries: int) -> bytes:
    items = "".join(
        f"<item><guid>f{i}-e{j}</guid><title>Item {j} of feed {i}: talks on Power of Siberia {j % 7} and trade</title>"
        f"<link>https://n.example/{i}/{j}</link><description>&lt;p&gt;Summary {j} about gas, the Arctic route "
        f"and exports.&lt;/p&gt;</description><pubDate>Mon, 02 Mar 2026 08:{j % 60:02d}:00 GMT</pubDate></item>"
        for j in range(entries))
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Feed {i}</title>{items}</channel></rss>'.encode()


def run_server(feeds: int, entries: int, latency: float, address, stop) -> None:
    """The feeds, served from their own process: the benchmark measures the reader, not the server."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from aiohttp import web
    from feedserver import FeedServer  # the test suite's feed server

    def serve(document: bytes, tag: str):
        async def handler(request: web.Request) -> web.Response:
            if latency:
                await asyncio.sleep(latency)
            if request.headers.get("If-None-Match") == tag:
                return web.Response(status=304)
            return web.Response(body=document, headers={"ETag": tag, "Content-Type": "application/rss+xml"})
        return handler

    with FeedServer() as server:
        for i in range(feeds):
            server.routes[f"/f{i}"] = serve(feed_document(i, entries), f'"v{i}"')
        address.send(server.url)
        stop.wait()


@contextlib.contextmanager
def feed_server(feeds: int, entries: int, latency: float) -> Iterator[tuple[list[str], int]]:
    """run_server in a process of its own: the feeds' addresses and the server's pid, until the block ends."""
    receive, send = multiprocessing.Pipe(duplex=False)
    stop = multiprocessing.Event()
    server = multiprocessing.Process(target=run_server, daemon=True, args=(feeds, entries, latency, send, stop))
    server.start()
    url = receive.recv()
    try:
        yield [f"{url}/f{i}" for i in range(feeds)], server.pid
    finally:
        stop.set()
        server.join(10)


def peak_mib(pid: int | str = "self") -> float:
    """A process's peak resident memory (VmHWM), in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return next(int(line.split()[1]) / 1024 for line in status.splitlines() if line.startswith("VmHWM:"))


def parser_cpu(server_pid: int) -> tuple[float, float, int]:
    """CPU seconds so far and peak MiB of the parser processes (Linux /proc), and how many there are."""
    cpu, peak, count = 0.0, 0.0, 0
    for child in multiprocessing.active_children():
        if child.pid == server_pid:
            continue
        try:
            stat = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()
            peak = max(peak, peak_mib(child.pid))
        except OSError:
            continue
        cpu += (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        count += 1
    return cpu, peak, count


def new_store(root: Path, urls: list[str]):
    """Feeds at `urls`, and claims whose watch terms match every entry, each a seventh of them."""
    from claimwatch import ledger
    from claimwatch.store import open_store

    store = open_store(root)
    for n in range(7):
        ledger.add_claim(store, ledger.NewClaim(text=f"Claim {n}", watch=(f"Power of Siberia {n}", "+gas")),
                         "bench", NOW)
    ledger.add_feeds(store, [type("F", (), {"url": u, "title": u})() for u in urls], "bench", NOW)
    return store


def timed_cycles(store, server_pid: int, *, matching: bool = True) -> list[dict[str, float]]:
    """Starting the parser processes, then the cold cycle and the steady one, as `claimwatch watch` runs them;
    without `matching`, with no watch terms (nothing matched, no evidence stored), in parser processes already
    started: what matching and storing evidence add to the cycle."""
    from claimwatch import parserpool
    from claimwatch.fetch import CONCURRENCY, Fetcher
    from claimwatch.parserpool import Watchlist
    from claimwatch.watcher import Watcher

    class Unmatched(Watcher):
        def watchlist(self):
            return Watchlist.of([])

    async def run() -> list[dict[str, float]]:
        fetcher = Fetcher(allow_private=True, per_host=CONCURRENCY)  # one host here, standing for many
        watcher = (Watcher if matching else Unmatched)(store, fetcher)
        wall, cpu = time.perf_counter(), time.process_time()
        parserpool.start(watcher.watchlist())  # as a cycle does, if they are not running yet
        if not await asyncio.to_thread(parserpool.started):
            raise SystemExit("the parser processes did not start")
        out = [{"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                "parsers_cpu": parser_cpu(server_pid)[0]}]
        for _ in range(2):
            gc.collect()  # as timeit does: a collection owed to what ran before is not the cycle's
            parsers_before = parser_cpu(server_pid)[0]
            wall, cpu = time.perf_counter(), time.process_time()
            reports = await watcher.cycle(NOW, every_feed=True)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            parsers, parsers_peak, count = parser_cpu(server_pid)
            out.append({"wall": wall, "cpu": cpu, "parsers_cpu": parsers - parsers_before, "parsers": count,
                        "parsers_peak": parsers_peak, "new": sum(r.new for r in reports),
                        "not_modified": sum(r.outcome == "not modified" for r in reports)})
        await fetcher.aclose()
        return out
    return asyncio.run(run())


def phases(store, urls: list[str], feeds: int) -> list[dict[str, float]]:
    """CPU per feed of each phase, one phase at a time, all in this process: fetch (the HTTP client),
    parse (feedparse.parse_feed; feedparser alone beside it) and match (the watcher's Matcher over every
    entry), which the parser processes do in a cycle, and store (Watcher._record), which this process does."""
    from claimwatch.feedparse import parse_feed, reference_parse
    from claimwatch.fetch import CONCURRENCY, Fetcher
    from claimwatch.parserpool import Found, bounded
    from claimwatch.watcher import Watcher

    async def fetch_all(fetcher, feeds_now):
        return await asyncio.gather(*(fetcher.fetch(f.url, NOW, etag=f.etag, last_modified=f.last_modified)
                                      for f in feeds_now))

    async def run() -> list[dict[str, float]]:
        fetcher = Fetcher(allow_private=True, per_host=CONCURRENCY)
        watcher = Watcher(store, fetcher)
        matcher = watcher.watchlist().matcher()  # compiled here: each phase on its own
        out = []
        for _ in range(2):
            feeds_now = [f for f in store.feeds() if f.enabled]
            cpu = time.process_time()
            results = await fetch_all(fetcher, feeds_now)
            fetch_cpu = time.process_time() - cpu
            cpu = time.process_time()
            docs = [bounded(parse_feed(str(f.id), r.body, r.headers, NOW)) if r.body is not None else None
                    for f, r in zip(feeds_now, results, strict=True)]
            parse_cpu = time.process_time() - cpu
            cpu = time.process_time()
            found = [Found(d, tuple(tuple(matcher.match(e.title, e.summary)) for e in d.entries))
                     if d is not None else None for d in docs]
            match_cpu = time.process_time() - cpu
            cpu = time.process_time()
            for f, r in zip(feeds_now, results, strict=True):
                if r.body is not None:
                    reference_parse(str(f.id), r.body, r.headers, NOW)
            feedparser_cpu = time.process_time() - cpu
            cpu = time.thread_time()
            watcher._record(list(zip(feeds_now, results, found, strict=True)), NOW)
            record_cpu = time.thread_time() - cpu
            out.append({name: value * 1000 / feeds for name, value in (
                ("fetch", fetch_cpu), ("parse", parse_cpu), ("feedparser", feedparser_cpu), ("match", match_cpu),
                ("store", record_cpu))})
        await fetcher.aclose()
        return out
    return asyncio.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--entries", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3, help="times to run the loop, a cold and a steady cycle "
                        "(each on a fresh data directory); the median run is shown")
    parser.add_argument("--latency", type=float, default=0.0,
                        help="milliseconds the server waits before each answer (a remote site's round trip)")
    args = parser.parse_args()
    with feed_server(args.feeds, args.entries, args.latency / 1000) as (urls, server_pid), \
            tempfile.TemporaryDirectory() as tmp:
        base_peak = 0.0
        import feedparser  # the baseline only

        # Each run times the loop, then the cold and the steady cycle on a data directory of its own (the parser
        # processes started by the first run): each cycle is compared with the loop run just before it, and the
        # median run is shown (a cycle is short, and this machine's speed drifts by a fifth within a minute).
        runs = []
        for k in range(args.runs):
            gc.collect()
            wall, cpu = time.perf_counter(), time.process_time()
            for u in urls:
                feedparser.parse(u)
            loop = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
            base_peak = base_peak if k else peak_mib()
            start_k, cold_k, steady_k = timed_cycles(new_store(Path(tmp) / f"timed-{k}", urls), server_pid)
            runs.append({"loop": loop, "start": start_k, "cold": cold_k, "steady": steady_k,
                         "cold_ratio": loop["wall"] / cold_k["wall"], "steady_ratio": loop["wall"] / steady_k["wall"]})
        start = runs[0]["start"]
        middle = len(runs) // 2
        # The median run of each cycle, by its ratio to its loop: its wall and CPU times are shown with that ratio.
        cold_run, steady_run = (sorted(runs, key=lambda r: r[k])[middle] for k in ("cold_ratio", "steady_ratio"))
        cold, steady, cold_ratio, steady_ratio = (cold_run["cold"], steady_run["steady"], cold_run["cold_ratio"],
                                                  steady_run["steady_ratio"])
        base_wall, base_cpu = cold_run["loop"]["wall"], cold_run["loop"]["cpu"]
        peak = peak_mib()
        _, unmatched, _ = timed_cycles(new_store(Path(tmp) / "unmatched", urls), server_pid, matching=False)
        cold_phases, steady_phases = phases(new_store(Path(tmp) / "phases", urls), urls, args.feeds)

    cores = len(os.sched_getaffinity(0))
    print(f"{args.feeds} feeds x {args.entries} entries from 127.0.0.1, {args.latency:g} ms latency, served by another "
          f"process; {cores} cores; {os.getloadavg()[0]:.1f} load average ({cold['new']} new entries in the cold "
          f"cycle, {steady['not_modified']} not modified in the steady one)")
    print(f"{'':<38} {'wall s':>7} {'cpu s':>7} {'parsers cpu s':>14} {'vs loop':>8}")
    print(f"{'baseline: feedparser.parse(url) loop':<38} {base_wall:7.2f} {base_cpu:7.2f} {'':>14} {'1x':>8}")
    for name, c, ratio in (("cold cycle", cold, cold_ratio), ("steady cycle (all 304)", steady, steady_ratio)):
        print(f"{name:<38} {c['wall']:7.2f} {c['cpu']:7.2f} {c['parsers_cpu']:14.2f} {ratio:7.1f}x")
    for r in runs:
        print(f"{'  a run: loop, cold, steady':<38} {r['loop']['wall']:6.2f} s, {r['cold']['wall']:.2f} s "
              f"({r['cold_ratio']:.1f}x), {r['steady']['wall']:.3f} s ({r['steady_ratio']:.0f}x)")
    print(f"{'starting the parser processes':<38} {start['wall']:7.2f} {start['cpu']:7.2f} {start['parsers_cpu']:14.2f}"
          f"   (before the first cycle: once for `claimwatch watch`, every run of `watch --once`)")
    once = start["wall"] + runs[0]["cold"]["wall"]  # the first run's: its cycle waited for the processes to start
    print(f"{'the two, as `watch --once` runs them':<38} {once:7.2f} {'':>7} {'':>14} "
          f"{runs[0]['loop']['wall'] / once:7.1f}x")
    print(f"{'cold cycle, nothing to match or store':<38} {unmatched['wall']:7.2f} {unmatched['cpu']:7.2f} "
          f"{unmatched['parsers_cpu']:14.2f} {base_wall / unmatched['wall']:7.1f}x")
    print(f"peak memory: {base_peak:.0f} MiB after the loop, {peak:.0f} MiB after the cycles (this process); "
          f"{cold['parsers']} parser processes, {cold['parsers_peak']:.0f} MiB each at most")

    print("\nCPU ms per feed, one phase at a time:")
    print(f"{'':<14} {'fetch':>7} {'parse':>7} {'match':>7} {'store':>7}   (feedparser alone would parse in)")
    for name, p in (("cold cycle", cold_phases), ("steady cycle", steady_phases)):
        print(f"{name:<14} {p['fetch']:7.2f} {p['parse']:7.2f} {p['match']:7.2f} {p['store']:7.2f}   "
              f"({p['feedparser']:.2f})")

    # The floor: every phase's CPU spread over every core, with nothing waiting on anything else, but no less
    # than what this process does itself (fetch and store: parsing and matching are the parser processes');
    # compared with the loop's CPU time, which a busy machine does not stretch as it stretches wall time.
    def seconds(p: dict[str, float], *names: str) -> float:
        return sum(p[k] for k in names) * args.feeds / 1000

    own = seconds(cold_phases, "fetch", "store")
    cold_floor = max(own, seconds(cold_phases, "fetch", "parse", "match", "store") / cores)
    steady_floor = seconds(steady_phases, "fetch", "store")  # the event loop: one core
    print(f"\ncold cycle {cold_ratio:.1f}x faster than the loop (target >= {COLD_TARGET}x: "
          f"{'met' if cold_ratio >= COLD_TARGET else 'not met'}); its CPU floor on {cores} cores is "
          f"{cold_floor:.2f} s ({base_cpu / cold_floor:.1f}x the loop's CPU time): fetch and store in this "
          f"process {own:.2f} s, parse {seconds(cold_phases, 'parse'):.2f} s and match "
          f"{seconds(cold_phases, 'match'):.2f} s in the parser processes")
    spent = cold["cpu"] + cold["parsers_cpu"]  # as run: with starting the parser processes and their dictionaries
    print(f"the cold cycle as run spent {spent:.2f} s of CPU in all its processes ({cold['cpu']:.2f} s in this one): "
          f"at best {spent / cores:.2f} s on {cores} cores, {base_cpu * cores / spent:.1f}x the loop's CPU time")
    print(f"steady cycle {steady_ratio:.1f}x faster than the loop (target >= {STEADY_TARGET}x: "
          f"{'met' if steady_ratio >= STEADY_TARGET else 'not met'}); its CPU floor is {steady_floor:.2f} s "
          f"({base_cpu / steady_floor:.0f}x the loop's CPU time)")
    if args.latency:
        from claimwatch.fetch import CONCURRENCY as connections
        print(f"with {args.latency:g} ms per answer over {connections} connections to the one host, a cycle of "
              f"round trips alone takes (feeds / connections) x latency = "
              f"{args.feeds / connections * args.latency / 1000:.2f} s; the steady cycle took {steady['wall']:.2f} s")
    return 0 if cold_ratio >= COLD_TARGET and steady_ratio >= STEADY_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
