"""Fetching feeds over HTTP the way careful feed readers do (the only module that imports httpx).

- Conditional GET with ETag and Last-Modified; gzip, deflate and brotli.
- At most 5 redirects, followed by hand: a chain of permanent ones (301/308) reports the new URL
  so the caller can store it; a temporary one (302/303/307) does not.
- The body is capped at 10 MiB after decompression: reading stops past it, so a gzip bomb is caught.
- Connect and total timeouts; concurrency limited overall and per host, so a reader with many
  feeds never hammers one site.
- An SSRF guard: a host that resolves to a loopback, private, link-local, CGNAT, multicast or
  otherwise reserved address is refused, checked before connecting and again on the address
  actually connected to, for every redirect, unless private feeds are allowed.
"""

from __future__ import annotations

import asyncio
import email.utils
import ipaddress
import re
import socket
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

import httpx

from claimwatch import __version__

MAX_BODY = 10 * 2**20
MAX_REDIRECTS = 5
USER_AGENT = f"claimwatch/{__version__} (news watcher for claim tracking)"
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_MAX_AGE = re.compile(r"max-age\s*=\s*(\d+)")


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
    return (ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_reserved
            or ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT))


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
        self.allow_private = allow_private
        self.total_timeout = total_timeout
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would hide the address connected to
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate, br",
                     "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"},
        )
        self._overall = asyncio.Semaphore(concurrency)
        self._per_host: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))

    async def aclose(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str, now: datetime, *, etag: str | None = None,
                    last_modified: str | None = None) -> FetchResult:
        """Fetch one feed; failures come back as a result with `error` set, never as an exception."""
        try:
            async with asyncio.timeout(self.total_timeout):
                return await self._fetch(url, now, etag, last_modified)
        except Refused as e:
            return FetchResult(url, error=str(e))
        except TimeoutError:
            return FetchResult(url, error=f"no complete answer within {self.total_timeout:.0f} s")
        except httpx.TimeoutException:
            return FetchResult(url, error="timed out")
        except httpx.HTTPError as e:
            return FetchResult(url, error=f"{type(e).__name__}: {e}" if str(e) else type(e).__name__)
        except (httpx.InvalidURL, ValueError, UnicodeError) as e:  # a bad port, an overlong host name ...
            return FetchResult(url, error=f"not a usable address: {e}")

    async def _fetch(self, url: str, now: datetime, etag: str | None, last_modified: str | None) -> FetchResult:
        target, permanent = url, True
        conditional = {k: v for k, v in (("If-None-Match", etag), ("If-Modified-Since", last_modified)) if v}
        for _ in range(MAX_REDIRECTS + 1):
            host = await self._check_url(target)
            async with self._overall, self._per_host[host]:
                async with self._client.stream("GET", target, headers=conditional) as response:
                    self._check_connected(response)
                    if response.status_code in (301, 302, 303, 307, 308) and "location" in response.headers:
                        permanent = permanent and response.status_code in (301, 308)
                        target = urljoin(target, response.headers["location"])
                        continue
                    body = await self._read(response) if response.status_code == 200 else None
                    return self._result(url, target, permanent and target != url, response, body, now)
        raise Refused(f"more than {MAX_REDIRECTS} redirects")

    async def _check_url(self, url: str) -> str:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Refused(f"{url!r} is not an http(s) URL")
        try:
            parts.port  # noqa: B018 - raises for a port out of range
        except ValueError as e:
            raise Refused(f"{url!r} is not a usable address: {e}") from None
        if not self.allow_private:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
            except socket.gaierror as e:
                raise Refused(f"cannot resolve {parts.hostname}: {e.strerror}") from None
            if any(forbidden_address(info[4][0]) for info in infos):
                raise Refused(f"{parts.hostname} resolves to a private or local address; "
                              "set CLAIMWATCH_ALLOW_PRIVATE_FEEDS=1 to allow it")
        return parts.hostname

    def _check_connected(self, response: httpx.Response) -> None:
        if self.allow_private:
            return
        stream = response.extensions.get("network_stream")
        server = stream.get_extra_info("server_addr") if stream is not None else None
        if server and forbidden_address(server[0]):  # DNS may answer differently the second time
            raise Refused(f"connected to a private or local address ({server[0]}); refused")

    @staticmethod
    async def _read(response: httpx.Response) -> bytes:
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():  # decompressed
            size += len(chunk)
            if size > MAX_BODY:
                raise Refused(f"the feed is larger than {MAX_BODY // 2**20} MiB (after decompression)")
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    def _result(url: str, final: str, moved: bool, response: httpx.Response, body: bytes | None,
                now: datetime) -> FetchResult:
        h = response.headers
        status = response.status_code
        error = None if status in (200, 304) else f"HTTP {status} {response.reason_phrase}".strip()
        return FetchResult(
            url, status, body, dict(h), final, final if moved else None,
            h.get("etag"), h.get("last-modified"),
            retry_after_seconds(h.get("retry-after"), now) if status in (429, 503) else None,
            max_age_seconds(h.get("cache-control")), error)
