"""Regression tests for defects found in review, each named for what it pins."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from claimwatch import interchange, ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.errors import InputError
from claimwatch.feedparse import parse_feed
from claimwatch.fetch import Fetcher, max_age_seconds, retry_after_seconds
from claimwatch.model import Evidence, Feed, OutcomeValue, Role
from claimwatch.parsing import parse_date
from claimwatch.store import FileStore, MemoryBackend, Store

from conftest import NOW, ROOT, UTC_TZ
from fakebot import FakeBotAPI
from feedserver import FeedServer, respond


def test_reimporting_an_export_keeps_claims_with_the_same_text_apart(store: Store, tmp_path: Path) -> None:
    first = ledger.add_claim(store, ledger.NewClaim(text="Talks stall"), "ana", NOW)
    second = ledger.add_claim(store, ledger.NewClaim(text="Talks stall"), "ana", NOW)
    ledger.add_forecast(store, first.id, 0.8, "ana", NOW)
    ledger.resolve(store, first.id, OutcomeValue.TRUE, "ana", NOW + timedelta(days=1))
    exported = "".join(interchange.json_chunks(store.find_claims(), NOW))
    before = store.find_claims()
    result = ledger.import_claims(store, __import__("json").loads(exported), "ana", NOW)
    assert (len(result.added), len(result.updated), result.unchanged) == (0, 0, 2)
    assert store.find_claims() == before and store.get_claim(second.id).forecasts == ()


def test_large_imported_numbers_do_not_break_numbering(store: Store) -> None:
    doc = {"version": 1, "claims": [{"text": "far", "number": 5_000_001}, {"text": "near", "number": 4_999_999}]}
    ledger.import_claims(store, doc, "ana", NOW)
    assert [ledger.add_claim(store, ledger.NewClaim(text=t), "ana", NOW).id for t in "ab"] == [5_000_002, 5_000_003]
    assert interchange.problems({"version": 1, "claims": [{"text": "x", "number": 10 ** 12}]})
    with pytest.raises(InputError, match="not a claim number"):
        ledger.parse_claim_number("1" + "0" * 300)


def test_records_are_written_before_what_marks_them_done() -> None:
    backend = MemoryBackend()
    store = FileStore(backend)
    ledger.add_claim(store, ledger.NewClaim(text="x"), "ana", NOW)
    writes: list[str] = []
    original = backend.commit
    backend.commit = lambda files: writes.extend(files) or original(files)  # type: ignore[method-assign]
    with store.transaction():
        store.save_seen(1, {"k": ("h", NOW)})
        store.save_feed(Feed(1, "https://n.example/rss", "n", NOW, "ana"))
        store.add_evidence([Evidence(0, 1, "https://n.example/1", "t", NOW)], alert=True)
    assert writes == ["evidence-0000", "feeds", "seen"]


def test_awkward_chat_input_gets_an_answer_not_an_exception(store: Store) -> None:
    ledger.add_claim(store, ledger.NewClaim(text="x"), "ana", NOW)
    service = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))

    def say(text: str) -> str:
        return "\n".join(r.text for r in service.handle(Incoming(1, 1, text, "admin"), NOW))

    long_tag = "#энергетическаябезопасностьмира"  # 30 letters, 60 bytes in UTF-8
    assert "Subscribed" in say(f"/subscribe {long_tag}")
    assert "This chat follows" in say("/subscriptions")  # its button would not fit Telegram's 64 bytes
    assert "give a Telegram user id" in say("/grant --5 analyst")
    assert "give the Telegram user id" in say("/revoke --5")
    assert "analyst or subscriber" in say("/invite admin")
    assert "Claim" in say("/list\nall")  # a newline after the command is white space
    store.set_role(7, Role.ANALYST, "ana", "t", NOW)
    ledger.edit_claim(store, 1, "tags", "Straße", "ana", NOW, UTC_TZ)
    assert "#strasse" in say("/list #Straße")  # tags are compared case-folded


def test_dates_that_would_be_guesses_are_errors() -> None:
    assert parse_date("end of year 2026", NOW, UTC_TZ).isoformat() == "2026-12-31"
    for phrase in ("year 2026", "2026 year"):
        with pytest.raises(InputError):
            parse_date(phrase, NOW, UTC_TZ)


def test_odd_feed_headers_and_dates_are_handled() -> None:
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 -0000", NOW) == 0
    assert max_age_seconds("max-age=" + "9" * 5000) is None
    body = ('<feed xmlns="http://www.w3.org/2005/Atom"><entry><id>1</id><title>t</title>'
            '<updated>9999-12-31T23:59:59-14:00</updated></entry></feed>').encode()
    assert parse_feed("f", body, {}, NOW).entries[0].published == NOW
    ttl = f"<rss><channel><ttl>{'9' * 5000}</ttl></channel></rss>".encode()
    assert parse_feed("f", ttl, {}, NOW).ttl_minutes is None

    async def fetch(url: str) -> str | None:
        fetcher = Fetcher(allow_private=True)
        try:
            return (await fetcher.fetch(url, NOW)).error
        finally:
            await fetcher.aclose()
    assert "not a usable address" in asyncio.run(fetch("http://127.0.0.1:99999/feed"))
    with FeedServer() as server:
        server.routes["/busy"] = respond(status=503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 -0000"})
        assert asyncio.run(fetch(server.url + "/busy")) == "HTTP 503 Service Unavailable"


def test_a_rejected_token_is_not_printed(data: Path | str) -> None:
    with FakeBotAPI() as api:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CLAIMWATCH_", "TELEGRAM_"))}
        env |= {"TELEGRAM_BOT_TOKEN": "999:SECRET-WRONG", "TELEGRAM_API_URL": api.url,
                "CLAIMWATCH_DATA": str(data)}
        result = subprocess.run([sys.executable, str(ROOT / "bot.py")], env=env, capture_output=True, text=True,
                                timeout=60)
    assert result.returncode == 1
    assert "SECRET-WRONG" not in result.stderr + result.stdout
    assert "Telegram rejected the bot token: check TELEGRAM_BOT_TOKEN" in result.stderr  # one line, naming what to check
