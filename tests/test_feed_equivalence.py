"""The fast parse path against feedparser, its reference: over feedparser's own test corpus and the
project's fixtures, every document the fast path takes gives the same feed and the same entries (keys,
guids, links, titles, text, dates) as feedparser does; every other document goes to feedparser.

The corpus (about 2,250 well-formed and ill-formed feeds in many encodings) ships in feedparser's
source distribution on the package index, for the very version installed: it is downloaded once
into pytest's cache directory, never copied into this repository. Set CLAIMWATCH_FEEDPARSER_SDIST to
the path of that .tar.gz to use a copy at hand instead.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from claimwatch.feedparse import ParsedFeed, fast_parse, parse_feed, reference_parse

from test_feedparse import item, rss
from test_watcher import EN, RU, ZH

FETCHED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
_HEADER = re.compile(rb"^Header:\s+([^:]+):(.+)$", re.MULTILINE)  # how the corpus gives a document's HTTP headers


@pytest.fixture(scope="session")
def corpus(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """feedparser's tests/ folder from its source distribution, for the installed version."""
    version = feedparser.__version__
    name = f"feedparser-{version}-corpus"
    store = getattr(request.config, "cache", None)  # None with -p no:cacheprovider
    cache = store.mkdir(name) if store is not None else tmp_path_factory.mktemp(name)
    tests = cache / f"feedparser-{version}" / "tests"
    if not (tests / "wellformed").is_dir():
        sdist = os.environ.get("CLAIMWATCH_FEEDPARSER_SDIST")
        if not sdist:
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                            "--dest", str(cache), f"feedparser=={version}"], check=True, timeout=600)
            sdist = str(next(cache.glob(f"feedparser-{version}.tar.gz")))
        partial = Path(tempfile.mkdtemp(dir=cache))  # renamed into place whole: an interrupted run leaves no half
        with tarfile.open(sdist) as archive:
            archive.extractall(partial, members=[m for m in archive.getmembers() if "/tests/" in m.name],
                               filter="data")
        shutil.rmtree(cache / f"feedparser-{version}", ignore_errors=True)
        (partial / f"feedparser-{version}").rename(cache / f"feedparser-{version}")
        partial.rmdir()
    return tests


def documents(tests: Path) -> list[tuple[str, bytes, dict[str, str]]]:
    found = []
    for path in sorted(tests.rglob("*")):
        if path.is_file() and path.suffix != ".py":
            body = path.read_bytes()
            headers = {k.decode("latin-1").strip(): v.decode("latin-1").strip() for k, v in _HEADER.findall(body[:4096])}
            found.append((str(path.relative_to(tests)), body, headers))
    return found


def differences(reference: ParsedFeed, fast: ParsedFeed) -> list[str]:
    """What differs, field by field, for a readable failure."""
    out = [f"feed {name}: {a!r} != {b!r}" for name, a, b in (
        ("title", reference.title, fast.title), ("link", reference.link, fast.link),
        ("ttl", reference.ttl_minutes, fast.ttl_minutes), ("problem", reference.problem, fast.problem),
        ("entries", len(reference.entries), len(fast.entries))) if a != b]
    for n, (a, b) in enumerate(zip(reference.entries, fast.entries)):
        out += [f"entry {n} {name}: {getattr(a, name)!r:.80} != {getattr(b, name)!r:.80}"
                for name in ("key", "guid", "link", "title", "summary", "published", "aliases", "content_hash")
                if getattr(a, name) != getattr(b, name)]
    return out


def compare(docs: list[tuple[str, bytes, dict[str, str]]]) -> tuple[int, dict[str, list[str]]]:
    """How many documents the fast path took, and what differed from feedparser in any of them."""
    taken, differ = 0, {}
    for name, body, headers in docs:
        fast = fast_parse("feed-1", body, headers, FETCHED)
        if fast is None:
            continue
        taken += 1
        reference = reference_parse("feed-1", body, headers, FETCHED)
        if fast != reference:
            differ[name] = differences(reference, fast)
    return taken, differ


def test_the_fast_path_reads_feedparsers_corpus_as_feedparser_does(corpus: Path) -> None:
    docs = documents(corpus)
    assert len(docs) > 2000  # the whole corpus, not a folder of it
    taken, differ = compare(docs)
    assert differ == {}
    # It must take a fair share (most of the corpus is RSS 0.9x, RDF, Atom 0.3, ill-formed, in other
    # encodings or without any entry, and goes to feedparser): a path that takes nothing proves nothing.
    assert taken > 600


def test_the_fast_path_reads_documents_as_http_labels_them(corpus: Path) -> None:
    """The same documents served as text/xml, whose charset defaults to US-ASCII for feedparser (RFC 3023)."""
    docs = [(name, body, headers or {"Content-Type": "text/xml"}) for name, body, headers in documents(corpus)]
    taken, differ = compare(docs)
    assert differ == {} and taken > 600


WORDPRESS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel><title>Аналитика &#8211; Центр</title><link>https://center.example</link><ttl>30</ttl>
<item><title>Сила Сибири 2: переговоры &#171;на паузе&#187;</title><link>https://center.example/2024/05/pos2/</link>
<dc:creator><![CDATA[Иван]]></dc:creator><pubDate>Thu, 16 May 2024 09:12:00 +0000</pubDate>
<category><![CDATA[Энергетика]]></category><guid isPermaLink="false">https://center.example/?p=101</guid>
<description><![CDATA[<p>Газопровод <a href="https://center.example/x">не упоминался</a> &hellip;</p>]]></description>
<content:encoded><![CDATA[<p>Полный текст. <strong>Цена</strong> не согласована.</p><figure><img src="a.jpg"/></figure>]]></content:encoded>
</item>
<item><title>China&#8217;s exports to Russia fell &amp; more</title><link>https://center.example/2024/05/exports/</link>
<pubDate>Wed, 15 May 2024 18:00:00 GMT</pubDate><guid>https://center.example/2024/05/exports/</guid>
<content:encoded><![CDATA[<p>Exports declined compared to the same months the year before.</p>]]></content:encoded></item>
</channel></rss>"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">Think &lt;i&gt;tank&lt;/i&gt;</title>
<link href="https://tank.example/"/><updated>2024-05-17T10:00:00+03:00</updated><id>urn:tank</id>
<entry><id>tag:tank.example,2024:1</id><title type="text">Peace summit: China &amp; the decision</title>
<link rel="alternate" href="https://tank.example/1"/><published>2024-05-16T12:00:00+03:00</published>
<updated>2024-05-17T08:00:00Z</updated><summary type="html">&lt;p&gt;Not yet announced.&lt;/p&gt;</summary></entry>
<entry><id>tag:tank.example,2024:2</id><title>Xi 习近平 and Putin</title><link href="https://tank.example/2"/>
<updated>2024-05-16T09:00:00Z</updated><content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Joint
statement, <b>signed</b>.</p></div></content></entry></feed>"""

FIXTURES = [
    ("watcher en", EN.encode(), {}),
    ("watcher ru", RU.encode("windows-1251"), {"Content-Type": "application/rss+xml; charset=windows-1251"}),
    ("watcher zh", ZH.encode("gb2312"), {"Content-Type": "text/xml; charset=gb2312"}),
    ("wordpress", WORDPRESS.encode(), {"Content-Type": "application/rss+xml; charset=UTF-8"}),
    ("atom", ATOM.encode(), {"Content-Type": "application/atom+xml"}),
    ("rfc 822 offset", rss(item("a", guid="1", date="Mon, 06 May 2024 12:00:00 +03:00")).encode(), {}),
    ("moscow time", rss(item("b", guid="2", date="Mon, 06 May 2024 12:00:00 MSK")).encode(), {}),
    ("relative link", rss(item("c", guid="3", link="/news/3", date="Mon, 06 May 2024 12:00:00 GMT")).encode(), {}),
    ("relative link under xml:base", rss(item("c", guid="3", link="news/3", date="Mon, 06 May 2024 12:00:00 GMT"))
     .replace('<channel>', '<channel xml:base="https://n.example/a/">').encode(), {}),
    ("relative link and Content-Location", rss(item("c", guid="3", link="news/3", date="Mon, 06 May 2024 12:00:00 GMT"))
     .encode(), {"Content-Location": "https://n.example/b/feed.xml"}),
    ("bare ampersand", rss(item("Gas & oil", guid="4", date="Mon, 06 May 2024 12:00:00 GMT")).encode(), {}),
    ("html entity", rss(item("A &nbsp; B", guid="5", date="Mon, 06 May 2024 12:00:00 GMT")).encode(), {}),
    ("shared guid", rss(item("x", guid="G", link="https://s.example/1", date="Mon, 06 May 2024 12:00:00 GMT")
                        + item("y", guid="G", link="https://s.example/2", date="Mon, 06 May 2024 12:00:00 GMT")).encode(), {}),
    ("no date", rss(item("d", guid="6") + item("e", guid="7")).encode(), {}),
    ("placeholder date", rss(item("f", guid="8", date="0001-01-01T00:00:00Z")).encode(), {}),
    ("future date", rss(item("g", guid="9", date="Fri, 01 Jan 2100 00:00:00 GMT")).encode(), {}),
    ("control characters", rss(item("T &#x1b;[31mRED", guid="10", date="Mon, 06 May 2024 12:00:00 GMT",
                                    description="x\u007fy")).encode(), {}),
    ("windows-1252 quotes", rss(item("don&#146;t", guid="11", date="Mon, 06 May 2024 12:00:00 GMT")).encode(), {}),
]


def test_the_fast_path_reads_the_projects_fixtures_as_feedparser_does() -> None:
    taken, differ = compare(FIXTURES)
    assert differ == {}
    assert taken >= 8


@pytest.mark.parametrize("name, body, headers", [f for f in FIXTURES if f[0] in ("wordpress", "atom", "watcher en",
                                                                                   "relative link")])
def test_common_feeds_take_the_fast_path(name: str, body: bytes, headers: dict[str, str]) -> None:
    fast = fast_parse("feed-1", body, headers, FETCHED)
    assert fast is not None and fast == parse_feed("feed-1", body, headers, FETCHED) and fast.entries


@pytest.mark.parametrize("name", ["watcher ru", "watcher zh", "relative link under xml:base",
                                  "relative link and Content-Location", "rfc 822 offset", "moscow time",
                                  "bare ampersand", "html entity", "windows-1252 quotes"])
def test_what_the_fast_path_may_read_otherwise_goes_to_feedparser(name: str) -> None:
    _, body, headers = next(f for f in FIXTURES if f[0] == name)
    assert fast_parse("feed-1", body, headers, FETCHED) is None
    assert parse_feed("feed-1", body, headers, FETCHED) == reference_parse("feed-1", body, headers, FETCHED)
