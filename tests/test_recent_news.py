"""The recent-news window: claims added or edited later are matched against the news already fetched."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from claimwatch import ledger, render
from claimwatch.chat import ChatService, ChatSettings, Incoming
from claimwatch.model import Feed, NewsItem, Role, evidence_from_dict
from claimwatch.store import RECENT_LIMIT, open_store

from conftest import NOW, UTC_TZ, run_cli
from feedserver import FeedServer, respond
from test_watcher import cycle

RUSSIAN = ('<rss version="2.0"><channel><title>Новости</title>'
           '<item><guid>1</guid><title>Переговоры в Минске перенесли</title><link>https://n.example/1</link>'
           '<description>Делегации прибудут из Минска позже</description>'
           '<pubDate>Sun, 01 Mar 2026 10:00:00 GMT</pubDate></item>'
           '<item><guid>2</guid><title>Экспорт из Беларуси вырос</title><link>https://n.example/2</link>'
           '<description>Граница с Беларусью открыта</description><pubDate>Sun, 01 Mar 2026 11:00:00 GMT</pubDate></item>'
           '<item><guid>3</guid><title>Газета о минских заводах</title><link>https://n.example/3</link>'
           '<description>Ничего о переговорах</description><pubDate>Sun, 01 Mar 2026 12:00:00 GMT</pubDate></item>'
           '</channel></rss>')


def polled_store(tmp_path: Path):
    """A data directory whose one feed was polled before any claim watched it."""
    store = open_store(tmp_path / "data")
    with FeedServer() as server:
        server.routes["/ru"] = respond(RUSSIAN.encode())
        store.add_feed(Feed(0, f"{server.url}/ru", "Новости", NOW, "ana"))
        (report,) = cycle(store, NOW)
    assert report.new == 3 and not report.evidence
    return store


def test_a_claim_added_after_the_poll_gets_the_matching_news_as_backfill_without_alerts(tmp_path: Path) -> None:
    store = polled_store(tmp_path)
    claim = ledger.add_claim(store, ledger.NewClaim(text="Talks move to Minsk", watch=("Минск",)), "ana", NOW)
    assert ledger.match_recent_news(store, [claim], NOW) == 1
    (item,) = store.evidence_for(claim.id)
    assert (item.title, item.backfill, item.reasons()) == ("Переговоры в Минске перенесли", True, ("Минске ← Минск",))
    assert store.alert_events() == []  # backfill alerts nobody
    assert ledger.match_recent_news(store, [claim], NOW) == 0  # once


def test_editing_the_watch_terms_adds_the_new_matches_once(tmp_path: Path) -> None:
    store = polled_store(tmp_path)
    claim = ledger.add_claim(store, ledger.NewClaim(text="Belarus", watch=("Минск",)), "ana", NOW)
    ledger.match_recent_news(store, [claim], NOW)
    edited = ledger.edit_claim(store, claim.id, "watch", "Минск, Беларусь", "ana", NOW, UTC_TZ)
    assert ledger.match_recent_news(store, [edited], NOW) == 1  # Беларуси; Минске is evidence already
    back = ledger.edit_claim(store, claim.id, "watch", "Минск", "ana", NOW, UTC_TZ)
    again = ledger.edit_claim(store, claim.id, "watch", "Минск, Беларусь", "ana", NOW, UTC_TZ)
    assert ledger.match_recent_news(store, [back], NOW) == 0 and ledger.match_recent_news(store, [again], NOW) == 0
    assert sorted(e.title for e in store.evidence_for(claim.id)) == ["Переговоры в Минске перенесли",
                                                                      "Экспорт из Беларуси вырос"]


def test_news_older_than_14_days_is_pruned_and_the_window_is_bounded(data: Path | str) -> None:
    store = open_store(data)
    old = NewsItem("Wire", "https://n.example/old", "Old news of Minsk", "", NOW - timedelta(days=20))
    fresh = NewsItem("Wire", "https://n.example/new", "New news of Minsk", "", NOW - timedelta(days=10))
    store.add_news([old, fresh], NOW - timedelta(days=15))
    assert len(store.recent_news(NOW - timedelta(days=15))) == 2  # both within 14 days on that day
    store.add_news([NewsItem("Wire", "https://n.example/x", "x", "", NOW)], NOW)
    # pruned from the file, not just left out when read: seen from 15 days ago, the old item is gone
    assert [i.title for i in open_store(data).recent_news(NOW - timedelta(days=15))] == [
        "x", "New news of Minsk"]
    many = [NewsItem("Wire", f"https://n.example/{i}", f"item {i}", "", NOW - timedelta(seconds=i))
            for i in range(RECENT_LIMIT + 5)]
    store.add_news(many, NOW)
    kept = store.recent_news(NOW)
    assert len(kept) == RECENT_LIMIT and kept[0].title == "x" and kept[-1].title == f"item {RECENT_LIMIT - 2}"


def test_the_same_news_fetched_again_is_kept_once(data: Path | str) -> None:
    store = open_store(data)
    item = NewsItem("Wire", "https://n.example/1", "Minsk", "", NOW)
    store.add_news([item], NOW)
    store.add_news([item], NOW)  # a cycle repeated after a crash before its seen entries were written
    assert store.recent_news(NOW) == [item]
    other = NewsItem("Wire", "https://n.example/2", "Minsk again", "", NOW)
    store.add_news([other, item, other], NOW)  # in one batch too (two feeds' entries, the same item)
    assert store.recent_news(NOW) == [item, other]


# A writer that keeps adding news and prints each batch's number once the write returned.
NEWS_WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from claimwatch.model import NewsItem
from claimwatch.store import open_store
store = open_store(sys.argv[1])
now = datetime(2026, 3, 2, tzinfo=UTC)
print("ready", flush=True)
for batch in range(100_000):
    store.add_news([NewsItem("Wire", f"https://n.example/{batch}/{i}", f"batch {batch} item {i}", "x" * 500,
                             now - timedelta(seconds=batch)) for i in range(50)], now)
    print(batch, flush=True)
"""


def test_the_window_survives_a_kill_during_its_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    open_store(data)
    proc = subprocess.Popen([sys.executable, "-c", NEWS_WRITER, str(data)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
    first = proc.stdout.readline()  # a batch acknowledged (a slow machine may take a while to write the first)
    time.sleep(0.8)
    os.kill(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    acked = [int(line) for line in [first, *out.splitlines(keepends=True)] if line.endswith("\n")]
    assert acked, "the writer wrote nothing before it was killed"
    titles = {i.title for i in open_store(data).recent_news(NOW)}
    assert all(f"batch {b} item 49" in titles for b in acked)  # every acknowledged batch, whole


def test_trywatch_add_edit_and_evidence_in_chat(tmp_path: Path) -> None:
    store = polled_store(tmp_path)
    store.set_role(2, Role.ANALYST, "ana", "test", NOW)
    chat = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "claimwatch_test_bot"))

    def say(text: str) -> str:
        return "\n".join(r.text for r in chat.handle(Incoming(2, 2, text, "ana", "private"), NOW))

    tried = say("/trywatch Минск, Беларус*")
    assert "2 news items from the last 14 days match" in tried
    assert "Минске ← Минск" in tried and "Беларуси ← Беларус*" in tried and "Газета" not in tried
    assert "1 news item from the last 14 days matches" in say("/trywatch =Минске")
    assert "No news from the last 14 days matches" in say("/trywatch Лукашенко")
    assert "marks no word" in say("/trywatch *") and "marks no word" in say("/trywatch =")
    assert "give the watch terms to try" in say("/trywatch")
    assert "1 news item from the last 14 days matches; /evidence 1" in say("/add Talks move to Minsk | watch Минск")
    assert "1 news item from the last 14 days matches; /evidence 1" in say("/edit 1 watch Минск, Беларусь")
    evidence = say("/evidence 1")
    assert "Беларуси ← Беларусь" in evidence and "Минске ← Минск" in evidence and "earlier news" in evidence
    assert store.alert_events() == []


def test_the_guided_add_says_what_its_watch_terms_would_find(tmp_path: Path) -> None:
    store = polled_store(tmp_path)
    store.set_role(2, Role.ANALYST, "ana", "test", NOW)
    chat = ChatService(store, ChatSettings(UTC_TZ, frozenset({1}), "invite", "claimwatch_test_bot"))
    for step in ("/add", "Talks move to Minsk", "skip", "skip"):
        chat.handle(Incoming(2, 2, step, "ana", "private"), NOW)
    (confirm,) = chat.handle(Incoming(2, 2, "watch Минск", "ana", "private"), NOW)
    assert "1 news item from the last 14 days matches: <code>/trywatch Минск</code>" in confirm.text


def test_watch_try_add_and_import_on_the_command_line(tmp_path: Path, data: Path | str) -> None:
    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    yesterday = format_datetime(datetime.now(UTC) - timedelta(days=1), usegmt=True)  # the CLI runs on the real clock
    with FeedServer() as server:
        server.routes["/ru"] = respond(RUSSIAN.replace("Sun, 01 Mar 2026", yesterday[:16]).encode())
        assert run_cli("feeds", "add", server.url + "/ru", "Новости", data=data, env=env).returncode == 0
        assert "3 new" in run_cli("watch", "--once", data=data, env=env).stdout
    tried = run_cli("watch", "--try", "Минск, -перенесли", data=data)
    assert tried.returncode == 0 and "No news from the last 14 days matches" in tried.stdout
    tried = run_cli("watch", "--try", "Беларусь", data=data)
    assert "1 news item from the last 14 days matches:" in tried.stdout and "Беларуси ← Беларусь" in tried.stdout
    bad = run_cli("watch", "--try", "бел*рус", data=data)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "* may only end a word" in bad.stderr
    empty = run_cli("watch", "--try", " ", data=data)
    assert empty.returncode == 2 and "give the watch terms to try" in empty.stderr
    alone = run_cli("watch", "--show", "3", data=data)  # no watch loop started by mistake
    assert alone.returncode == 2 and "--show goes with --try" in alone.stderr
    once = run_cli("watch", "--try", "Минск", "--once", data=data)
    assert once.returncode == 2 and "does not take --once" in once.stderr
    added = run_cli("add", "Talks move to Minsk", "--watch", "Минск", data=data)
    assert "1 news item from the last 14 days matches; claimwatch evidence 19" in added.stdout
    (item,) = json.loads(run_cli("evidence", "19", "--json", data=data).stdout)
    assert item["words"] == ["Минске"] and item["backfill"] is True
    doc = tmp_path / "claims.json"
    doc.write_text(json.dumps({"version": 1, "claims": [{"text": "Belarus exports grow", "watch": ["Беларусь"]}]}))
    imported = run_cli("import", str(doc), data=data)
    assert "1 news item from the last 14 days matches" in imported.stdout


def test_watch_once_finds_the_case_forms_of_base_form_terms_and_alerts_them(tmp_path: Path, data: Path | str) -> None:
    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    first = RUSSIAN.replace("Sun, 01 Mar 2026", format_datetime(datetime.now(UTC), usegmt=True)[:16])
    later = first.replace("</channel>", '<item><guid>4</guid><title>Лукашенко прилетел в Беларусь</title>'
                                        '<link>https://n.example/4</link><description>Встреча с Лукашенко в аэропорту '
                                        'Минска</description></item>'
                                        '<item><guid>5</guid><title>Новые санкции против Беларуси</title>'
                                        '<link>https://n.example/5</link></item></channel>')
    assert run_cli("add", "Belarus talks", "--watch", "Минск, Беларусь", data=data).returncode == 0
    console = run_cli("console", data=data, input="/subscribe all\n")
    assert console.returncode == 0
    with FeedServer() as server:
        server.routes["/ru"] = respond(first.encode())
        assert run_cli("feeds", "add", server.url + "/ru", "Новости", data=data, env=env).returncode == 0
        polled = run_cli("watch", "--once", data=data, env=env)
        assert "3 new, 0 edited, 2 matches (first poll: kept without alerts)" in polled.stdout
        server.routes["/ru"] = respond(later.encode())
        again = run_cli("watch", "--once", data=data, env=env)
    assert "2 new, 0 edited, 2 matches" in again.stdout, again.stdout
    assert "Беларусь ← Беларусь" not in again.stdout  # the term alone where the item has it as written
    assert "Беларуси ← Беларусь" in again.stdout  # an alert says which words matched
    evidence = run_cli("evidence", "19", data=data).stdout
    for words in ("Минске ← Минск", "Беларуси ← Беларусь", "matched Минска ← Минск, Беларусь)"):
        assert words in evidence, evidence


def test_evidence_stored_before_words_were_kept_reads_and_shows_its_terms() -> None:
    """Data from before this version: evidence rows without words or a backfill mark."""
    old = {"claim": 1, "url": "https://n.example/1", "title": "Talks", "feed": "Wire", "published": None,
           "found_at": NOW.isoformat(), "matched": ["Power of Siberia 2", "gas"], "stance": "unlabelled"}
    item = evidence_from_dict(old, 3)
    assert (item.words, item.backfill, item.reasons()) == ((), False, ("Power of Siberia 2", "gas"))
    assert render.evidence_line(item, UTC_TZ).endswith("(unlabelled; Wire; matched Power of Siberia 2, gas)")
