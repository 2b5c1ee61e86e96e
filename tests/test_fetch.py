"""Fetching feeds from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import gzip
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import brotli
import pytest
from aiohttp import web

from claimwatch.fetch import MAX_BODY, USER_AGENT, Fetcher, FetchResult, forbidden_address, max_age_seconds, \
    retry_after_seconds

from conftest import NOW
from feedserver import FeedServer, respond

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as s:
        yield s


def fetch(url: str, *, allow_private: bool = True, **kwargs: object) -> FetchResult:
    async def run() -> FetchResult:
        fetcher = Fetcher(allow_private=allow_private, total_timeout=10)
        try:
            return await fetcher.fetch(url, NOW, **kwargs)
        finally:
            await fetcher.aclose()
    return asyncio.run(run())


def test_a_plain_fetch_names_claimwatch_and_keeps_validators(server: FeedServer) -> None:
    server.routes["/feed"] = respond(FEED, headers={"ETag": '"v1"', "Last-Modified": "Mon, 02 Mar 2026 08:00:00 GMT",
                                                    "Cache-Control": "public, max-age=1800"})
    result = fetch(server.url + "/feed")
    assert (result.status, result.body, result.error) == (200, FEED, None)
    assert (result.etag, result.last_modified, result.max_age) == ('"v1"', "Mon, 02 Mar 2026 08:00:00 GMT", 1800)
    assert server.seen[0].headers["User-Agent"] == USER_AGENT and "claimwatch/" in USER_AGENT


def test_conditional_get_and_not_modified(server: FeedServer) -> None:
    server.routes["/feed"] = lambda request: respond(status=304)(request) if request.headers.get(
        "If-None-Match") == '"v1"' else respond(FEED)(request)
    result = fetch(server.url + "/feed", etag='"v1"', last_modified="Mon, 02 Mar 2026 08:00:00 GMT")
    assert result.not_modified and result.body is None and result.error is None
    assert server.seen[0].headers["If-Modified-Since"] == "Mon, 02 Mar 2026 08:00:00 GMT"


def test_connections_are_reused_after_not_modified_redirects_and_errors(server: FeedServer) -> None:
    server.routes["/same"] = respond(status=304)
    server.routes["/moved"] = respond(status=302, headers={"Location": "/same"})
    server.routes["/broken"] = respond(b"<h1>oops</h1>", status=500)

    async def run() -> list[FetchResult]:
        fetcher = Fetcher(allow_private=True, total_timeout=10)
        try:
            return [await fetcher.fetch(server.url + path, NOW, etag='"v"') for path in ("/same", "/moved", "/broken")]
        finally:
            await fetcher.aclose()
    results = asyncio.run(run())
    assert [r.status for r in results] == [304, 304, 500]
    assert len(server.seen) == 4 and len({s.peer for s in server.seen}) == 1  # one connection for all four


@pytest.mark.parametrize("encoding, compress", [("gzip", gzip.compress), ("deflate", zlib.compress),
                                                ("br", brotli.compress)])
def test_compressed_bodies_are_decoded(server: FeedServer, encoding: str, compress) -> None:
    server.routes["/feed"] = respond(compress(FEED), headers={"Content-Encoding": encoding})
    assert fetch(server.url + "/feed").body == FEED


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize("encoding, body", [
    ("deflate", raw_deflate(FEED)),  # no zlib header: some servers send deflate so
    ("gzip, identity", gzip.compress(FEED, mtime=0)), (" GZIP ", gzip.compress(FEED, mtime=0)), ("identity", FEED),
])
def test_content_codings_as_servers_write_them(server: FeedServer, encoding: str, body: bytes) -> None:
    server.routes["/feed"] = respond(body, headers={"Content-Encoding": encoding})
    assert fetch(server.url + "/feed").body == FEED


@pytest.mark.parametrize("encoding, body, error", [
    ("deflate", b"\xff\xff\xff\xffnot deflate", "the deflate body is corrupt"),
    ("gzip", b"\x1f\x8bnot gzip at all", "the gzip body is corrupt"),
    ("br", b"\xff\xff not brotli", "the br body is corrupt"),
    ("gzip, br", b"x", "several content codings"),
    ("zstd", b"x", "a Content-Encoding we did not ask for"),
])
def test_a_body_that_cannot_be_decoded_is_that_feeds_error(server: FeedServer, encoding: str, body: bytes,
                                                            error: str) -> None:
    server.routes["/feed"] = respond(body, headers={"Content-Encoding": encoding})
    result = fetch(server.url + "/feed")
    assert result.body is None and error in result.error


def test_a_gzip_bomb_is_caught(server: FeedServer) -> None:
    bomb = gzip.compress(b"\0" * (MAX_BODY + 2**20))  # about 11 KB that would grow to 11 MiB
    server.routes["/feed"] = respond(bomb, headers={"Content-Encoding": "gzip"})
    result = fetch(server.url + "/feed")
    assert result.body is None and "larger than 10 MiB" in result.error


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
@pytest.mark.parametrize("encoding", ["br", "gzip"])
def test_a_compression_bomb_is_stopped_without_being_inflated(server: FeedServer, encoding: str) -> None:
    """512 MiB of zeros: about 500 KB of gzip, 1 KB of brotli, which httpx would inflate whole from one
    received chunk. Fetched in a process of its own, whose peak memory is its own."""
    if encoding == "br":
        packer = brotli.Compressor(quality=5)
        bomb = b"".join(packer.process(b"\0" * 2**20) for _ in range(512)) + packer.finish()
    else:
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        bomb = b"".join(packer.compress(b"\0" * 2**20) for _ in range(512)) + packer.flush()
    server.routes["/bomb"] = respond(bomb, headers={"Content-Encoding": encoding})
    # VmHWM, not ru_maxrss: Linux carries the parent's peak into a child started with vfork and exec
    script = ("import asyncio, pathlib, sys; from claimwatch.fetch import Fetcher; from conftest import NOW\n"
              "async def main():\n"
              "    fetcher = Fetcher(allow_private=True)\n"
              "    result = await fetcher.fetch(sys.argv[1], NOW)\n"
              "    await fetcher.aclose()\n"
              "    print(result.error)\n"
              "    status = pathlib.Path('/proc/self/status').read_text().splitlines()\n"
              "    print(next(int(line.split()[1]) // 1024 for line in status if line.startswith('VmHWM:')))\n"
              "asyncio.run(main())\n")
    run = subprocess.run([sys.executable, "-c", script, server.url + "/bomb"], capture_output=True, text=True,
                         timeout=120, cwd=Path(__file__).parent)
    error, peak_mib = run.stdout.splitlines()
    assert "larger than 10 MiB" in error and int(peak_mib) < 200, run.stdout + run.stderr


def slow(body: bytes, seconds: float):
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(seconds)
        return web.Response(body=body)
    return handler


def fetch_all(urls: list[str], **limits: object) -> list[FetchResult]:
    async def run() -> list[FetchResult]:
        fetcher = Fetcher(allow_private=True, **limits)
        try:
            return await asyncio.gather(*(fetcher.fetch(url, NOW) for url in urls))
        finally:
            await fetcher.aclose()
    return asyncio.run(run())


def test_waiting_for_a_turn_does_not_count_against_the_total_timeout(server: FeedServer) -> None:
    for i in range(6):
        server.routes[f"/f{i}"] = slow(FEED, 0.5)  # one at a time: 3 s in all, each well within 2 s
    results = fetch_all([f"{server.url}/f{i}" for i in range(6)], per_host=1, total_timeout=2)
    assert [r.error for r in results] == [None] * 6


def test_a_queue_for_one_busy_site_does_not_hold_up_another(server: FeedServer) -> None:
    for i in range(4):
        server.routes[f"/busy{i}"] = slow(FEED, 0.5)
    server.routes["/other"] = respond(FEED)
    other_site = server.url.replace("127.0.0.1", "localhost")  # another host name, so another site's turn
    fetch_all([f"{server.url}/busy{i}" for i in range(4)] + [f"{other_site}/other"], concurrency=2, per_host=1)
    order = [s.path for s in server.seen]
    assert order.index("/other") < order.index("/busy1")  # not after the busy site's whole queue


def test_permanent_redirects_report_the_new_address_temporary_ones_do_not(server: FeedServer) -> None:
    server.routes["/old"] = respond(status=301, headers={"Location": "/older"})
    server.routes["/older"] = respond(status=308, headers={"Location": "/new"})
    server.routes["/temp"] = respond(status=302, headers={"Location": "/new"})
    server.routes["/new"] = respond(FEED)
    moved = fetch(server.url + "/old")
    assert (moved.body, moved.moved_to) == (FEED, server.url + "/new")
    temporary = fetch(server.url + "/temp")
    assert (temporary.body, temporary.moved_to, temporary.final_url) == (FEED, None, server.url + "/new")


def test_a_redirect_to_an_address_written_in_raw_utf8_is_followed_as_browsers_do(server: FeedServer) -> None:
    server.routes["/moved"] = respond(status=301, headers={"Location": "/новости/лента"})  # aiohttp writes UTF-8
    server.routes["/новости/лента"] = respond(FEED)
    result = fetch(server.url + "/moved")
    assert (result.body, result.moved_to) == (FEED, server.url + "/новости/лента")
    assert [s.path for s in server.seen] == ["/moved", "/новости/лента"]


def test_at_most_five_redirects(server: FeedServer) -> None:
    for i in range(7):
        server.routes[f"/r{i}"] = respond(status=302, headers={"Location": f"/r{i + 1}"})
    server.routes["/r7"] = respond(FEED)
    assert fetch(server.url + "/r2").body == FEED  # five hops
    assert "more than 5 redirects" in fetch(server.url + "/r0").error


def test_errors_come_back_as_one_line(server: FeedServer) -> None:
    server.routes["/gone"] = respond(status=410)
    server.routes["/busy"] = respond(status=429, headers={"Retry-After": "120"})
    server.routes["/down"] = respond(status=503, headers={"Retry-After": "Mon, 02 Mar 2026 10:30:00 GMT"})
    gone = fetch(server.url + "/gone")
    assert gone.gone and gone.error == "HTTP 410 Gone"
    assert fetch(server.url + "/busy").retry_after == 120
    assert fetch(server.url + "/down").retry_after == 3600  # an hour after NOW
    assert fetch(server.url + "/missing").error == "HTTP 404 Not Found"
    assert "is not an http(s) URL" in fetch("file:///etc/passwd").error
    assert fetch("http://127.0.0.1:9/feed").error.startswith("ConnectError")


def test_private_addresses_are_refused_unless_allowed(server: FeedServer) -> None:
    server.routes["/feed"] = respond(FEED)
    refused = fetch(server.url + "/feed", allow_private=False)
    assert refused.body is None and "private or local address" in refused.error
    assert "CLAIMWATCH_ALLOW_PRIVATE_FEEDS" in refused.error
    assert server.seen == []  # refused before connecting
    assert "private or local" in fetch("http://localhost:1/feed", allow_private=False).error


@pytest.mark.parametrize("address, forbidden", [
    ("127.0.0.1", True), ("10.1.2.3", True), ("172.16.0.1", True), ("192.168.1.1", True), ("169.254.169.254", True),
    ("100.64.0.1", True), ("224.0.0.1", True), ("0.0.0.0", True), ("::1", True), ("fe80::1", True),
    ("fc00::1", True), ("::ffff:127.0.0.1", True), ("8.8.8.8", False), ("2a00:1450:4001::1", False),
    ("93.184.216.34", False), ("192.0.0.8", True), ("fec0::1", True),
])
def test_forbidden_addresses(address: str, forbidden: bool) -> None:
    assert forbidden_address(address) is forbidden


def test_header_parsing() -> None:
    assert max_age_seconds("no-cache, max-age=300") == 300 and max_age_seconds("no-store") is None
    assert retry_after_seconds("30", NOW) == 30 and retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds("Mon, 02 Mar 2026 09:00:00 GMT", NOW) == 0  # in the past


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.0.0.1", "[::ffff:127.0.0.1]"])
def test_loopback_written_another_way_is_refused_too(server: FeedServer, host: str) -> None:
    server.routes["/feed"] = respond(FEED)
    port = server.url.rsplit(":", 1)[1]
    result = fetch(f"http://{host}:{port}/feed", allow_private=False)
    assert result.body is None and result.error and server.seen == []


def test_a_connection_cut_mid_body_is_that_feeds_error(server: FeedServer) -> None:
    async def cut_short(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": "100000"})
        await response.prepare(request)
        await response.write(FEED)
        request.transport.close()
        return response
    server.routes["/feed"] = cut_short
    result = fetch(server.url + "/feed")
    assert result.body is None and result.error


def test_an_address_with_letters_beyond_ascii_is_fetched(server: FeedServer) -> None:
    server.routes["/новости/ñews.xml"] = respond(FEED)
    result = fetch(server.url + "/новости/ñews.xml?q=ä")
    assert (result.error, result.status, result.body) == (None, 200, FEED)
    assert [s.path for s in server.seen] == ["/новости/ñews.xml"]


def test_validators_with_letters_beyond_ascii_go_back_as_the_server_sent_them(server: FeedServer) -> None:
    """An ETag is any bytes a server chose: kept as read (latin-1) and sent back byte for byte, not refused."""
    tag = '"v-café"'  # aiohttp writes it as UTF-8
    server.routes["/feed"] = lambda request: respond(status=304)(request) if request.headers.get(
        "If-None-Match") == tag else respond(FEED, headers={"ETag": tag})(request)
    first = fetch(server.url + "/feed")
    again = fetch(server.url + "/feed", etag=first.etag)
    assert (first.status, again.status, again.error) == (200, 304, None)
    assert fetch(server.url + "/feed", etag='"v-€"').status == 200  # beyond latin-1 (an older reader's): no match
