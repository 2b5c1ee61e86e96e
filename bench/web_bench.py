"""Web view benchmark: the claims page and a claim's page at 10k claims. Target: p95 server time <= 100 ms each.

The data is store_bench's: 10k claims with 4 forecasts each and 100k evidence rows, in a real data directory.
The web view runs as users run it, `claimwatch serve` in a process of its own on 127.0.0.1, signed in through
the link it prints; each page is asked for many times, and the server's own time is read from its Server-Timing
header (the round trip is printed beside it). The claims page is timed twice: as people page through it (the
list kept since nothing changed) and right after a forecast changed a claim (this process writes one before
each request, so the server reads the changed file and lists again). The baseline, in the same run, is the same
data read through the command line: `claimwatch list` and `claimwatch show N`, the work each does in this
process and the whole command in a new process.

    python bench/web_bench.py [--claims 10000] [--evidence 100000] [--requests 200]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from store_bench import NOW, claims_document, populate

from claimwatch import cli, ledger
from claimwatch.store import open_store

TARGET_MS = 100


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1] if len(times) > 1 else times[0]


def server_times(client: httpx.Client, paths: Callable[[], str], requests: int) -> tuple[list[float], list[float]]:
    """(server ms, round-trip ms) of `requests` requests, each for the page `paths()` names."""
    server, trip = [], []
    for _ in range(requests):
        path = paths()
        t0 = time.perf_counter()
        answer = client.get(path)
        trip.append((time.perf_counter() - t0) * 1000)
        assert answer.status_code == 200, answer.text[:200]
        server.append(float(answer.headers["server-timing"].split("dur=")[1]))
    return server, trip


def in_process(words: list[str], data: Path, runs: int) -> list[float]:
    """ms of `claimwatch WORDS` run in this process (its parsing, store, ledger and printing), output dropped."""
    times = []
    for _ in range(runs):
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            t0 = time.perf_counter()
            assert cli.main(words) == 0
            times.append((time.perf_counter() - t0) * 1000)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--evidence", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        store = open_store(data)
        populate(store, claims_document(args.claims, rng), args.evidence, rng)
        os.environ["CLAIMWATCH_DATA"] = str(data)
        numbers = lambda: f"/claims/{rng.randint(1, args.claims)}"  # noqa: E731

        def changed() -> str:  # a forecast changes a claim (not timed), then the claims page is asked for
            ledger.add_forecast(store, rng.randint(1, args.claims), rng.random(), "bench", NOW)
            return "/claims"

        server = subprocess.Popen([sys.executable, "-m", "claimwatch", "serve", "--listen", "127.0.0.1:0"],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            server.stdout.readline()  # type: ignore[union-attr]
            link = server.stdout.readline().rsplit(" ", 1)[1].strip()  # type: ignore[union-attr]
            base = link.split("/signin")[0]
            client = httpx.Client(base_url=base, timeout=60)
            assert client.post("/signin", data={"token": link.split("token=")[1]}).status_code == 303
            server_times(client, lambda: "/claims", 5)  # warm: the files read once, as a running server has them
            rows = {
                "claims page (/claims, open, page 1)": server_times(client, lambda: "/claims", args.requests),
                "claims page 100 (/claims?status=all)": server_times(
                    client, lambda: "/claims?status=all&page=100", args.requests),
                "claims page right after a claim changed": server_times(client, changed, max(20, args.requests // 4)),
                "a claim's page (/claims/N, N at random)": server_times(client, numbers, args.requests),
                "a claim's chart (/claims/N/chart.svg)": server_times(
                    client, lambda: numbers() + "/chart.svg", max(20, args.requests // 10)),
            }
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
        runs = max(5, args.requests // 10)
        listed = in_process(["list"], data, runs)
        shown = in_process(["show", str(rng.randint(1, args.claims))], data, runs)
        env = {**os.environ, "CLAIMWATCH_DATA": str(data)}
        whole_list, whole_show = [], []
        for _ in range(5):
            for words, into in ((["list"], whole_list), (["show", str(args.claims // 2)], whole_show)):
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "claimwatch", *words], env=env, check=True, capture_output=True)
                into.append((time.perf_counter() - t0) * 1000)

    print(f"{args.claims} claims, {args.claims * 4} forecasts, {args.evidence} evidence rows; "
          f"{args.requests} requests a page")
    met = True
    for name, (server, trip) in rows.items():
        counted = "chart" not in name
        verdict = ("met" if p95(server) <= TARGET_MS else "not met") if counted else "(not in the target)"
        met &= p95(server) <= TARGET_MS or not counted
        print(f"{name:44} server p95 {p95(server):7.1f} ms, median {statistics.median(server):6.1f} ms; "
              f"round trip p95 {p95(trip):7.1f} ms   target p95 <= {TARGET_MS} ms: {verdict}")
    print("baseline, the same data through the command line:")
    print(f"  claimwatch list, in this process        median {statistics.median(listed):7.1f} ms, "
          f"p95 {p95(listed):7.1f} ms (every open claim, printed)")
    print(f"  claimwatch show N, in this process      median {statistics.median(shown):7.1f} ms, "
          f"p95 {p95(shown):7.1f} ms")
    print(f"  claimwatch list, new process            median {statistics.median(whole_list):7.1f} ms")
    print(f"  claimwatch show N, new process          median {statistics.median(whole_show):7.1f} ms")
    claims_page = statistics.median(rows["claims page (/claims, open, page 1)"][0])
    claim_page = statistics.median(rows["a claim's page (/claims/N, N at random)"][0])
    print(f"the claims page takes {claims_page / statistics.median(listed):.2f}x the CLI's list; a claim's page "
          f"{claim_page / statistics.median(shown):.2f}x the CLI's show (medians)")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
