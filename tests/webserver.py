"""The web view served by a real uvicorn on a free port of 127.0.0.1, in a thread, for tests; and a team to serve."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn

from claimwatch import ledger
from claimwatch.chat import ChatSettings
from claimwatch.model import CONSOLE_CHAT, Evidence, Feed, Role
from claimwatch.store import Store, open_store
from claimwatch.web import listen_socket, make_app
from conftest import NOW

ANALYST, SUBSCRIBER, ADMIN, STRANGER = 11, 12, 13, 14  # Telegram user ids; the console's user (0) is an admin too
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


@dataclass
class Clock:
    """A fixed clock a test moves on by hand."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@contextmanager
def running_web(store: Store, clock: Clock, public_url: str = "") -> Iterator[str]:
    """Serve the web view of `store` until the block ends; its base URL."""
    settings = ChatSettings(ZoneInfo("UTC"), frozenset({ADMIN, CONSOLE_CHAT}), "invite", public_url=public_url)
    sock = listen_socket("127.0.0.1:0")
    server = uvicorn.Server(uvicorn.Config(make_app(store, settings, clock), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the web server did not start"
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def signed_in(store: Store, base: str, clock: Clock, user_id: int, name: str) -> httpx.Client:
    """A browser-like client signed in as `user_id` through a one-time link."""
    client = httpx.Client(base_url=base, follow_redirects=False, timeout=30)
    link = ledger.sign_in_link(store, base, user_id, name, clock())
    token = link.split("token=", 1)[1]
    assert client.get(link).status_code == 200
    assert client.post("/signin", data={"token": token}).status_code == 303
    return client


def csrf(client: httpx.Client, page: str) -> str:
    """The CSRF token in a page's forms."""
    text = client.get(page).text
    marker = 'name="csrf" value="'
    return text[text.index(marker) + len(marker):].split('"', 1)[0]


def team(store: Store, now: datetime) -> None:
    """The example claims, people with each role, forecasts over time, an outcome, evidence, a feed, and a claim
    whose every field is hostile HTML."""
    ledger.load_examples(store, now - timedelta(days=30))
    store.set_role(ANALYST, Role.ANALYST, "ann", "test", now)
    store.set_role(SUBSCRIBER, Role.SUBSCRIBER, "sue", "test", now)
    for days, (p_ann, p_bo) in enumerate(((0.3, 0.6), (0.5, 0.7), (0.8, 0.65))):
        at = now - timedelta(days=20 - days * 5)
        ledger.add_forecast(store, 1, p_ann, "ann", at, who=f"tg:{ANALYST}")
        ledger.add_forecast(store, 1, p_bo, "bo", at + timedelta(hours=1))
    store.add_evidence([Evidence(0, 1, "https://news.example/summit", "Summit talks go on", now - timedelta(days=3),
                                 feed="Wire", matched=("Minsk",), words=("Минске",)),
                        Evidence(0, 1, "https://news.example/later", "Later news", now - timedelta(days=1),
                                 feed="Wire", matched=("summit",))])
    ledger.add_forecast(store, 2, 0.9, "bo", now - timedelta(days=10))
    ledger.resolve(store, 2, ledger.parse_outcome("true"), "bo", now - timedelta(days=2))
    hostile = ledger.add_claim(store, ledger.NewClaim(
        text=HOSTILE, tags=("x",), watch=('"<b>bold</b>"',)), HOSTILE[:40], now)
    ledger.add_forecast(store, hostile.id, 0.5, "evil<b>", now, note=HOSTILE)
    store.add_feed(Feed(0, "https://user:secret@feeds.example/rss", "Wire <feed>", now, "test"))


# Fixtures of both web test modules (each imports them): a store holding the team, its server, the clock.

@pytest.fixture
def store(data: Path | str) -> Store:  # `data`: conftest's, a data directory or a PostgreSQL database
    store = open_store(data)
    team(store, NOW)
    return store


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def base(store: Store, clock: Clock) -> Iterator[str]:
    with running_web(store, clock) as url:
        yield url
