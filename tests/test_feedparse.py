"""Reading fetched feed documents: encodings from HTTP headers, broken feeds, dates, dedupe keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from claimwatch.feedparse import _sha, parse_feed, plain_text

FETCHED = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def rss(items: str, *, declaration: str = '<?xml version="1.0"?>', extra: str = "") -> str:
    return (f"{declaration}<rss version=\"2.0\"><channel><title>Feed &amp; Co</title><link>https://n.example/</link>"
            f"{extra}{items}</channel></rss>")


def item(title: str, *, guid: str = "", link: str = "", date: str = "", description: str = "") -> str:
    return (f"<item><title>{title}</title>" + (f"<guid>{guid}</guid>" if guid else "")
            + (f"<link>{link}</link>" if link else "") + (f"<pubDate>{date}</pubDate>" if date else "")
            + (f"<description>{description}</description>" if description else "") + "</item>")


@pytest.mark.parametrize("charset, title", [
    ("windows-1251", "Сила Сибири 2: переговоры продолжаются"),
    ("koi8-r", "Замороженные российские активы"),
    ("gbk", "西伯利亚力量2号天然气管道"),
    ("big5", "西伯利亞力量2號天然氣管道"),
])
def test_the_http_charset_is_kept(charset: str, title: str) -> None:
    body = rss(item(title, guid="g1")).encode(charset)  # the document itself names no encoding
    feed = parse_feed("f1", body, {"Content-Type": f"application/rss+xml; charset={charset}"}, FETCHED)
    assert [e.title for e in feed.entries] == [title]


def test_a_broken_but_usable_feed_is_read() -> None:
    body = rss(item("Gas & oil", guid="g1", description="Talks & more")).encode()  # unescaped &
    feed = parse_feed("f1", body, {}, FETCHED)
    assert feed.usable and [e.title for e in feed.entries] == ["Gas & oil"]


@pytest.mark.parametrize("body, reason", [
    (b"<html><body>Not a feed</body></html>", "not a feed"),
    (b"\x00\x01garbage", "not a feed"),
    (b"", "not a feed"),
])
def test_nothing_usable_is_a_failure_with_a_reason(body: bytes, reason: str) -> None:
    feed = parse_feed("f1", body, {"Content-Type": "text/html"}, FETCHED)
    assert not feed.usable and feed.entries == () and reason in feed.problem


def test_an_empty_feed_with_a_wrong_media_type_is_no_failure() -> None:
    feed = parse_feed("f1", rss("").encode(), {"Content-Type": "application/octet-stream"}, FETCHED)
    assert feed.usable and feed.entries == () and feed.problem is None


def test_html_is_stripped_and_entities_unescaped() -> None:
    body = rss(item("A &amp;amp; B", guid="g", description="&lt;p&gt;Power of &lt;b&gt;Siberia&lt;/b&gt; 2 &amp;amp; "
                                                        "&amp;#8212; talks&lt;/p&gt;"))
    entry = parse_feed("f1", body.encode(), {}, FETCHED).entries[0]
    assert (entry.title, entry.summary) == ("A & B", "Power of Siberia 2 & — talks")
    assert plain_text("<div>one<br>two</div>  <script>x</script>") == "onetwo x"


def test_control_characters_never_reach_a_terminal() -> None:
    body = rss(item("Talks &#x1b;[31mRED&#x1b;[0m end", guid="g", link="https://n.example/&#x1b;[2Ja",
                    description="x\u007fy"))
    entry = parse_feed("f1", body.encode(), {}, FETCHED).entries[0]
    assert (entry.title, entry.summary, entry.link) == ("Talks [31mRED [0m end", "x y", "https://n.example/[2Ja")


def test_dates_are_utc_missing_is_the_fetch_time_and_the_future_is_clamped() -> None:
    body = rss(item("dated", guid="1", date="Mon, 06 May 2024 12:00:00 +0300") + item("undated", guid="2")
               + item("future", guid="3", date="Fri, 01 Jan 2100 00:00:00 GMT")
               + item("zero", guid="4", date="0001-01-01T00:00:00Z"))  # Go's zero time: a placeholder
    dates = {e.title: e.published for e in parse_feed("f1", body.encode(), {}, FETCHED).entries}
    assert dates == {"dated": datetime(2024, 5, 6, 9, 0, tzinfo=UTC), "undated": FETCHED, "future": FETCHED,
                     "zero": FETCHED}


def test_atom_feeds_and_ttl() -> None:
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title>'
            '<entry><id>urn:1</id><title>Entry</title><link href="https://a.example/1"/>'
            '<updated>2024-05-06T10:00:00Z</updated><summary>text</summary></entry></feed>')
    feed = parse_feed("f1", atom.encode(), {}, FETCHED)
    assert [(e.guid, e.link, e.published) for e in feed.entries] == [
        ("urn:1", "https://a.example/1", datetime(2024, 5, 6, 10, tzinfo=UTC))]
    assert parse_feed("f1", rss("", extra="<ttl>45</ttl>").encode(), {}, FETCHED).ttl_minutes == 45


@pytest.mark.parametrize("link", ["http://127.0.0.1:8765/a1", "http://10.1.2.3/news/1", "http://[::1]/a",
                                  "http://localhost/a", "https://news.corp.internal/a"])
def test_an_intranet_feeds_entry_links_are_kept(link: str) -> None:
    """Fetching an intranet feed is the operator's choice (CLAIMWATCH_ALLOW_PRIVATE_FEEDS); its links are evidence."""
    feed = parse_feed("f1", rss(item("Pipeline talks", link=link) + item("Second", guid=link + "?2")).encode(),
                      {}, FETCHED)
    assert [e.link for e in feed.entries] == [link, link + "?2"]
    atom = ('<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><entry><id>urn:1</id><title>Entry</title>'
            f'<link href="{link}"/><updated>2024-05-06T10:00:00Z</updated></entry></feed>')
    assert [e.link for e in parse_feed("f1", atom.encode(), {}, FETCHED).entries] == [link]


def test_entry_keys_are_stable_per_feed_and_fall_back_from_guid_to_link_to_title() -> None:
    body = rss(item("a", guid="g") + item("b", link="https://n.example/b") + item("c", date="Mon, 06 May 2024 10:00:00 GMT"))
    first = parse_feed("feed-1", body.encode(), {}, FETCHED).entries
    again = parse_feed("feed-1", body.encode(), {}, FETCHED + timedelta(hours=1)).entries
    other = parse_feed("feed-2", body.encode(), {}, FETCHED).entries
    assert [e.key for e in first] == [e.key for e in again]
    assert not {e.key for e in first} & {e.key for e in other}
    assert len({e.key for e in first}) == 3


def test_a_guid_repeated_within_a_feed_keeps_both_entries() -> None:
    body = rss(item("first", guid="same", link="https://n.example/1") + item("second", guid="same", link="https://n.example/2")
               + item("second", guid="same", link="https://n.example/2"))
    entries = parse_feed("f1", body.encode(), {}, FETCHED).entries
    assert [e.title for e in entries] == ["first", "second"] and entries[0].key != entries[1].key


def test_keys_of_entries_sharing_a_guid_do_not_depend_on_their_order() -> None:
    """A CMS giving every item the site's address as guid: a new item on top must not take the key of
    the one below it (which would hide the new one as an "edit" and alert the old one again)."""
    def entries(*numbers: int):
        body = rss("".join(item(f"news {n}", guid="https://site.example/", link=f"https://site.example/{n}")
                           for n in numbers))
        return {e.title: e.key for e in parse_feed("f1", body.encode(), {}, FETCHED).entries}
    before, after = entries(2, 1), entries(3, 2, 1)
    assert after["news 2"] == before["news 2"] and after["news 1"] == before["news 1"]
    assert after["news 3"] not in before.values()


@pytest.mark.parametrize("date", ["", "Fri, 01 Jan 2100 00:00:00 GMT"])
def test_an_entry_with_only_a_title_keeps_its_key_from_poll_to_poll(date: str) -> None:
    """Without guid or link the key is the title and the date as written: neither the fetch time (for a
    missing date) nor the clamped one (for a future date) may enter it."""
    body = rss(item("gas deal", date=date)).encode()
    first = parse_feed("f1", body, {}, FETCHED).entries[0]
    later = parse_feed("f1", body, {}, FETCHED + timedelta(minutes=15)).entries[0]
    assert first.key == later.key


def test_entries_alike_but_for_their_summary_are_both_kept() -> None:
    body = rss(item("Update", date="Mon, 06 May 2024 10:00:00 GMT", description="first")
               + item("Update", date="Mon, 06 May 2024 10:00:00 GMT", description="second"))
    entries = parse_feed("f1", body.encode(), {}, FETCHED).entries
    assert [e.summary for e in entries] == ["first", "second"] and entries[0].key != entries[1].key


def test_an_entry_keeps_the_key_it_had_before_as_an_alias() -> None:
    """Its own guid's key once another entry shares the guid; the key of the rules before 2026-11 for an
    entry with only a title and a date (title and the normalised date)."""
    alone = parse_feed("f1", rss(item("a", guid="G", link="https://s.example/a")).encode(), {}, FETCHED).entries[0]
    shared = parse_feed("f1", rss(item("b", guid="G", link="https://s.example/b")
                                  + item("a", guid="G", link="https://s.example/a")).encode(), {}, FETCHED).entries[1]
    assert shared.key != alone.key and alone.key in shared.aliases
    dated = parse_feed("f1", rss(item("t", date="Mon, 06 May 2024 10:00:00 GMT")).encode(), {}, FETCHED).entries[0]
    assert _sha("f1", "t\x002024-05-06T10:00:00+00:00") in dated.aliases


def test_an_edit_changes_the_content_hash_not_the_key() -> None:
    before = parse_feed("f1", rss(item("Talks stall", guid="g")).encode(), {}, FETCHED).entries[0]
    after = parse_feed("f1", rss(item("Talks stall again", guid="g")).encode(), {}, FETCHED).entries[0]
    assert before.key == after.key and before.content_hash != after.content_hash


def test_a_path_is_never_opened(tmp_path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_text(rss(item("from disk", guid="g")))
    feed = parse_feed("f1", str(secret).encode(), {}, FETCHED)
    assert feed.entries == () and not feed.usable


def test_an_address_is_never_fetched() -> None:
    from feedserver import FeedServer, respond
    with FeedServer() as server:
        server.routes["/feed"] = respond(rss(item("fetched", guid="g", date="Mon, 06 May 2024 12:00:00 GMT")).encode())
        feed = parse_feed("f1", f"{server.url}/feed".encode(), {}, FETCHED)
        assert feed.entries == () and not feed.usable and server.seen == []


def test_a_placeholder_date_stored_before_it_was_dropped_still_renders() -> None:
    from zoneinfo import ZoneInfo

    from claimwatch.render import when
    assert when(datetime(1, 1, 1, tzinfo=UTC), ZoneInfo("America/New_York")).endswith("01-01 00:00")
