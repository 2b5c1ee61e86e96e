"""The watch cycle against a real HTTP server on 127.0.0.1 serving fixture feeds."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web

from claimwatch import ledger
from claimwatch.fetch import Fetcher
from claimwatch.model import Feed
from claimwatch.store import Store, open_store
from claimwatch.watcher import FeedReport, Watcher

from conftest import NOW
from feedserver import FeedServer, respond


def rss(*items: tuple[str, str, str]) -> str:
    """(guid, title, description) items."""
    body = "".join(f"<item><guid>{g}</guid><title>{t}</title><link>https://n.example/{g}</link>"
                   f"<description>{d}</description><pubDate>Mon, 02 Mar 2026 08:00:00 GMT</pubDate></item>"
                   for g, t, d in items)
    return f"<rss version=\"2.0\"><channel><title>Fixture</title>{body}</channel></rss>"


EN = rss(("e1", "Power of Siberia 2 gas talks stall", "&lt;p&gt;No deal on &lt;b&gt;price&lt;/b&gt;&lt;/p&gt;"),
         ("e2", "Weather", "Sunny"))
RU = rss(("r1", "Сила Сибири 2: переговоры о газе", "Цена не согласована, gas"))
ZH = rss(("z1", "西伯利亚力量2号天然气管道谈判", "gas 价格"))


@pytest.fixture
def world(data: Path | str) -> Iterator[tuple[FeedServer, Store]]:
    store = open_store(data)
    ledger.add_claim(store, ledger.NewClaim(text="PoS2 stays stalled",
                                            watch=("Power of Siberia 2", "Сила Сибири 2", "西伯利亚力量2号", "+gas")),
                     "ana", NOW)
    ledger.add_claim(store, ledger.NewClaim(text="Unrelated", watch=("Arctic shipping",)), "ana", NOW)
    with FeedServer() as server:
        server.routes["/en"] = respond(EN.encode())
        server.routes["/ru"] = respond(RU.encode("windows-1251"), headers={"Content-Type": "application/rss+xml; charset=windows-1251"})
        server.routes["/zh"] = respond(ZH.encode("gb2312"), headers={"Content-Type": "text/xml; charset=gb2312"})
        for name in ("en", "ru", "zh"):
            store.add_feed(Feed(0, f"{server.url}/{name}", name, NOW, "ana"))
        yield server, store


def cycle(store: Store, at, **kwargs) -> list[FeedReport]:
    async def run() -> list[FeedReport]:
        fetcher = Fetcher(allow_private=True, total_timeout=10)
        try:
            return await Watcher(store, fetcher, interval=600).cycle(at, **kwargs)
        finally:
            await fetcher.aclose()
    return asyncio.run(run())


def test_first_poll_keeps_matches_as_backfill_without_alerts_in_three_languages(world) -> None:
    server, store = world
    reports = cycle(store, NOW)
    assert [(r.feed.name, r.outcome, r.new, len(r.evidence), r.first_poll) for r in reports] == [
        ("en", "new entries", 2, 1, True), ("ru", "new entries", 1, 1, True), ("zh", "new entries", 1, 1, True)]
    evidence = store.evidence_for(1)
    assert sorted(e.matched for e in evidence) == [("Power of Siberia 2", "gas"), ("Сила Сибири 2", "gas"),
                                                   ("西伯利亚力量2号", "gas")]
    assert store.alerts(1) == []  # the first poll alerts nothing
    assert all(r.feed.next_check == NOW + timedelta(seconds=600) for r in reports)


def test_new_items_alert_once_across_restarts_and_edits_do_not_alert(world, data: Path | str) -> None:
    server, store = world
    cycle(store, NOW)
    server.routes["/en"] = respond(rss(("e1", "Power of Siberia 2 gas talks stall (updated)", "edited"),
                                       ("e3", "Power of Siberia 2 gas deal signed", "new")).encode())
    later = NOW + timedelta(hours=1)
    report = {r.feed.name: r for r in cycle(store, later)}["en"]
    assert (report.new, report.edited, len(report.evidence), report.first_poll) == (1, 1, 1, False)
    assert [a["evidence"] for a in store.alerts(1)] == [report.evidence[0].id]

    restarted = open_store(data)  # a new process, the same data
    again = {r.feed.name: r for r in cycle(restarted, later + timedelta(hours=1))}
    assert all(r.new == 0 and r.evidence == () for r in again.values())
    assert len(restarted.alerts(1)) == 1


def test_faults_are_recorded_while_other_feeds_go_on(world) -> None:
    server, store = world
    server.routes["/en"] = respond(status=500)
    server.routes["/ru"] = respond(b"<rss><channel><item><title>broken & bad", headers={"Content-Type": "text/xml"})
    server.routes["/zh"] = respond(status=410)
    store.add_feed(Feed(0, f"{server.url}/moved", "moved", NOW, "ana"))
    server.routes["/moved"] = respond(status=301, headers={"Location": "/new-home"})
    server.routes["/new-home"] = respond(EN.encode())
    reports = {r.feed.name: r for r in cycle(store, NOW)}
    assert (reports["en"].outcome, reports["en"].feed.error, reports["en"].feed.failures) == (
        "failed", "HTTP 500 Internal Server Error", 1)
    assert reports["en"].feed.next_check == NOW + timedelta(seconds=600)
    assert reports["ru"].outcome in ("new entries", "nothing new")  # bozo, yet usable
    assert (reports["zh"].outcome, reports["zh"].feed.enabled) == ("disabled", False)
    assert "410" in reports["zh"].notice
    assert reports["moved"].feed.url == f"{server.url}/new-home" and reports["moved"].new == 2

    for hours in (1, 2):  # failing again backs off; admins hear on the third failure
        reports = {r.feed.name: r for r in cycle(store, NOW + timedelta(hours=hours), every_feed=True)}
    assert reports["en"].feed.failures == 3 and "failed 3 times in a row" in reports["en"].notice
    assert reports["en"].feed.next_check == NOW + timedelta(hours=2, seconds=2400)
    assert "zh" not in reports  # a disabled feed is not fetched
    server.routes["/en"] = respond(EN.encode())
    recovered = {r.feed.name: r for r in cycle(store, NOW + timedelta(hours=3), every_feed=True)}["en"]
    assert recovered.feed.failures == 0 and "works again" in recovered.notice


def test_etag_gives_not_modified(world) -> None:
    server, store = world
    server.routes["/en"] = lambda request: web.Response(status=304) if request.headers.get(
        "If-None-Match") == '"v1"' else web.Response(body=EN.encode(), headers={"ETag": '"v1"'})
    cycle(store, NOW)
    second = {r.feed.name: r for r in cycle(store, NOW + timedelta(hours=1))}["en"]
    assert second.outcome == "not modified" and second.feed.etag == '"v1"'


def test_the_feeds_ttl_holds_after_a_not_modified(world) -> None:
    server, store = world
    document = rss(("e1", "Weather", "Sunny")).replace("<title>Fixture</title>", "<title>Fixture</title><ttl>120</ttl>")
    server.routes["/en"] = lambda request: web.Response(status=304) if request.headers.get(
        "If-None-Match") == '"v1"' else web.Response(body=document.encode(), headers={"ETag": '"v1"'})
    later = NOW + timedelta(hours=3)
    assert {r.feed.name: r.feed.next_check for r in cycle(store, NOW)}["en"] == NOW + timedelta(minutes=120)
    second = {r.feed.name: r for r in cycle(store, later, every_feed=True)}["en"]
    assert second.outcome == "not modified" and second.feed.next_check == later + timedelta(minutes=120)


def test_a_feed_removed_while_it_is_fetched_stays_removed(world) -> None:
    server, store = world
    [en] = [f for f in store.feeds() if f.name == "en"]

    def removed_meanwhile(request: web.Request) -> web.Response:  # as /removefeed would, from the bot
        store.remove_feed(en.id)
        return web.Response(body=EN.encode())
    server.routes["/en"] = removed_meanwhile
    reports = {r.feed.name: r.outcome for r in cycle(store, NOW)}
    assert reports["en"] == "removed" and "en" not in {f.name for f in store.feeds()}
    assert store.seen(en.id) == {} and reports["ru"] == "new entries"


def test_a_new_feed_given_the_number_of_one_removed_meanwhile_gets_nothing_of_it(world, data: Path | str) -> None:
    server, store = world
    [zh] = [f for f in store.feeds() if f.name == "zh"]

    def replaced_meanwhile(request: web.Request) -> web.Response:  # by another process on the same data
        other = open_store(data)
        other.remove_feed(zh.id)
        assert other.add_feed(Feed(0, f"{server.url}/later", "later", NOW, "ana")).id == zh.id  # the number again
        return web.Response(body=ZH.encode("gb2312"), headers={"Content-Type": "text/xml; charset=gb2312"})
    server.routes["/zh"] = replaced_meanwhile
    reports = {r.feed.name: r.outcome for r in cycle(store, NOW)}
    assert reports["zh"] == "removed"
    later = store.feed(zh.id)
    assert (later.name, later.last_success, store.seen(zh.id)) == ("later", None, {})


def test_items_that_were_in_the_feed_for_long_stay_seen_through_an_empty_poll(world) -> None:
    server, store = world
    items = [(f"old{i}", f"Power of Siberia 2 gas item {i}", "text") for i in range(5)]
    server.routes["/en"] = respond(rss(*items).encode())
    cycle(store, NOW)  # first seen
    cycle(store, NOW + timedelta(days=39), every_feed=True)  # still in the feed 39 days later
    server.routes["/en"] = respond(rss().encode(), headers={"Content-Type": "application/rss+xml"})  # a hiccup: empty
    cycle(store, NOW + timedelta(days=40), every_feed=True)
    server.routes["/en"] = respond(rss(*items).encode())
    back = {r.feed.name: r for r in cycle(store, NOW + timedelta(days=41), every_feed=True)}["en"]
    assert (back.outcome, back.new, back.evidence) == ("nothing new", 0, ())


def test_items_that_left_the_feed_are_remembered_for_30_days_after_they_left(world) -> None:
    server, store = world
    old = ("old", "Power of Siberia 2 gas old item", "text")
    fillers = [(f"n{i}", f"filler {i}", "text") for i in range(3)]
    server.routes["/en"] = respond(rss(old, *fillers[:1]).encode())
    cycle(store, NOW)
    cycle(store, NOW + timedelta(days=25), every_feed=True)  # still there
    server.routes["/en"] = respond(rss(*fillers).encode())  # it left; 2x the length keeps 6 entries anyway
    cycle(store, NOW + timedelta(days=26), every_feed=True)
    server.routes["/en"] = respond(rss(*fillers[:1]).encode())  # 2x the length is now 2: only the 30 days hold it
    cycle(store, NOW + timedelta(days=40), every_feed=True)
    server.routes["/en"] = respond(rss(old, *fillers[:1]).encode())  # back in, 15 days after it left
    back = {r.feed.name: r for r in cycle(store, NOW + timedelta(days=41), every_feed=True)}["en"]
    assert back.new == 0


def test_an_entry_stays_seen_when_another_comes_with_the_same_guid(world) -> None:
    server, store = world
    def item(n: int) -> str:
        return (f"<item><guid>https://site.example/</guid><title>Power of Siberia 2 gas story {n}</title>"
                f"<link>https://site.example/{n}</link></item>")
    def feed(*numbers: int) -> bytes:
        return f"<rss version=\"2.0\"><channel><title>x</title>{''.join(item(n) for n in numbers)}</channel></rss>".encode()
    server.routes["/en"] = respond(feed(1))
    cycle(store, NOW)
    server.routes["/en"] = respond(feed(2, 1))  # the CMS gives its second story the same guid
    report = {r.feed.name: r for r in cycle(store, NOW + timedelta(hours=1), every_feed=True)}["en"]
    assert (report.new, [e.title for e in report.evidence]) == (1, ["Power of Siberia 2 gas story 2"])
    server.routes["/en"] = respond(feed(3, 2, 1))
    report = {r.feed.name: r for r in cycle(store, NOW + timedelta(hours=2), every_feed=True)}["en"]
    assert (report.new, [e.title for e in report.evidence]) == (1, ["Power of Siberia 2 gas story 3"])


def test_a_permanent_move_to_a_disabled_feeds_address_revives_the_address(world) -> None:
    server, store = world
    server.routes["/zh"] = respond(status=410)
    cycle(store, NOW)  # zh is gone and disabled
    [zh] = [f for f in store.feeds() if f.name == "zh"]
    assert not zh.enabled
    server.routes["/en"] = respond(status=301, headers={"Location": "/zh"})  # en moved to zh's old address
    server.routes["/zh"] = respond(ZH.encode("gb2312"), headers={"Content-Type": "text/xml; charset=gb2312"})
    cycle(store, NOW + timedelta(hours=1), every_feed=True)
    feeds = {f.name: f for f in store.feeds()}
    assert "zh" not in feeds and feeds["en"].url == f"{server.url}/zh" and feeds["en"].enabled


def test_feeds_recorded_as_they_arrive_are_reported_in_their_order_each_with_its_own_findings(world) -> None:
    """Documents are matched and stored while others are still on the way, in batches as they arrive;
    the reports still come in the order of the feeds, and each feed keeps what it alone found."""
    server, store = world
    for n in range(24):
        server.routes[f"/many{n}"] = respond(rss((f"m{n}", f"Power of Siberia 2 gas report {n}", "text")).encode())
        store.add_feed(Feed(0, f"{server.url}/many{n}", f"many{n}", NOW, "ana"))
    reports = cycle(store, NOW)
    assert [r.feed.name for r in reports] == [f.name for f in store.feeds()]
    many = [r for r in reports if r.feed.name.startswith("many")]
    assert [(r.outcome, r.new, [e.title for e in r.evidence]) for r in many] == [
        ("new entries", 1, [f"Power of Siberia 2 gas report {n}"]) for n in range(24)]
    assert all(f.last_success == NOW and f.next_check == NOW + timedelta(seconds=600) for f in store.feeds())
    assert len(store.evidence_for(1)) == 27 and all(len(store.seen(f.id)) >= 1 for f in store.feeds())


def test_a_claim_changing_recompiles_the_watch_terms(world) -> None:
    server, store = world
    watcher = Watcher(store, Fetcher(allow_private=True))
    first = watcher.watchlist()
    assert watcher.watchlist() is first  # nothing changed: the parser processes keep it compiled
    ledger.add_claim(store, ledger.NewClaim(text="Weather claim", watch=("Weather",)), "ana", NOW)
    assert watcher.watchlist() is not first and len(watcher.watchlist().matcher()) == 3


RDF = ('<?xml version="1.0" encoding="utf-8"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
       'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://r.example/"><title>RDF</title></channel>'
       '<item rdf:about="https://r.example/1"><title>Power of Siberia 2 gas in RDF</title>'
       '<link>https://r.example/1</link></item></rdf:RDF>')


async def slow_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
    await response.prepare(request)
    await response.write(b"<rss><channel>")
    await asyncio.sleep(5)  # longer than the fetcher's total timeout below
    return response


async def huge_body(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/rss+xml"})
    await response.prepare(request)
    chunk = b"x" * 2**20
    try:
        for _ in range(50):  # 50 MB, unless the reader stops first
            await response.write(chunk)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


def test_each_fault_is_recorded_while_the_other_feeds_are_processed(data: Path | str) -> None:
    import gzip

    store = open_store(data)
    ledger.add_claim(store, ledger.NewClaim(text="PoS2", watch=("Power of Siberia 2",)), "ana", NOW)
    faults = {
        "slow": slow_body, "huge": huge_body,
        "bomb": respond(gzip.compress(b"\0" * (11 * 2**20)), headers={"Content-Encoding": "gzip"}),
        "loop": respond(status=302, headers={"Location": "/loop"}),
        "empty": respond(b""), "notfound": respond(status=404), "broken": respond(b"<rss><channel><item><title>x"),
        "busy": respond(status=429, headers={"Retry-After": "7200"}),
    }
    with FeedServer() as server:
        server.routes["/rdf"] = respond(RDF.encode())
        for name, handler in faults.items():
            server.routes[f"/{name}"] = handler
        for name in ["rdf", *faults]:
            store.add_feed(Feed(0, f"{server.url}/{name}", name, NOW, "ana"))

        async def run() -> list[FeedReport]:
            fetcher = Fetcher(allow_private=True, total_timeout=2)
            try:
                return await Watcher(store, fetcher).cycle(NOW)
            finally:
                await fetcher.aclose()
        reports = {r.feed.name: r for r in asyncio.run(run())}

    assert (reports["rdf"].outcome, reports["rdf"].new, len(reports["rdf"].evidence)) == ("new entries", 1, 1)
    errors = {name: reports[name].feed.error for name in faults}
    assert "no complete answer within 2 s" in errors["slow"]
    assert "larger than 10 MiB" in errors["huge"] and "larger than 10 MiB" in errors["bomb"]
    assert "more than 5 redirects" in errors["loop"]
    assert "not a feed" in errors["empty"] and errors["notfound"] == "HTTP 404 Not Found"
    assert errors["busy"] == "HTTP 429 Too Many Requests"
    assert reports["busy"].feed.next_check == NOW + timedelta(hours=2)  # Retry-After honoured
    for name in faults:
        if name != "broken":  # a broken but readable feed is not a failure
            assert (reports[name].outcome, reports[name].feed.failures) == ("failed", 1), name
    assert reports["broken"].outcome in ("new entries", "nothing new")


def test_a_parser_process_that_dies_is_replaced(world) -> None:
    """Feeds are parsed in worker processes; one killed between cycles (out of memory, say) takes no
    feed with it: the next cycle parses in fresh ones."""
    server, store = world
    cycle(store, NOW)
    workers = [p for p in multiprocessing.active_children() if p.name.startswith("SpawnProcess")]
    assert workers  # parsing happened in processes of its own
    for worker in workers:
        with contextlib.suppress(ProcessLookupError):  # the pool ends its other workers once one dies
            os.kill(worker.pid, signal.SIGKILL)
        worker.join(10)
    server.routes["/en"] = respond(rss(("e5", "Power of Siberia 2 gas pricing agreed", "new")).encode())
    reports = cycle(store, NOW + timedelta(hours=1))
    assert [(r.feed.name, r.outcome, r.new) for r in reports] == [
        ("en", "new entries", 1), ("ru", "nothing new", 0), ("zh", "nothing new", 0)]
    assert "Power of Siberia 2 gas pricing agreed" in {e.title for e in store.evidence_for(1)}


def test_a_move_to_a_watched_address_written_in_other_case_merges(data: Path | str) -> None:
    store = open_store(data)
    with FeedServer() as server:
        named = server.url.replace("127.0.0.1", "localhost")
        store.add_feed(Feed(0, f"{named}/new", "new", NOW, "ana"))
        store.add_feed(Feed(0, f"{server.url}/old", "old", NOW, "ana"))
        server.routes["/old"] = respond(status=301, headers={"Location": f"{named.replace('localhost', 'LocalHost')}/new"})
        server.routes["/new"] = respond(EN.encode())
        assert [r.outcome for r in cycle(store, NOW)] == ["new entries", "moved"]
    assert [f.url for f in store.feeds()] == [f"{named}/new"]
