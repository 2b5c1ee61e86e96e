"""Fan-out benchmark: one alert to 1,000 private chats through the fake Bot API, production rate limits.

The real bot (PTB Application, AIORateLimiter at Telegram's 30 messages a second, claimwatch's outbox
and delivery job) sends to the fake server on 127.0.0.1. Prints the throughput from the first message
to the last and its ratio to the configured overall rate (target: at least 0.9).

    python bench/fanout_bench.py [--chats 1000]
"""

from __future__ import annotations

import argparse
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
from claimwatch.telegram_bot import build_application

CONFIGURED_RATE = 30.0  # AIORateLimiter's overall limit, Telegram's documented one
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000)
    args = parser.parse_args()
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)  # a long delivery skips its next runs
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        data = Path(tmp) / "data"
        store = open_store(data)
        number = ledger.add_claim(store, ledger.NewClaim(text="Power of Siberia 2 stays stalled"), "bench", NOW).id
        for chat in range(1, args.chats + 1):
            store.subscribe(10_000 + chat, "all", NOW)
        store.add_evidence([Evidence(0, number, "https://n.example/talks", "Gazprom talks stall", NOW, feed="Wire")],
                           alert=True)
        tz = ZoneInfo("UTC")
        config = Config(data, tz, "bench", token=api.TOKEN, api_url=api.url)
        app = build_application(config, ChatService(store, ChatSettings(tz)), clock=lambda: NOW, deliver_every=0.5)
        first = last = None
        with running(app):
            deadline = time.monotonic() + args.chats / CONFIGURED_RATE * 3 + 30
            while time.monotonic() < deadline:
                sent = sum(1 for s in list(api.sent) if "Gazprom" in (s.text or ""))
                if sent and first is None:
                    first = time.perf_counter()
                if sent >= args.chats:
                    last = time.perf_counter()
                    break
                time.sleep(0.005)
        pending = len(store.outbox("pending"))
    if first is None or last is None:
        print(f"the fan-out did not finish ({pending} messages pending)")
        return 1
    rate = (args.chats - 1) / (last - first)
    ratio = rate / CONFIGURED_RATE
    print(f"{args.chats} alert messages to {args.chats} private chats in {last - first:.1f} s: {rate:.1f} messages/s")
    print(f"configured overall rate {CONFIGURED_RATE:.0f}/s; ratio {ratio:.2f} "
          f"(target >= 0.90: {'met' if ratio >= 0.9 else 'MISSED'})")
    return 0 if ratio >= 0.9 else 1


if __name__ == "__main__":
    raise SystemExit(main())
