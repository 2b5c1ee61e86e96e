"""Running the watcher without Telegram: one cycle, or on a schedule (the only module that imports
APScheduler directly; with the bot, PTB's JobQueue wraps the same scheduler)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from claimwatch import delivery
from claimwatch.config import Config
from claimwatch.fetch import Fetcher
from claimwatch.model import CONSOLE_CHAT
from claimwatch.render import count, evidence_line, html_to_plain
from claimwatch.store import Store
from claimwatch.watcher import FeedReport, Watcher

TICK_SECONDS = 60  # how often due feeds are looked for; each feed keeps its own schedule
DELIVER_SECONDS = 10  # how often the console's alerts, reminders and digests are printed


def _report(reports: list[FeedReport], config: Config, say: Callable[[str], None], *, every_line: bool,
            shown_elsewhere: Callable[[int], bool] = lambda claim: False) -> None:
    """What a cycle found; `shown_elsewhere(claim)`: that claim's new evidence is printed by the console's
    own delivery (it follows the claim), so it is not printed twice."""
    for report in reports:
        if every_line:
            say(report.line())
        if report.notice:
            say(f"notice: {report.notice}")
        if not report.first_poll:
            for item in report.evidence:
                if not shown_elsewhere(item.claim):
                    say(f"alert: claim #{item.claim}: {evidence_line(item, config.tz)}")


async def _cycle(watcher: Watcher, clock: Callable[[], datetime], every_feed: bool) -> list[FeedReport]:
    return await watcher.cycle(clock(), every_feed=every_feed)


def watch_once(store: Store, config: Config, clock: Callable[[], datetime], say: Callable[[str], None]) -> int:
    """One cycle over every enabled feed; a line per feed, then the alerts. Exit code 1 when every feed
    failed (nothing could be checked: no network, say), else 0: one failing feed among many is routine."""
    async def run() -> list[FeedReport]:
        fetcher = Fetcher(allow_private=config.allow_private_feeds)
        try:
            return await _cycle(Watcher(store, fetcher, config.poll_seconds), clock, True)
        finally:
            await fetcher.aclose()

    reports = asyncio.run(run())
    if not reports:
        say("no feeds to watch: add one with `claimwatch feeds add URL`")
    _report(reports, config, say, every_line=True)
    return 1 if reports and all(r.outcome == "failed" for r in reports) else 0  # nothing could be checked


def console_delivery(store: Store, config: Config, clock: Callable[[], datetime], say: Callable[[str], None]) -> int:
    """The console notifier: fan out alerts and queue reminders and digests (for every chat), then print the
    messages for the console's own chat (what `claimwatch console` subscribed to); Telegram chats' messages
    stay in the outbox for the bot. How many were printed."""
    delivery.prepare(store, clock(), config.tz, config.remind_at)
    printed = 0
    while batch := delivery.next_batch(store, clock(), console=True):
        say(html_to_plain(batch[0].text) + "\n")  # a blank line after each message, as between chat messages
        delivery.sent(store, batch[0])
        printed += 1
    return printed


def watch_forever(store: Store, config: Config, clock: Callable[[], datetime], say: Callable[[str], None]) -> int:
    """Check due feeds every minute until interrupted, printing alerts and notices."""
    async def run() -> None:
        fetcher = Fetcher(allow_private=config.allow_private_feeds)
        watcher = Watcher(store, fetcher, config.poll_seconds)
        stop = asyncio.Event()

        async def tick() -> None:
            with contextlib.suppress(asyncio.CancelledError):  # Ctrl-C during a cycle: stop quietly
                reports = await _cycle(watcher, clock, False)
                await asyncio.to_thread(lambda: _report(  # it reads the store: off the event loop
                    reports, config, say, every_line=False,
                    shown_elsewhere=delivery.hears(store, CONSOLE_CHAT, "evidence")))

        async def deliver() -> None:
            with contextlib.suppress(asyncio.CancelledError):  # Ctrl-C while printing: stop quietly
                await asyncio.to_thread(console_delivery, store, config, clock, say)

        scheduler = AsyncIOScheduler(timezone=config.tz)
        scheduler.add_job(tick, "interval", seconds=TICK_SECONDS, id="watch-tick", name="watch-tick",
                          next_run_time=clock(), max_instances=1, coalesce=True)
        scheduler.add_job(deliver, "interval", seconds=DELIVER_SECONDS, id="deliver", name="deliver",
                          next_run_time=clock(), max_instances=1, coalesce=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheduler.start()
        say(f"watching {count(len(store.feeds()), 'feed')} for news on open claims; Ctrl-C stops")
        try:
            await stop.wait()
        finally:
            scheduler.shutdown(wait=False)
            await fetcher.aclose()

    asyncio.run(run())
    return 0
