"""Fetching feeds over HTTP the way careful feed readers do (pycurl); and the client the bot calls the Bot API
with (ServiceClient, aiohttp). The only module that imports pycurl or aiohttp.

- Conditional GET with ETag and Last-Modified; gzip, deflate and brotli.
- At most 5 redirects, followed by hand: a chain of permanent ones (301/308) reports the new URL
  so the caller can store it; a temporary one (302/303/307) does not.
- The body is capped at 10 MiB after decompression: reading stops past it, so a gzip or brotli bomb
  is caught. We decode the body ourselves (libcurl's own decoding is off): a few KB of brotli can
  become gigabytes, so each received piece is decoded with bounded output.
- Connect and total timeouts; concurrency limited overall and per host, so a reader with many
  feeds never hammers one site.
- An SSRF guard: a connection to a loopback, private, link-local, CGNAT, multicast or otherwise
  reserved address is refused, unless private feeds are allowed. The check sits where libcurl opens a
  socket (CURLOPT_OPENSOCKETFUNCTION), after it resolved the host: it is given the very address it is
  about to connect to, for every connection, redirects included, so a DNS answer that changes in
  between (rebinding) cannot slip in. An address written in the URL is checked before asking.
- Connections are kept alive: the small body of a 304, a redirect or an error page is read so the
  connection can serve the next feed from the same site.

Feeds with pycurl (libcurl's multi interface, driven by the asyncio event loop), not aiohttp or httpx: a
conditional GET answered 304 costs 0.08 ms of CPU here against aiohttp's 0.13 ms and httpx's 1.5–2 ms, and a
watcher polling thousands of feeds spends its life in those. The Bot API with aiohttp, not httpx (which
python-telegram-bot would use): a quarter of the client CPU per call (see ServiceClient).
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import re
import socket
import time
import urllib.request
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import brotli
import pycurl
import yarl

from claimwatch import __version__

MAX_BODY = 10 * 2**20
MAX_REDIRECTS = 5
DRAIN_LIMIT = 64 * 2**10  # a non-feed body up to this size is read to keep the connection
USER_AGENT = f"claimwatch/{__version__} (news watcher for claim tracking)"
_NOT_PUBLIC = (ipaddress.ip_network("100.64.0.0/10"),  # CGNAT
               ipaddress.ip_network("192.0.0.0/24"))  # IETF protocol assignments (Python < 3.11.10 misses most)
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)")
_REQUEST_HEADERS = ["Accept-Encoding: gzip, deflate, br",
                    "Accept: application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"]
_PRIVATE = "{host} resolves to a private or local address; set CLAIMWATCH_ALLOW_PRIVATE_FEEDS=1 to allow it"


@dataclass(frozen=True)
class FetchResult:
    url: str  # what was asked for
    status: int | None = None  # None when no answer came
    body: bytes | None = None  # None when not modified or on error
    headers: dict[str, str] = field(default_factory=dict)
    final_url: str = ""
    moved_to: str | None = None  # every redirect was permanent: the feed's new address
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None  # seconds, from a 429 or 503
    max_age: int | None = None  # seconds, from Cache-Control
    error: str | None = None  # one line, for the feed's health record

    @property
    def not_modified(self) -> bool:
        return self.status == 304

    @property
    def gone(self) -> bool:
        return self.status == 410


class Refused(Exception):
    """The fetch must not go ahead (a private address, a bad URL, too many redirects, too large)."""


def forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:  # fec0::/10: deprecated, still routed inside some networks
        return True
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or any(ip in network for network in _NOT_PUBLIC if ip.version == network.version))


def _decoder(content_encoding: str) -> Callable[[bytes, int], bytes]:
    """A function that decodes the next piece of a body, giving at most `limit` bytes of output (a
    piece that would give more is cut short: the caller then knows the body is over its cap)."""
    codings = [c for c in (part.strip().lower() for part in content_encoding.split(",")) if c not in ("", "identity")]
    if not codings:
        return lambda data, limit: data
    if len(codings) > 1:
        raise Refused(f"the body has several content codings ({content_encoding[:40]!r}); one is read")
    if codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Inflate(codings[0])
    if codings[0] == "br":
        unbrotli = brotli.Decompressor()

        def unbrotli_piece(data: bytes, limit: int) -> bytes:
            try:
                return unbrotli.process(data, output_buffer_limit=limit)
            except brotli.error:
                raise Refused("the br body is corrupt") from None
        return unbrotli_piece
    raise Refused(f"the server used a Content-Encoding we did not ask for: {content_encoding[:40]!r}")


class _Inflate:
    """gzip, or deflate with or without its zlib header (servers send both): told apart by the first
    two bytes, as browsers do."""

    def __init__(self, coding: str) -> None:
        self.coding, self.head = coding, b""
        self.z: Any = None

    def __call__(self, data: bytes, limit: int) -> bytes:
        if self.z is None:
            self.head += data
            if len(self.head) < 2:
                return b""
            data, self.head = self.head, b""
            wrapped = data[:2] == b"\x1f\x8b" or (data[0] & 0x0F == 8 and int.from_bytes(data[:2], "big") % 31 == 0)
            self.z = zlib.decompressobj(zlib.MAX_WBITS | 32 if wrapped or self.coding != "deflate" else -zlib.MAX_WBITS)
        try:
            return self.z.decompress(data, limit)
        except zlib.error:
            raise Refused(f"the {self.coding} body is corrupt") from None


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: a number of seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdecimal():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC too
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def max_age_seconds(cache_control: str | None) -> int | None:
    found = _MAX_AGE.search(cache_control or "")
    return int(found.group(1)) if found and len(found.group(1)) <= 9 else None


class _Exchange:
    """One request's answer as libcurl hands it over: the status line and headers, then the body in pieces,
    decoded and counted as they come (a body that is not the feed is only counted)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.status, self.reason = 0, ""
        self.headers: dict[str, str] = {}  # as the server wrote the names
        self.named: dict[str, str] = {}  # by lower-case name
        self.chunks: list[bytes] = []
        self.size = 0
        self.decode: Callable[[bytes, int], bytes] | None = None
        self.refused: str | None = None  # why the transfer was stopped on our side
        self.dropped = False  # a body that is not the feed, too large to read for the connection's sake

    def header(self, line: bytes) -> None:
        text = line.decode("latin-1").rstrip("\r\n")
        if text.startswith("HTTP/"):  # a new response (after a 100 Continue, say): its own headers
            parts = text.split(" ", 2)
            self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdecimal() and len(parts[1]) == 3 else 0
            self.reason = parts[2] if len(parts) > 2 else ""
            self.headers, self.named = {}, {}
        elif ":" in text:
            name, _, value = text.partition(":")
            self.headers[name.strip()] = self.named[name.strip().lower()] = value.strip()

    def write(self, data: bytes) -> int | None:
        """Take the next piece of the body; 0 stops the transfer (libcurl counts any other length as an error)."""
        if self.status != 200:
            self.size += len(data)
            if self.size > DRAIN_LIMIT:
                self.dropped = True
                return 0
            return None
        try:
            if self.decode is None:
                self.decode = _decoder(self.named.get("content-encoding", ""))
            chunk = self.decode(data, MAX_BODY - self.size + 1)  # never more than one byte past the cap
        except Refused as e:
            self.refused = str(e)
            return 0
        self.size += len(chunk)
        if self.size > MAX_BODY:
            self.refused = f"the feed is larger than {MAX_BODY // 2**20} MiB (after decompression)"
            return 0
        self.chunks.append(chunk)
        return None

    def open_socket(self, purpose: int, address: Any) -> socket.socket | int:
        """The socket for a connection libcurl is about to make, to an address it resolved: refused when
        the address is not public."""
        family, kind, protocol, where = address
        if forbidden_address(where[0]):
            self.refused = _PRIVATE.format(host=urlsplit(self.url).hostname)
            return pycurl.SOCKET_BAD
        return socket.socket(family, kind, protocol)


class _Transfers:
    """libcurl's multi interface driven by the event loop: libcurl says which sockets to watch and when to
    call it back; each transfer's future is done when libcurl says the transfer is."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.multi = pycurl.CurlMulti()
        self.multi.setopt(pycurl.M_SOCKETFUNCTION, self._watch)
        self.multi.setopt(pycurl.M_TIMERFUNCTION, self._time)
        self.timer: asyncio.Handle | None = None
        self.watched: dict[int, int] = {}  # socket -> what libcurl waits for on it (pycurl.POLL_*)
        self.running: dict[pycurl.Curl, asyncio.Future[str | None]] = {}

    def start(self, curl: pycurl.Curl) -> asyncio.Future[str | None]:
        """The transfer's end: None, or libcurl's error (a line)."""
        done = self.running[curl] = self.loop.create_future()
        self.multi.add_handle(curl)
        return done

    def stop(self, curl: pycurl.Curl) -> None:
        if self.running.pop(curl, None) is not None:
            self.multi.remove_handle(curl)

    def _watch(self, event: int, fd: int, multi: Any, data: Any) -> None:
        """What libcurl waits for on a socket now (only what changed is told to the event loop)."""
        was = self.watched.pop(fd, pycurl.POLL_REMOVE)
        reading, writing = event in (pycurl.POLL_IN, pycurl.POLL_INOUT), event in (pycurl.POLL_OUT, pycurl.POLL_INOUT)
        if reading != (was in (pycurl.POLL_IN, pycurl.POLL_INOUT)):
            if reading:
                self.loop.add_reader(fd, self._act, fd, pycurl.CSELECT_IN)
            else:
                self.loop.remove_reader(fd)
        if writing != (was in (pycurl.POLL_OUT, pycurl.POLL_INOUT)):
            if writing:
                self.loop.add_writer(fd, self._act, fd, pycurl.CSELECT_OUT)
            else:
                self.loop.remove_writer(fd)
        if event != pycurl.POLL_REMOVE:
            self.watched[fd] = event

    def _time(self, ms: int) -> None:
        """libcurl's one timer: -1 none, 0 at once (after each new transfer: a plain callback, not a timer), else
        in `ms` milliseconds."""
        if self.timer is not None:
            self.timer.cancel()
        if ms > 0:
            self.timer = self.loop.call_later(ms / 1000, self._act, pycurl.SOCKET_TIMEOUT, 0)
        else:
            self.timer = self.loop.call_soon(self._act, pycurl.SOCKET_TIMEOUT, 0) if ms == 0 else None

    def _act(self, fd: int, event: int) -> None:
        self.multi.socket_action(fd, event)
        while True:
            queued, ended, failed = self.multi.info_read()
            for curl, error in [(c, None) for c in ended] + [(c, message) for c, _, message in failed]:
                done = self.running.pop(curl, None)
                self.multi.remove_handle(curl)
                if done is not None and not done.done():
                    done.set_result(error or None)
            if not queued:
                return

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        for curl in list(self.running):
            self.stop(curl)
        self.multi.close()  # closes the connections, telling _watch to forget their sockets
        for fd in self.watched:  # any it did not
            self.loop.remove_reader(fd)
            self.loop.remove_writer(fd)
        self.watched.clear()


@functools.lru_cache(maxsize=8192)
def _ascii(url: str) -> str:
    """The address as libcurl takes it, in ASCII: the host in punycode, the rest percent-encoded (ñ: %C3%B1).
    Kept per address, as _checked_host: a watch cycle asks for the same few thousand every time."""
    return str(yarl.URL(url))


def _utf8(value: str) -> str:
    """A header read as latin-1 (_Exchange.header), read again as UTF-8 where its bytes are UTF-8: servers write
    addresses in a Location raw ("/новости"), and browsers follow them so; anything else stays as read."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeDecodeError:
        return value


def refusal(url: str, allow_private: bool) -> str:
    """Why the watcher will not fetch `url` as it is written (a private or local address given as one, such as
    127.0.0.1), or '' (a host name is checked when it resolves, at each fetch)."""
    try:
        _checked_host(url, allow_private)
    except Refused as e:
        return str(e)
    return ""


@functools.lru_cache(maxsize=8192)
def _checked_host(url: str, allow_private: bool) -> str:
    """The host of a feed address that may be fetched (Refused otherwise)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused(f"{url!r} is not an http(s) URL")
    try:
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as e:
        raise Refused(f"{url!r} is not a usable address: {e}") from None
    if not allow_private:  # refused before asking, though the socket's address is checked too
        try:
            literal = forbidden_address(parts.hostname)
        except ValueError:
            literal = False  # a host name: checked as its socket is opened
        if literal:
            raise Refused(_PRIVATE.format(host=parts.hostname))
    return parts.hostname


# Feeds fetched at a time (2 at most from one site): Miniflux's worker pool is as large. The event loop's turn
# costs the same whatever it hands libcurl, so 16 transfers at a time cost 15-20% less CPU per conditional GET
# than 8 did (0.10-0.13 ms against 0.14-0.15 here), and over many sites they halve a cycle's waiting.
CONCURRENCY = 16


class Fetcher:
    """One HTTP client for every feed, with the limits above."""

    def __init__(self, *, allow_private: bool = False, concurrency: int = CONCURRENCY, per_host: int = 2,
                 connect_timeout: float = 10, timeout: float = 20, total_timeout: float = 60) -> None:
        self.total_timeout, self.allow_private = total_timeout, allow_private
        self._connect_ms, self._idle_s = round(connect_timeout * 1000), max(1, round(timeout))
        self._transfers: _Transfers | None = None  # made in the event loop, at the first fetch
        self._idle: list[pycurl.Curl] = []  # handles to use again: each keeps its settings, and libcurl its caches
        self._overall = asyncio.Semaphore(concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))

    def _client(self) -> _Transfers:
        if self._transfers is None:
            self._transfers = _Transfers(asyncio.get_running_loop())
        return self._transfers

    async def aclose(self) -> None:
        if self._transfers is not None:
            self._transfers.close()
            self._transfers = None
        for curl in self._idle:
            curl.close()
        self._idle.clear()

    def _handle(self) -> pycurl.Curl:
        if self._idle:
            return self._idle.pop()
        curl = pycurl.Curl()
        for option, value in (
                (pycurl.PROTOCOLS, pycurl.PROTO_HTTP | pycurl.PROTO_HTTPS),
                (pycurl.FOLLOWLOCATION, 0),  # followed here, each hop checked
                (pycurl.HTTP_CONTENT_DECODING, 0),  # decoded here, with bounded output
                (pycurl.PROXY, ""), (pycurl.NOPROXY, "*"),  # a proxy from the environment would hide the address connected to
                (pycurl.NOSIGNAL, 1),
                (pycurl.CONNECTTIMEOUT_MS, self._connect_ms),
                (pycurl.LOW_SPEED_LIMIT, 1), (pycurl.LOW_SPEED_TIME, self._idle_s),  # a read that stalls
                (pycurl.TIMEOUT_MS, round(self.total_timeout * 1000)),  # counted from the feed's turn
                (pycurl.USERAGENT, USER_AGENT)):
            curl.setopt(option, value)
        return curl

    async def fetch(self, url: str, now: datetime, *, etag: str | None = None,
                    last_modified: str | None = None) -> FetchResult:
        """Fetch one feed; failures come back as a result with `error` set, never as an exception."""
        try:
            return await self._fetch(url, now, etag, last_modified)
        except Refused as e:
            return FetchResult(url, error=str(e))
        except (ValueError, UnicodeError) as e:  # a bad port, an overlong host name ...
            return FetchResult(url, error=f"not a usable address: {e}")
        except pycurl.error as e:  # libcurl refused an option: an address it cannot take, say
            return FetchResult(url, error=f"not a usable address: {e.args[-1] if e.args else e}")

    async def _fetch(self, url: str, now: datetime, etag: str | None, last_modified: str | None) -> FetchResult:
        target, permanent = url, True
        # The validators go back as the server sent them: read as latin-1 (_Exchange.header), written as latin-1,
        # byte for byte, though not ASCII (which libcurl's str headers must be).
        headers = _REQUEST_HEADERS + [f"{name}: {value}".encode("latin-1", "replace") for name, value in (
            ("If-None-Match", etag), ("If-Modified-Since", last_modified)) if value]
        for _ in range(MAX_REDIRECTS + 1):
            host = _checked_host(target, self.allow_private)
            # The site's turn first, then an overall slot: a queue for one busy site holds no slot other
            # sites could use. The total timeout starts once it is our turn, not while waiting for it.
            async with self._per_host[host], self._overall:
                answer, error, elapsed = await self._exchange(target, headers)
            if answer.refused is not None:
                raise Refused(answer.refused)
            if error is not None and not answer.dropped:
                return FetchResult(url, error=self._failure(error, elapsed))
            if answer.status in (301, 302, 303, 307, 308) and "location" in answer.named:
                permanent = permanent and answer.status in (301, 308)
                target = urljoin(target, _utf8(answer.named["location"]))
                continue
            body = b"".join(answer.chunks) if answer.status == 200 else None
            return self._result(url, target, permanent and target != url, answer, body, now)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    async def _exchange(self, url: str, headers: list[str | bytes]) -> tuple[_Exchange, str | None, float]:
        """One request, no redirect followed: the answer, libcurl's error if any, and the seconds it took."""
        address = _ascii(url)
        answer = _Exchange(url)
        curl = self._handle()
        transfers = self._client()
        started = time.monotonic()
        try:  # the handle goes back to the idle ones whatever happens, an option libcurl refuses included
            curl.setopt(pycurl.URL, address)
            curl.setopt(pycurl.HTTPHEADER, headers)
            curl.setopt(pycurl.HEADERFUNCTION, answer.header)
            curl.setopt(pycurl.WRITEFUNCTION, answer.write)
            if not self.allow_private:
                curl.setopt(pycurl.OPENSOCKETFUNCTION, answer.open_socket)
            error = await transfers.start(curl)
        finally:
            transfers.stop(curl)  # when cancelled: libcurl lets the transfer go
            for option in (pycurl.HEADERFUNCTION, pycurl.WRITEFUNCTION, pycurl.OPENSOCKETFUNCTION):
                curl.unsetopt(option)  # let go of this answer
            self._idle.append(curl)
        return answer, error, time.monotonic() - started

    def _failure(self, error: str, elapsed: float) -> str:
        """libcurl's error as the feed's error line."""
        line = error.splitlines()[0] if error else "the transfer failed"
        if "timed out" in line.lower() or "too slow" in line.lower():
            return f"no complete answer within {self.total_timeout:.0f} s" if elapsed >= self.total_timeout else "timed out"
        if line.startswith(("Failed to connect", "Could not connect", "Couldn't connect", "Could not resolve",
                            "Couldn't resolve")):
            return f"ConnectError: {line}"
        return line

    @staticmethod
    def _result(url: str, final: str, moved: bool, answer: _Exchange, body: bytes | None,
                now: datetime) -> FetchResult:
        h, status = answer.named, answer.status
        reason = answer.reason or (HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "")
        error = None if status in (200, 304) else f"HTTP {status} {reason}".strip()
        return FetchResult(
            url, status, body, dict(answer.headers), final, final if moved else None,
            h.get("etag"), h.get("last-modified"),
            retry_after_seconds(h.get("retry-after"), now) if status in (429, 503) else None,
            max_age_seconds(h.get("cache-control")), error)


class CallFailed(Exception):
    """A call to a service (the Bot API) got no answer: `timed_out`, or the connection failed."""

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class ServiceClient:
    """Calls to one service we trust (the Telegram Bot API, which may be a server on this machine or the local
    network: no SSRF guard) over kept-alive connections, for python-telegram-bot's requests. aiohttp costs about a
    quarter of httpx's CPU per call, and a bot sending an alert to thousands of chats spends its life in those
    (`python bench/fanout_bench.py --open` prints both)."""

    def __init__(self, user_agent: str, connections: int = 256) -> None:
        self._user_agent, self._connections = user_agent, connections
        self._session: aiohttp.ClientSession | None = None
        self._proxies: dict[str, str | None] = {}  # scheme://host -> the proxy from the environment, if any

    async def open(self) -> None:
        """Made in the event loop that will use it."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._connections, limit_per_host=0, keepalive_timeout=30),
                trust_env=False,  # which reads ~/.netrc and the proxy variables at every call: see _proxy
                cookie_jar=aiohttp.DummyCookieJar(), headers={"User-Agent": self._user_agent})

    def _proxy(self, url: str) -> str | None:
        """The proxy the environment names for this URL (HTTPS_PROXY, NO_PROXY ...), as httpx would use; looked
        up once per host."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin not in self._proxies:
            proxy = urllib.request.getproxies().get(parts.scheme)
            self._proxies[origin] = None if proxy is None or urllib.request.proxy_bypass(parts.hostname or "") \
                else proxy
        return self._proxies[origin]

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, url: str, *, fields: dict[str, str] | None = None,
                   files: dict[str, tuple[str, Any, str]] | None = None, connect_timeout: float | None = None,
                   read_timeout: float | None = None) -> tuple[int, bytes]:
        """(HTTP status, body) of one call: `fields` form-encoded, or with `files` (name: (file name, content,
        MIME type)) as multipart/form-data. No answer raises CallFailed."""
        if self._session is None:
            raise RuntimeError("ServiceClient.open() was not awaited")
        body: Any = None
        if files:
            body = aiohttp.FormData(fields or {})
            for name, (file_name, content, mime_type) in files.items():
                body.add_field(name, content, filename=file_name, content_type=mime_type)
        elif fields:
            body = fields
        timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_read=read_timeout)
        try:
            async with self._session.request(method, url, data=body, timeout=timeout,
                                             proxy=self._proxy(url)) as response:
                return response.status, await response.read()
        except TimeoutError as e:  # aiohttp's own timeouts are TimeoutErrors too
            raise CallFailed(f"{type(e).__name__}: {e}" if str(e) else "timed out", timed_out=True) from e
        except (aiohttp.ClientError, OSError) as e:
            raise CallFailed(f"{type(e).__name__}: {e}") from e
