"""OPML import and export of feed lists (the only module that imports listparser).

Real-world OPML is often not well-formed XML (unescaped `&`, stray quotes): listparser reads what
it can, and what could not be read is reported, never silently dropped. A file from which no feed
at all could be read is an InputError: nothing is imported. listparser reads bytes as UTF-8 only,
so the file is decoded here, by its byte order mark or the encoding its XML declaration names, and
given to listparser as UTF-8 bytes (never as text: text that looks like a URL, it would fetch).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

import listparser

from claimwatch.errors import InputError
from claimwatch.parsing import control_character, feed_url, lone_surrogate, printable, shown_url

_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")


@dataclass(frozen=True)
class OpmlFeed:
    url: str
    title: str


@dataclass(frozen=True)
class OpmlImport:
    feeds: tuple[OpmlFeed, ...]
    problems: tuple[str, ...]  # one line each: what could not be read


def _as_utf8(body: bytes, problems: list[str]) -> bytes:
    for bom, codec in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                       (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            break
    else:
        declared = _DECLARED.match(body)
        codec = declared.group(1).decode("ascii") if declared else "utf-8"
        if not declared and not _is_utf8(body):  # XML says UTF-8; old tools wrote their system's code page
            codec = "windows-1252"
            problems.append("the file names no encoding and is not UTF-8: it was read as windows-1252")
    try:
        text = body.decode(codec)
    except LookupError:
        raise InputError(f"the OPML file names an encoding Python does not know: {codec}") from None
    except UnicodeDecodeError:  # read what can be read
        text = body.decode(codec, errors="replace")
        problems.append(f"the file is not valid {codec} text: names with characters that could not be read "
                        "show \ufffd, and addresses with them were skipped")
    return text.encode("utf-8")


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def read_opml(body: bytes) -> OpmlImport:
    problems: list[str] = []
    result = listparser.parse(_as_utf8(body, problems))
    if result.get("bozo"):
        problems.append(f"the file is not well-formed OPML ({result.get('bozo_exception')}); "
                        "what could be read was read, some feeds may be missing")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for feed in result.feeds:
        url = (feed.get("url") or "").strip()
        title = (feed.get("title") or "").strip()
        if control_character(title, allow_whitespace=True) or lone_surrogate(title):  # carried by a file: said so
            problems.append(f"{title!r}: control characters and broken text were taken out of the name")
        title = " ".join(printable(title).split())
        try:
            url = feed_url(url)
        except InputError:
            problems.append(f"skipped {title or url!r}: {url!r} is not an http(s) feed address")
            continue
        if "\ufffd" in url:
            problems.append(f"skipped {title or url!r}: its address could not be read")
            continue
        if url not in seen:
            seen.add(url)
            feeds.append(OpmlFeed(url, title or shown_url(url)))
    if not feeds:
        raise InputError("no feeds could be read from the file: "
                         + ("; ".join(problems) if problems else "it is not OPML, or lists no feed addresses"))
    return OpmlImport(tuple(feeds), tuple(problems))


def write_opml(feeds: list[OpmlFeed], title: str = "claimwatch feeds") -> str:
    outlines = "\n".join(f"    <outline type=\"rss\" text={quoteattr(f.title)} title={quoteattr(f.title)} "
                         f"xmlUrl={quoteattr(f.url)}/>" for f in feeds)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">\n  <head><title>{_text(title)}</title></head>\n'
            f"  <body>\n{outlines}\n  </body>\n</opml>\n")


def _text(value: str) -> str:
    return quoteattr(value)[1:-1]
