"""Feed check schedule and health notices."""

from __future__ import annotations

from datetime import timedelta

import pytest

from claimwatch.polling import MAX_DELAY, NOTIFY_AFTER, health_notice, next_check

from conftest import NOW


@pytest.mark.parametrize("kwargs, seconds", [
    ({}, 600),
    ({"max_age": 1800}, 1800),  # the publisher asks for less
    ({"max_age": 30}, 600),  # never more often than configured
    ({"ttl_minutes": 60}, 3600),
    ({"ttl_minutes": 60 * 24 * 7}, MAX_DELAY),  # within sane bounds
    ({"failures": 1}, 600),
    ({"failures": 2}, 1200),
    ({"failures": 4}, 4800),
    ({"failures": 12}, MAX_DELAY),  # backs off up to a day, never stops
    ({"failures": 10_000}, MAX_DELAY),
    ({"failures": 1, "retry_after": 7200}, 7200),  # 429/503 Retry-After
    ({"failures": 1, "retry_after": 10 ** 9}, MAX_DELAY),
])
def test_next_check(kwargs: dict, seconds: int) -> None:
    assert next_check(NOW, 600, **kwargs) == NOW + timedelta(seconds=seconds)


def test_an_interval_below_a_minute_is_raised_to_one() -> None:
    assert next_check(NOW, 5) == NOW + timedelta(seconds=60)


def test_admins_hear_once_when_a_feed_fails_repeatedly_and_once_when_it_recovers() -> None:
    notices = [health_notice("News", n - 1, n, "timeout") for n in range(1, 8)]
    assert [n is not None for n in notices] == [i + 1 == NOTIFY_AFTER for i in range(7)]
    assert "failed 3 times in a row (timeout)" in notices[NOTIFY_AFTER - 1]
    assert health_notice("News", 7, 0, None) == "Feed News works again after 7 failed checks."
    assert health_notice("News", 1, 0, None) is None
