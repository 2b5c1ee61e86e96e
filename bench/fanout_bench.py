"""Fan-out benchmark: one alert to 1,000 private chats through the fake Bot API, production rate limits.

The real bot (PTB Application, AIORateLimiter at Telegram's 30 messages a second, claimwatch's outbox
and delivery job) sends to the fake server on 127.0.0.1. Prints the throughput from the first message
to the last and its ratio to the configured overall rate (target: at least 0.9).

With --open the limiter is opened, so what is measured is claimwatch's own cost per send (the outbox,
kept in files by chat): messages/s at each of --chats (default 1,000, 10,000 and 50,000; target at
least 300/s at 50,000, so that Telegram's 30/s is never the store's fault), and the ratio of the
largest to the smallest (about 1 or more when a send's cost does not grow with the backlog: sends
recorded together share an outbox file more often in a large backlog, so it can be well above 1). Beside each, the
floor measured just before it in the same process: the same bot sending as many messages (at most
10,000) straight to the same fake Bot API server, IN_FLIGHT at a time, with no outbox: what the Bot API
client and the fake server cost, which the outbox cannot beat.

    python bench/fanout_bench.py [--chats 1000]
    python bench/fanout_bench.py --open [--chats 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakebot import FakeBotAPI, running

from claimwatch import ledger
from claimwatch.chat import ChatService, ChatSettings
from claimwatch.config import Config
from claimwatch.model import Evidence
from claimwatch.store import open_store
from claimwatch.telegram_bot import IN_FLIGHT, build_application

CONFIGURED_RATE = 30.0  # AIORateLimiter's overall limit, Telegram's documented one
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def fan_out(chats: int, overall_rate: float) -> tuple[float, int] | None:
    """(messages/s from the first message to the last, chats) of one alert to `chats` private chats; None
    when it did not finish."""
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        data = Path(tmp) / "data"
        store = open_store(data)
        number = ledger.add_claim(store, ledger.NewClaim(text="Power of Siberia 2 stays stalled"), "bench", NOW).id
        with store.transaction():  # one write for all the subscriptions (subscribe() checks each against all)
            store._people("subscriptions").insert_multiple(
                {"chat": 10_000 + chat, "target": "all", "since": NOW.isoformat(), "kinds": ["evidence"]}
                for chat in range(1, chats + 1))
        store.add_evidence([Evidence(0, number, "https://n.example/talks", "Gazprom talks stall", NOW, feed="Wire")],
                           alert=True)
        tz = ZoneInfo("UTC")
        config = Config(data, tz, "bench", token=api.TOKEN, api_url=api.url)
        app = build_application(config, ChatService(store, ChatSettings(tz)), clock=lambda: NOW, deliver_every=0.5,
                                overall_rate=overall_rate)
        first = last = None
        seen = sent = 0
        with running(app):
            deadline = time.monotonic() + chats / (overall_rate or CONFIGURED_RATE) * 3 + 60
            while time.monotonic() < deadline:
                now_sent = api.sent[seen:]
                seen += len(now_sent)
                sent += sum(1 for s in now_sent if "Gazprom" in (s.text or ""))
                if sent and first is None:
                    first = time.perf_counter()
                if sent >= chats:
                    last = time.perf_counter()
                    break
                time.sleep(0.005)
        pending = len(store.outbox("pending"))
    if first is None or last is None:
        print(f"the fan-out to {chats} chats did not finish ({pending} messages pending)")
        return None
    return (chats - 1) / (last - first), chats


FLOOR_MESSAGES = 10_000  # the floor does not depend on the backlog: at most this many are sent to measure it


def floor(messages: int) -> float:
    """Messages/s of the bot sending `messages` alert-sized messages straight to the fake Bot API (limiter open,
    IN_FLIGHT at a time, no outbox, no store)."""
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        data = Path(tmp) / "data"
        tz = ZoneInfo("UTC")
        config = Config(data, tz, "bench", token=api.TOKEN, api_url=api.url)
        bot = build_application(config, ChatService(open_store(data), ChatSettings(tz)), clock=lambda: NOW,
                                overall_rate=0).bot
        text = "<b>#1</b> Power of Siberia 2 stays stalled\nNew evidence: Gazprom talks stall (Wire, 2026-03-02)"

        async def send_all() -> float:
            async with bot:
                gate = asyncio.Semaphore(IN_FLIGHT)

                async def one(chat: int) -> None:
                    async with gate:
                        await bot.send_message(chat, text, parse_mode="HTML")
                start = time.perf_counter()
                await asyncio.gather(*(one(10_000 + chat) for chat in range(messages)))
                return messages / (time.perf_counter() - start)
        return asyncio.run(send_all())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, nargs="+")
    parser.add_argument("--open", action="store_true", help="open the rate limiter: measure claimwatch's own cost")
    args = parser.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)  # a long delivery skips its next runs
    if args.open:
        rates = []
        for chats in args.chats or [1_000, 10_000, 50_000]:
            bare = floor(min(chats, FLOOR_MESSAGES))
            measured = fan_out(chats, 0)
            if measured is None:
                return 1
            rates.append(measured[0])
            print(f"limiter open: {chats} alert messages to {chats} private chats: {measured[0]:.0f} messages/s; "
                  f"floor (the same bot straight to the fake Bot API, no outbox): {bare:.0f}/s, so the delivery "
                  f"beyond the Bot API call (outbox reads and writes, scheduling) takes "
                  f"{max(0.0, 1 - measured[0] / bare):.0%} of the time")
        met = rates[-1] >= 300
        print(f"ratio largest/smallest: {rates[-1] / rates[0]:.2f} (about 1 or more: a send's cost does not grow "
              f"with the backlog); target >= 300/s at the largest: {'met' if met else 'not met'} ({rates[-1]:.0f}/s)")
        return 0 if met else 1
    chats = (args.chats or [1000])[0]
    measured = fan_out(chats, CONFIGURED_RATE)
    if measured is None:
        return 1
    rate = measured[0]
    ratio = rate / CONFIGURED_RATE
    print(f"{chats} alert messages to {chats} private chats: {rate:.1f} messages/s")
    print(f"configured overall rate {CONFIGURED_RATE:.0f}/s; ratio {ratio:.2f} "
          f"(target >= 0.90: {'met' if ratio >= 0.9 else 'not met'})")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
