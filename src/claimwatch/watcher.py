"""The watch cycle: fetch the due feeds, keep what is new, match it against open claims, keep evidence.

Fetching is concurrent (fetch.Fetcher); each document is parsed as soon as it arrives, while the
others are still on the way, in a pool of worker processes: feedparser is pure-Python CPU work, so
in threads it would hold the GIL, use one core and stall the event loop (the bot's too). Matching and
store work run in a worker thread, off the event loop; everything one cycle learns is written in one
store transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import multiprocessing.connection
import os
import re
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from claimwatch import polling
from claimwatch.errors import InputError
from claimwatch.feedparse import Entry, ParsedFeed, parse_feed
from claimwatch.fetch import Fetcher, FetchResult
from claimwatch.matching import Matcher
from claimwatch.model import Evidence, Feed, NewsItem
from claimwatch.parsing import clip, feed_key, feed_url, shown_url
from claimwatch.store import ClaimFilter, Store

# How much of a feed entry is kept (characters): a 3 MB title made one watch cycle take 13 s and an
# /evidence reply 735 messages. A link longer than its bound is no working address, and is dropped.
ENTRY_BOUNDS = {"title": 500, "summary": 5_000, "author": 200}
LINK_BOUND = 2_048
SEEN_DAYS = 30  # an entry stays seen this long after it left the feed, and at least 2x the feed's length
PARSERS = min(os.cpu_count() or 1, 4)  # parser processes: feeds arrive spread out, a few keep up


@dataclass(frozen=True)
class FeedReport:
    feed: Feed  # as it is after this check
    outcome: str  # "new entries", "nothing new", "not modified", "failed", "disabled", "moved", "removed"
    new: int = 0
    edited: int = 0
    evidence: tuple[Evidence, ...] = ()  # stored, with ids
    first_poll: bool = False  # everything was marked seen; matches kept without alerts
    notice: str | None = None  # for admins: repeated failures, recovery, a disabled feed

    def line(self) -> str:
        f = self.feed
        parts = [f"feed {f.id} {f.name}: {self.outcome}"]
        if self.outcome in ("new entries", "nothing new"):
            parts.append(f"{self.new} new, {self.edited} edited, {len(self.evidence)} matches"
                         + (" (first poll: kept without alerts)" if self.first_poll else ""))
        if f.error and self.outcome in ("failed", "disabled"):
            parts.append(f.error)
        return "; ".join(parts)


class Watcher:
    """Runs watch cycles over a store; keeps the compiled watch terms until claims change."""

    def __init__(self, store: Store, fetcher: Fetcher, interval: int = polling.DEFAULT_INTERVAL) -> None:
        self.store, self.fetcher, self.interval = store, fetcher, interval
        self._matcher: tuple[object, Matcher] | None = None

    def matcher(self) -> Matcher:
        version = self.store.claims_version()
        if self._matcher is None or self._matcher[0] != version:
            claims = self.store.find_claims(ClaimFilter(status="open"))
            self._matcher = (version, Matcher((c.id, c.watch) for c in claims))
        return self._matcher[1]

    async def cycle(self, now: datetime, *, every_feed: bool = False) -> list[FeedReport]:
        """Check the feeds that are due (all enabled ones with `every_feed`)."""
        feeds = [f for f in await asyncio.to_thread(self.store.feeds)
                 if f.enabled and (every_feed or f.next_check is None or f.next_check <= now)]
        checked = await asyncio.gather(*(self._check(f, now) for f in feeds))
        return await asyncio.to_thread(self._record, checked, now)

    async def _check(self, feed: Feed, now: datetime) -> tuple[Feed, FetchResult, ParsedFeed | None]:
        """Fetch one feed and parse it as soon as it arrives, while others are still on the way; the body
        is let go once parsed."""
        result = await self.fetcher.fetch(feed.url, now, etag=feed.etag, last_modified=feed.last_modified)
        if result.body is None:
            return feed, result, None
        doc = await _parsed(str(feed.id), result.body, result.headers, now)
        return feed, replace(result, body=None), doc

    def _record(self, checked: list[tuple[Feed, FetchResult, ParsedFeed | None]], now: datetime) -> list[FeedReport]:
        """What the checks found, applied to each feed as it is stored now: a feed removed while it was
        being fetched stays removed, and a change made meanwhile (a rename) is kept."""
        matcher = self.matcher()
        with self.store.transaction():
            current = {f.id: f for f in self.store.feeds()}  # a number can be reused: the address must match
            return self._keep_evidence([self._one(current[feed.id], result, doc, matcher, now)
                                        if feed.id in current and current[feed.id].url == feed.url
                                        else FeedReport(feed, "removed") for feed, result, doc in checked])

    def _keep_evidence(self, reports: list[FeedReport]) -> list[FeedReport]:
        """Store every feed's matches at once (one insert per file, not one per feed); a first poll's
        matches are backfill, the others get alert records."""
        for alert in (False, True):
            batch = [r for r in reports if r.evidence and r.first_poll != alert]
            stored = iter(self.store.add_evidence([e for r in batch for e in r.evidence], alert=alert))
            kept = {id(r): replace(r, evidence=tuple(next(stored) for _ in r.evidence)) for r in batch}
            reports = [kept.get(id(r), r) for r in reports]
        return reports

    def _one(self, feed: Feed, result: FetchResult, doc: ParsedFeed | None, matcher: Matcher,
             now: datetime) -> FeedReport:
        if result.gone:
            feed = replace(feed, enabled=False, disabled_reason="410 Gone: the publisher removed it",
                           error=result.error or "HTTP 410 Gone", last_error_at=now)
            self.store.save_feed(feed)
            return FeedReport(feed, "disabled", notice=f"Feed {feed.name} is gone (HTTP 410) and was disabled.")
        error = result.error if result.status not in (200, 304) else None
        if error is None and doc is not None and not doc.usable:
            error = doc.problem
        if error is not None:
            failures = feed.failures + 1
            feed = replace(feed, failures=failures, error=error, last_error_at=now,
                           next_check=polling.next_check(now, self.interval, failures=failures,
                                                         retry_after=result.retry_after))
            self.store.save_feed(feed)
            return FeedReport(feed, "failed", notice=polling.health_notice(feed.name, failures - 1, failures, error))
        notice = polling.health_notice(feed.name, feed.failures, 0, None)
        outcome, moved = "not modified", None
        if result.moved_to:
            moved = self._move(feed, result.moved_to)
            if moved is None:
                return FeedReport(feed, "moved", notice=f"Feed {feed.name} moved to {shown_url(result.moved_to)}, which is "
                                                        "watched already; the two were merged.")
            feed = moved
        new, edited, evidence, first = 0, 0, (), False
        if doc is not None:
            new, edited, evidence, first = self._entries(feed, doc, matcher, now)
            outcome = "new entries" if new else "nothing new"
        ttl = doc.ttl_minutes if doc else feed.ttl_minutes  # a 304 says the document, <ttl> included, is the same
        feed = replace(feed, failures=0, error="", last_success=now, etag=result.etag or feed.etag,
                       last_modified=result.last_modified or feed.last_modified,  # a 304 need not repeat them
                       entries_seen=feed.entries_seen + new, ttl_minutes=ttl,
                       next_check=polling.next_check(now, self.interval, max_age=result.max_age, ttl_minutes=ttl))
        self.store.save_feed(feed)
        return FeedReport(feed, outcome, new, edited, evidence, first, notice)

    def _move(self, feed: Feed, url: str) -> Feed | None:
        """Follow a permanent redirect: the new address, or None when another feed watches it already
        (merged into that one). A disabled feed at that address gives way: the address works now. The
        address is kept as feed addresses are (scheme and host in lower case), so the check finds it."""
        with contextlib.suppress(InputError):  # fetched already, so a web address; kept as sent if odd
            url = feed_url(url)
        for other in self.store.feeds():
            if feed_key(other.url) == feed_key(url) and other.id != feed.id:
                if other.enabled:
                    self.store.remove_feed(feed.id)
                    return None
                self.store.remove_feed(other.id)
        return replace(feed, url=url)

    def _entries(self, feed: Feed, doc: ParsedFeed, matcher: Matcher,
                 now: datetime) -> tuple[int, int, tuple[Evidence, ...], bool]:
        seen = self.store.seen(feed.id)
        first = feed.last_success is None and not seen
        new: list[Entry] = []
        edited = 0
        for entry in doc.entries:
            known = seen.get(entry.key)
            alias = next((a for a in entry.aliases if known is None and seen.get(a, ("",))[0] == entry.content_hash), None)
            if alias is not None:  # seen under the key it had before: the same entry, not a new one
                known = seen.pop(alias)
            if known is None:
                new.append(entry)
            elif known[0] != entry.content_hash:  # an edit: remembered, not alerted again
                edited += 1
            seen[entry.key] = (entry.content_hash, now)  # last seen in the feed: now
        if doc.entries:  # an empty document (a publisher's hiccup) forgets nothing
            seen = _pruned(seen, {e.key for e in doc.entries}, len(doc.entries), now)
        self.store.save_seen(feed.id, seen)
        self.store.add_news([news_item(feed.name, e) for e in new], now)
        found = [Evidence(0, m.claim, e.link, e.title, now, feed=feed.name, published=e.published, matched=m.terms,
                          words=m.words, backfill=first)
                 for e in new for m in matcher.match(e.title, e.summary)]
        return len(new), edited, tuple(found), first  # stored by _keep_evidence


NEWS_SUMMARY = 1_000  # characters of an entry's summary kept as recent news (its title and link are bounded already)


def news_item(feed: str, entry: Entry) -> NewsItem:
    """An entry as recent news, its summary cut to NEWS_SUMMARY."""
    return NewsItem(feed, entry.link, entry.title, entry.summary[:NEWS_SUMMARY], entry.published)


_pool: ProcessPoolExecutor | None = None  # one per process, started on first use, ended at exit


async def _parsed(feed_id: str, body: bytes, headers: dict[str, str], now: datetime) -> ParsedFeed:
    """A document parsed in a parser process. A process that dies (killed, out of memory) takes the
    parses it had with it: those are tried once more in a fresh pool, then count as the feed's failure."""
    global _pool
    for _ in range(2):
        if _pool is None:  # spawned, not forked: forking a process with threads can deadlock the child
            _pool = ProcessPoolExecutor(PARSERS, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_parser_process)
        pool = _pool
        try:
            return await asyncio.get_running_loop().run_in_executor(pool, _parse, feed_id, body, headers, now)
        except BrokenProcessPool:
            if _pool is pool:
                _pool = None
                pool.shutdown(wait=False)
    return ParsedFeed("", "", None, (), "could not be parsed: the parser process stopped")


def _parser_process() -> None:
    """A parser process leaves Ctrl-C to its parent (which ends it, quietly), and exits when the parent
    does, even when it was killed and could not say so (an idle worker would wait for work forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    assert parent is not None

    def watch() -> None:
        multiprocessing.connection.wait([parent.sentinel])
        os._exit(0)
    threading.Thread(target=watch, name="end-with-parent", daemon=True).start()


def bounded(doc: ParsedFeed) -> ParsedFeed:
    """A parsed feed with each entry's text cut to ENTRY_BOUNDS (and a link past LINK_BOUND dropped), as it
    enters the watcher: what is matched, stored, shown and sent stays small whatever a feed holds."""
    def cut(entry: Entry) -> Entry:
        changes: dict[str, str] = {f: clip(getattr(entry, f), limit) for f, limit in ENTRY_BOUNDS.items()
                                   if len(getattr(entry, f, "")) > limit}
        if len(entry.link) > LINK_BOUND:
            changes["link"] = ""
        return replace(entry, **changes) if changes else entry
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


def _parse(feed_id: str, body: bytes, headers: dict[str, str], now: datetime) -> ParsedFeed:
    """One feed's document (in a parser process); a parser failure is that feed's failure, not the cycle's."""
    try:
        return bounded(parse_feed(feed_id, _without_surrogate_references(body), headers, now))
    except Exception as e:  # noqa: BLE001 - feedparser on hostile bytes: record it, go on with the others
        return ParsedFeed("", "", None, (), f"could not be parsed: {type(e).__name__}: {e}")


def _pruned(seen: dict[str, tuple[str, datetime]], current: set[str], length: int,
            now: datetime) -> dict[str, tuple[str, datetime]]:
    """Forget entries last seen in the feed more than SEEN_DAYS ago, but keep the most recently seen ones
    up to twice the feed's length, so items rotating back in stay seen."""
    keep = max(2 * length, 1)
    newest = sorted(seen.items(), key=lambda kv: kv[1][1], reverse=True)
    horizon = now - timedelta(days=SEEN_DAYS)
    return {k: v for i, (k, v) in enumerate(newest) if k in current or i < keep or v[1] >= horizon}
