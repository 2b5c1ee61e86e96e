"""Parsing feed documents, and matching their entries against the open claims' watch terms, in worker
processes (one per core, up to 4): both are CPU work, and in threads they would hold the GIL, use one core
and stall the event loop (the bot's too). The watcher's own process is left only to record what they found.

Each worker keeps the Matcher of the watch terms it was last given (a few sets of them: several stores may
share the pool). A task names its terms by their digest and carries them only when the worker turned out
not to have them: so each worker is sent a set of terms once, not with every feed.

Its own module, importing only feedparse and matching: a worker process imports what its task function's
module imports, and the watcher's imports (the HTTP client, the store) cost a worker 0.5 s of CPU at start.
"""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import re
import signal
import threading
import weakref
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from claimwatch.feedparse import Entry, ParsedFeed, parse_feed
from claimwatch.matching import Match, Matcher, usable_terms
from claimwatch.parsing import clip

PARSERS = min(os.cpu_count() or 1, 4)  # parser processes: feeds arrive spread out, a few keep up
# How much of a feed entry is kept (characters): a 3 MB title made one watch cycle take 13 s and an
# /evidence reply 735 messages. A link longer than its bound is no working address, and is dropped.
ENTRY_BOUNDS = {"title": 500, "summary": 5_000, "author": 200}
LINK_BOUND = 2_048

MATCHERS_KEPT = 4  # sets of watch terms a parser process keeps compiled

_pool: ProcessPoolExecutor | None = None  # one per process, started on first use, ended at exit
_ready: Any = None  # the pool's semaphore: each of its processes releases it once, when started
_unconfirmed = 0  # the pool's processes not yet known to have started (see started())
_matchers: dict[str, Matcher] = {}  # in a parser process: compiled watch terms by digest, oldest first


@dataclass(frozen=True)
class Watchlist:
    """The open claims' watch terms as the parser processes are given them: pickled once, named by digest."""

    digest: str
    terms: bytes = field(repr=False)  # pickled ((claim number, its watch terms), ...)

    @classmethod
    def of(cls, watched: Iterable[tuple[int, Sequence[str]]]) -> Watchlist:
        """The claims' usable terms (the others are warned about here, in the watcher's process)."""
        stored = [(claim, tuple(terms)) for claim, terms in watched]
        usable = {claim for claim, _ in usable_terms(stored)}
        terms = pickle.dumps(tuple((claim, terms) for claim, terms in stored if claim in usable))
        return cls(hashlib.sha256(terms).hexdigest(), terms)

    def matcher(self) -> Matcher:
        return Matcher(pickle.loads(self.terms))


class Found(NamedTuple):
    """A parsed document, and for each of its entries the claims it matches."""

    doc: ParsedFeed
    matches: tuple[tuple[Match, ...], ...]


def start(watch: Watchlist | None = None) -> ProcessPoolExecutor:
    """The pool, its processes starting if it has none yet: each takes about 0.2 s of CPU to start, and as
    much again to compile its first watch terms (`watch`, compiled as it starts: simplemma's English table
    loads then); started() waits for them (the watch benchmark times cycles in processes already started)."""
    global _pool, _ready, _unconfirmed
    if _pool is None:  # spawned, not forked: forking a process with threads can deadlock the child
        context = multiprocessing.get_context("spawn")
        _ready, _unconfirmed = context.Semaphore(0), PARSERS
        _pool = ProcessPoolExecutor(PARSERS, mp_context=context, initializer=_parser_process,
                                    initargs=(_ready, watch.digest if watch else "", watch.terms if watch else b""))
        # A process is spawned per task waiting, up to PARSERS. They start with Ctrl-C ignored (an ignored
        # signal stays ignored in the child): one still importing at a Ctrl-C would print a traceback.
        previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
        if previous is not None:  # None: not ours to change (another thread, or a handler set outside Python)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            for _ in range(PARSERS):
                _pool.submit(os.getpid)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    return _pool


def started(timeout: float = 60) -> bool:
    """Wait (blocking) until every process of the pool has started and compiled the terms it was started with;
    False if no pool runs, or a process did not get there within `timeout` seconds."""
    global _unconfirmed
    if _pool is None:
        return False
    while _unconfirmed:
        if not _ready.acquire(timeout=timeout):
            return False
        _unconfirmed -= 1
    return True


class _Document(NamedTuple):
    feed_id: str
    body: bytes
    headers: dict[str, str]
    now: datetime


class _Dispatcher:
    """Documents waiting for a parser process, sent several to a task while the processes are busy. A task costs
    the watcher's process about the same whatever it carries (the executor's two threads hand it on and the
    answer back, each taking the GIL from the event loop and the store's thread), so when documents arrive
    faster than they are parsed, a task takes a share of those waiting (at most BATCH); one arriving at idle
    processes goes alone, at once. Documents of different watch terms go in different tasks."""

    def __init__(self) -> None:
        self.waiting: deque[tuple[_Document, Watchlist, asyncio.Future[Found]]] = deque()
        self.tasks = 0  # sent and not answered yet
        self.running: set[asyncio.Task[None]] = set()
        self.retrying = asyncio.Lock()  # documents tried again after a process died: one at a time

    def add(self, document: _Document, watch: Watchlist) -> asyncio.Future[Found]:
        future: asyncio.Future[Found] = asyncio.get_running_loop().create_future()
        self.waiting.append((document, watch, future))
        self._send()
        return future

    def _send(self) -> None:
        while self.waiting and self.tasks < 2 * PARSERS:  # two to a process: the next is there when one ends
            share = min(BATCH, -(-len(self.waiting) // (2 * PARSERS - self.tasks)))
            watch = self.waiting[0][1]
            batch = []
            while self.waiting and len(batch) < share and self.waiting[0][1].digest == watch.digest:
                waiting = self.waiting.popleft()
                if not waiting[2].done():  # one whose watcher gave up on it is not parsed
                    batch.append(waiting)
            if batch:
                self.tasks += 1
                task = asyncio.ensure_future(self._run(batch, watch))
                self.running.add(task)
                task.add_done_callback(self.running.discard)

    async def _run(self, batch: list[tuple[_Document, Watchlist, asyncio.Future[Found]]], watch: Watchlist) -> None:
        try:
            found = await self._parsed([document for document, _, _ in batch], watch)
        except asyncio.CancelledError:  # the event loop is closing: nothing more is sent
            for _, _, future in batch:
                future.cancel()
            raise
        except Exception as e:
            for _, _, future in batch:
                if not future.done():
                    future.set_exception(e)
        else:
            for (_, _, future), one in zip(batch, found, strict=True):
                if not future.done():  # its watcher may have given up on it
                    future.set_result(one)
        finally:
            self.tasks -= 1
        self._send()

    async def _parsed(self, documents: list[_Document], watch: Watchlist) -> list[Found]:
        """The documents of one task. A process that dies (killed, out of memory, a parser crash) breaks the pool,
        and every task in it fails: their documents are tried once more in a fresh pool, one document at a time
        (a pool that breaks then broke for that document alone), then count as their feeds' failures."""
        try:
            return await _in_pool(documents, watch)
        except BrokenProcessPool:
            found = []
            for document in documents:
                async with self.retrying:
                    found.append(await _alone(document, watch))
            return found


BATCH = 8  # documents a task carries at most
_dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Dispatcher] = weakref.WeakKeyDictionary()


async def parsed(feed_id: str, body: bytes, headers: dict[str, str], now: datetime, watch: Watchlist) -> Found:
    """A document parsed and its entries matched in a parser process (see _Dispatcher); a process that dies
    on the way: see _Dispatcher._parsed."""
    loop = asyncio.get_running_loop()
    dispatcher = _dispatchers.get(loop)
    if dispatcher is None:
        dispatcher = _dispatchers[loop] = _Dispatcher()
    return await dispatcher.add(_Document(feed_id, body, headers, now), watch)


async def _alone(document: _Document, watch: Watchlist) -> Found:
    try:
        return (await _in_pool([document], watch))[0]
    except BrokenProcessPool:
        return Found(ParsedFeed("", "", None, (), "could not be parsed: the parser process stopped"), ())


async def _in_pool(documents: list[_Document], watch: Watchlist) -> list[Found]:
    global _pool
    pool = start()
    loop = asyncio.get_running_loop()
    try:
        found = await loop.run_in_executor(pool, _parse, documents, watch.digest, None)
        if found is None:  # that process had not been given these terms yet
            found = await loop.run_in_executor(pool, _parse, documents, watch.digest, watch.terms)
    except BrokenProcessPool:
        if _pool is pool:  # the next task starts a fresh one
            _pool = None
            pool.shutdown(wait=False)
        raise
    assert found is not None  # given the terms, a process always parses
    return found


def _parser_process(ready: Any, digest: str, terms: bytes) -> None:
    """A parser process leaves Ctrl-C to its parent (which ends it, quietly), and exits when the parent
    does, even when it was killed and could not say so (an idle worker would wait for work forever). It
    compiles the watch terms it was started with (if any), then says it is ready."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if terms:
        _compiled(digest, terms)
    ready.release()
    parent = multiprocessing.parent_process()
    assert parent is not None

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)
    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def bounded(doc: ParsedFeed) -> ParsedFeed:
    """A parsed feed with each entry's text cut to ENTRY_BOUNDS (and a link past LINK_BOUND dropped), as it
    leaves the parser: what is matched, stored, shown and sent stays small whatever a feed holds."""
    def cut(entry: Entry) -> Entry:
        changes: dict[str, str] = {f: clip(getattr(entry, f), limit) for f, limit in ENTRY_BOUNDS.items()
                                   if len(getattr(entry, f, "")) > limit}
        if len(entry.link) > LINK_BOUND:
            changes["link"] = ""
        return entry._replace(**changes) if changes else entry
    return replace(doc, entries=tuple(map(cut, doc.entries)))


_REFERENCE = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def _without_surrogate_references(body: bytes) -> bytes:
    """The document without character references to surrogates (`&#xD800;`), which no text may hold: feedparser
    fails the whole feed on one. Only that character is lost."""
    if b"&#" not in body:
        return body

    def keep(m: re.Match[bytes]) -> bytes:
        code = int(m[1], 16) if m[1] else int(m[2])
        return b"" if 0xD800 <= code <= 0xDFFF else m[0]
    return _REFERENCE.sub(keep, body)


def _compiled(digest: str, terms: bytes) -> Matcher:
    """Compile watch terms in a parser process, and keep them (the MATCHERS_KEPT last)."""
    matcher = _matchers[digest] = Matcher(pickle.loads(terms))
    while len(_matchers) > MATCHERS_KEPT:
        del _matchers[next(iter(_matchers))]
    return matcher


def _parse(documents: list[_Document], digest: str, terms: bytes | None) -> list[Found] | None:
    """Documents, their entries matched (in a parser process); None when the watch terms named by `digest` are not
    compiled here and were not sent. A parser failure is that feed's failure, not the cycle's."""
    matcher = _matchers.get(digest)
    if matcher is None:
        if terms is None:
            return None
        matcher = _compiled(digest, terms)
    return [_found(matcher, document) for document in documents]


def _found(matcher: Matcher, document: _Document) -> Found:
    try:
        doc = bounded(parse_feed(document.feed_id, _without_surrogate_references(document.body), document.headers,
                                 document.now))
    except Exception as e:  # noqa: BLE001 - feedparser on hostile bytes: record it, go on with the others
        return Found(ParsedFeed("", "", None, (), f"could not be parsed: {type(e).__name__}: {e}"), ())
    return Found(doc, tuple(tuple(matcher.match(e.title, e.summary)) for e in doc.entries))
