"""`claimwatch feeds`, `watch` and `evidence` as a user runs them, against feeds on 127.0.0.1."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import NOW, run_cli
from feedserver import FeedServer, respond

FEED = ('<rss version="2.0"><channel><title>News</title>'
        '<item><guid>1</guid><title>Power of Siberia 2 talks stall</title><link>https://n.example/1</link></item>'
        '</channel></rss>')
LATER = FEED.replace("</channel>", '<item><guid>2</guid><title>Сила Сибири 2: новый раунд</title>'
                                   '<link>https://n.example/2</link></item></channel>')


def test_feeds_watch_once_and_evidence_labels(tmp_path: Path, data: Path | str) -> None:
    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    with FeedServer() as server:
        server.routes["/rss"] = respond(FEED.encode())
        assert run_cli("feeds", "add", server.url + "/rss", "Local", "news", data=data, env=env).returncode == 0
        spaced = run_cli("feeds", "add", "https://exa mple.org/rss", data=data, env=env)
        assert spaced.returncode == 2 and "is not a web address" in spaced.stderr
        duplicate = run_cli("feeds", "add", server.url + "/rss", data=data, env=env)
        assert duplicate.returncode == 2 and "watched already, as feed 1" in duplicate.stderr

        first = run_cli("watch", "--once", data=data, env=env)
        assert first.returncode == 0
        assert "feed 1 Local news: new entries; 1 new, 0 edited, 2 matches (first poll: kept without alerts)" in first.stdout
        assert "alert:" not in first.stdout  # the first poll is backfill

        server.routes["/rss"] = respond(LATER.encode())
        second = run_cli("watch", "--once", data=data, env=env)
        assert "1 new, 0 edited, 2 matches" in second.stdout and second.stdout.count("alert: claim #") == 2

    evidence = json.loads(run_cli("evidence", "2", "--json", data=data).stdout)  # claim 2: Power of Siberia 2
    assert [e["title"] for e in evidence] == ["Сила Сибири 2: новый раунд", "Power of Siberia 2 talks stall"]
    labelled = run_cli("evidence", "2", "--label", str(evidence[1]["number"]), "contradicts", data=data)
    assert "(contradicts;" in labelled.stdout
    bad = run_cli("evidence", "2", "--label", "1", "maybe", data=data)
    assert bad.returncode == 2 and "not a stance" in bad.stderr
    listed = run_cli("feeds", "list", data=data).stdout
    assert "Local news" in listed and "ok, checked" in listed


def test_private_feeds_are_refused_by_default(tmp_path: Path, data: Path | str) -> None:
    with FeedServer() as server:
        server.routes["/rss"] = respond(FEED.encode())
        added = run_cli("feeds", "add", server.url + "/rss", data=data)
        run = run_cli("watch", "--once", data=data)
    assert added.returncode == 0 and added.stderr == ("claimwatch feeds add: warning: the watcher will not fetch it: "
                                                      "127.0.0.1 resolves to a private or local address; set "
                                                      "CLAIMWATCH_ALLOW_PRIVATE_FEEDS=1 to allow it\n")
    assert "failed; 127.0.0.1 resolves to a private or local address" in run.stdout and server.seen == []
    assert run.returncode == 1  # nothing could be checked


def test_opml_import_reports_what_it_could_not_read(tmp_path: Path) -> None:
    data = tmp_path / "data"
    opml = tmp_path / "feeds.opml"
    opml.write_bytes(b'<opml version="2.0"><body><outline text="A & B" xmlUrl="https://a.example/rss?x=1&y=2"/>'
                     b'<outline text="local" xmlUrl="file:///etc/passwd"/></body></opml>')
    result = run_cli("feeds", "import-opml", str(opml), data=data)
    assert "1 feed added, 0 watched already" in result.stdout and "file:///etc/passwd" in result.stderr
    again = run_cli("feeds", "import-opml", str(opml), data=data)
    assert "0 feeds added, 1 watched already" in again.stdout
    broken = tmp_path / "broken.opml"
    broken.write_bytes(b"<opml><body><outline")
    refused = run_cli("feeds", "import-opml", str(broken), data=data)
    assert refused.returncode == 2 and "no feeds could be read from the file" in refused.stderr
    exported = run_cli("feeds", "export-opml", data=data).stdout
    inside = run_cli("feeds", "export-opml", str(data / "feeds.json"), data=data)
    assert inside.returncode == 2 and "is in the data directory" in inside.stderr
    assert run_cli("feeds", "list", "--json", data=data).returncode == 0  # feeds.json was not overwritten
    assert 'xmlUrl="https://a.example/rss?x=1&amp;y=2"' in exported


def test_watch_keeps_running_and_stops_cleanly(data: Path | str) -> None:
    run_cli("list", data=data)  # a data directory with the example claims
    env = {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "claimwatch", "watch"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert "watching 0 feeds" in proc.stdout.readline()
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0


def test_watch_prints_the_console_chats_alerts_and_leaves_telegram_ones_for_the_bot(data: Path | str) -> None:
    from claimwatch.store import open_store

    assert "Subscribed to all claims: outcome" in run_cli("console", data=data, input="/subscribe all outcome\n").stdout
    open_store(data).subscribe(555, "all", NOW)  # a Telegram chat
    assert run_cli("resolve", "2", "true", "it happened", data=data).returncode == 0
    env = {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "claimwatch", "watch"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    assert any("Outcome recorded: true — it happened" in line for line in lines), lines
    store = open_store(data)
    assert [(m["chat"], m["status"]) for m in store.outbox() if m["kind"] == "outcome"] == [(555, "pending")]


def _children(pid: int) -> list[int]:
    """The live processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == pid and state not in "ZX":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in "ZX"
    except (OSError, IndexError):
        return False


def _eventually(condition, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@contextlib.contextmanager
def _watching_a_parsed_feed(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`claimwatch watch` in a process group of its own, once it has fetched and parsed a feed (so its
    parser processes are up)."""
    from claimwatch.store import open_store

    data = tmp_path / "data"
    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    with FeedServer() as server:
        server.routes["/rss"] = respond(FEED.encode())
        run_cli("feeds", "add", server.url + "/rss", "Local", data=data, env=env)
        proc = subprocess.Popen([sys.executable, "-m", "claimwatch", "watch"], text=True, start_new_session=True,
                                env={"CLAIMWATCH_DATA": str(data), "PATH": "/usr/bin:/bin", **env},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            assert _eventually(lambda: open_store(data).feeds()[0].last_success is not None, seconds=60)
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_killed_watch_leaves_no_parser_processes_behind(tmp_path: Path) -> None:
    with _watching_a_parsed_feed(tmp_path) as proc:
        children = _children(proc.pid)
        assert len(children) >= 2  # a parser process and multiprocessing's resource tracker
        proc.kill()
        proc.wait(timeout=20)
    assert _eventually(lambda: not any(_alive(pid) for pid in children)), [p for p in children if _alive(p)]


def test_a_match_the_console_follows_is_printed_once_by_its_delivery_not_twice(data: Path | str) -> None:
    from claimwatch import delivery, jobs
    from claimwatch.config import load_config
    from claimwatch.model import CONSOLE_CHAT, Evidence, Feed
    from claimwatch.store import open_store
    from claimwatch.watcher import FeedReport

    run_cli("console", data=data, input="/subscribe 2 evidence\n")  # claim 2: Power of Siberia 2
    store = open_store(data)
    found = tuple(Evidence(0, claim, f"https://n.example/{claim}", f"story {claim}", NOW, feed="Wire") for claim in (2, 3))
    report = FeedReport(Feed(1, "https://n.example/rss", "Wire", NOW, "t"), "new entries", 2, 0, found)
    printed: list[str] = []
    jobs._report([report], load_config({"CLAIMWATCH_DATA": str(data)}), printed.append, every_line=False,
                 shown_elsewhere=delivery.hears(store, CONSOLE_CHAT, "evidence"))
    assert [line.split(":")[1] for line in printed] == [" claim #3"]  # #2 comes through the console's delivery
    store.deactivate_chat(CONSOLE_CHAT, "chat not found", NOW)  # as a bot before 2026-11 did to it
    printed.clear()
    jobs._report([report], load_config({"CLAIMWATCH_DATA": str(data)}), printed.append, every_line=False,
                 shown_elsewhere=delivery.hears(store, CONSOLE_CHAT, "evidence"))
    assert len(printed) == 2  # an inactive console hears nothing through delivery: both are printed here
    run_cli("console", data=data, input="/help\n")  # using the console makes it reachable again
    assert open_store(data).chat(CONSOLE_CHAT).active


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_ctrl_c_stops_watch_quietly_parser_processes_included(tmp_path: Path) -> None:
    with _watching_a_parsed_feed(tmp_path) as proc:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C in a terminal goes to the whole process group
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err, err


def test_a_feed_stored_before_addresses_were_lower_cased_is_not_added_again(tmp_path: Path, data: Path | str) -> None:
    from claimwatch.model import Feed
    from claimwatch.store import open_store

    run_cli("list", data=data)
    open_store(data).add_feed(Feed(0, "https://News.Example.org/rss", "News", NOW, "ana"))  # as stored before
    again = run_cli("feeds", "add", "https://news.example.org/rss", data=data)
    assert again.returncode == 2 and "watched already, as feed 1" in again.stderr
    opml = tmp_path / "feeds.opml"
    opml.write_text('<opml version="2.0"><body><outline text="N" xmlUrl="HTTPS://NEWS.EXAMPLE.ORG/rss"/></body></opml>')
    assert "0 feeds added, 1 watched already" in run_cli("feeds", "import-opml", str(opml), data=data).stdout
    assert len(open_store(data).feeds()) == 1


def test_a_hostile_entry_is_cut_to_bounds_as_it_enters_the_watcher(tmp_path: Path, data: Path | str) -> None:
    from claimwatch.store import open_store
    from claimwatch.parserpool import ENTRY_BOUNDS

    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    huge = ("<item><guid>9</guid><title>Power of Siberia 2 " + "talks " * 100_000 + "</title>"
            "<description>" + "more " * 100_000 + "</description>"
            "<link>https://n.example/" + "a" * 5_000 + "</link></item>")
    with FeedServer() as server:
        server.routes["/rss"] = respond(FEED.encode())
        run_cli("feeds", "add", server.url + "/rss", "Local", data=data, env=env)
        run_cli("watch", "--once", data=data, env=env)
        server.routes["/rss"] = respond(FEED.replace("</channel>", huge + "</channel>").encode())
        run = run_cli("watch", "--once", data=data, env=env)
    assert run.returncode == 0 and "1 new, 0 edited, 2 matches" in run.stdout, run.stdout + run.stderr
    found = [e for e in open_store(data).evidence_for(2) if e.title.startswith("Power of Siberia 2 talks talks")]
    assert [(len(e.title), e.title[-1], e.url) for e in found] == [(ENTRY_BOUNDS["title"], "…", "")]
