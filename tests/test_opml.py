"""OPML in and out, broken files included."""

from __future__ import annotations

import pytest

from claimwatch.errors import InputError
from claimwatch.opml import OpmlFeed, read_opml, write_opml


def test_nested_outlines_are_read() -> None:
    body = (b'<?xml version="1.0"?><opml version="2.0"><body><outline text="A" xmlUrl="https://a.example/rss"/>'
            b'<outline text="News"><outline text="B" xmlUrl="https://b.example/feed?x=1&amp;y=2"/></outline>'
            b'</body></opml>')
    result = read_opml(body)
    assert result.feeds == (OpmlFeed("https://a.example/rss", "A"), OpmlFeed("https://b.example/feed?x=1&y=2", "B"))
    assert result.problems == ()


def test_unescaped_ampersands_are_read_anyway() -> None:
    body = (b'<opml version="2.0"><body><outline text="Gas & Oil" xmlUrl="https://a.example/rss?x=1&y=2"/>'
            b'<outline text="C" xmlUrl="https://c.example/rss"/></body></opml>')
    assert [f.url for f in read_opml(body).feeds] == ["https://a.example/rss?x=1&y=2", "https://c.example/rss"]


def test_what_cannot_be_read_is_reported() -> None:
    body = (b'<opml version="2.0"><body><outline text="ok" xmlUrl="https://ok.example/rss"/>'
            b'<outline text="local" xmlUrl="file:///etc/passwd"/><outline text="dup" xmlUrl="https://ok.example/rss"/>'
            b'<outline text="bad "quote"" xmlUrl="https://q.example/rss"/></body>')
    result = read_opml(body)
    assert OpmlFeed("https://ok.example/rss", "ok") in result.feeds
    assert len([f for f in result.feeds if f.url == "https://ok.example/rss"]) == 1
    assert any("file:///etc/passwd" in p for p in result.problems)
    assert "https://q.example/rss" in [f.url for f in result.feeds]  # read despite the stray quotes


@pytest.mark.parametrize("body, says", [
    (b"\x00 not xml at all", "it is not OPML, or lists no feed addresses"),
    (b"<opml><body><outline", "it is not OPML, or lists no feed addresses"),  # cut short
    (b'<opml version="2.0"><body><outline text="x" xmlUrl="file:///etc/passwd"/></body></opml>', "file:///etc/passwd"),
    ('<?xml version="1.0" encoding="utf-8"?><opml><body>Новости</body></opml>'.encode("cp1251"), "not valid utf-8"),
    (b'<?xml version="1.0" encoding="klingon"?><opml/>', "an encoding Python does not know: klingon"),
    (b"https://169.254.169.254/latest/meta-data/", "it is not OPML"),  # never fetched as an address
])
def test_a_file_with_no_readable_feed_imports_nothing_and_says_why(body: bytes, says: str) -> None:
    with pytest.raises(InputError, match="no feeds could be read from the file|OPML file") as error:
        read_opml(body)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_a_file_naming_no_encoding_that_is_not_utf8_is_read_as_windows_1252() -> None:
    body = '<opml version="2.0"><body><outline text="Café" xmlUrl="https://a.example/café"/></body></opml>'
    result = read_opml(body.encode("cp1252"))
    assert result.feeds == (OpmlFeed("https://a.example/café", "Café"),) and "read as windows-1252" in result.problems[0]


def test_feed_addresses_are_kept_with_scheme_and_host_in_lower_case() -> None:
    body = b'<opml><body><outline text="A" xmlUrl="HTTPS://News.Example/RSS"/><outline xmlUrl="https://news.example/RSS"/></body></opml>'
    assert [f.url for f in read_opml(body).feeds] == ["https://news.example/RSS"]


def test_a_bad_byte_spoils_only_what_it_is_in() -> None:
    body = ('\n  <?xml version="1.0" encoding="windows-1251"?><opml version="2.0"><body>'
            '<outline text="Новости" xmlUrl="https://a.example/rss"/></body></opml>').encode("cp1251")
    result = read_opml(body.replace("Новости".encode("cp1251"), b"\x98\xc1")  # 0x98 is no cp1251 character
                       .replace(b"</body>", b'<outline text="B" xmlUrl="https://b.example/\x98"/></body>'))
    assert [f.url for f in result.feeds] == ["https://a.example/rss"] and "not valid windows-1251" in result.problems[0]
    assert "skipped 'B': its address could not be read" in result.problems


@pytest.mark.parametrize("encoding", ["windows-1251", "utf-16"])
def test_the_files_own_encoding_is_read(encoding: str) -> None:
    text = (f'<?xml version="1.0" encoding="{encoding}"?><opml version="2.0"><body>'
            '<outline text="Новости" xmlUrl="https://a.example/rss"/></body></opml>')
    assert read_opml(text.encode(encoding)).feeds == (OpmlFeed("https://a.example/rss", "Новости"),)


def test_export_reimports() -> None:
    feeds = [OpmlFeed("https://a.example/rss?x=1&y=2", 'Quotes "and" <angles>'), OpmlFeed("https://b.example/", "Б")]
    text = write_opml(feeds)
    assert read_opml(text.encode()).feeds == tuple(feeds) and read_opml(text.encode()).problems == ()
