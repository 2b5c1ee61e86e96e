"""Bot benchmark: 200 commands through the fake Bot API server with 10k claims in the store.

Measures the time from an injected update to the bot's reply arriving at the server (median, p95),
and, as the baseline in the same run, the same commands through the chat command layer directly.
Commands are paced at 20 per second, under Telegram's 30 messages per second, so this measures
latency, not the rate limiter. Target: p95 <= 50 ms.

    python bench/bot_bench.py [--claims 10000] [--commands 200]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from store_bench import NOW, claims_document, p95

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakebot import FakeBotAPI, running  # noqa: E402  (the test suite's fake server)

from claimwatch import ledger  # noqa: E402
from claimwatch.chat import ChatService, ChatSettings, Incoming  # noqa: E402
from claimwatch.config import Config  # noqa: E402
from claimwatch.store import open_store  # noqa: E402
from claimwatch.telegram_bot import build_application  # noqa: E402
from zoneinfo import ZoneInfo  # noqa: E402

ADMIN = 1
UTC = ZoneInfo("UTC")


def commands(count: int, claims: int, rng: random.Random) -> list[str]:
    kinds = [lambda: f"/show {rng.randint(1, claims)}", lambda: "/list #energy",
             lambda: f"/forecast {rng.randint(1, claims)} {rng.randint(1, 99)}%",
             lambda: f"/history {rng.randint(1, claims)}", lambda: "/help",
             lambda: f"/list Claim {rng.randint(1, claims)}"]
    return [rng.choice(kinds)() for _ in range(count)]


def kind_of(text: str) -> str:
    """A command's kind, for the figures per kind: /list #tag and /list words apart."""
    word = text.split()[0]
    return word + (" #tag" if "#" in text else " words") if word == "/list" else word


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--commands", type=int, default=200)
    args = parser.parse_args()
    rng = random.Random(3)
    with tempfile.TemporaryDirectory() as tmp, FakeBotAPI() as api:
        store = open_store(Path(tmp) / "data")
        ledger.import_claims(store, claims_document(args.claims, rng), "bench", NOW)
        settings = ChatSettings(UTC, frozenset({ADMIN}), "invite", "claimwatch_test_bot")
        service = ChatService(store, settings)
        script = commands(args.commands, args.claims, rng)

        direct = []
        for text in script:
            t0 = time.perf_counter()
            service.handle(Incoming(ADMIN, ADMIN, text, "bench"), NOW)
            direct.append((time.perf_counter() - t0) * 1000)

        config = Config(Path(tmp) / "data", UTC, "bench", token=api.TOKEN, api_url=api.url, admins=frozenset({ADMIN}))
        round_trip = []
        cpu0 = time.process_time()
        with running(build_application(config, ChatService(store, settings), clock=lambda: NOW)):
            for text in script:
                mark = len(api.sent)
                t0 = time.perf_counter()
                api.user_message(ADMIN, text)
                while len(api.sent) <= mark:
                    time.sleep(0.0002)
                elapsed = time.perf_counter() - t0
                round_trip.append(elapsed * 1000)
                time.sleep(max(0.0, 0.05 - elapsed))  # 20 commands per second
        cpu = time.process_time() - cpu0

    print(f"{args.commands} commands, {args.claims} claims in the store")
    print(f"{'':<28} {'median ms':>10} {'p95 ms':>8}")
    print(f"{'command layer (baseline)':<28} {statistics.median(direct):10.2f} {p95(direct):8.2f}")
    print(f"{'update to reply (bot)':<28} {statistics.median(round_trip):10.2f} {p95(round_trip):8.2f}")
    kinds: dict[str, list[float]] = {}
    for text, ms in zip(script, round_trip, strict=True):
        kinds.setdefault(kind_of(text), []).append(ms)
    for kind, times in sorted(kinds.items()):
        print(f"{'  ' + kind + f' ({len(times)})':<28} {statistics.median(times):10.2f} {p95(times):8.2f}")
    print(f"CPU time of the bot's run (this process: the bot and the fake Bot API server): {cpu:.2f} s "
          f"for {len(script)} commands in {len(script) * 0.05:.0f} s or more of wall time")
    ratio = statistics.median(round_trip) / statistics.median(direct)
    met = p95(round_trip) <= 50
    print(f"\nbot round trip / command layer: {ratio:.1f}x (median); p95 target <= 50 ms: {'met' if met else 'not met'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
