"""A write to several files is all or nothing: faults at every step of a commit, in real files and processes."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from claimwatch import ledger
from claimwatch.errors import StoreError
from claimwatch.model import Evidence, Feed
from claimwatch.store import FileBackend, FileStore, JOURNAL, Store, open_store
from conftest import NOW, run_cli
from feedserver import FeedServer, respond

FILES = ("claims-0000", "audit-0000", "evidence-0000", "feeds", "seen")  # what the transaction below changes


def seed(data: Path) -> None:
    """A claim, a watched feed and what it has seen: the state a watch cycle starts from."""
    store = open_store(data)
    ledger.add_claim(store, ledger.NewClaim(text="pipeline talks"), "ana", NOW)
    store.add_feed(Feed(0, "https://n.example/rss", "News", NOW, "ana"))
    store.save_seen(1, {"old": ("h0", NOW)})


def cycle(store: Store) -> None:
    """What one watch cycle writes, and a forecast besides: one transaction over five files."""
    with store.transaction():
        store.add_evidence([Evidence(0, 1, "https://n.example/1", "Talks stall", NOW)], alert=True)
        store.save_seen(1, {"old": ("h0", NOW), "new": ("h1", NOW)})
        store.save_feed(Feed(1, "https://n.example/rss", "News", NOW, "ana", etag='"v2"'))
        ledger.add_forecast(store, 1, 0.3, "bo", NOW)


def snapshot(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data.iterdir()) if p.is_file() and p.name != ".lock"}


def state(data: Path) -> tuple[int, int, set[str], str | None, int]:
    """(evidence rows, alert events, seen keys, etag, forecasts) as a new process's store reads them."""
    store = open_store(data)
    return (len(store.evidence_for(1)), len(store.alert_events()), set(store.seen(1)), store.feed(1).etag,
            len(store.get_claim(1).forecasts))


OLD = (0, 0, {"old"}, None, 0)
NEW = (1, 1, {"old", "new"}, '"v2"', 1)


class FailingBackend(FileBackend):
    """A data directory whose disk fills up at the Nth file a commit writes (the commit record counts)."""

    def __init__(self, root: Path, fail_at: int) -> None:
        super().__init__(root)
        self.fail_at, self.written = fail_at, 0

    def _stage(self, tmp: Path, raw: bytes, previous: object) -> object:  # type: ignore[override]
        self.written += 1
        if self.written == self.fail_at:
            tmp.write_bytes(raw[: len(raw) // 2])  # half written, as on a full disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super()._stage(tmp, raw, previous)  # type: ignore[arg-type]


@pytest.mark.parametrize("fail_at", range(1, len(FILES) + 2))  # each file, then the commit record
def test_a_failing_write_of_any_file_of_a_commit_changes_no_file(tmp_path: Path, fail_at: int) -> None:
    data = tmp_path / "data"
    seed(data)
    before = snapshot(data)
    store = FileStore(FailingBackend(data, fail_at))
    with pytest.raises(StoreError, match="No space left on device; nothing was changed") as failed:
        cycle(store)
    assert "\n" not in str(failed.value)
    assert snapshot(data) == before  # no file replaced, no temp file or commit record left
    assert state(data) == OLD
    assert store.seen(1) == {"old": ("h0", NOW)}  # the failed store forgets what it did not write
    cycle(store)  # the disk has room again: the repeat stores the news once
    assert state(data) == NEW


# Code that makes its process kill itself (SIGKILL) just before the Nth rename or removal of a file it makes
# (N from $KILL_AT_STEP, 0 for never). A commit of five files: 1 is the commit record's rename, 2-6 the
# files' renames, 7 the record's removal.
KILL_AT_STEP = """
import os, signal, sys
kill_at, steps = int(os.environ["KILL_AT_STEP"]), [0]
def step(real):
    def wrapped(*args, **kwargs):
        steps[0] += 1
        if steps[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)
    return wrapped
"""
KILLED_AT_STEP = KILL_AT_STEP + """
sys.path.insert(0, sys.argv[2])
import test_commits
from claimwatch.store import open_store
store = open_store(sys.argv[1])
os.replace, os.unlink = step(os.replace), step(os.unlink)
test_commits.cycle(store)
print("committed", steps[0], flush=True)
"""
TESTS = Path(__file__).resolve().parent


def run_killed_at(data: Path, step: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", KILLED_AT_STEP, str(data), str(TESTS)],
                          env=os.environ | {"KILL_AT_STEP": str(step)}, capture_output=True, text=True, timeout=60)


def test_a_commit_makes_one_record_and_as_many_renames_as_files(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data)
    done = run_killed_at(data, 0)
    assert done.stdout == f"committed {len(FILES) + 2}\n", done.stderr
    assert state(data) == NEW and not (data / JOURNAL).exists()


@pytest.mark.parametrize("step", range(1, len(FILES) + 3))
def test_a_writer_killed_at_any_step_of_a_commit_leaves_all_of_it_or_none(tmp_path: Path, step: int) -> None:
    data = tmp_path / "data"
    seed(data)
    killed = run_killed_at(data, step)
    assert killed.returncode == -signal.SIGKILL and killed.stdout == ""
    assert (data / JOURNAL).exists() == (step > 1)  # decided once the record is in place
    expected = OLD if step == 1 else NEW
    assert state(data) == expected  # opening finished (or discarded) the commit before reading
    assert not (data / JOURNAL).exists() and not list(data.glob(".*.tmp"))
    cycle(open_store(data))  # the watcher runs again: the news is stored (and alerted) once
    assert state(data)[:2] == (1, 1)


def test_a_writer_finishes_a_commit_interrupted_after_its_store_was_opened(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data)
    reader = open_store(data)  # opened before the kill, so its opening finished nothing
    assert run_killed_at(data, 3).returncode == -signal.SIGKILL
    ledger.add_forecast(reader, 1, 0.9, "cy", NOW)  # taking the writers' lock finishes the commit first
    assert not (data / JOURNAL).exists()
    assert state(data)[:4] == NEW[:4] and state(data)[4] == 2


def test_a_damaged_commit_record_is_reported_by_name(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data)
    (data / JOURNAL).write_bytes(b'{"files": [["../../etc/passwd", ".x.tmp"]]}')
    with pytest.raises(StoreError, match=r"\.commit\.json is not readable claimwatch data"):
        open_store(data)


def test_evidence_is_stored_once_by_its_link(tmp_path: Path) -> None:
    store = open_store(tmp_path / "data")
    ledger.add_claim(store, ledger.NewClaim(text="x"), "ana", NOW)
    item = Evidence(0, 1, "https://n.example/1", "Talks stall", NOW)
    [first] = store.add_evidence([item], alert=True)
    again = store.add_evidence([item, item], alert=True)  # a repeat after a later write failed
    assert [e.id for e in again] == [first.id, first.id]
    assert len(store.evidence_for(1)) == 1 and len(store.alert_events()) == 1


# An import into a directory whose second claims file does not fit: RLIMIT_FSIZE makes the kernel refuse
# a write past the limit (EFBIG), a real write failure in a real process.
IMPORT_UNDER_LIMIT = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), resource.RLIM_INFINITY))
from claimwatch.cli import main
sys.exit(main(["import", sys.argv[2]]))
"""


def test_an_import_that_cannot_write_its_second_file_imports_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    forecasts = [{"by": f"a{j}", "p": 0.5, "at": NOW.isoformat()} for j in range(60)]
    short = [{"text": f"c{i}"} for i in range(500)]  # claims-0000.json, about 135 kB
    long = [{"text": f"long claim {i} " + "x" * 1500, "forecasts": forecasts} for i in range(100)]  # 0001: 560 kB
    doc = tmp_path / "claims.json"
    doc.write_text(json.dumps({"version": 1, "claims": short + long}))
    assert run_cli("forecast", "1", "50%", data=data).returncode == 0  # a data directory, with the example claims
    before = snapshot(data)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
    env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester"}
    limit = 500_000  # above the first file, below the second
    run = subprocess.run([sys.executable, "-c", IMPORT_UNDER_LIMIT, str(limit), str(doc)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "claims-0001.json: File too large; nothing was changed" in run.stderr, run.stderr
    assert "Traceback" not in run.stderr
    assert snapshot(data) == before and len(open_store(data).find_claims()) < 500


FEED = ('<rss version="2.0"><channel><title>News</title>'
        '<item><guid>1</guid><title>Power of Siberia 2 talks stall</title><link>https://n.example/1</link></item>'
        '</channel></rss>')
LATER = FEED.replace("</channel>", '<item><guid>2</guid><title>Power of Siberia 2: a new round</title>'
                                   '<link>https://n.example/2</link></item></channel>')
WATCH_KILLED_AT_STEP = KILL_AT_STEP + """
os.replace, os.unlink = step(os.replace), step(os.unlink)
from claimwatch.cli import main
sys.exit(main(["watch", "--once"]))
"""


# the lease of the feed (feeds.json), then the cycle's commit: the record, evidence-0000, feeds, seen, the record's removal
@pytest.mark.parametrize("step", [1, 2, 3, 4, 5, 6])
def test_watch_killed_at_any_step_of_its_commit_stores_and_alerts_each_item_once(tmp_path: Path, step: int) -> None:
    data = tmp_path / "data"
    env = {"CLAIMWATCH_ALLOW_PRIVATE_FEEDS": "1"}
    with FeedServer() as server:
        server.routes["/rss"] = respond(FEED.encode())
        assert run_cli("add", "Power of Siberia 2 is signed", "--watch", "Power of Siberia", data=data).returncode == 0
        assert run_cli("feeds", "add", server.url + "/rss", "Local", data=data, env=env).returncode == 0
        assert run_cli("watch", "--once", data=data, env=env).returncode == 0  # first poll: backfill
        server.routes["/rss"] = respond(LATER.encode())
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLAIMWATCH_")}
        full_env |= {"CLAIMWATCH_DATA": str(data), "CLAIMWATCH_USER": "tester", "KILL_AT_STEP": str(step), **env}
        killed = subprocess.run([sys.executable, "-c", WATCH_KILLED_AT_STEP], env=full_env,
                                capture_output=True, text=True, timeout=120)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        again = run_cli("watch", "--once", data=data, env=env)
        assert again.returncode == 0, again.stderr
    store = open_store(data)
    [number] = [c.id for c in store.find_claims() if c.text == "Power of Siberia 2 is signed"]
    found = {e.url: e.id for e in store.evidence_for(number)}
    assert sorted(found) == ["https://n.example/1", "https://n.example/2"]  # each once
    assert [(e["kind"], e["evidence"]) for e in store.alert_events() if e["claim"] == number] == [
        ("evidence", found["https://n.example/2"])]
    assert (f"alert: claim #{number}" in again.stdout) == (step <= 2)  # not leased or rolled back: the repeat finds it


AS_A_PLAIN_USER = ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner") if os.geteuid() == 0 else ()


def test_a_reader_of_a_read_only_directory_sees_an_interrupted_commit_whole(tmp_path: Path) -> None:
    data = tmp_path / "data"
    seed(data)
    assert run_killed_at(data, 2).returncode == -signal.SIGKILL  # recorded, nothing renamed yet
    (data / ".lock").unlink()
    before = snapshot(data)
    for path in (*data.iterdir(), data):
        path.chmod(0o555 if path.is_dir() else 0o444)
    try:
        evidence = run_cli("evidence", "1", "--json", data=data, prefix=AS_A_PLAIN_USER)
        shown = run_cli("show", "1", data=data, prefix=AS_A_PLAIN_USER)
    finally:
        for path in (data, *data.iterdir()):
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert evidence.returncode == 0 and [e["url"] for e in json.loads(evidence.stdout)] == ["https://n.example/1"]
    assert shown.returncode == 0 and "bo" in shown.stdout  # the forecast of the same commit
    assert snapshot(data) == before  # reading changed nothing
    assert state(data) == NEW  # and the first to open it with write access finishes the commit
