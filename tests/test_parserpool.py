"""Matching in the parser processes: each is given the open claims' watch terms once, and a watcher's next
cycle matches against the claims as they are then."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from claimwatch import ledger, parserpool
from claimwatch.fetch import Fetcher
from claimwatch.model import Feed
from claimwatch.parserpool import Watchlist
from claimwatch.store import open_store
from claimwatch.watcher import Watcher

from conftest import NOW
from feedserver import FeedServer, respond


def rss(*items: tuple[str, str]) -> bytes:
    """(guid, title) items."""
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><link>https://n.example/{g}</link>"
                   f"<pubDate>Mon, 02 Mar 2026 08:00:00 GMT</pubDate></item>" for g, t in items)
    return f'<rss version="2.0"><channel><title>Fixture</title>{body}</channel></rss>'.encode()


def test_parser_processes_match_each_document_against_the_terms_it_came_with() -> None:
    """Two sets of terms used in turn on one pool (as two stores in one process would): every answer follows
    the terms its request named, whichever process had been given which."""
    pipeline, weather = Watchlist.of([(1, ("Power of Siberia 2",))]), Watchlist.of([(2, ("weather",)), (3, ())])
    body = rss(("a", "Power of Siberia 2 talks"), ("b", "Weather in Minsk"), ("c", "Nothing"))

    async def run() -> list[parserpool.Found]:
        return await asyncio.gather(*(parserpool.parsed("1", body, {}, NOW, terms)
                                      for terms in [pipeline, weather] * parserpool.PARSERS * 2))
    found = asyncio.run(run())
    claims = [[[m.claim for m in matches] for matches in f.matches] for f in found]
    assert claims == [[[1], [], []], [[], [2], []]] * parserpool.PARSERS * 2
    assert [e.title for e in found[0].doc.entries] == ["Power of Siberia 2 talks", "Weather in Minsk", "Nothing"]
    assert found[1].matches[1][0].words == ("Weather",)


def test_a_claim_added_between_cycles_is_matched_in_the_next_cycle(data: Path | str) -> None:
    store = open_store(data)
    ledger.add_claim(store, ledger.NewClaim(text="PoS2", watch=("Power of Siberia 2",)), "ana", NOW)
    with FeedServer() as server:
        document = [rss(("a", "Power of Siberia 2 talks"))]
        server.routes["/f"] = lambda request: respond(document[0])(request)
        store.add_feed(Feed(0, f"{server.url}/f", "f", NOW, "ana"))

        async def run() -> list[list[tuple[int, str]]]:
            fetcher = Fetcher(allow_private=True, total_timeout=10)
            watcher = Watcher(store, fetcher, interval=600)  # one watcher: it keeps its compiled terms
            try:
                first = await watcher.cycle(NOW, every_feed=True)
                ledger.add_claim(store, ledger.NewClaim(text="Weather", watch=("weather",)), "ana", NOW)
                document[0] = rss(("a", "Power of Siberia 2 talks"), ("b", "Weather and Power of Siberia 2"))
                second = await watcher.cycle(NOW + timedelta(hours=1), every_feed=True)
                return [[(e.claim, e.title) for r in reports for e in r.evidence] for reports in (first, second)]
            finally:
                await fetcher.aclose()
        first, second = asyncio.run(run())
    assert first == [(1, "Power of Siberia 2 talks")]
    assert sorted(second) == [(1, "Weather and Power of Siberia 2"), (2, "Weather and Power of Siberia 2")]


def test_parser_processes_compile_the_terms_they_are_started_with() -> None:
    """start(watch) has each process compile the terms as it starts, and started() waits until all have: the
    first documents are matched at once, no process asking to be sent the terms (`_parse` gives None when it
    would). Run in a process of its own, whose pool this test starts."""
    script = f"""
from datetime import datetime
from claimwatch import parserpool
watch = parserpool.Watchlist.of([(1, ("Power of Siberia 2",))])
pool = parserpool.start(watch)
assert parserpool.started(60)
body = {rss(("a", "Power of Siberia 2 talks"))!r}
now = datetime.fromisoformat({NOW.isoformat()!r})
document = parserpool._Document("1", body, {{}}, now)
found = [pool.submit(parserpool._parse, [document], watch.digest, None) for _ in range(4 * parserpool.PARSERS)]
print([None if f.result() is None else [m.claim for ms in f.result()[0].matches for m in ms] for f in found])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == str([[1]] * 4 * parserpool.PARSERS)


class _EndsItsProcess:
    """Read back in a parser process, it ends that process (as a parser crash or the out-of-memory killer would)."""

    def __reduce__(self) -> tuple[object, tuple[int]]:
        return os._exit, (1,)


def test_a_document_that_kills_its_parser_process_takes_no_other_feed_with_it() -> None:
    """The pool breaks, and every task in it fails; each document is then tried alone: the others parse."""
    watch = Watchlist.of([(1, ("Power of Siberia 2",))])
    body = rss(("a", "Power of Siberia 2 talks"))

    async def run() -> list[parserpool.Found]:
        return await asyncio.gather(*(parserpool.parsed(str(n), body, {"x": _EndsItsProcess()} if n == 1 else {}, NOW,
                                                        watch) for n in range(4)))
    found = asyncio.run(run())
    assert [f.doc.problem for f in found] == [None, "could not be parsed: the parser process stopped", None, None]
    assert [[m.claim for ms in f.matches for m in ms] for f in found] == [[1], [], [1], [1]]
