"""The watch cycle: fetch the due feeds, keep what is new, match it against open claims, keep evidence.

Fetching is concurrent (fetch.Fetcher); each document is parsed, and its entries matched against the
open claims' watch terms, as soon as it arrives, while the others are still on the way, in a pool of
worker processes (parserpool), started as the cycle begins. Store work runs in a worker thread, off the
event loop, on the documents matched so far while the rest are still fetched and parsed; all that a
cycle learns about one feed is written in one store transaction, with the other feeds that arrived with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from claimwatch import parserpool, polling
from claimwatch.parserpool import Found, Watchlist
from claimwatch.errors import InputError
from claimwatch.feedparse import Entry
from claimwatch.fetch import Fetcher, FetchResult
from claimwatch.gcpause import gc_paused
from claimwatch.matching import Match
from claimwatch.model import Evidence, Feed, NewsItem
from claimwatch.parsing import feed_key, feed_url, shown_url
from claimwatch.store import ClaimFilter, Store

LEASE_BATCH = 100  # feeds a watcher leases at a time: several watchers share a cycle's feeds in batches this size
RECORD_BATCH = 50  # parsed documents a cycle's first record waits for (see Watcher._check_all)
SEEN_DAYS = 30  # an entry stays seen this long after it left the feed, and at least 2x the feed's length


def _gone(worker: str) -> bool:
    """A watch worker (named host:pid) of this machine that no longer runs: its leases need not run out
    (a watcher restarted after a crash takes its feeds at once). Another machine's are left to expire."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # running, as another user
        return False
    return False


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
    """Runs watch cycles over a store; keeps the compiled watch terms until claims change.

    Any number of watchers, in any number of processes or machines, share one store's feeds: a cycle
    leases the due feeds LEASE_BATCH at a time (Store.lease_feeds), checks them, and stores what it found,
    which ends the leases; it goes on until no due feed is left that another watcher does not hold. A
    watcher killed mid-cycle loses nothing: its leases expire (store.LEASE) and another watcher takes
    the feeds, whose entries it had not yet stored as seen."""

    def __init__(self, store: Store, fetcher: Fetcher, interval: int = polling.DEFAULT_INTERVAL,
                 worker: str | None = None) -> None:
        self.store, self.fetcher, self.interval = store, fetcher, interval
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self._watchlist: tuple[object, Watchlist] | None = None

    def watchlist(self) -> Watchlist:
        """The open claims' watch terms, as the parser processes match entries against them; made again
        when a claim changes."""
        version = self.store.claims_version()
        if self._watchlist is None or self._watchlist[0] != version:
            claims = self.store.find_claims(ClaimFilter(status="open"))
            watchlist = Watchlist.of((c.id, c.watch) for c in claims)
            self._watchlist = (version, watchlist)
        return self._watchlist[1]

    async def cycle(self, now: datetime, *, every_feed: bool = False) -> list[FeedReport]:
        """Check the feeds that are due (all enabled ones with `every_feed`) and that no other watcher holds."""
        reports: list[FeedReport] = []
        gone = [w for w in await asyncio.to_thread(self.store.lease_holders, now) if _gone(w)]
        # The cyclic garbage collector waits for the cycle's end: a cold cycle makes millions of objects, none of
        # them cyclic garbage, and each collection during it rescanned what the store holds (0.25 s of a cold
        # cycle of 500 feeds went to collections). The collector resumes as it ends, and takes what it left;
        # in the bot's process, its other cyclic garbage waits as long (a cycle's length: minutes at most, with slow feeds).
        with gc_paused():
            while True:  # with every_feed, all at once: those checked would be due again
                feeds = await asyncio.to_thread(self.store.lease_feeds, self.worker, now, 2**31 if every_feed
                                                else LEASE_BATCH, every_feed=every_feed, reclaim=gone)
                reports += await self._check_all(feeds, now) if feeds else []
                if not feeds or every_feed:
                    break
        return sorted(reports, key=lambda r: r.feed.id)  # in the order of the feeds, as they are listed

    async def _check_all(self, feeds: list[Feed], now: datetime) -> list[FeedReport]:
        # Documents are stored while others are still fetched, parsed and matched: what has arrived is recorded
        # once the record before it is done and as many parsed documents are among it as were recorded before
        # (RECORD_BATCH at first). Each record rewrites the files it touches whole (the news, the evidence, the
        # seen entries), so a record costs more the more the cycle has stored already: batches that double keep
        # a cold cycle of 500 feeds to 5 records, where batches of 50 made 10 (costing the watcher's process
        # twice the CPU), and a record per document 500. A cycle of 304s is recorded at the end, in one write.
        reports: list[FeedReport] = []
        arrived: list[tuple[Feed, FetchResult, Found | None]] = []
        parsed = recorded = 0
        recording: asyncio.Future[list[FeedReport]] | None = None
        watch = await asyncio.to_thread(self.watchlist)
        parserpool.start(watch)  # if not started yet: the processes start while the first feeds are on their way
        for check in asyncio.as_completed([self._check(f, now, watch) for f in feeds]):
            arrived.append(await check)
            parsed += arrived[-1][2] is not None
            if parsed >= max(RECORD_BATCH, recorded) and (recording is None or recording.done()):
                if recording is not None:
                    reports += await recording
                recording = asyncio.ensure_future(asyncio.to_thread(self._record, arrived, now))
                arrived, parsed, recorded = [], 0, recorded + parsed
        if recording is not None:
            reports += await recording
        reports += await asyncio.to_thread(self._record, arrived, now) if arrived else []
        return reports

    async def _check(self, feed: Feed, now: datetime, watch: Watchlist) -> tuple[Feed, FetchResult, Found | None]:
        """Fetch one feed, then parse it and match its entries as soon as it arrives, while others are still
        on the way; the body is let go once parsed."""
        result = await self.fetcher.fetch(feed.url, now, etag=feed.etag, last_modified=feed.last_modified)
        if result.body is None:
            return feed, result, None
        found = await parserpool.parsed(str(feed.id), result.body, result.headers, now, watch)
        return feed, replace(result, body=None), found

    def _record(self, checked: list[tuple[Feed, FetchResult, Found | None]], now: datetime) -> list[FeedReport]:
        """What the checks found, applied to each feed as it is stored now: a feed removed while it was
        being fetched stays removed, and a change made meanwhile (a rename) is kept."""
        with gc_paused(), self.store.transaction():  # many entries, evidence and seen keys, none of them cyclic
            current = {f.id: f for f in self.store.feeds()}  # a number can be reused: the address must match
            news: list[NewsItem] = []  # the new entries, for the recent-news window
            reports = [self._one(current[feed.id], result, doc, now, news)
                       if feed.id in current and current[feed.id].url == feed.url
                       else FeedReport(feed, "removed") for feed, result, doc in checked]
            self.store.save_feeds([r.feed for r in reports if r.outcome not in ("removed", "moved")])
            self.store.add_news(news, now)  # once a batch: it reads the window
            return self._keep_evidence(reports)

    def _keep_evidence(self, reports: list[FeedReport]) -> list[FeedReport]:
        """Store every feed's matches at once (one insert per file, not one per feed); a first poll's
        matches are backfill, the others get alert records."""
        for alert in (False, True):
            batch = [r for r in reports if r.evidence and r.first_poll != alert]
            stored = iter(self.store.add_evidence([e for r in batch for e in r.evidence], alert=alert))
            kept = {id(r): replace(r, evidence=tuple(next(stored) for _ in r.evidence)) for r in batch}
            reports = [kept.get(id(r), r) for r in reports]
        return reports

    def _one(self, feed: Feed, result: FetchResult, found: Found | None, now: datetime,
             news: list[NewsItem]) -> FeedReport:
        """The feed's new state and what was found; its new entries are added to `news`."""
        if result.gone:
            feed = replace(feed, enabled=False, disabled_reason="410 Gone: the publisher removed it",
                           error=result.error or "HTTP 410 Gone", last_error_at=now)
            return FeedReport(feed, "disabled", notice=f"Feed {feed.name} is gone (HTTP 410) and was disabled.")
        error = result.error if result.status not in (200, 304) else None
        doc = found.doc if found is not None else None
        if error is None and doc is not None and not doc.usable:
            error = doc.problem
        if error is not None:
            failures = feed.failures + 1
            feed = replace(feed, failures=failures, error=error, last_error_at=now,
                           next_check=polling.next_check(now, self.interval, failures=failures,
                                                         retry_after=result.retry_after))
            return FeedReport(feed, "failed", notice=polling.health_notice(feed.name, failures - 1, failures, error))
        notice = polling.health_notice(feed.name, feed.failures, 0, None)
        outcome, moved = "not modified", None
        if result.moved_to:
            moved = self._move(feed, result.moved_to)
            if moved is None:
                return FeedReport(feed, "moved", notice=f"Feed {feed.name} moved to {shown_url(result.moved_to)}, which is "
                                                        "watched already; the two were merged.")
            feed = moved
            self.store.save_feed(feed)  # now: a feed moving later in this cycle must find this address taken
        new, edited, evidence, first = 0, 0, (), False
        if found is not None:
            new, edited, evidence, first = self._entries(feed, found, now, news)
            outcome = "new entries" if new else "nothing new"
        ttl = doc.ttl_minutes if doc else feed.ttl_minutes  # a 304 says the document, <ttl> included, is the same
        feed = replace(feed, failures=0, error="", last_success=now, etag=result.etag or feed.etag,
                       last_modified=result.last_modified or feed.last_modified,  # a 304 need not repeat them
                       entries_seen=feed.entries_seen + new, ttl_minutes=ttl,
                       next_check=polling.next_check(now, self.interval, max_age=result.max_age, ttl_minutes=ttl))
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

    def _entries(self, feed: Feed, found: Found, now: datetime,
                 news: list[NewsItem]) -> tuple[int, int, tuple[Evidence, ...], bool]:
        doc = found.doc
        seen = self.store.seen(feed.id)
        first = feed.last_success is None and not seen
        new: list[tuple[Entry, tuple[Match, ...]]] = []
        edited = 0
        for entry, matches in zip(doc.entries, found.matches, strict=True):
            known = seen.get(entry.key)
            if known is None and entry.aliases:  # seen under the key it had before: the same entry, not a new one
                alias = next((a for a in entry.aliases if seen.get(a, ("",))[0] == entry.content_hash), None)
                if alias is not None:
                    known = seen.pop(alias)
            if known is None:
                new.append((entry, matches))
            elif known[0] != entry.content_hash:  # an edit: remembered, not alerted again
                edited += 1
            seen[entry.key] = (entry.content_hash, now)  # last seen in the feed: now
        if doc.entries:  # an empty document (a publisher's hiccup) forgets nothing
            seen = _pruned(seen, {e.key for e in doc.entries}, len(doc.entries), now)
        self.store.save_seen(feed.id, seen)
        found = [Evidence(0, m.claim, e.link, e.title, now, feed=feed.name, published=e.published, matched=m.terms,
                          words=m.words, backfill=first)
                 for e, matches in new for m in matches]
        news += (news_item(feed.name, e) for e, _ in new)
        return len(new), edited, tuple(found), first  # stored by _record and _keep_evidence


NEWS_SUMMARY = 1_000  # characters of an entry's summary kept as recent news (its title and link are bounded already)


def news_item(feed: str, entry: Entry) -> NewsItem:
    """An entry as recent news, its summary cut to NEWS_SUMMARY."""
    return NewsItem(feed, entry.link, entry.title, entry.summary[:NEWS_SUMMARY], entry.published)


def _pruned(seen: dict[str, tuple[str, datetime]], current: set[str], length: int,
            now: datetime) -> dict[str, tuple[str, datetime]]:
    """Forget entries last seen in the feed more than SEEN_DAYS ago, but keep the most recently seen ones
    up to twice the feed's length, so items rotating back in stay seen."""
    keep = max(2 * length, 1)
    newest = sorted(seen.items(), key=lambda kv: kv[1][1], reverse=True)
    horizon = now - timedelta(days=SEEN_DAYS)
    return {k: v for i, (k, v) in enumerate(newest) if k in current or i < keep or v[1] >= horizon}
