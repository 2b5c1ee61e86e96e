"""Several bot processes on one store (webhook mode, behind a load balancer): one of them sends, and when it is
killed another takes over; every subscriber gets every alert, repeats stay within the in-flight bound, and
Telegram's overall rate is kept (on each kind of store)."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

from claimwatch.telegram_bot import IN_FLIGHT

from fakebot import FakeBotAPI
from test_bot import stop_bot
from test_bot_modes import free_port, start_webhook_bot
from test_delivery_bot import FIRST_CHAT, received, wait_until, world

SUBSCRIBERS = 600  # 20 s of fan-out at RATE: the second bot starts, and the first is killed, well within it
RATE = 30  # Telegram's overall limit, messages a second (build_application's overall_rate)


def drained(proc) -> list[str]:
    """Keep reading a bot's output so that it never blocks on a full pipe; the lines read."""
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    return lines


def test_two_senders_and_a_killed_one_deliver_every_alert_within_the_bound_and_the_rate(data: Path | str) -> None:
    world(data, SUBSCRIBERS)
    with FakeBotAPI() as api:
        first, _ = start_webhook_bot(api, data, free_port(), "s3cret")
        drained(first)
        wait_until(lambda: len(received(api)) >= 20)  # the first is the sender
        second, _ = start_webhook_bot(api, data, free_port(), "s3cret")
        drained(second)
        time.sleep(3)  # a few delivery runs of the second: it holds no role, so sends nothing meanwhile
        assert len(received(api)) < SUBSCRIBERS, "the fan-out ended before the takeover"
        api.pause_sends()
        wait_until(lambda: api.sends_waiting > 0)
        first.send_signal(signal.SIGKILL)  # with messages in flight
        first.wait(timeout=30)
        api.resume_sends()
        wait_until(lambda: len(received(api)) == SUBSCRIBERS)
        stop_bot(second, api)
    counts = received(api)
    assert set(counts) == set(range(FIRST_CHAT, FIRST_CHAT + SUBSCRIBERS))
    assert sum(n - 1 for n in counts.values()) <= IN_FLIGHT  # repeats: only what was in flight at the kill
    sends = sorted(api.send_times)
    # One rate limiter at a time: a burst of RATE, then RATE a second (a second one at takeover); two senders
    # at once would send about twice as fast.
    assert len(sends) <= RATE * 1.1 * (sends[-1] - sends[0]) + 2 * RATE
