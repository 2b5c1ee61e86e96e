"""Several watch workers, in processes of their own, sharing one store's feeds (on each kind of store)."""

from __future__ import annotations

import asyncio
import collections
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from claimwatch import ledger
from claimwatch.model import Feed
from claimwatch.store import LEASE, open_store
from claimwatch.watcher import LEASE_BATCH

from conftest import NOW
from feedserver import FeedServer

FEEDS = 2 * LEASE_BATCH  # each of two workers can hold a batch at once

WORKER = """
import asyncio, sys
from datetime import datetime
from claimwatch.fetch import Fetcher
from claimwatch.store import open_store
from claimwatch.watcher import Watcher

async def main():
    fetcher = Fetcher(allow_private=True, concurrency=1000, per_host=1000, total_timeout=60)
    try:
        reports = await Watcher(open_store(sys.argv[1]), fetcher, worker=sys.argv[2]).cycle(
            datetime.fromisoformat(sys.argv[3]))
    finally:
        await fetcher.aclose()
    print(len(reports), flush=True)
asyncio.run(main())
"""


def worker(data: Path | str, name: str, at=NOW) -> subprocess.Popen[str]:
    """A watch worker of another machine (named so: its leases are left to expire) running one cycle at `at`."""
    return subprocess.Popen([sys.executable, "-c", WORKER, str(data), name, at.isoformat()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def gated(server: FeedServer) -> Callable[[], None]:
    """Every feed answers only once the returned function is called; until then requests wait in flight."""
    gate = asyncio.Event()

    def handler(request: web.Request):
        async def answer() -> web.Response:
            await gate.wait()
            n = request.path.removeprefix("/f")
            return web.Response(body=(f"<rss version='2.0'><channel><title>F{n}</title><item><guid>g{n}</guid>"
                                      f"<title>Pipeline report {n}</title><link>https://n.example/{n}</link>"
                                      "</item></channel></rss>").encode())
        return answer()
    for n in range(FEEDS):
        server.routes[f"/f{n}"] = handler
    return lambda: server._loop.call_soon_threadsafe(gate.set)


def wait_for(test: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not test():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


def seed(data: Path | str, server: FeedServer) -> int:
    store = open_store(data)
    number = ledger.add_claim(store, ledger.NewClaim(text="The pipeline is built", watch=("pipeline",)), "ana", NOW).id
    store.add_feeds([Feed(0, f"{server.url}/f{n}", f"F{n}", NOW, "ana") for n in range(FEEDS)])
    return number


def fetched(server: FeedServer) -> collections.Counter[str]:
    return collections.Counter(s.path for s in server.seen)


def test_two_workers_share_the_feeds_and_fetch_none_twice(data: Path | str) -> None:
    with FeedServer() as server:
        number = seed(data, server)
        release = gated(server)
        workers = [worker(data, "machine-a:1"), worker(data, "machine-b:1")]
        # Each holds at most a batch: every feed in flight at once means both hold one.
        wait_for(lambda: len(server.seen) == FEEDS, "the two workers did not both lease a batch")
        release()
        outputs = [w.communicate(timeout=60) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outputs
        assert sorted(int(out) for out, _ in outputs) == [LEASE_BATCH, LEASE_BATCH]  # a report per feed checked
    assert fetched(server) == {f"/f{n}": 1 for n in range(FEEDS)}
    store = open_store(data)
    assert len({e.url for e in store.evidence_for(number)}) == len(store.evidence_for(number)) == FEEDS
    assert all(f.next_check > NOW and f.entries_seen == 1 for f in store.feeds())


def test_a_killed_workers_feeds_come_back_when_its_leases_expire_and_nothing_is_lost(data: Path | str) -> None:
    with FeedServer() as server:
        number = seed(data, server)
        release = gated(server)
        killed = worker(data, "machine-a:1")
        wait_for(lambda: len(server.seen) == LEASE_BATCH, "the worker did not lease a batch")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        held = set(fetched(server))
        release()

        other = worker(data, "machine-b:1")  # at once: the killed worker's feeds are still leased
        assert other.communicate(timeout=60)[0] == f"{FEEDS - LEASE_BATCH}\n"
        assert set(fetched(server)) - held == {f"/f{n}" for n in range(FEEDS)} - held
        assert len(open_store(data).evidence_for(number)) == FEEDS - LEASE_BATCH

        before = fetched(server)
        later = worker(data, "machine-b:1", NOW + LEASE + timedelta(seconds=1))  # the leases ran out
        assert later.communicate(timeout=60)[1] == ""
        assert held <= set(fetched(server) - before)  # (the others may be due again by then too)
    store = open_store(data)
    assert sorted(e.url for e in store.evidence_for(number)) == sorted(f"https://n.example/{n}" for n in range(FEEDS))
