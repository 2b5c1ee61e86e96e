"""When to check a feed next, and when to tell admins about it. Pure.

A healthy feed is checked every `interval` seconds (CLAIMWATCH_POLL_SECONDS), less often when the
publisher asks to (Cache-Control max-age, RSS <ttl>, Retry-After), never more than once a minute and
at least once a day. A failing feed backs off exponentially, up to a day, but is never dropped.
"""

from __future__ import annotations

from datetime import datetime, timedelta

DEFAULT_INTERVAL = 600
MIN_DELAY = 60
MAX_DELAY = 86_400
NOTIFY_AFTER = 3  # consecutive failures before admins are told


def next_check(now: datetime, interval: int, *, failures: int = 0, retry_after: float | None = None,
               max_age: int | None = None, ttl_minutes: int | None = None) -> datetime:
    """The time of the next check after one that ended in `failures` consecutive failures (0: success)."""
    if failures:
        delay = interval * 2 ** min(failures - 1, 20)
    else:
        delay = max(interval, max_age or 0, (ttl_minutes or 0) * 60)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return now + timedelta(seconds=min(max(delay, MIN_DELAY), MAX_DELAY))


def health_notice(name: str, failures_before: int, failures: int, error: str | None) -> str | None:
    """What to tell admins after a check, if anything: once when a feed starts failing repeatedly,
    once when it recovers."""
    if failures == NOTIFY_AFTER:
        return f"Feed {name} has failed {failures} times in a row ({error}); it keeps being retried, less often."
    if failures == 0 and failures_before >= NOTIFY_AFTER:
        return f"Feed {name} works again after {failures_before} failed checks."
    return None
