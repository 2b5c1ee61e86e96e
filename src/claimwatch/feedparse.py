"""Reading a fetched RSS/Atom document into entries: feedparser on the bytes, never on a URL or path.

The only module that imports feedparser. It is given the bytes and the HTTP response headers, so
a charset sent only in Content-Type (windows-1251, KOI8-R, GBK, Big5 are common in this field)
is kept. `bozo` is not failure: a feed fails only when nothing usable came out of it. Parsing is
CPU work: call it off the event loop.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import feedparser


@dataclass(frozen=True)
class Entry:
    key: str  # stable identity within the feed: SHA-256 of feed + guid, else link, else title + date
    content_hash: str  # changes when the title or text is edited
    guid: str
    link: str
    title: str  # plain text
    summary: str  # plain text: HTML stripped, entities unescaped
    published: datetime  # UTC; the fetch time when the feed gives none or an absurd one; never later than the fetch
    # Keys this entry may have been seen under before: its key while its guid was its own, or under
    # the rules before keys took the date as written. Trusted only with the same content hash.
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ParsedFeed:
    title: str
    link: str
    ttl_minutes: int | None  # RSS <ttl>
    entries: tuple[Entry, ...]
    problem: str | None  # why nothing usable came out, or what feedparser complained about

    @property
    def usable(self) -> bool:
        return bool(self.entries) or self.problem is None


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0 and C1 controls: an ESC sequence would drive a terminal


def plain_text(html: str) -> str:
    """HTML as plain text: tags dropped, entities unescaped, control characters and runs of white space
    made one space."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    return " ".join(_CONTROL.sub(" ", "".join(parser.parts)).split())


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)  # older is a placeholder ("0001-01-01", Go's zero time), not a date


def _when(entry: Any, fetched_at: datetime) -> datetime:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed") or entry.get("created_parsed")
    if not parsed:
        return fetched_at
    try:
        when = datetime.fromtimestamp(calendar.timegm(parsed), UTC)  # feedparser gives UTC struct_time
    except (OverflowError, ValueError, OSError):  # a year past 9999, say
        return fetched_at
    if when < EARLIEST:
        return fetched_at
    return min(when, fetched_at)  # a date in the future is a publisher's mistake


@dataclass(frozen=True)
class _Draft:
    guid: str
    link: str
    title: str
    summary: str
    written: str  # the date as the feed writes it
    published: datetime


def _keys(feed_id: str, drafts: list[_Draft]) -> list[tuple[str, tuple[str, ...]]]:
    """Each entry's key and aliases. The key hashes what identifies the entry within its feed: its guid,
    else its link, else its title and the date as the feed writes it (not the normalised one: a missing
    or future date would change every poll). An identity shared by several entries (a CMS giving every
    item the site's address as guid) is made unique with the link and title, then the summary, for
    every entry that shares it, whatever their order."""
    first = [d.guid or d.link or f"{d.title}\x00{d.written}" for d in drafts]
    identities = list(first)
    for more in (lambda d: f"{d.link}\x00{d.title}", lambda d: d.summary):
        shared = {i for i, n in Counter(identities).items() if n > 1}
        identities = [f"{i}\x00{more(d)}" if i in shared else i for i, d in zip(identities, drafts, strict=True)]
    keyed = []
    for identity, alone, d in zip(identities, first, drafts, strict=True):
        aliases = [alone] if identity != alone else []
        if not d.guid and not d.link and d.written:  # keyed by the normalised date until 2026-11
            aliases.append(f"{d.title}\x00{d.published.isoformat()}")
        keyed.append((_sha(feed_id, identity), tuple(_sha(feed_id, a) for a in aliases)))
    return keyed


def parse_feed(feed_id: str, body: bytes, headers: dict[str, str], fetched_at: datetime) -> ParsedFeed:
    """The entries of a fetched feed document; `feed_id` keeps entry keys apart between feeds."""
    # No sanitizing or URI resolving: entries become plain text here and are escaped wherever shown,
    # and skipping both makes parsing about a quarter faster.
    data = feedparser.parse(io.BytesIO(body), response_headers={k.lower(): v for k, v in headers.items()},
                            sanitize_html=False, resolve_relative_uris=False)
    exception = data.get("bozo_exception") if data.get("bozo") else None
    complaint = (str(exception) or None) if exception is not None else None
    if data.get("version") and isinstance(exception, feedparser.ThingsNobodyCaresAboutButMe):
        complaint = None  # a feed read whole despite a wrong media type or charset label: even an empty one is fine
    if not data.get("version") and not data.entries:
        reason = complaint or "no RSS or Atom feed found in the response"
        return ParsedFeed("", "", None, (), f"not a feed: {reason}")
    drafts = [_Draft(_CONTROL.sub("", raw.get("id") or "").strip(), _CONTROL.sub("", raw.get("link") or "").strip(),
                     plain_text(raw.get("title", "")),
                     plain_text(raw.get("summary", "") or ""),
                     raw.get("published") or raw.get("updated") or raw.get("created") or "", _when(raw, fetched_at))
              for raw in data.entries]
    entries: list[Entry] = []
    seen: set[str] = set()
    for d, (key, aliases) in zip(drafts, _keys(feed_id, drafts), strict=True):
        if key in seen:
            continue  # the very same entry twice
        seen.add(key)
        entries.append(Entry(key, _sha(d.title, d.summary), d.guid, d.link, d.title, d.summary, d.published, aliases))
    ttl = data.feed.get("ttl")
    return ParsedFeed(plain_text(data.feed.get("title", "")), data.feed.get("link", ""),
                      int(ttl) if str(ttl or "").isdecimal() and len(str(ttl)) <= 6 else None, tuple(entries),
                      None if entries or not complaint else complaint)
