"""The smaller points of the attack review: strangers leave no trace, OPML import is linear, feed credentials
are never shown, exports emit only web addresses as URLs, a bad character reference costs one character."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from claimwatch import ledger
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.model import Feed, OutcomeValue
from claimwatch.opml import OpmlFeed
from claimwatch.store import FileStore, open_store
from conftest import NOW, UTC_TZ, run_cli
from feedserver import FeedServer, respond


def test_a_strangers_chat_is_not_recorded_in_invite_only_mode(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = open_store(data)
    store.subscribe(1, "all", NOW)  # people.json exists
    before = (data / "people.json").read_bytes()
    service = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))
    for text in ("/help", "/list", "hello"):
        incoming = Incoming(666, 666, text, f"stranger {text}")
        service.seen(incoming, NOW)
        [reply] = service.handle(incoming, NOW)
        assert "invite-only" in reply.text
    assert store.chat(666) is None and (data / "people.json").read_bytes() == before
    open_service = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "open", "bot"))
    open_service.seen(Incoming(666, 666, "/help", "stranger"), NOW)
    assert store.chat(666) is not None  # an open bot serves everyone, so it knows their chats


def test_adding_thousands_of_feeds_copies_the_feeds_table_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """OPML import was quadratic: TinyDB copies a whole table at each insert (20k feeds took over 2 minutes;
    bench/opml_bench.py times it). Counted here, not timed: how often the table is rewritten in memory."""
    store = open_store(tmp_path / "data")
    store.add_feed(Feed(0, "https://f1.example/rss", "one", NOW, "ana"))
    rewrites: list[str] = []
    original = FileStore._mark_dirty
    monkeypatch.setattr(FileStore, "_mark_dirty",
                        lambda self, name, data, **how: rewrites.append(name) or original(self, name, data, **how))
    feeds = [OpmlFeed(f"https://f{i}.example/rss", f"Feed {i}") for i in range(2_000)]
    assert ledger.add_feeds(store, feeds + feeds[:3], "ana", NOW) == (1_999, 4)
    assert rewrites == ["feeds"]
    assert len(store.feeds()) == 2_000 and store.feeds()[-1].url == "https://f1999.example/rss"


def test_a_batch_of_feeds_names_each_address_it_watches_already(data: Path | str) -> None:
    store = open_store(data)
    first = store.add_feed(Feed(0, "https://a.example/rss", "a", NOW, "ana"))
    out = store.add_feeds([Feed(0, u, u, NOW, "ana") for u in
                           ("https://b.example/rss", "https://A.example/rss", "https://b.example/rss")])
    assert [o if isinstance(o, int) else o.url for o in out] == ["https://b.example/rss", first.id, 2]


def test_feed_credentials_are_shown_nowhere(tmp_path: Path, data: Path | str) -> None:
    url = "https://reader:s3cret@a.example/rss"
    added = run_cli("feeds", "add", url, data=data)
    again = run_cli("feeds", "add", url, data=data)
    listed = run_cli("feeds", "list", data=data)
    service = ChatService(open_store(data), ChatSettings(UTC_TZ, frozenset({1}), "invite", "bot"))
    [feeds] = service.handle(Incoming(1, 1, "/feeds", "admin"), NOW)
    [twice] = service.handle(Incoming(1, 1, f"/addfeed {url}", "admin"), NOW)
    for shown in (added.stdout, again.stderr, listed.stdout, feeds.text, twice.text):
        assert "s3cret" not in shown and "reader" not in shown
    assert "https://***@a.example/rss" in listed.stdout and "watched already, as feed 1" in again.stderr
    assert open_store(data).feeds()[0].url == url  # kept, to fetch with


def test_a_claimreview_export_emits_only_web_addresses_as_urls(tmp_path: Path, data: Path | str) -> None:
    doc = tmp_path / "claims.json"
    doc.write_text(json.dumps({"version": 1, "claims": [{
        "text": "Summit held", "source": {"title": "Report", "url": "javascript:alert(1)"},
        "outcome": {"value": "true", "evidence": ["javascript:alert(2)"]}}]}))
    assert run_cli("import", str(doc), data=data).returncode == 0
    exported = run_cli("export", "--format", "claimreview", data=data)
    assert exported.returncode == 0 and "javascript:" not in exported.stdout
    [review] = json.loads(exported.stdout)
    assert review["itemReviewed"]["appearance"] == [{"@type": "CreativeWork", "headline": "Report"}]


def test_a_character_reference_to_a_surrogate_costs_that_character_not_the_feed(tmp_path: Path, data: Path | str) -> None:
    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    feed = ('<rss version="2.0"><channel><title>News</title><item><guid>1</guid>'
            '<title>Power of Siberia&#xD800; 2 talks &#55296;stall</title><link>https://n.example/1</link></item>'
            '</channel></rss>')
    with FeedServer() as server:
        server.routes["/rss"] = respond(feed.encode())
        run_cli("feeds", "add", server.url + "/rss", "Local", data=data, env=env)
        run = run_cli("watch", "--once", data=data, env=env)
    assert run.returncode == 0 and "feed 1 Local: new entries; 1 new" in run.stdout, run.stdout + run.stderr
    assert [e.title for e in open_store(data).evidence_for(2)] == ["Power of Siberia 2 talks stall"]
