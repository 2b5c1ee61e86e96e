"""Reading a fetched RSS/Atom document into entries, from its bytes, never from a URL or path.

The only module that imports feedparser, feedparser-rs and selectolax. feedparser is the reference
and the fallback: given the bytes and the HTTP response headers, so a charset sent only in
Content-Type (windows-1251, KOI8-R, GBK, Big5 are common in this field) is kept. feedparser-rs, a
Rust port of feedparser's API, parses a 50-entry feed in a fortieth of the time; it takes only the
documents it reads as feedparser does (UTF-8 by every account, well-formed RSS 2.0 or Atom 1.0, dates
it can read, no xml:base or Content-Location to resolve links against, none of the constructs
fast_parse lists where the two part ways), and everything else goes to feedparser.
tests/test_feed_equivalence.py holds the two to the same entries over feedparser's own test corpus.
`bozo` is not failure: a feed fails only when nothing usable came out of it. Parsing is CPU work:
call it off the event loop.
"""

from __future__ import annotations

import calendar
import hashlib
import io
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

import feedparser
import feedparser_rs
from selectolax.lexbor import LexborHTMLParser


class Entry(NamedTuple):
    """One entry of a feed. A named tuple, not a dataclass: entries cross from the parser processes to the
    watcher's by the tens of thousands, and a tuple is made, pickled and read back at a fraction of the cost."""

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


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # C0 and C1 controls: an ESC sequence would drive a terminal


def plain_text(html: str) -> str:
    """HTML as plain text: tags dropped, entities unescaped, control characters and runs of white space
    made one space. Text without markup (most titles) skips the HTML parser; the rest goes through
    lexbor (selectolax), about 5x faster than the standard library's parser on summaries of a few
    hundred characters."""
    if "<" in html or "&" in html:
        html = LexborHTMLParser(_CONTROL.sub(" ", html)).text(deep=True)
    return " ".join(_CONTROL.sub(" ", html).split())


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


def _parsed(feed_id: str, title: str, link: str, ttl: object, raw_entries: Any, fetched_at: datetime,
            complaint: str | None) -> ParsedFeed:
    """A ParsedFeed from feedparser-shaped entries (either parser's)."""
    drafts = [_Draft(_CONTROL.sub("", raw.get("id") or "").strip(), _CONTROL.sub("", raw.get("link") or "").strip(),
                     plain_text(raw.get("title") or ""),
                     plain_text(raw.get("summary") or ""),
                     raw.get("published") or raw.get("updated") or raw.get("created") or "", _when(raw, fetched_at))
              for raw in raw_entries]
    entries: list[Entry] = []
    seen: set[str] = set()
    for d, (key, aliases) in zip(drafts, _keys(feed_id, drafts), strict=True):
        if key in seen:
            continue  # the very same entry twice
        seen.add(key)
        entries.append(Entry(key, _sha(d.title, d.summary), d.guid, d.link, d.title, d.summary, d.published, aliases))
    return ParsedFeed(plain_text(title or ""), link or "",
                      int(ttl) if str(ttl or "").isdecimal() and len(str(ttl)) <= 6 else None, tuple(entries),
                      None if entries or not complaint else complaint)


_FAST_VERSIONS = {"rss20", "atom10"}  # what the fast path reads as feedparser does; RSS 0.9x, RDF, Atom 0.3 go to feedparser
_CHARSET = re.compile(r"charset\s*=\s*[\"']?([^\s;\"']+)", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']+)", re.IGNORECASE)
_UTF8 = {"utf-8", "utf8"}
# Read otherwise by feedparser: windows-1252 punctuation written as C1 character references (&#146;)
# or raw C1 characters, which feedparser maps to the characters meant.
_C1 = re.compile(rb"&#(?:1[2-5][0-9]|[xX][89][0-9a-fA-F]);|\xc2[\x80-\x9f]")
_DATED = re.compile(rb"date|created|issued|modified|updated|published", re.IGNORECASE)
_OTHER_TEXT = re.compile(rb"fullitem|<body\b|http://www.w3.org/1999/xhtml")


def _nested_image(body: bytes) -> bool:
    """An <image> inside an item, whose <link> the fast parser takes for the item's."""
    first = min((i for i in (body.find(b"<item"), body.find(b"<entry")) if i >= 0), default=-1)
    return first >= 0 and body.find(b"<image", first) >= 0


def _plain_utf8(body: bytes, headers: dict[str, str]) -> bool:
    """Whether the document is UTF-8 by every account (HTTP, its XML declaration, its bytes): the fast
    parser takes no response headers, so any other encoding is feedparser's to work out."""
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    charset = _CHARSET.search(content_type)
    if charset and charset.group(1).lower() not in _UTF8:
        return False
    body = body.removeprefix(b"\xef\xbb\xbf")
    declared = _XML_ENCODING.match(body)
    if declared and declared.group(1).decode("ascii", "replace").lower() not in _UTF8:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def parse_feed(feed_id: str, body: bytes, headers: dict[str, str], fetched_at: datetime) -> ParsedFeed:
    """The entries of a fetched feed document; `feed_id` keeps entry keys apart between feeds. The fast
    parser reads what it reads as feedparser does; everything else goes to feedparser."""
    return fast_parse(feed_id, body, headers, fetched_at) or reference_parse(feed_id, body, headers, fetched_at)


def reference_parse(feed_id: str, body: bytes, headers: dict[str, str], fetched_at: datetime) -> ParsedFeed:
    """feedparser's reading: the reference, and the fallback for whatever the fast path does not take."""
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
    return _parsed(feed_id, data.feed.get("title", ""), data.feed.get("link", ""), data.feed.get("ttl"),
                   data.entries, fetched_at, complaint)


def fast_parse(feed_id: str, body: bytes, headers: dict[str, str], fetched_at: datetime) -> ParsedFeed | None:
    """The fast parser's reading, or None for a document it may read otherwise than feedparser."""
    if not _plain_utf8(body, headers):
        return None
    try:
        data = feedparser_rs.parse(body, sanitize_html=False, resolve_relative_uris=False)  # bytes: never a URL
    except Exception:  # noqa: BLE001 - whatever it cannot read is feedparser's
        return None
    except BaseException as e:  # a Rust panic arrives as pyo3's PanicException, a BaseException
        if type(e).__name__ != "PanicException":
            raise
        return None
    if data.bozo or data.version not in _FAST_VERSIONS or not data.entries:
        return None
    if ((b"&#" in body or b"\xc2" in body) and _C1.search(body)) or b"base64" in body or b"xml:base" in body \
            or _nested_image(body) or any(k.lower() == "content-location" for k in headers):
        return None  # also base64-encoded text; relative links feedparser resolves (xml:base, Content-Location)
    if data.version == "rss20" and b"<summary" in body:
        return None  # feedparser takes an RSS item's <description> before a <summary>
    entries = [_read_once(raw) for raw in data.entries]
    for raw, rust in zip(entries, data.entries):
        if not (raw.get("published_parsed") or raw.get("updated_parsed")) and _DATED.search(body):
            return None  # a date in an element it does not know (dcterms:issued, say)
        if any(raw.get(written) and not raw.get(f"{written}_parsed") for written in ("published", "updated")):
            return None
        link = raw.get("link") or ""
        if "[" in link or "[" in (raw.get("id") or ""):
            return None  # feedparser drops a guid it cannot read as a URL
        if not link and any(not alternate.href for alternate in rust.get("links") or ()):
            return None  # it blanks a link to a private address (127.0.0.1, 10.x, .internal): an intranet feed's
        if not raw.get("summary") and _OTHER_TEXT.search(body):
            return None  # text in an element it does not read (XHTML <body>, <fullitem>)
    return _parsed(feed_id, data.feed.get("title"), data.feed.get("link"), data.feed.get("ttl"), entries,
                   fetched_at, None)


_READ = ("id", "link", "title", "summary", "published", "updated", "created")


def _read_once(raw: Any) -> dict[str, Any]:
    """A feedparser-rs entry as the fields read here, each taken once: it makes a new struct_time at every look
    at a date (2 µs), and the checks above and _parsed look at each several times."""
    fields = {name: raw.get(name) for name in _READ}
    fields["published_parsed"] = raw.get("published_parsed")
    if fields["updated"] or not fields["published_parsed"]:
        fields["updated_parsed"] = raw.get("updated_parsed")
    if not (fields["published_parsed"] or fields.get("updated_parsed")):
        fields["created_parsed"] = raw.get("created_parsed")
    return fields
