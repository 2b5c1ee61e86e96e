"""Fetching feeds over HTTP the way careful feed readers do; and the client the bot calls the Bot API with
(ServiceClient). The only module that imports aiohttp.

- Conditional GET with ETag and Last-Modified; gzip, deflate and brotli.
- At most 5 redirects, followed by hand: a chain of permanent ones (301/308) reports the new URL
  so the caller can store it; a temporary one (302/303/307) does not.
- The body is capped at 10 MiB after decompression: reading stops past it, so a gzip or brotli bomb
  is caught. We decode the body ourselves (the client's own decoding is off): a few KB of brotli can
  become gigabytes in one received chunk, so each chunk is decoded with bounded output.
- Connect and total timeouts; concurrency limited overall and per host, so a reader with many
  feeds never hammers one site.
- An SSRF guard: a host that resolves to a loopback, private, link-local, CGNAT, multicast or
  otherwise reserved address is refused, unless private feeds are allowed. The check sits in the
  client's resolver: every connection (redirects included) resolves the host once, checks every
  address, and the client connects to the addresses the resolver returned, so a DNS answer that changes
  in between (rebinding) cannot slip in. An address written in the URL is checked before connecting.
- Connections are kept alive: the small body of a 304, a redirect or an error page is read so the
  connection can serve the next feed from the same site.

aiohttp, not httpx (which python-telegram-bot uses): a conditional GET answered 304 costs about a
tenth of the client CPU, and a watcher polling thousands of feeds spends its life in those.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
import urllib.request
import zlib
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
import brotli
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver

from claimwatch import __version__

MAX_BODY = 10 * 2**20
MAX_REDIRECTS = 5
DRAIN_LIMIT = 64 * 2**10  # a non-feed body up to this size is read to keep the connection
USER_AGENT = f"claimwatch/{__version__} (news watcher for claim tracking)"
_NOT_PUBLIC = (ipaddress.ip_network("100.64.0.0/10"),  # CGNAT
               ipaddress.ip_network("192.0.0.0/24"))  # IETF protocol assignments (Python < 3.11.10 misses most)
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)")
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


class _PublicOnly(ThreadedResolver):
    """Resolves a host name and refuses it when any of its addresses is not public; the client connects
    only to the addresses returned here. (Refused is no OSError: aiohttp lets it through unwrapped.)"""

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        try:
            found = await super().resolve(host, port, family)
        except socket.gaierror as e:
            raise Refused(f"cannot resolve {host}: {e.strerror}") from None
        if any(forbidden_address(result["host"]) for result in found):
            raise Refused(_PRIVATE.format(host=host))
        return found


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


class Fetcher:
    """One HTTP client for every feed, with the limits above."""

    def __init__(self, *, allow_private: bool = False, concurrency: int = 8, per_host: int = 2,
                 connect_timeout: float = 10, timeout: float = 20, total_timeout: float = 60) -> None:
        self.total_timeout, self.allow_private, self._concurrency = total_timeout, allow_private, concurrency
        self._timeouts = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None  # made in the event loop, at the first fetch
        self._overall = asyncio.Semaphore(concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._concurrency, limit_per_host=0,  # the semaphores keep the per-site limit, by host name
                keepalive_timeout=30, resolver=ThreadedResolver() if self.allow_private else _PublicOnly())
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeouts,
                auto_decompress=False,  # decoded here, with bounded output
                trust_env=False,  # a proxy from the environment would hide the address connected to
                cookie_jar=aiohttp.DummyCookieJar(),  # a feed has no session to keep
                headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate, br",
                         "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, "
                                   "text/xml;q=0.9, */*;q=0.5"})
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def fetch(self, url: str, now: datetime, *, etag: str | None = None,
                    last_modified: str | None = None) -> FetchResult:
        """Fetch one feed; failures come back as a result with `error` set, never as an exception."""
        try:
            return await self._fetch(url, now, etag, last_modified)
        except Refused as e:
            return FetchResult(url, error=str(e))
        except aiohttp.ServerTimeoutError:  # a TimeoutError too: the client's own connect or read timeout
            return FetchResult(url, error="timed out")
        except TimeoutError:
            return FetchResult(url, error=f"no complete answer within {self.total_timeout:.0f} s")
        except aiohttp.ClientConnectorError as e:
            return FetchResult(url, error=f"ConnectError: {e}")
        except (aiohttp.InvalidURL, ValueError, UnicodeError) as e:  # a bad port, an overlong host name ...
            return FetchResult(url, error=f"not a usable address: {e}")
        except (aiohttp.ClientError, OSError) as e:  # OSError: a socket error the client let through unwrapped
            return FetchResult(url, error=f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)

    async def _fetch(self, url: str, now: datetime, etag: str | None, last_modified: str | None) -> FetchResult:
        target, permanent = url, True
        conditional = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
        client = self._client()
        for _ in range(MAX_REDIRECTS + 1):
            host = self._check_url(target)
            # The site's turn first, then an overall slot: a queue for one busy site holds no slot other
            # sites could use. The total timeout starts once it is our turn, not while waiting for it.
            async with self._per_host[host], self._overall, asyncio.timeout(self.total_timeout):
                async with client.get(target, headers=conditional, allow_redirects=False) as response:
                    if response.status != 200:
                        await self._drain(response)
                    if response.status in (301, 302, 303, 307, 308) and "location" in response.headers:
                        permanent = permanent and response.status in (301, 308)
                        target = urljoin(target, response.headers["location"])
                        continue
                    body = await self._read(response) if response.status == 200 else None
                    return self._result(url, target, permanent and target != url, response, body, now)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    def _check_url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused(f"{url!r} is not an http(s) URL")
        try:
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError as e:
            raise Refused(f"{url!r} is not a usable address: {e}") from None
        if not self.allow_private:  # the client connects to an address in the URL without asking the resolver
            try:
                literal = forbidden_address(parts.hostname)
            except ValueError:
                literal = False  # a host name: the resolver checks it
            if literal:
                raise Refused(_PRIVATE.format(host=parts.hostname))
        return parts.hostname

    @staticmethod
    async def _drain(response: aiohttp.ClientResponse) -> None:
        """Read a small body that is not the feed, so the connection stays usable; a large one closes it."""
        size = 0
        while chunk := await response.content.readany():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                response.close()
                return

    @staticmethod
    async def _read(response: aiohttp.ClientResponse) -> bytes:
        decode = _decoder(response.headers.get("content-encoding", ""))
        chunks, size = [], 0
        while raw := await response.content.readany():
            chunk = decode(raw, MAX_BODY - size + 1)  # never more than one byte past the cap
            size += len(chunk)
            if size > MAX_BODY:
                response.close()
                raise Refused(f"the feed is larger than {MAX_BODY // 2**20} MiB (after decompression)")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _result(url: str, final: str, moved: bool, response: aiohttp.ClientResponse, body: bytes | None,
                now: datetime) -> FetchResult:
        h = response.headers
        status = response.status
        error = None if status in (200, 304) else f"HTTP {status} {response.reason or ''}".strip()
        return FetchResult(
            url, status, body, dict(h), final, final if moved else None,
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
