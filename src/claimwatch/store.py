"""The claim store: TinyDB files made durable, safe with several processes, and fast at scale.

Layout of a data directory (every file is a plain TinyDB JSON database that TinyDB itself opens):

    meta.json              table `meta`: the schema version
    claims-0000.json       table `claims` (doc id = claim number), and `alerts` (events to announce), for claims 1-500
    claims-0001.json       ... claims 501-1000, and so on
    audit-0000.json        table `audit`: the history of claims 1-500 (read by history, never by a listing)
    evidence-0000.json     tables `evidence` and `audit` (stance labels), for claims 1-500
    people.json            tables `users` (doc id = Telegram user id), `invites`, `chats` (doc id =
                           chat id) and `subscriptions`
    feeds.json             table `feeds` (doc id = feed id): address, schedule and health; table `leases`:
                           which watch worker holds which feed, until when
    seen.json              table `seen` (doc id = feed id): the entries already seen in each feed
    news.json              table `items`: the news fetched in the last 14 days (title, summary cut
                           short, link, date, feed), matched against claims as they are added
    outbox-000.json        table `messages`: the outbox messages of the chats whose id modulo 256 is 0
    ...                    ... up to outbox-255.json: a send rewrites its chat's file, not the backlog
    outbox.json            table `state` (what the reminder and digest jobs did), and `messages` queued
                           before the outbox was split into files by chat
    .lock                  the writers' lock (readers take none: reading needs no write access)
    .commit.json           while a write to several files is under way: its commit record

Only these exact names are data: another .json file (`claims-0000 (copy).json`, `claims-0000-old.json`)
is ignored, with a one-line warning, and never read.

Why it is built this way:
- Durable: every write goes to a temp file that is fsynced, renamed over the old file, and the
  directory fsynced, so a crash leaves the old or the new file, never a torn one.
- All or nothing: a transaction that changed several files commits them together (FileBackend.commit):
    1. write every new file beside its old one (`.NAME.PID.tmp`), each fsynced; a failure here
       (a full disk) removes them and changes nothing;
    2. write the commit record `.commit.json` naming them (temp, fsync, rename, directory fsync):
       from this moment the commit is decided;
    3. rename each new file over its old one, then fsync the directory;
    4. remove the record.
  A writer killed before step 2 leaves only temp files, which the next opener removes: nothing
  happened. Killed after it, the record is there, and the next process to open the directory or to
  take the writers' lock first renames the new files still waiting (those renamed already are
  gone), then removes the record: all of it happened. A commit of one file needs no record (its
  rename is atomic). Opening a directory one may not change cannot rename: it reads the waiting new
  files where they are instead, so it too sees the whole commit.
  What a reader in another process sees: readers take no lock, and each file is read whole, in its
  old or its new version. During steps 3-4 of a live writer (or after a writer died there, until
  the next writer or opener finishes its commit) a reader that reads several files may see some of
  the commit's files new and others old, as it may see two commits one after the other; it never
  sees a file go back to an older version. Nothing acts on such a view: whatever writes takes the
  lock first, and past the lock every commit is finished, and the files it reads are re-read.
  Evidence is idempotent by its key (claim and link, or feed and title without a link): a repeat
  stores no second row and no second alert.
- Several writers: one `flock` on `.lock` (plus a thread lock) serialises writers across processes;
  readers need no lock because a rename is atomic, and they re-read a file when its signature
  (inode, mtime, size) changed. Writers bump mtime strictly, so a signature never repeats.
- Fast: TinyDB rewrites a whole file per write, so the data is partitioned by claim number: one
  change to a claim rewrites one small file, and its audit file with the new entry, in one commit.
  The audit trail, several times the size of the claims, is kept apart so that what lists claims does not
  read it. Evidence, which is large and hot, lives in files of its own. A transaction batches every change
  made inside it into one write per file.
- A file that cannot be read raises StoreError naming it; it is never replaced, by an empty one or by a
  write that would carry its unreadable documents over: a write first checks every document of a file
  (whole the first time, then those that differ from the version this store last checked or wrote).
  The outbox, claimwatch's own queue, is the exception: a message that cannot be read is logged and left out.
"""

from __future__ import annotations

import errno
import fcntl
import functools
import heapq
import logging
import os
import re
import shutil
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time as clock_time, timedelta
from operator import attrgetter
from pathlib import Path
from typing import Any, Protocol

import orjson
from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from claimwatch.config import is_database
from claimwatch.errors import InputError, NotFound, StoreError
from claimwatch.gcpause import gc_paused
from claimwatch.model import (
    OutcomeValue,
    Change,
    Chat,
    Claim,
    Evidence,
    Feed,
    Kind,
    Role,
    SHARED_SENDERS,
    TELEGRAM_IDENTITY,
    Stance,
    ALERT_KINDS,
    WRITE_AS_YOURSELF,
    Subscription,
    User,
    change_from_dict,
    change_to_dict,
    claim_from_dict,
    iso,
    iso_utc,
    parse_datetime,
    claim_to_dict,
    evidence_from_dict,
    evidence_to_dict,
    feed_from_dict,
    feed_to_dict,
    NewsItem,
    news_item_from_dict,
    news_item_to_dict,
)
from claimwatch.matching import SearchWord, search_word, searchable
from claimwatch.parsing import feed_key, shown_url

log = logging.getLogger(__name__)
OUTCOME_VALUES = frozenset(v.value for v in OutcomeValue)
KIND_VALUES = frozenset(["", *(v.value for v in Kind)])  # "" reads as a claim (model.claim_from_dict)

# 2: a Telegram user's forecasts carry their identity (who: tg:<id>); 3: so does all they did; 4: audit-NNNN files
SCHEMA_VERSION = 4
SHARD_SIZE = 500  # claims per file: a write rewrites at most this many claims
RECENT_DAYS = 14  # how long fetched news is kept to match new claims against
LEASE = timedelta(minutes=10)  # how long a watch worker holds the feeds it fetches: a killed worker's come back after it
RECENT_LIMIT = 20_000  # at most this many items of it (at most about 40 MB: see parserpool.ENTRY_BOUNDS, watcher.NEWS_SUMMARY)

Signature = tuple[int, int, int]
Migration = Callable[["FileStore"], None]
# schema version N -> the step that turns a version N store into version N + 1
MIGRATIONS: dict[int, Migration] = {}


class Backend(Protocol):
    """Where the files of a store live: a directory, or memory for tests and tools."""

    def read(self, name: str) -> tuple[Signature | None, dict[str, Any] | None]: ...
    def signature(self, name: str) -> Signature | None: ...
    def write(self, name: str, data: dict[str, Any]) -> Signature: ...
    def commit(self, files: dict[str, dict[str, Any]]) -> dict[str, Signature]: ...
    def names(self) -> list[str]: ...
    def strays(self) -> list[str]: ...
    def lock(self) -> Any: ...
    def try_role(self, role: str) -> int | bool | None: ...  # hold a role for this process: a handle, or None
    def backup(self, names: list[str], label: str) -> str: ...
    def where(self, name: str) -> str: ...


JOURNAL = ".commit.json"  # the commit record of a write to several files
_FIXED_NAMES = frozenset({"meta", "people", "feeds", "seen", "news", "outbox"})
_NUMBERED = re.compile(r"(claims|audit|evidence)-([0-9]{4,})")
OUTBOX_SHARDS = 256  # outbox messages are kept in files by chat id modulo this: a send rewrites one of them


def is_data_name(name: object) -> bool:
    """A data file's name (without .json): one of the fixed names, or claims-/audit-/evidence- with its shard number
    written as the store writes it (claims-0000, never claims-0000-old or 'claims-0000 (copy)')."""
    if name in _FIXED_NAMES or name in _OUTBOX_NAMES:
        return True
    numbered = _NUMBERED.fullmatch(name) if isinstance(name, str) else None
    return numbered is not None and name == f"{numbered[1]}-{int(numbered[2]):04d}"


def _outbox_shard(chat: int) -> str:
    return f"outbox-{chat % OUTBOX_SHARDS:03d}"


_OUTBOX_NAMES = frozenset(_outbox_shard(n) for n in range(OUTBOX_SHARDS))


def _unreadable(where: str, why: str) -> StoreError:
    return StoreError(f"{where} is not readable claimwatch data ({why}); it was left untouched")


def _decode(raw: bytes, where: str) -> dict[str, Any]:
    try:
        with gc_paused():
            data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise _unreadable(where, str(e)) from None
    # TinyDB's shape: {table: {doc id: {field: value}}}
    if not isinstance(data, dict) or not all(
            isinstance(table, dict) and all(isinstance(doc, dict) for doc in table.values())
            for table in data.values()):
        raise _unreadable(where, "not a TinyDB database")
    return data


class FileBackend:
    """Files in a data directory, written atomically and durably, locked with flock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(f"cannot create data directory {self.root}: {e.strerror}") from None
        self._thread_lock = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None
        self._warned: set[str] = set()
        self._pending: dict[str, Path] = {}  # a read-only directory's interrupted commit: name -> new file
        self._recover()

    def _recover(self) -> None:
        """Finish a commit a killed writer left, then remove the temp files of those it had not decided,
        unless a writer is at work (it holds the lock, and finishes its commit itself). Opening neither
        waits for the lock nor needs write access, so that reading never does: where the lock cannot be had
        (a directory one may not change), an interrupted commit is finished for reading only: its new files
        are read where they are."""
        try:
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            self._pending = {name: tmp for name, tmp in self._interrupted() if tmp.exists()}
            return
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return  # a writer holds the lock: its temp files are not garbage, its commit is its own
            try:
                self._finish_interrupted()
                for leftover in self.root.glob(".*.tmp"):
                    leftover.unlink(missing_ok=True)
            except OSError as e:
                if e.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                    raise StoreError(f"cannot finish an interrupted write in {self.root}: {e.strerror}") from None
                self._pending = {name: tmp for name, tmp in self._interrupted() if tmp.exists()}
        finally:
            os.close(fd)  # closing releases the flock

    def _located(self, name: str) -> Path:
        """Where a file's current version is: beside it while an interrupted commit is read in place (until a
        writer finishes that commit), else the file itself."""
        waiting = self._pending.get(name)
        if waiting is not None:
            if waiting.exists():
                return waiting
            del self._pending[name]  # renamed since: the file holds it now
        return self.path(name)

    def path(self, name: str) -> Path:
        return self.root / f"{name}.json"

    def where(self, name: str) -> str:
        return str(self.path(name))

    def read(self, name: str) -> tuple[Signature | None, dict[str, Any] | None]:
        path = self._located(name)
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read()
        except FileNotFoundError:
            if path != self.path(name):  # the waiting new version was renamed into place just now
                self._pending.pop(name, None)
                return self.read(name)
            return None, None
        except OSError as e:
            raise StoreError(f"cannot read {path}: {e.strerror}") from None
        return (st.st_ino, st.st_mtime_ns, st.st_size), _decode(raw, str(path))

    def signature(self, name: str) -> Signature | None:
        try:
            st = os.stat(self._located(name))
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def write(self, name: str, data: dict[str, Any]) -> Signature:
        return self.commit({name: data})[name]

    def commit(self, files: dict[str, dict[str, Any]]) -> dict[str, Signature]:
        """Replace these files all together or not at all (the protocol is in the module docstring)."""
        staged: list[tuple[str, Path]] = []
        signatures: dict[str, Signature] = {}
        where = self.root
        try:
            for name, data in files.items():
                where, tmp = self.path(name), self.root / f".{name}.{os.getpid()}.tmp"
                staged.append((name, tmp))
                signatures[name] = self._stage(tmp, orjson.dumps(data), self.signature(name))
            if len(staged) > 1:
                where = self.root / JOURNAL
                self._record_commit(staged)
        except OSError as e:
            for _, tmp in staged:
                tmp.unlink(missing_ok=True)
            raise StoreError(f"cannot write {where}: {e.strerror}; nothing was changed") from None
        try:  # decided: from here on the commit is finished, by this process or by the next to open the directory
            for name, tmp in staged:
                os.replace(tmp, self.path(name))
            self._fsync_dir()
            if len(staged) > 1:
                os.unlink(self.root / JOURNAL)  # lost in a power cut, the next opener finds nothing left to do
        except OSError as e:
            raise StoreError(f"cannot finish a write in {self.root}: {e.strerror}; it is recorded in "
                             f"{JOURNAL} and the next command finishes it") from None
        return signatures

    @staticmethod
    def _stage(tmp: Path, raw: bytes, previous: Signature | None) -> Signature:
        """Write a file's new version beside it, durably; its signature once renamed into place."""
        # A strictly later mtime than the file it replaces makes each version's signature unique.
        mtime = max(time.time_ns(), previous[1] + 1 if previous else 0)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(raw)
            while view:
                view = view[os.write(fd, view):]
            os.utime(fd, ns=(mtime, mtime))
            os.fsync(fd)
            st = os.fstat(fd)
        finally:
            os.close(fd)
        return st.st_ino, st.st_mtime_ns, st.st_size

    def _record_commit(self, staged: list[tuple[str, Path]]) -> None:
        """The commit record: written whole (temp, fsync, rename) and made durable before any rename."""
        tmp = self.root / f".commit.{os.getpid()}.tmp"
        try:
            self._stage(tmp, orjson.dumps({"files": [[name, path.name] for name, path in staged]}), None)
            os.replace(tmp, self.root / JOURNAL)
        except OSError:
            tmp.unlink(missing_ok=True)
            raise
        self._fsync_dir()

    def _interrupted(self) -> list[tuple[str, Path]]:
        """The files of a commit whose record is there (its writer died after deciding it): (name, new file)."""
        try:
            raw = (self.root / JOURNAL).read_bytes()
        except FileNotFoundError:
            return []
        except OSError as e:
            raise StoreError(f"cannot read {self.root / JOURNAL}: {e.strerror}") from None
        try:
            pairs = orjson.loads(raw)["files"]
            if not all(is_data_name(name) and isinstance(tmp, str) and "/" not in tmp
                       and tmp.startswith(".") and tmp.endswith(".tmp") for name, tmp in pairs):
                raise ValueError("unexpected file names")
            staged = [(name, self.root / tmp) for name, tmp in pairs]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as e:
            raise _unreadable(str(self.root / JOURNAL), f"not a commit record: {e}") from None
        return staged

    def _finish_interrupted(self) -> None:
        """Roll an interrupted commit forward (the writers' lock held): rename the new files it names that
        are still beside their old versions, then remove its record. Safe to repeat."""
        staged = self._interrupted()
        if not staged:
            return
        for name, tmp in staged:
            if tmp.exists():  # else renamed already
                os.replace(tmp, self.path(name))
        self._fsync_dir()
        os.unlink(self.root / JOURNAL)
        self._fsync_dir()
        log.warning("%s: finished a write that was interrupted (%s)", self.root, ", ".join(f"{n}.json" for n, _ in staged))

    def _fsync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def names(self) -> list[str]:
        """The data files: only exact data file names; another .json file (a copy, an old version) is
        left alone, with a warning, so that it is never read as data."""
        names = []
        for path in self.root.glob("*.json"):
            if is_data_name(path.stem):
                names.append(path.stem)
            elif not path.name.startswith(".") and path.name not in self._warned:
                self._warned.add(path.name)
                log.warning("%s is not a claimwatch data file name; it is ignored", path)
        return sorted(names)

    def strays(self) -> list[str]:
        """The other .json files, which are not data."""
        return sorted(p.name for p in self.root.glob("*.json") if not p.name.startswith(".") and not is_data_name(p.stem))

    def try_role(self, role: str) -> int | None:
        """The descriptor of `.role-ROLE.lock` flocked for this process, or None when another process holds it."""
        try:
            fd = os.open(self.root / f".role-{role}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(f"cannot take the {role} role in {self.root} ({e.strerror})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    @contextmanager
    def lock(self) -> Iterator[None]:
        with self._thread_lock:
            if self._depth == 0:
                try:
                    fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
                except OSError as e:
                    raise StoreError(f"cannot change the data in {self.root}: its writers' lock .lock cannot be "
                                     f"opened ({e.strerror}); reading works, changing needs write access") from None
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
                try:  # a writer killed mid-commit since this directory was opened: finish its commit first
                    self._finish_interrupted()
                except OSError as e:
                    os.close(fd)
                    self._lock_fd = None
                    raise StoreError(f"cannot finish an interrupted write in {self.root}: {e.strerror}") from None
                except BaseException:
                    os.close(fd)
                    self._lock_fd = None
                    raise
                self._pending = {}
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)  # closing releases the flock
                    self._lock_fd = None

    def backup(self, names: list[str], label: str) -> str:
        target = self.root / f"backup-{label}"
        target.mkdir(exist_ok=True)
        for name in names:
            shutil.copy2(self.path(name), target / f"{name}.json")
        return str(target)


class MemoryBackend:
    """The same files kept as bytes in memory: same encoding, no disk."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[Signature, bytes]] = {}
        self._lock = threading.RLock()
        self._version = 0

    def read(self, name: str) -> tuple[Signature | None, dict[str, Any] | None]:
        entry = self.files.get(name)
        return (None, None) if entry is None else (entry[0], _decode(entry[1], f"memory:{name}"))

    def signature(self, name: str) -> Signature | None:
        entry = self.files.get(name)
        return entry and entry[0]

    def write(self, name: str, data: dict[str, Any]) -> Signature:
        return self.commit({name: data})[name]

    def commit(self, files: dict[str, dict[str, Any]]) -> dict[str, Signature]:
        encoded = {name: orjson.dumps(data) for name, data in files.items()}  # all encoded, then all kept
        for name, raw in encoded.items():
            self._version += 1
            self.files[name] = ((0, self._version, len(raw)), raw)
        return {name: self.files[name][0] for name in encoded}

    def names(self) -> list[str]:
        return sorted(self.files)

    def strays(self) -> list[str]:
        return []

    def where(self, name: str) -> str:
        return f"memory:{name}"

    def try_role(self, role: str) -> bool:
        return True  # one process: it holds every role

    def lock(self) -> Any:
        return self._lock

    def backup(self, names: list[str], label: str) -> str:
        for name in names:
            self.files[f"backup-{label}/{name}"] = self.files[name]
        return f"memory:backup-{label}"


class _ShardStorage(Storage):
    """TinyDB's view of one file of the store: reads come from the store's cache, writes are batched."""

    def __init__(self, store: FileStore, name: str) -> None:
        self._store, self._name = store, name

    def read(self) -> dict[str, Any]:
        return self._store._data(self._name)

    def write(self, data: dict[str, Any]) -> None:
        self._store._mark_dirty(self._name, data, in_place=True)


@dataclass(frozen=True)
class ClaimFilter:
    """Which claims to list; every given criterion must hold."""

    status: str | None = None  # "open" or "resolved"
    due_by: date | None = None  # open claims whose review date is on or before this day
    tag: str | None = None
    words: tuple[str, ...] = ()  # each must occur in the text, source title or tags (ignoring case)
    archived: bool | None = False  # deleted claims: left out (False), only them (True), or both (None)
    forecaster: str | None = None  # claims this analyst (an identity: Forecast.forecaster) forecast

    def matches(self, doc: dict[str, Any], text: str | None = None) -> bool:
        """Whether `where` selects the claim `doc` (dict form); `text`: its search_text, when made already."""
        if self.archived is not None and bool(doc.get("archived")) != self.archived:
            return False
        if self.status == "open" and doc["outcome"] is not None:
            return False
        if self.status == "resolved" and doc["outcome"] is None:
            return False
        if self.due_by is not None:
            review = doc["review_date"]
            if doc["outcome"] is not None or review is None or review > self._due_day:
                return False
        if self.tag is not None and self.tag not in doc["tags"]:
            return False
        if self.forecaster is not None and all((f.get("who") or f["by"]) != self.forecaster for f in doc["forecasts"]):
            return False
        if self.words:
            hay = search_text(doc) if text is None else text
            searched = self._searched  # plain substring tests first: most claims fail one of them, quickly
            return all(word.needle in hay for word in searched) and all(word.finds(hay) for word in searched)
        return True

    @functools.cached_property
    def _searched(self) -> tuple[SearchWord, ...]:
        """Each search word's test, made once: a listing tests them against every claim."""
        return tuple(search_word(w) for w in self.words)

    @functools.cached_property
    def _due_day(self) -> str:
        """due_by as stored (ISO), made once: a listing tests it against every claim."""
        return self.due_by.isoformat() if self.due_by else ""


def search_text(doc: dict[str, Any]) -> str:
    """What a listing's words are searched in (a claim's text, source title, tags and external id), as
    matching.search_word reads it."""
    return searchable(" ".join([doc["text"], doc["source"]["title"], *doc["tags"], *(doc["id"] or "",)]))


def _by_review_date(found: tuple[int, dict[str, Any]]) -> tuple[str, int]:
    """A due claim's place in a listing (see ClaimStore.find_claims): by review date (ISO, so its text sorts as the
    date does), then number."""
    number, doc = found
    return doc["review_date"], number


class ClaimStore(Protocol):
    """Claims and their audit trail. A claim's number is its short id (#12); its history is every change."""

    def get_claim(self, number: int) -> Claim: ...  # NotFound when there is none
    # by number; those selected by due_by as due lists them: by review date, then number
    def find_claims(self, where: ClaimFilter | None = None) -> list[Claim]: ...
    # (number, claim in its dict form, claim_to_dict's shape), as find_claims orders them: for reading thousands at
    # once; do not change them
    def claim_dicts(self, where: ClaimFilter | None = None) -> list[tuple[int, dict[str, Any]]]: ...
    # the claims find_claims finds, by number, a file (or a batch) at a time, kept nowhere: every claim in bounded memory
    def claim_batches(self, where: ClaimFilter | None = None) -> Iterator[list[Claim]]: ...
    # the same in their dict form (as claim_dicts), each batch non-empty: showing every claim in bounded memory
    def claim_dict_batches(self, where: ClaimFilter | None = None) -> Iterator[list[tuple[int, dict[str, Any]]]]: ...
    def claims_version(self) -> tuple[Any, ...]: ...  # changes whenever any claim changes, in any process
    def is_empty(self) -> bool: ...  # no claim was ever stored
    def next_number(self) -> int: ...
    def insert_claim(self, claim: Claim, change: Change) -> Claim: ...  # numbered claim.id if free, else next
    def update_claim(self, claim: Claim, change: Change) -> Claim: ...
    def purge_claim(self, number: int) -> int: ...  # with its history, evidence, alerts, pending messages
    def load_claim(self, claim: Claim, history: list[Change]) -> None: ...  # as it is, numbered: copying stores
    def history(self, number: int) -> list[Change]: ...  # oldest first, evidence labels included


class EvidenceStore(Protocol):
    """News matched to claims, numbered per claim (Evidence.seq), and the alert events waiting to go out."""

    # idempotent by evidence_key; with `alert`, an alert event for each new row in the same write
    def add_evidence(self, items: list[Evidence], *, alert: bool = False) -> list[Evidence]: ...
    def evidence_for(self, number: int) -> list[Evidence]: ...  # newest first
    def evidence_between(self, start: datetime, end: datetime) -> list[Evidence]: ...  # found in (start, end]
    def label_evidence(self, number: int, seq: int, stance: Stance, by: str, at: datetime, *,
                       who: str = "") -> Evidence: ...  # by, who: see model._Acted
    def add_alert(self, kind: str, number: int, at: datetime, **fields: Any) -> None: ...
    def alerts(self, number: int) -> list[dict[str, Any]]: ...
    def alert_events(self) -> list[dict[str, Any]]: ...  # oldest first; each `ref` names it for queue_messages


class OutboxStore(Protocol):
    """Messages waiting to be sent, each once (by its key), and what the reminder and digest jobs did."""

    def queue_messages(self, messages: list[dict[str, Any]], *, done_events: list[Any] = (),
                       state: dict[str, Any] | None = None) -> int: ...  # how many were new
    def outbox_state(self) -> dict[str, Any]: ...
    def outbox(self, status: str | None = None) -> list[dict[str, Any]]: ...
    def update_messages(self, keys: list[str], *, chat: int | None = None, **fields: Any) -> None: ...
    def forget_messages(self, keys: list[str], *, chats: Collection[int] | None = None) -> None: ...
    def forget_claim_messages(self, chat_id: int, number: int) -> int: ...
    def prune_outbox(self, before: datetime, pending_for: tuple[int, ...] = ()) -> int: ...
    def deactivate_chat(self, chat_id: int, reason: str, at: datetime) -> int: ...
    def migrate_chat(self, old: int, new: int, at: datetime) -> None: ...


class PeopleStore(Protocol):
    """Users and their roles, invites, chats and their settings, subscriptions, the team's settings."""

    def user(self, user_id: int) -> User | None: ...
    def users(self) -> list[User]: ...
    def set_role(self, user_id: int, role: Role | None, name: str, by: str, at: datetime) -> None: ...
    def add_invite(self, token: str, role: Role, by: str, at: datetime, used_by: int | None = None,
                   used_at: datetime | None = None) -> None: ...
    def invites(self) -> list[dict[str, Any]]: ...  # token, role, created_by, created_at, used_by, used_at
    def use_invite(self, token: str, user_id: int, name: str, at: datetime) -> Role: ...
    def chat(self, chat_id: int) -> Chat | None: ...
    def chats(self) -> list[Chat]: ...
    def save_chat(self, chat: Chat) -> None: ...
    def team_settings(self) -> dict[str, str]: ...
    def save_team_setting(self, key: str, value: str) -> None: ...
    def subscriptions(self, chat_id: int | None = None) -> list[Subscription]: ...
    def subscribe(self, chat_id: int, target: str, at: datetime, kinds: tuple[str, ...] = ALERT_KINDS) -> bool: ...
    def unsubscribe(self, chat_id: int, target: str | None) -> int: ...


class FeedStore(Protocol):
    """Watched feeds with their health and leases, the entries seen in each, and the recent news."""

    def feeds(self) -> list[Feed]: ...
    def feed(self, feed_id: int) -> Feed: ...
    def add_feed(self, feed: Feed) -> Feed: ...
    def add_feeds(self, feeds: list[Feed]) -> list[Feed | int]: ...
    def save_feed(self, feed: Feed) -> None: ...
    def save_feeds(self, feeds: list[Feed]) -> None: ...  # ends their leases
    def remove_feed(self, feed_id: int) -> Feed: ...
    # due feeds no watch worker holds (or only one of `reclaim`), now held by `worker` until saved or `now + lease`
    def lease_feeds(self, worker: str, now: datetime, limit: int, *, every_feed: bool = False,
                    lease: timedelta = LEASE, reclaim: Collection[str] = ()) -> list[Feed]: ...
    def lease_holders(self, now: datetime) -> set[str]: ...  # the workers holding a lease at `now`
    def add_news(self, items: list[NewsItem], now: datetime) -> None: ...
    def recent_news(self, now: datetime) -> list[NewsItem]: ...
    def seen(self, feed_id: int) -> dict[str, tuple[str, datetime]]: ...
    def save_seen(self, feed_id: int, entries: dict[str, tuple[str, datetime]]) -> None: ...


class WebStore(Protocol):
    """The web view's one-time sign-in links and sessions (kept by `key`, a hash of their secret: never the secret)
    and the claims that have a public page (by its token)."""

    # keeps a link good until `expires`; forgets, in the same write, links that expired a day before `at`
    def add_sign_in(self, key: str, user_id: int, name: str, expires: datetime, at: datetime) -> None: ...
    # (user id, name), once: marks the link used at `at`; unknown, used or expired (expires <= at): InputError
    def use_sign_in(self, key: str, at: datetime) -> tuple[int, str]: ...
    # keeps a session until `expires`; forgets, in the same write, sessions expired by `at`
    def start_session(self, key: str, user_id: int, name: str, expires: datetime, at: datetime) -> None: ...
    def session(self, key: str, at: datetime) -> tuple[int, str] | None: ...  # None: unknown, or expired by `at`
    def end_session(self, key: str) -> None: ...  # nothing happens when there is none
    def share_claim(self, number: int, token: str, by: str, at: datetime) -> None: ...  # replaces its earlier token
    def unshare_claim(self, number: int) -> bool: ...  # False when it had no public page
    def share_token(self, number: int) -> str | None: ...
    def shared_claim(self, token: str) -> int | None: ...  # the claim whose public page holds `token`


class Store(ClaimStore, EvidenceStore, OutboxStore, PeopleStore, FeedStore, WebStore, Protocol):
    """What the domain, the chat, the CLI and the watcher use of a store; FileStore (a data directory) and
    pgstore.PgStore (a PostgreSQL database) are the two. Every method that writes is one transaction;
    transaction() makes several calls one, all or nothing, with writers taking turns."""

    migrated_backup: str | None  # where a migration at opening saved the old data, if it did

    def transaction(self) -> AbstractContextManager[None]: ...
    @property
    def schema_version(self) -> int | None: ...
    # what other processes wrote for workers to act on within `timeout` s ("alerts", "outbox"); files: nothing
    def announcements(self, timeout: float) -> set[str]: ...
    def hold_role(self, role: str) -> bool: ...  # this process holds `role` ("sender") among all on this store
    def vacuum(self) -> None: ...  # after a bulk load (see StoreBase.vacuum)
    def close(self) -> None: ...


def _shard(number: int) -> int:
    return (number - 1) // SHARD_SIZE


class StoreBase:
    """What each store makes of its other methods, written once: the rules, here; what a rule reads and marks,
    in each store (_save_role, _invite_used, _sign_in, _sign_in_used)."""

    def vacuum(self) -> None:
        """After a bulk load (migrate): a database's planner statistics and visibility map brought up to date, as
        PostgreSQL's autovacuum does in time; a data directory has neither, so nothing to do here."""

    def add_feed(self: Store, feed: Feed) -> Feed:
        """Store a new feed; an address already watched is an InputError naming that feed."""
        [stored] = self.add_feeds([feed])
        if isinstance(stored, int):
            raise InputError(f"{shown_url(feed.url)} is watched already, as feed {stored}")
        return stored

    def alerts(self: Store, number: int) -> list[dict[str, Any]]:
        """The alert events of a claim not yet fanned out to its subscribers, oldest first."""
        return [e for e in self.alert_events() if e["claim"] == number]

    def set_role(self, user_id: int, role: Role | None, name: str, by: str, at: datetime) -> None:
        """Give a user a role, or take it away with None; never to an id that many people share."""
        if role is not None and user_id in SHARED_SENDERS:
            raise InputError(WRITE_AS_YOURSELF)
        store: Any = self  # each store saves it its own way (_save_role)
        store._save_role(user_id, role, name, by, at)

    def use_invite(self, token: str, user_id: int, name: str, at: datetime) -> Role:
        """Grant the invite's role to the user, once; a used or unknown invite is an InputError."""
        if user_id in SHARED_SENDERS:  # before the invite is used up
            raise InputError(WRITE_AS_YOURSELF)
        store: Any = self
        with store.transaction():
            invite = next((i for i in store.invites() if i["token"] == token), None)
            if invite is None:
                raise InputError("this invite link is not valid; ask an admin for a new one")
            if invite["used_by"] is not None:
                raise InputError("this invite link has been used already; ask an admin for a new one")
            store._invite_used(token, user_id, at)
            role = invite["role"]
            current = store.user(user_id)
            if current is None or not current.role.allows(role):  # an invite never lowers a role
                self.set_role(user_id, role, name, f"invite by {invite['created_by']}", at)
            return role

    def use_sign_in(self, key: str, at: datetime) -> tuple[int, str]:
        """(user id, name) of the sign-in link `key`, once: it is marked used at `at`. An unknown, used or expired
        link is an InputError, and changes nothing."""
        store: Any = self
        with store.transaction():
            link = store._sign_in(key)  # (user id, name, expires, used at) or None
            if link is None:
                raise InputError("this sign-in link is not valid; ask for a new one with /web")
            if link[3] is not None:
                raise InputError("this sign-in link has been used already; ask for a new one with /web")
            if link[2] <= at:
                raise InputError("this sign-in link has expired; ask for a new one with /web")
            store._sign_in_used(key, at)
            return link[0], link[1]


class FileStore(StoreBase):
    """The store (Store) over a Backend: a data directory, or memory."""

    def announcements(self, timeout: float) -> set[str]:
        """Files announce nothing: workers on a data directory look at it on their schedule."""
        time.sleep(timeout)
        return set()

    def hold_role(self, role: str) -> bool:
        """Whether this process holds `role` (such as "sender") among the processes on this data directory, taking
        it if it is free: an flock on `.role-ROLE.lock`, let go when the process dies."""
        held = self._roles.get(role)
        if held is None:
            held = self._roles[role] = self.backend.try_role(role)
        return held is not None

    def close(self) -> None:
        for fd in self._roles.values():
            if isinstance(fd, int) and fd >= 0:
                os.close(fd)
        self._roles.clear()

    def __init__(self, backend: Backend, *, schema_version: int = SCHEMA_VERSION,
                 migrations: dict[int, Migration] | None = None, once: bool = False) -> None:
        self.backend = backend
        # Reading once (a command that reads what it shows and ends): claims files are read for each listing and
        # not kept, so that its memory holds what it shows, not the ledger.
        self._once = once
        self._cache: dict[str, tuple[Signature | None, dict[str, Any]]] = {}
        self._dirty: dict[str, dict[str, Any]] = {}
        self._fresh: set[str] = set()  # files checked since this transaction took the lock
        # Claim objects and search texts made from a file's current data, so listing does not make them each time
        self._claims: dict[str, tuple[dict[str, Any], dict[int, Claim], dict[str, str]]] = {}
        self._depth = 0
        self._thread_lock = threading.RLock()
        # Per file, the version last checked whole (or written here) with its data: a later version of the file
        # has only its documents that differ from that data checked before a write.
        self._sound: dict[str, tuple[Signature, dict[str, Any]]] = {}
        # Per file, how many times its data here was read anew or changed; and indexes of a file's data made at
        # one of those versions and kept up to date by the one change that uses them (see _changing_indexed).
        self._versions: dict[str, int] = defaultdict(int)
        self._indexes: dict[tuple[str, str], tuple[int, Any]] = {}
        # The Feeds made from feeds.json's rows, by id, each with the row it was made from: a row replaced (as
        # save_feeds does) or read anew is made again; TinyDB changes rows in place, so its writes forget them all.
        self._feeds_made: dict[str, tuple[dict[str, Any], Feed]] = {}
        self.migrated_backup: str | None = None
        self._roles: dict[str, int | bool | None] = {}  # role -> its lock's descriptor (True in memory), None: not held
        self._open(schema_version, MIGRATIONS if migrations is None else migrations)

    # --- files, cache and transactions ---------------------------------------------------------

    def _data(self, name: str, *, keep: bool = True) -> dict[str, Any]:
        """A file's current data; without `keep`, a file not in the cache is read for this once and not cached, nor
        its claims checked: the caller checks those it uses (_checked)."""
        cached = self._cache.get(name)
        if cached is not None and (name in self._fresh or cached[0] == self.backend.signature(name)):
            data = cached[1]
        else:
            signature, read = self.backend.read(name)
            data = read if read is not None else {}
            if name == "outbox" or name.startswith("outbox-"):
                _skip_unreadable_messages(data, self.backend.where(name))
            elif name.startswith("claims-") and keep:  # every reader, however it reads claims, gets claims of their shape
                with self._reading(name):
                    for doc_id, doc in data.get("claims", {}).items():
                        _check_claim_shape(doc, int(doc_id))
            if not keep:
                return data
            self._cache[name] = (signature, data)
            self._versions[name] += 1
        if self._depth:  # the lock is held: nobody else can change the file until it is released
            self._fresh.add(name)
        return data

    def _mark_dirty(self, name: str, data: dict[str, Any], *, in_place: bool = False) -> None:
        """`in_place`: TinyDB's write, which may have changed any of the file's documents in place."""
        if not self._depth:
            raise RuntimeError("store writes must happen inside Store.transaction()")
        if in_place and name == "feeds":
            self._feeds_made.clear()
        self._cache[name] = (None, data)
        self._versions[name] += 1
        self._dirty[name] = data
        self._fresh.add(name)
        self._claims.pop(name, None)

    def _changing(self, name: str) -> dict[str, Any]:
        """A file's data, to change in place as stored ({table: {doc id as text: document}}), written at the end
        of the transaction (forgotten if it fails). What TinyDB does, less its cost: TinyDB converts a whole table
        to documents and back at every write, which grows with the file, not with the change."""
        data = self._data(name)
        self._mark_dirty(name, data)
        return data

    def _changing_indexed(self, name: str, kind: str, make: Callable[[dict[str, Any]], Any]) -> tuple[dict[str, Any], Any]:
        """A file's data to change in place (as _changing), with an index of it (`make(data)`, kept under `kind`)
        that the caller keeps up to date with its change. The index is made again only when the data changed
        otherwise since (any other write, a rollback, another process's write): a watch cycle adds evidence and
        news to files of tens of thousands of rows several times, and each index made anew cost it 25 ms."""
        kept = self._indexes.get((name, kind))
        self._data(name)  # read first: data read anew makes a kept index stale
        current = kept is not None and kept[0] == self._versions[name]
        data = self._changing(name)
        index = kept[1] if current else make(data)
        self._indexes[(name, kind)] = (self._versions[name], index)
        return data, index

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the writers' lock; every change inside is written once per file at the end."""
        with self._thread_lock, self.backend.lock():
            self._depth += 1
            try:
                yield
                if self._depth == 1:
                    self._commit()
            except BaseException:
                if self._depth == 1:  # forget half-made changes: the files still hold the truth
                    for name in self._dirty:
                        self._cache.pop(name, None)
                        self._sound.pop(name, None)  # TinyDB changed its data in place
                    self._dirty.clear()
                raise
            finally:
                self._depth -= 1
                if not self._depth:
                    self._fresh.clear()

    def _commit(self) -> None:
        # Every file of the transaction is replaced in one commit, all or nothing (see the module docstring).
        # The renames go in this order all the same (records first, then what marks them done), which costs
        # nothing and keeps a reader's view, mid-commit, on the side of repeating work rather than losing it.
        order = ("outbox", "claims-", "audit-", "evidence-", "news", "people", "feeds", "seen", "meta")
        try:
            for name in self._dirty:  # before anything is written: all of the transaction or none of it
                self._check_sound(name)
            files = {name: self._dirty[name] for name in sorted(
                self._dirty, key=lambda n: next(i for i, p in enumerate(order + ("",)) if n.startswith(p)))}
            signatures = self.backend.commit(files)
        except BaseException:
            for name in self._dirty:
                self._cache.pop(name, None)
                self._sound.pop(name, None)
            self._dirty.clear()
            raise
        for name, data in files.items():
            self._cache[name] = (signatures[name], data)
            self._sound[name] = (signatures[name], data)  # checked before; what this store adds is whole
        self._dirty.clear()

    def _check_sound(self, name: str) -> None:
        """A file is rewritten only if all of it can be read: a write would carry over, and so hide, the
        documents that cannot be read, and replace the file the user was told was left untouched.

        What is checked is the data this transaction read and changed, which it is about to write (not the
        file read again), and of it only the documents that differ from the version of the file this store
        last checked or wrote: after another process changed a file, its changes; the first time, all."""
        signature = self.backend.signature(name)
        sound = self._sound.get(name)
        if signature is None or sound is not None and sound[0] == signature:
            return
        known = sound[1] if sound is not None else {}
        checks = next((c for prefix, c in _DOCUMENT_CHECKS.items() if name.startswith(prefix)), {})
        with self._reading(name):
            for table, check in checks.items():
                checked = known.get(table, {})
                for doc_id, doc in self._dirty[name].get(table, {}).items():
                    if checked.get(doc_id) != doc:
                        check(doc, int(doc_id))

    @contextmanager
    def _reading(self, name: str) -> Iterator[None]:
        """Data of the wrong shape in a file is reported as that file's problem, not a crash."""
        try:
            yield
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise _unreadable(self.backend.where(name), f"{type(e).__name__}: {e}") from None

    def _db(self, name: str) -> TinyDB:
        return TinyDB(storage=lambda: _ShardStorage(self, name))

    def _claim_files(self) -> list[str]:
        names = set(self.backend.names()) | set(self._dirty)  # files made in this transaction count
        return sorted((n for n in names if n.startswith("claims-")), key=lambda n: int(n.split("-")[1]))

    # --- schema --------------------------------------------------------------------------------

    def _open(self, schema_version: int, migrations: dict[int, Migration]) -> None:
        if self._stored_schema() == schema_version:
            return  # nothing to set up, so no lock: reading works in a data directory one may not change
        with self.transaction():
            version = self._stored_schema()
            if version is None:
                if self.backend.names() or self.backend.strays():
                    raise StoreError("the data directory holds files but no meta.json; is it a claimwatch directory?")
                self._db("meta").table("meta").insert(Document({"schema": schema_version}, doc_id=1))
                return
            if version > schema_version:
                raise StoreError(f"the data was written by a newer claimwatch (schema {version}, "
                                 f"this one reads {schema_version}); upgrade claimwatch")
            if version < schema_version:
                label = f"schema{version}-{time.strftime('%Y%m%dT%H%M%S')}"
                self.migrated_backup = self.backend.backup(self.backend.names(), label)
                for step in range(version, schema_version):
                    if step not in migrations:
                        raise StoreError(f"no migration from schema {step} to {step + 1}")
                    migrations[step](self)
                    self._db("meta").table("meta").update({"schema": step + 1}, doc_ids=[1])

    def _stored_schema(self) -> int | None:
        """The schema version meta.json holds; None when there is no meta.json."""
        if self.backend.signature("meta") is None:
            return None
        with self._reading("meta"):
            doc = self._db("meta").table("meta").get(doc_id=1)
        version = doc.get("schema") if doc else None
        if type(version) is not int or version < 1:
            why = "it holds no schema version" if version is None else f"schema version {version!r} is not a number"
            raise _unreadable(self.backend.where("meta"), why)
        return version

    @property
    def schema_version(self) -> int | None:
        return self._stored_schema()

    # --- claims --------------------------------------------------------------------------------

    def _made(self, name: str) -> tuple[dict[str, Any], dict[int, Claim], dict[str, str]]:
        """A file's current data, and the Claim objects and search texts (by doc id) already made from it."""
        data = self._data(name)
        made = self._claims.get(name)
        if made is None or made[0] is not data:  # the file was read again since
            made = self._claims[name] = (data, {}, {})
        return made

    def _selected(self, name: str, where: ClaimFilter) -> list[tuple[int, dict[str, Any]]]:
        """(number, dict form) of a file's claims that `where` selects; search words are looked for in the search
        texts made when this version of the file was first searched (a search of 10k claims: 40 ms, making them)."""
        data, _, texts = self._made(name)
        claims = data.get("claims", {})
        test = where.matches
        if not where.words:
            return [(int(n), doc) for n, doc in claims.items() if test(doc)]
        if not texts:
            texts.update((n, search_text(doc)) for n, doc in claims.items())
        return [(int(n), doc) for n, doc in claims.items() if test(doc, texts[n])]

    @staticmethod
    def _claim(made: dict[int, Claim], doc: dict[str, Any], number: int) -> Claim:
        claim = made.get(number)
        if claim is None:
            claim = made[number] = claim_from_dict(doc, number)
        return claim

    def get_claim(self, number: int) -> Claim:
        name = f"claims-{_shard(number):04d}"
        with self._reading(name):
            doc = self._db(name).table("claims").get(doc_id=number) if number > 0 else None
            if doc is None:
                raise NotFound(f"there is no claim #{number}")
            return self._claim(self._made(name)[1], doc, number)

    def find_claims(self, where: ClaimFilter | None = None) -> list[Claim]:
        """Claims matching `where` (by default every claim not deleted), by number; those selected by due_by by
        review date, then number."""
        if self._once:
            with gc_paused():  # the whole listing: collecting between files rescans every claim made before
                found = [claim for batch in self.claim_batches(where) for claim in batch]
        else:
            # The files' dicts tested as they are (TinyDB's search would wrap each claim that matches in a Document),
            # the collector paused for the whole listing (collecting between files rescans the claims made before)
            found = []
            with gc_paused():
                for name in self._claim_files():
                    with self._reading(name):
                        made = self._made(name)[1]
                        found += [self._claim(made, doc, n) for n, doc in self._selected(name, where or ClaimFilter())]
        if where is not None and where.due_by is not None:
            found.sort(key=attrgetter("review_date", "id"))
        return found

    def claim_dicts(self, where: ClaimFilter | None = None) -> list[tuple[int, dict[str, Any]]]:
        """(number, claim in its dict form) for claims matching `where`, without making Claim objects:
        for reading thousands at once, as scoring does. The dicts are the store's own: do not change them."""
        where = where or ClaimFilter()
        test = where.matches
        found: list[tuple[int, dict[str, Any]]] = []
        with gc_paused():  # for all the files: collecting between them rescans every claim read before (40 ms at 20k)
            for name in self._claim_files():
                with self._reading(name):
                    if self._once:
                        found += [(int(n), doc) for n, doc in self._data(name, keep=False).get("claims", {}).items()
                                  if test(doc)]
                    else:
                        found += self._selected(name, where)
            if self._once:
                found = self._checked(found)
        if where.due_by is not None:  # as find_claims lists them
            found.sort(key=_by_review_date)
        return found

    def _checked(self, docs: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
        """Claims read from a file not kept (see _data), each checked as a file kept is checked whole: a listing that
        reads once checks the claims it shows, not the thousands it passes over (a third of the time of `due`)."""
        for number, doc in docs:
            if not _claim_shape_ok(doc):
                with self._reading(f"claims-{_shard(number):04d}"):
                    _claim_shape_problem(doc, number)
        return docs

    def claim_batches(self, where: ClaimFilter | None = None) -> Iterator[list[Claim]]:
        """The claims of each file that match `where`, a file at a time; a file read for this is not kept."""
        for docs in self.claim_dict_batches(where):
            with self._reading(f"claims-{_shard(docs[0][0]):04d}"), gc_paused():
                batch = [claim_from_dict(doc, number) for number, doc in docs]
            yield batch

    def claim_dict_batches(self, where: ClaimFilter | None = None) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        """claim_batches' claims in their dict form (see claim_dicts), each file's checked; none of a file read for
        this is kept but what is yielded."""
        test = (where or ClaimFilter()).matches
        for name in self._claim_files():
            with self._reading(name), gc_paused():
                docs = [(int(n), doc) for n, doc in self._data(name, keep=False).get("claims", {}).items() if test(doc)]
                self._checked(docs)
            if docs:
                yield docs

    def claims_version(self) -> tuple[tuple[str, Signature | None], ...]:
        """Changes whenever any claim changes (here or in another process)."""
        return tuple((name, self.backend.signature(name)) for name in self._claim_files())

    def is_empty(self) -> bool:
        """No claim was ever stored (a purged claim's file stays, so a data directory is never taken for new)."""
        return not self._claim_files()

    def next_number(self) -> int:
        files = self._claim_files()
        if not files:
            return 1
        with self._reading(files[-1]):
            numbers = self._data(files[-1]).get("claims", {}).keys()
            return max(map(int, numbers), default=int(files[-1].split("-")[1]) * SHARD_SIZE) + 1

    def insert_claim(self, claim: Claim, change: Change) -> Claim:
        """Store a new claim, numbered `claim.id` if given and free, else the next number."""
        with self.transaction():
            number = claim.id if claim.id > 0 and not self._exists(claim.id) else self.next_number()
            claim = claim.with_changes(id=number)
            self._db(f"claims-{_shard(number):04d}").table("claims").insert(Document(_claim_doc(claim), doc_id=number))
            self._audit(number).insert(_audit_doc(_for_claim(change, number)))
        return claim

    def update_claim(self, claim: Claim, change: Change) -> Claim:
        """Replace a stored claim and record the change, in one write."""
        with self.transaction():
            db = self._db(f"claims-{_shard(claim.id):04d}")
            if not db.table("claims").contains(doc_id=claim.id):
                raise NotFound(f"there is no claim #{claim.id}")
            db.table("claims").update(_claim_doc(claim), doc_ids=[claim.id])
            self._audit(claim.id).insert(_audit_doc(change))
        return claim

    def purge_claim(self, number: int) -> int:
        """Remove a claim for good: with its audit trail, evidence and alert events, and the messages about it
        still waiting in the outbox, in one write. Returns how many evidence rows went with it."""
        with self.transaction():
            self.get_claim(number)
            claims = self._db(f"claims-{_shard(number):04d}")
            claims.table("claims").remove(doc_ids=[number])
            claims.table("alerts").remove(lambda d: d["claim"] == number)
            self._audit(number).remove(lambda d: d["claim"] == number)
            evidence = self._db(f"evidence-{_shard(number):04d}")
            gone = evidence.table("evidence").remove(lambda d: d["claim"] == number)
            for table in ("audit", "alerts"):
                evidence.table(table).remove(lambda d: d["claim"] == number)
            for name, ids in self._messages_where(lambda d: d["claim"] == number and d["status"] == "pending").items():
                self._db(name).table("messages").remove(doc_ids=ids)
        return len(gone)

    def _exists(self, number: int) -> bool:
        return self._db(f"claims-{_shard(number):04d}").table("claims").contains(doc_id=number)

    def _audit(self, number: int) -> Any:
        """The audit table of a claim's shard, in a file of its own: listing claims never reads it."""
        return self._db(f"audit-{_shard(number):04d}").table("audit")

    def load_claim(self, claim: Claim, history: list[Change]) -> None:
        """Store a claim under its number with its whole history, as another store holds it (copying stores)."""
        with self.transaction():
            if self._exists(claim.id):
                raise InputError(f"claim #{claim.id} is stored already")
            self._db(f"claims-{_shard(claim.id):04d}").table("claims").insert(Document(_claim_doc(claim), doc_id=claim.id))
            self._audit(claim.id).insert_multiple(_audit_doc(change) for change in history)

    def history(self, number: int) -> list[Change]:
        """Every change to a claim, its evidence labels included, oldest first."""
        self.get_claim(number)
        changes = []
        for name in (f"audit-{_shard(number):04d}", f"evidence-{_shard(number):04d}"):
            with self._reading(name):
                changes += [_change(d) for d in self._db(name).table("audit").search(lambda d: d["claim"] == number)]
        return sorted(changes, key=lambda c: c.at)

    # --- evidence ------------------------------------------------------------------------------

    def add_evidence(self, items: list[Evidence], *, alert: bool = False) -> list[Evidence]:
        """Store evidence rows, all in one write per file; with `alert`, an alert record for each, in the
        same write (table `alerts`: what delivery will send to the claim's subscribers). Rows are added to the
        file's data as stored (_changing): a watch cycle adds thousands to files that hold tens of thousands."""
        stored: list[Evidence] = list(items)  # returned in the order given
        with self.transaction():
            by_file: dict[str, list[int]] = {}
            for at, e in enumerate(items):
                by_file.setdefault(f"evidence-{_shard(e.claim):04d}", []).append(at)
            for name, positions in by_file.items():
                with self._reading(name):  # idempotent by key: a row stored already is returned, not added again
                    data, index = self._changing_indexed(name, "evidence", _evidence_index)
                    rows, alerts = data.setdefault("evidence", {}), data.setdefault("alerts", {})
                seqs: dict[int, int] = {}  # each new row's number among its claim's rows (see _evidence_numbers)
                keys = []
                for at in positions:
                    row = evidence_to_dict(items[at])
                    keys.append(key := evidence_key(row))
                    if key in index.known:  # stored before, or given twice in this call: stored once
                        continue
                    index.known[key] = i = index.next_row
                    index.next_row += 1
                    rows[str(i)] = row
                    index.per_claim[row["claim"]] += 1
                    seqs[i] = index.per_claim[row["claim"]]
                    if alert:
                        alerts[str(index.next_alert)] = {"kind": "evidence", "claim": row["claim"], "evidence": i,
                                                         "created": row["found_at"]}
                        index.next_alert += 1
                if any(index.known[key] not in seqs for key in keys):  # some were stored before: numbered as stored
                    seqs = self._evidence_numbers(name)
                for at, key in zip(positions, keys, strict=True):
                    stored[at] = items[at].numbered(index.known[key], seqs[index.known[key]])
        return stored

    def add_alert(self, kind: str, number: int, at: datetime, **fields: Any) -> None:
        """An alert event kept beside the claim, in the same write as the change it announces."""
        with self.transaction():
            self._db(f"claims-{_shard(number):04d}").table("alerts").insert(
                {"kind": kind, "claim": number, "created": iso(at), **fields})

    def alert_events(self) -> list[dict[str, Any]]:
        """Every alert event waiting to be fanned out, oldest first; `ref` names it for remove_events."""
        names = set(self.backend.names()) | set(self._dirty)
        events = []
        for name in sorted(n for n in names if n.startswith(("claims-", "evidence-"))):
            with self._reading(name):
                events += [dict(d, ref=(name, d.doc_id)) for d in self._db(name).table("alerts").all()]
        return sorted(events, key=lambda e: (e["created"], e["ref"]))

    # --- outbox --------------------------------------------------------------------------------

    def _message_files(self, chats: Iterable[int] | None = None) -> list[str]:
        """The files that hold outbox messages (of these chats, or of all): `outbox`, which holds those queued
        before the outbox was split (and the jobs' state), and a shard per chat id modulo OUTBOX_SHARDS."""
        if chats is not None:
            return ["outbox", *sorted({_outbox_shard(chat) for chat in chats})]
        names = set(self.backend.names()) | set(self._dirty)
        return ["outbox", *sorted(n for n in names if n.startswith("outbox-"))]

    def _messages_where(self, test: Callable[[dict[str, Any]], bool],
                        chats: Iterable[int] | None = None) -> dict[str, list[int]]:
        """The ids of the messages that pass `test`, by file; only files holding one (TinyDB rewrites a file
        at every update or removal, even one that changes nothing)."""
        found: dict[str, list[int]] = {}
        for name in self._message_files(chats):
            with self._reading(name):
                ids = [int(i) for i, d in self._data(name).get("messages", {}).items() if test(d)]
            if ids:
                found[name] = ids
        return found

    def queue_messages(self, messages: list[dict[str, Any]], *, done_events: list[tuple[str, int]] = (),
                       state: dict[str, Any] | None = None) -> int:
        """Add outbox messages whose key is new, remove the alert events they came from and update the
        outbox state, in one transaction (the outbox files first); how many messages were new."""
        with self.transaction():
            known = {d["key"] for name in self._message_files() for d in self._data(name).get("messages", {}).values()}
            new = [m for m in messages if m["key"] not in known and not known.add(m["key"])]
            by_shard: dict[str, list[dict[str, Any]]] = {}
            for m in new:
                by_shard.setdefault(_outbox_shard(m["chat"]), []).append(m)
            for name, shard in by_shard.items():
                self._db(name).table("messages").insert_multiple(shard)
            if state:
                self._update_outbox_state(state)
            by_file: dict[str, list[int]] = {}
            for name, doc_id in done_events:
                by_file.setdefault(name, []).append(doc_id)
            for name, ids in by_file.items():
                self._db(name).table("alerts").remove(doc_ids=ids)
            return len(new)

    def outbox_state(self) -> dict[str, Any]:
        """What the reminder and digest jobs have done (last reminder day, each chat's last digest)."""
        with self._reading("outbox"):
            doc = self._db("outbox").table("state").get(doc_id=1)
            return dict(doc) if doc else {}

    def _update_outbox_state(self, state: dict[str, Any]) -> None:
        self._db("outbox").table("state").upsert(Document({**self.outbox_state(), **state}, doc_id=1))

    def outbox(self, status: str | None = None) -> list[dict[str, Any]]:
        """Outbox messages (all, or those with `status`: pending, sent, dropped), oldest first within a chat."""
        found = []
        for name in self._message_files():
            with self._reading(name):
                found += [dict(d) for d in self._data(name).get("messages", {}).values()
                          if status is None or d["status"] == status]
        return found

    def update_messages(self, keys: list[str], *, chat: int | None = None, **fields: Any) -> None:
        """Set fields (status, sent_at, attempts, next_try, error) on the outbox messages with these keys (all
        of `chat`, when given: then only that chat's files are read and written)."""
        wanted = set(keys)
        with self.transaction():
            for name, ids in self._messages_where(lambda d: d["key"] in wanted, None if chat is None else [chat]).items():
                self._db(name).table("messages").update(fields, doc_ids=ids)

    def forget_messages(self, keys: list[str], *, chats: Collection[int] | None = None) -> None:
        """Remove delivered messages from the outbox: it holds what is still to send (and, for a while, what
        was dropped), in files by chat, so a send rewrites a file of a few chats' backlog, not the whole
        backlog or the history. With `chats`, the messages are all those chats': only their files are read, and
        written in one commit (several sends recorded together, of chats in one file, cost one write)."""
        wanted = set(keys)
        with self.transaction():
            for name, ids in self._messages_where(lambda d: d["key"] in wanted, chats).items():
                self._db(name).table("messages").remove(doc_ids=ids)

    def forget_claim_messages(self, chat_id: int, number: int) -> int:
        """Remove a chat's pending messages about a claim (the chat muted it); how many were removed."""
        with self.transaction():
            found = self._messages_where(lambda d: d["chat"] == chat_id and d["claim"] == number
                                         and d["status"] == "pending", [chat_id])
            for name, ids in found.items():
                self._db(name).table("messages").remove(doc_ids=ids)
            return sum(map(len, found.values()))

    def prune_outbox(self, before: datetime, pending_for: tuple[int, ...] = ()) -> int:
        """Forget messages dropped before `before`, and those still pending since then for the chats
        `pending_for`; how many were forgotten."""
        cutoff = iso_utc(before)
        with self.transaction():
            found = self._messages_where(lambda d: (d["status"] != "pending" or d["chat"] in pending_for)
                                         and (d.get("sent_at") or d["created"]) < cutoff)
            for name, ids in found.items():
                self._db(name).table("messages").remove(doc_ids=ids)
            return sum(map(len, found.values()))

    def deactivate_chat(self, chat_id: int, reason: str, at: datetime) -> int:
        """The bot was blocked or removed there: mark the chat inactive (its subscriptions rest until it
        writes again) and drop its pending messages; how many were dropped."""
        with self.transaction():
            found = self._messages_where(lambda d: d["chat"] == chat_id and d["status"] == "pending", [chat_id])
            for name, ids in found.items():
                self._db(name).table("messages").update(
                    {"status": "dropped", "error": reason, "sent_at": iso_utc(at)}, doc_ids=ids)
            chat = self.chat(chat_id) or Chat(chat_id, "private" if chat_id > 0 else "group", "")
            self.save_chat(replace(chat, active=False, reason=reason, changed_at=at))
            return sum(map(len, found.values()))

    def migrate_chat(self, old: int, new: int, at: datetime) -> None:
        """A group became a supergroup with a new id: its subscriptions, settings, pending messages and the
        time of its last digest follow."""
        with self.transaction():
            moved = []
            for name, ids in self._messages_where(lambda d: d["chat"] == old and d["status"] == "pending", [old]).items():
                table = self._db(name).table("messages")
                moved += [dict(table.get(doc_id=i), chat=new) for i in ids]
                table.remove(doc_ids=ids)
            if moved:  # to the new chat's file
                self._db(_outbox_shard(new)).table("messages").insert_multiple(moved)
            digests = dict(self.outbox_state().get("digests", {}))
            if str(old) in digests:
                digests[str(new)] = digests.pop(str(old))
                self._update_outbox_state({"digests": digests})
            self._people("subscriptions").update({"chat": new}, lambda d: d["chat"] == old)
            chat = self.chat(old)
            if chat is not None:
                self._people("chats").remove(doc_ids=[old])
                self.save_chat(replace(chat, id=new, type="supergroup", changed_at=at))

    def _evidence_numbers(self, name: str, claim: int | None = None) -> dict[int, int]:
        """The evidence rows of a file (of one claim, when given), in the order stored: each row's id and its
        number among its claim's (Evidence.seq: 1, 2, 3 … in the order stored, so a number never changes:
        evidence goes only with its whole claim)."""
        counts: dict[int, int] = defaultdict(int)
        numbers: dict[int, int] = {}
        with self._reading(name):
            rows = self._data(name).get("evidence", {}).items()
            for i, of in sorted((int(i), d["claim"]) for i, d in rows if claim is None or d["claim"] == claim):
                counts[of] += 1
                numbers[i] = counts[of]
        return numbers

    def _numbered_evidence(self, name: str, claim: int | None = None) -> list[Evidence]:
        """The evidence rows of a file (of one claim, when given: only its rows are made), each numbered among its
        claim's (see _evidence_numbers)."""
        numbers = self._evidence_numbers(name, claim)
        with self._reading(name):
            rows = self._data(name).get("evidence", {})
            return [replace(evidence_from_dict(rows[str(i)], i), seq=seq) for i, seq in numbers.items()]

    def evidence_for(self, number: int) -> list[Evidence]:
        """A claim's evidence, newest first."""
        items = self._numbered_evidence(f"evidence-{_shard(number):04d}", number)
        return sorted(items, key=lambda e: (e.published or e.found_at, e.id), reverse=True)

    def evidence_between(self, start: datetime, end: datetime) -> list[Evidence]:
        """Evidence found after `start` up to `end`, oldest first."""
        names = sorted(n for n in set(self.backend.names()) | set(self._dirty) if n.startswith("evidence-"))
        found = [e for name in names for e in self._numbered_evidence(name) if start < e.found_at <= end]
        return sorted(found, key=lambda e: e.found_at)

    def label_evidence(self, number: int, seq: int, stance: Stance, by: str, at: datetime, *,
                       who: str = "") -> Evidence:
        """Label a claim's evidence item `seq` (its number among the claim's, as shown)."""
        with self.transaction():
            item = next((e for e in self.evidence_for(number) if e.seq == seq), None)
            if item is None:
                raise NotFound(f"claim #{number} has no evidence [{seq}]")
            if item.stance == stance:  # as /edit: a label that changes nothing records nothing
                raise InputError(f"evidence [{seq}] on #{number} is labelled {stance.value} already; nothing changed")
            db = self._db(f"evidence-{_shard(number):04d}")
            db.table("evidence").update({"stance": stance.value}, doc_ids=[item.id])
            db.table("audit").insert(_audit_doc(Change(
                number, at, by, "label", {"evidence": seq, "stance": item.stance.value},
                {"evidence": seq, "stance": stance.value}, who)))
        return replace(item, stance=stance)


    # --- people, chats and subscriptions -------------------------------------------------------

    def _people(self, table: str) -> Any:
        return self._db("people").table(table)

    def user(self, user_id: int) -> User | None:
        with self._reading("people"):
            doc = self._people("users").get(doc_id=user_id)
            return None if doc is None else _user(doc, user_id)

    def users(self) -> list[User]:
        with self._reading("people"):
            return sorted((_user(d, d.doc_id) for d in self._people("users").all()), key=lambda u: u.id)

    def _save_role(self, user_id: int, role: Role | None, name: str, by: str, at: datetime) -> None:
        with self.transaction():
            users = self._people("users")
            if role is None:
                users.remove(doc_ids=[user_id]) if users.contains(doc_id=user_id) else None
                return
            doc = {"name": name, "role": role.value, "granted_by": by, "granted_at": iso(at)}
            users.upsert(Document(doc, doc_id=user_id))

    def add_invite(self, token: str, role: Role, by: str, at: datetime, used_by: int | None = None,
                   used_at: datetime | None = None) -> None:
        with self.transaction():
            self._people("invites").insert({"token": token, "role": role.value, "created_by": by,
                                             "created_at": iso(at), "used_by": used_by, "used_at": iso(used_at)})

    def invites(self) -> list[dict[str, Any]]:
        with self._reading("people"):
            return [dict(d, role=Role(d["role"]), created_at=parse_datetime(d["created_at"]),
                         used_at=d["used_at"] and parse_datetime(d["used_at"])) for d in self._people("invites").all()]

    def _invite_used(self, token: str, user_id: int, at: datetime) -> None:
        self._people("invites").update({"used_by": user_id, "used_at": iso(at)}, lambda d: d["token"] == token)

    def chat(self, chat_id: int) -> Chat | None:
        with self._reading("people"):
            doc = self._people("chats").get(doc_id=chat_id)
            return None if doc is None else _chat(doc, chat_id)

    def chats(self) -> list[Chat]:
        with self._reading("people"):
            return [_chat(d, d.doc_id) for d in self._people("chats").all()]

    def save_chat(self, chat: Chat) -> None:
        """Store a chat; one that takes no digest now (off, or unreachable) forgets when it had its last one,
        so its digests start afresh when it takes them again."""
        with self.transaction():
            digests = self.outbox_state().get("digests", {})
            if (chat.digest == "off" or not chat.active) and str(chat.id) in digests:
                self._update_outbox_state({"digests": {k: v for k, v in digests.items() if k != str(chat.id)}})
            doc = {"type": chat.type, "title": chat.title, "active": chat.active, "reason": chat.reason,
                   "changed_at": iso(chat.changed_at), "digest": chat.digest,
                   "digest_at": chat.digest_at.strftime("%H:%M"), "tz": chat.tz, "muted": list(chat.muted),
                   "nudges": chat.nudges}
            self._people("chats").upsert(Document(doc, doc_id=chat.id))

    def team_settings(self) -> dict[str, str]:
        """The team's settings (see ledger.TEAM_SETTINGS), as stored."""
        with self._reading("people"):
            doc = self._people("team").get(doc_id=1)
            return {} if doc is None else dict(doc)

    def save_team_setting(self, key: str, value: str) -> None:
        with self.transaction():
            self._people("team").upsert(Document({**self.team_settings(), key: value}, doc_id=1))

    def subscriptions(self, chat_id: int | None = None) -> list[Subscription]:
        """A chat's subscriptions, or everyone's."""
        with self._reading("people"):
            docs = self._people("subscriptions").search(lambda d: chat_id is None or d["chat"] == chat_id)
            return [_subscription(d) for d in docs]

    def subscribe(self, chat_id: int, target: str, at: datetime, kinds: tuple[str, ...] = ALERT_KINDS) -> bool:
        """Follow a target for these kinds of alert; False if the chat followed it so already."""
        with self.transaction():
            table = self._people("subscriptions")
            same = table.search(lambda d: d["chat"] == chat_id and d["target"] == target)
            if same and tuple(same[0].get("kinds", ALERT_KINDS)) == kinds:
                return False
            if same:
                table.update({"kinds": list(kinds)}, doc_ids=[same[0].doc_id])
            else:
                table.insert({"chat": chat_id, "target": target, "since": iso(at), "kinds": list(kinds)})
            return True

    def unsubscribe(self, chat_id: int, target: str | None) -> int:
        """Remove one of a chat's subscriptions, or all with None; how many were removed."""
        with self.transaction():
            table = self._people("subscriptions")
            return len(table.remove(lambda d: d["chat"] == chat_id and target in (None, d["target"])))


    # --- feeds --------------------------------------------------------------------------------

    def feeds(self) -> list[Feed]:
        """Every feed; a watch cycle reads them twice (to lease, to record) and saves them all (_feeds_made)."""
        feeds = []
        with self._reading("feeds"):
            for i, d in self._data("feeds").get("feeds", {}).items():
                made = self._feeds_made.get(i)
                if made is None or made[0] is not d:
                    made = self._feeds_made[i] = (d, feed_from_dict(d, int(i)))
                feeds.append(made[1])
        return feeds

    def feed(self, feed_id: int) -> Feed:
        with self._reading("feeds"):
            doc = self._db("feeds").table("feeds").get(doc_id=feed_id) if feed_id > 0 else None
            if doc is None:
                raise NotFound(f"there is no feed {feed_id}")
            return feed_from_dict(doc, feed_id)

    def add_feeds(self, feeds: list[Feed]) -> list[Feed | int]:
        """Store new feeds in one write; for each, the feed as stored, or the number of the feed that
        watches its address already (stored before, or earlier in `feeds`)."""
        with self.transaction():
            table = self._db("feeds").table("feeds")
            watched = {feed_key(d["url"]): d.doc_id for d in table.all()}
            fresh: dict[str, int] = {}  # address -> its position in `new`
            new: list[Feed] = []
            plan: list[tuple[bool, int]] = []  # (new?, stored id or position in `new`)
            for feed in feeds:
                key = feed_key(feed.url)
                if key in watched:
                    plan.append((False, watched[key]))
                else:
                    if key not in fresh:
                        fresh[key] = len(new)
                        new.append(feed)
                    plan.append((True, fresh[key]))
            # One insert for all: TinyDB copies the whole table at each insert, so one per feed was quadratic.
            ids = table.insert_multiple(feed_to_dict(f) for f in new)
            seen: set[int] = set()
            out: list[Feed | int] = []
            for is_new, at in plan:
                if not is_new:
                    out.append(at)
                elif at in seen:  # given twice: the second is watched already, by the first
                    out.append(ids[at])
                else:
                    seen.add(at)
                    out.append(replace(new[at], id=ids[at]))
            return out

    def save_feed(self, feed: Feed) -> None:
        with self.transaction():
            self._db("feeds").table("feeds").upsert(Document(feed_to_dict(feed), doc_id=feed.id))
            self._end_leases([feed.id])

    def save_feeds(self, feeds: list[Feed]) -> None:
        """Store the new state of feeds that are stored already (a feed removed meanwhile stays removed), in
        the file's data as stored (_changing): a watch cycle saves every feed it checked."""
        with self.transaction():
            rows = self._changing("feeds").setdefault("feeds", {})
            for feed in feeds:
                if str(feed.id) in rows:
                    rows[str(feed.id)] = row = feed_to_dict(feed)
                    self._feeds_made[str(feed.id)] = (row, feed)
            self._end_leases([f.id for f in feeds])

    def lease_feeds(self, worker: str, now: datetime, limit: int, *, every_feed: bool = False,
                    lease: timedelta = LEASE, reclaim: Collection[str] = ()) -> list[Feed]:
        """Up to `limit` enabled feeds due at `now` (every enabled one with `every_feed`) that no worker holds
        (or only a worker named in `reclaim`, known to be gone), now held by `worker` until their new state is
        saved or until `now + lease` (table `leases` of feeds.json: feed id -> worker and until when), so that
        watchers on one data directory share the feeds."""
        with self.transaction():
            at = iso_utc(now)
            with self._reading("feeds"):
                held = {int(i) for i, d in self._data("feeds").get("leases", {}).items()
                        if d["until"] > at and d["by"] not in reclaim}
            due = sorted((f for f in self.feeds() if f.enabled and f.id not in held
                          and (every_feed or f.next_check is None or f.next_check <= now)),
                         key=lambda f: (f.next_check is not None, f.next_check or now, f.id))[:limit]
            if due:  # in the file's data as stored (_changing): a cycle leases every feed
                until = iso_utc(now + lease)
                leases = self._changing("feeds").setdefault("leases", {})
                for feed in due:
                    leases[str(feed.id)] = {"by": worker, "until": until}
            return sorted(due, key=lambda f: f.id)

    def lease_holders(self, now: datetime) -> set[str]:
        at = iso_utc(now)
        with self._reading("feeds"):
            return {d["by"] for d in self._data("feeds").get("leases", {}).values() if d["until"] > at}

    def _end_leases(self, feed_ids: list[int]) -> None:
        leases = self._data("feeds").get("leases", {})
        if any(str(i) in leases for i in feed_ids):
            leases = self._changing("feeds")["leases"]
            for i in feed_ids:
                leases.pop(str(i), None)

    def remove_feed(self, feed_id: int) -> Feed:
        """Stop watching a feed; the evidence found through it stays."""
        with self.transaction():
            feed = self.feed(feed_id)
            self._db("feeds").table("feeds").remove(doc_ids=[feed_id])
            self._end_leases([feed_id])
            seen = self._db("seen").table("seen")
            if seen.contains(doc_id=feed_id):
                seen.remove(doc_ids=[feed_id])
        return feed

    # --- recent news ---------------------------------------------------------------------------

    def add_news(self, items: list[NewsItem], now: datetime) -> None:
        """Keep fetched entries for RECENT_DAYS (by their date), at most RECENT_LIMIT of them, newest first;
        older ones go in the same write. An item kept already (same feed, link and title) is not kept twice.
        Added to the file's data as stored (_changing): the window holds 20,000."""
        if not items:
            return
        with self.transaction():
            horizon = iso_utc(now - timedelta(days=RECENT_DAYS))
            with self._reading("news"):
                data, index = self._changing_indexed("news", "items", _news_index)
                rows = data.setdefault("items", {})
                for item in items:
                    key = (item.feed, item.link, item.title)
                    if key not in index.known:
                        index.known[key] = index.next_row
                        rows[str(index.next_row)] = news_item_to_dict(item)
                        index.next_row += 1
                # Beyond RECENT_LIMIT, the oldest go (by date, then as added: the first added goes first).
                old = {i for i, d in rows.items() if d["published"] < horizon}
                if len(rows) - len(old) > RECENT_LIMIT:
                    old.update(str(i) for _, i in heapq.nsmallest(len(rows) - len(old) - RECENT_LIMIT, (
                        (d["published"], int(i)) for i, d in rows.items() if i not in old)))
            for i in old:
                d = rows.pop(i)
                key = (d["feed"], d["link"], d["title"])
                if index.known.get(key) == int(i):
                    del index.known[key]

    def recent_news(self, now: datetime) -> list[NewsItem]:
        """The entries fetched in the last RECENT_DAYS (by their date), newest first."""
        horizon = iso_utc(now - timedelta(days=RECENT_DAYS))
        with self._reading("news"):
            docs = [d for d in self._db("news").table("items").all() if d["published"] >= horizon]
            return [news_item_from_dict(d) for d in sorted(docs, key=lambda d: d["published"], reverse=True)]

    # --- seen entries ----------------------------------------------------------------------------

    def seen(self, feed_id: int) -> dict[str, tuple[str, datetime]]:
        """A feed's seen entries: entry key -> (content hash, when last seen in the feed)."""
        with self._reading("seen"):
            doc = self._db("seen").table("seen").get(doc_id=feed_id)
            times: dict[str, datetime] = {}  # most entries share a few times (the checks they were last seen in)
            return {} if doc is None else {k: (h, times.get(t) or times.setdefault(t, parse_datetime(t)))
                                           for k, (h, t) in doc["entries"].items()}

    def save_seen(self, feed_id: int, entries: dict[str, tuple[str, datetime]]) -> None:
        """Replace a feed's seen entries, in the file's data as stored (_changing): a cold cycle saves every feed's."""
        texts: dict[datetime, str] = {}
        doc = {"entries": {k: (h, texts.get(t) or texts.setdefault(t, t.isoformat())) for k, (h, t) in entries.items()}}
        with self.transaction():
            self._changing("seen").setdefault("seen", {})[str(feed_id)] = doc

    # --- web: sign-in links, shared claims ---------------------------------------------------------
    # In people.json: `signins` (one-time sign-in links), `sessions` (the web's signed-in browsers) and `shared`
    # (doc id = claim number: the claim's public page). Links and sessions are kept by a hash of their secret,
    # never the secret itself, so a copy of the data directory signs nobody in.

    def add_sign_in(self, key: str, user_id: int, name: str, expires: datetime, at: datetime) -> None:
        """Keep a one-time sign-in link for a user (by `key`, a hash of its secret), good until `expires`; links
        that expired a day before `at` are forgotten in the same write."""
        with self.transaction():
            table = self._people("signins")
            table.remove(lambda d: d["expires"] < iso_utc(at - timedelta(days=1)))
            table.insert({"key": key, "user": user_id, "name": name, "expires": iso_utc(expires),
                          "created": iso_utc(at), "used": None})

    def _sign_in(self, key: str) -> tuple[int, str, datetime, datetime | None] | None:
        link = next(iter(self._people("signins").search(lambda d: d["key"] == key)), None)
        return None if link is None else (link["user"], link["name"], parse_datetime(link["expires"]),
                                          link["used"] and parse_datetime(link["used"]))

    def _sign_in_used(self, key: str, at: datetime) -> None:
        self._people("signins").update({"used": iso_utc(at)}, lambda d: d["key"] == key)

    def start_session(self, key: str, user_id: int, name: str, expires: datetime, at: datetime) -> None:
        """Keep a web session (by `key`, a hash of its cookie) for a user until `expires`; sessions expired
        before `at` are forgotten in the same write."""
        with self.transaction():
            table = self._people("sessions")
            table.remove(lambda d: d["expires"] <= iso_utc(at))
            table.insert({"key": key, "user": user_id, "name": name, "expires": iso_utc(expires),
                          "created": iso_utc(at)})

    def session(self, key: str, at: datetime) -> tuple[int, str] | None:
        """(user id, name) of the web session `key`, None when there is none or it expired by `at`."""
        with self._thread_lock, self._reading("people"):
            found = self._people("sessions").search(lambda d: d["key"] == key)
            if not found or found[0]["expires"] <= iso_utc(at):
                return None
            return found[0]["user"], found[0]["name"]

    def end_session(self, key: str) -> None:
        """Forget a web session (signing out); nothing happens when there is none."""
        with self.transaction():
            self._people("sessions").remove(lambda d: d["key"] == key)

    def share_claim(self, number: int, token: str, by: str, at: datetime) -> None:
        """Give a claim a public page, at the address holding `token` (replacing an earlier one)."""
        with self.transaction():
            self._people("shared").upsert(Document({"token": token, "by": by, "at": iso_utc(at)}, doc_id=number))

    def unshare_claim(self, number: int) -> bool:
        """Take a claim's public page away; False when it had none."""
        with self.transaction():
            return bool(self._people("shared").remove(doc_ids=[number])) \
                if self._people("shared").contains(doc_id=number) else False

    def share_token(self, number: int) -> str | None:
        """The token of a claim's public page, None when it has none."""
        with self._thread_lock, self._reading("people"):
            doc = self._people("shared").get(doc_id=number)
            return None if doc is None else doc["token"]

    def shared_claim(self, token: str) -> int | None:
        """The claim whose public page holds `token`, None when no claim's does."""
        with self._thread_lock, self._reading("people"):
            found = self._people("shared").search(lambda d: d["token"] == token)
            return found[0].doc_id if found else None


def _one_thread_at_a_time(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(self: FileStore, *args: Any, **kwargs: Any) -> Any:
        with self._thread_lock:
            return method(self, *args, **kwargs)
    return locked


# Reads share the caches that a transaction in another thread changes in place, so the threads of one
# process take turns (writes already do, in transaction()). Processes need no turns: a file another
# process replaces is read whole, in one version or the other.
for _read in ("get_claim", "find_claims", "claim_dicts", "next_number", "is_empty", "claims_version", "history",
              "evidence_for", "evidence_between", "alert_events", "recent_news", "outbox", "outbox_state", "user", "users", "chat", "chats", "subscriptions", "team_settings", "feeds", "feed", "seen", "lease_holders", "invites",
              "schema_version"):
    _method = getattr(FileStore, _read)
    if isinstance(_method, property):
        setattr(FileStore, _read, property(_one_thread_at_a_time(_method.fget)))
    else:
        setattr(FileStore, _read, _one_thread_at_a_time(_method))


def _user(doc: dict[str, Any], user_id: int) -> User:
    return User(user_id, doc["name"], Role(doc["role"]), doc["granted_by"], parse_datetime(doc["granted_at"]))


def _chat(doc: dict[str, Any], chat_id: int) -> Chat:
    changed = doc.get("changed_at")
    return Chat(chat_id, doc["type"], doc["title"], doc["active"], doc.get("reason") or "",
                parse_datetime(changed) if changed else None, doc.get("digest", "off"),
                clock_time.fromisoformat(doc.get("digest_at", "09:00")), doc.get("tz", ""),
                tuple(doc.get("muted", ())), bool(doc.get("nudges", True)))


def _subscription(doc: dict[str, Any]) -> Subscription:
    return Subscription(doc["chat"], doc["target"], parse_datetime(doc["since"]), tuple(doc.get("kinds", ALERT_KINDS)))


def _check_claim_shape(doc: dict[str, Any], number: int) -> None:
    """Each field of a stored claim has its type, so that what reads claims as dicts (scores, stats, the
    report) meets no surprise: a ValueError naming the first field that does not. Every read of a claims
    file checks each claim, so the usual case is one quick test; only a claim failing it is looked at closely."""
    if not _claim_shape_ok(doc):
        _claim_shape_problem(doc, number)


def _claim_shape_ok(doc: dict[str, Any], str_: type = str, list_: type = list, dict_: type = dict, none: None = None,
                    number: tuple[type, ...] = (int, float), parse_time: Any = datetime.fromisoformat,
                    parse_day: Any = date.fromisoformat, kinds: frozenset[str] = KIND_VALUES) -> bool:
    """The quick test (about 2 us a claim: `stats` reads 20k claims): local names, early returns. A claim it passes
    is one claim_from_dict makes (render.claim_dict_lines shows claims without making them)."""
    try:
        p, ext, source, tags, watch, review = doc["p"], doc["id"], doc["source"], doc["tags"], doc["watch"], doc["review_date"]
        if (type(doc["text"]) is not str_ or type(doc["kind"]) is not str_ or doc["kind"] not in kinds
                or type(doc["created_by"]) is not str_
                or type(doc.get("created_who", "")) is not str_
                or type(source) is not dict_ or type(tags) is not list_ or type(watch) is not list_
                or not (ext is none or type(ext) is str_) or not (p is none or type(p) in number and 0 <= p <= 1)):
            return False
        for value in (*tags, *watch):
            if type(value) is not str_:
                return False
        for value in source.values():
            if value is not none and type(value) is not str_:
                return False
        if source.get("published"):
            parse_day(source["published"])
        parse_time(doc["created"])
        if review is not none:
            parse_day(review)
        forecasts = doc["forecasts"]
        if type(forecasts) is not list_:
            return False
        for f in forecasts:
            fp = f["p"]
            if type(f["by"]) is not str_ or type(f.get("who", "")) is not str_ or type(fp) not in number or not 0 <= fp <= 1:
                return False
            parse_time(f["at"])
            if f.get("withdrawn"):
                parse_time(f["withdrawn"])
        archived = doc.get("archived")
        if archived:
            parse_time(archived["at"])
            for value in (archived.get("by", ""), archived.get("who", ""), archived.get("reason", "")):
                if value is not none and type(value) is not str_:
                    return False
        outcome = doc["outcome"]
        if outcome is not none:
            if outcome["value"] not in OUTCOME_VALUES or type(outcome.get("who", "")) is not str_:
                return False
            parse_time(outcome["at"])
            if outcome.get("event_date") is not none:
                parse_day(outcome["event_date"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return False
    return True


def _claim_shape_problem(doc: dict[str, Any], number: int) -> None:
    """Raise a ValueError naming what is wrong with a claim that _claim_shape_ok refused."""
    def need(ok: bool, field: str, value: Any) -> None:
        if not ok:
            raise ValueError(f"claim {number}: {field} is {orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()[:60]}")

    def probability(value: Any) -> bool:
        return type(value) in (int, float) and 0 <= value <= 1

    for field in ("text", "created", "created_by"):
        need(isinstance(doc.get(field), str), field, doc.get(field))
    need(isinstance(doc.get("kind"), str) and doc["kind"] in KIND_VALUES, "kind", doc.get("kind"))
    for field in ("id", "review_date"):
        need(doc.get(field) is None or isinstance(doc[field], str), field, doc.get(field))
    need(isinstance(doc.get("created_who", ""), str), "created_who", doc.get("created_who"))
    for field in ("tags", "watch"):
        value = doc.get(field)
        need(isinstance(value, list) and all(isinstance(v, str) for v in value), field, value)
    source = doc.get("source")
    need(isinstance(source, dict) and all(v is None or isinstance(v, str) for v in source.values()), "source", source)
    need(doc.get("p") is None or probability(doc["p"]), "p", doc.get("p"))
    forecasts = doc.get("forecasts")
    need(isinstance(forecasts, list), "forecasts", forecasts)
    for f in forecasts:
        need(isinstance(f, dict) and isinstance(f.get("by"), str) and isinstance(f.get("who", ""), str)
             and probability(f.get("p")) and isinstance(f.get("at"), str) and isinstance(f.get("note", ""), str),
             "a forecast", f)
    archived = doc.get("archived")
    need(not archived or isinstance(archived, dict) and isinstance(archived.get("at"), str)
         and all(archived.get(k) is None or isinstance(archived[k], str) for k in ("by", "who", "reason")),
         "archived", archived)
    outcome = doc.get("outcome")
    need(outcome is None or isinstance(outcome, dict) and outcome.get("value") in OUTCOME_VALUES
         and isinstance(outcome.get("at"), str) and isinstance(outcome.get("who", ""), str), "outcome", outcome)
    # times and days parse (each raises ValueError naming the string)
    for at in (doc["created"], *(t for f in forecasts for t in (f["at"], f.get("withdrawn")) if t),
               *((outcome["at"],) if outcome else ()), *((archived["at"],) if archived else ())):
        parse_datetime(at)
    for day in (doc["review_date"], outcome and outcome.get("event_date"), source.get("published") or None):
        need(day is None or isinstance(day, str) and bool(date.fromisoformat(day)), "a day", day)


def _check_claim(doc: dict[str, Any], number: int) -> None:
    _check_claim_shape(doc, number)
    claim_from_dict(doc, number)
    doc["id"], doc["outcome"], doc["review_date"], doc["tags"], doc["text"], doc["source"]["title"]  # listing reads these


def evidence_key(doc: dict[str, Any]) -> tuple[Any, ...]:
    """What makes an evidence row the same news for the same claim: its link, else its feed and title."""
    return (doc["claim"], doc["url"]) if doc["url"] else (doc["claim"], doc.get("feed"), doc["title"])


@dataclass
class _Rows:
    """What adding rows to a file's table needs to know of it (FileStore._changing_indexed): the rows' keys (-> row
    id), rows per claim, and the ids the next row and the next alert record take (after the highest, as TinyDB)."""

    known: dict[Any, int]
    per_claim: Counter[int]
    next_row: int
    next_alert: int = 1


def _evidence_index(data: dict[str, Any]) -> _Rows:
    rows = data.get("evidence", {})
    return _Rows({evidence_key(d): int(i) for i, d in rows.items()}, Counter(d["claim"] for d in rows.values()),
                 max(map(int, rows), default=0) + 1, max(map(int, data.get("alerts", {})), default=0) + 1)


def _news_index(data: dict[str, Any]) -> _Rows:
    rows = data.get("items", {})
    return _Rows({(d["feed"], d["link"], d["title"]): int(i) for i, d in rows.items()}, Counter(),
                 max(map(int, rows), default=0) + 1)


def _check_alert(doc: dict[str, Any], number: int) -> None:
    doc["kind"], doc["claim"], doc["created"]


def _check_team(doc: dict[str, Any]) -> None:
    if not all(isinstance(value, str) for value in doc.values()):
        raise ValueError("a team setting that is not text")


def _check_message(doc: dict[str, Any], number: int) -> None:
    """What delivery reads of an outbox message."""
    doc["claim"], doc["title"]  # read when alerts are grouped by claim
    if not (isinstance(doc["key"], str) and type(doc["chat"]) is int and doc["kind"] in ALERT_KINDS
            and doc["status"] in ("pending", "dropped") and isinstance(doc["line"], str)
            and isinstance(doc["created"], str) and isinstance(doc["next_try"], str) and type(doc["attempts"]) is int):
        raise ValueError("not an outbox message")


def _skip_unreadable_messages(data: dict[str, Any], where: str) -> None:
    """The outbox is claimwatch's own queue, not user data: a message in it that cannot be read is logged and
    left out (so the next write of the outbox drops it), rather than stopping delivery for every chat."""
    messages = data.get("messages", {})
    for doc_id, doc in list(messages.items()):
        try:
            _check_message(doc, int(doc_id))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            log.warning("%s: outbox message %s cannot be read (%s: %s), so it is left out: %r",
                        where, doc_id, type(e).__name__, e, doc)
            del messages[doc_id]


# How each table of each kind of file is read, document by document (file name prefix -> table -> check):
# what a write checks in a file before it rewrites it. A check raises when a document cannot be read.
_DOCUMENT_CHECKS: dict[str, dict[str, Callable[[dict[str, Any], int], Any]]] = {
    "claims-": {"claims": _check_claim, "alerts": _check_alert},
    "audit-": {"audit": lambda d, n: _change(d)},
    "evidence-": {"evidence": lambda d, n: (evidence_from_dict(d, n), d["claim"]), "audit": lambda d, n: _change(d),
                  "alerts": _check_alert},
    "people": {"users": lambda d, n: _user(d, n), "chats": lambda d, n: _chat(d, n),
               "subscriptions": lambda d, n: _subscription(d),
               "invites": lambda d, n: (d["token"], Role(d["role"]), d["used_by"], d["created_by"]),
               "team": lambda d, n: _check_team(d)},
    "feeds": {"feeds": lambda d, n: feed_from_dict(d, n), "leases": lambda d, n: (d["by"], parse_datetime(d["until"]))},
    "seen": {"seen": lambda d, n: [parse_datetime(t) for _, t in d["entries"].values()]},
    "news": {"items": lambda d, n: news_item_from_dict(d)},
    "outbox": {"messages": _check_message},  # on reading, messages that fail this are left out
}


def _audit_doc(change: Change) -> dict[str, Any]:
    """An audit entry, its before and after kept as JSON text: every read of a file parses its whole
    audit trail, and one string parses far faster than the claim-sized structures it holds."""
    doc = change_to_dict(change)
    doc["change"] = orjson.dumps({"before": doc.pop("before"), "after": doc.pop("after")}).decode()
    return doc


def _change(doc: dict[str, Any]) -> Change:
    return change_from_dict(doc | orjson.loads(doc["change"]))


def _claim_doc(claim: Claim) -> dict[str, Any]:
    doc = claim_to_dict(claim)
    doc.pop("number", None)  # the doc id is the number
    doc.setdefault("archived", None)  # always there: an update of a restored claim must clear it
    return doc


def _for_claim(change: Change, number: int) -> Change:
    return change if change.claim == number else replace(change, claim=number)


def _forecasters_by_identity(store: FileStore) -> None:
    """Schema 1 -> 2: a forecast made in Telegram gets its maker's identity (`who`: tg:<user id>), found from its
    name: a name kept as "first last (id)" holds the id; a @username is the name one user with a role was
    granted it under. A name that is no Telegram user's stays a command-line name. (Two people whose
    forecasts one name held before cannot be told apart now; from here on they never merge.)"""
    telegram_identity = _telegram_identities(store)
    for name in store._claim_files():
        table = store._db(name).table("claims")
        with store._reading(name):
            for doc in table.all():
                forecasts = [dict(f) for f in doc["forecasts"]]
                for f in forecasts:
                    if not f.get("who") and (who := telegram_identity(f["by"])):
                        f["who"] = who
                if forecasts != doc["forecasts"]:
                    table.update({"forecasts": forecasts}, doc_ids=[doc.doc_id])


def _telegram_identities(store: FileStore) -> Callable[[str], str]:
    """How a migration attributes what was recorded under a name alone: the identity ("tg:<id>") of the Telegram
    user whose name it is, else "" (a command-line name). A name kept as "first last (id)" holds the id; a
    @username is the name one user with a role was granted it under."""
    granted: dict[str, list[int]] = {}
    for user in store.users():
        granted.setdefault(user.name, []).append(user.id)
    with_id = re.compile(r".*\(([0-9]{1,15})\)")

    def telegram_identity(name: str) -> str:
        found = with_id.fullmatch(name)
        ids = [int(found[1])] if found else granted.get(name, [])
        return f"{TELEGRAM_IDENTITY}{ids[0]}" if len(ids) == 1 else ""
    return telegram_identity


def _actors_by_identity(store: FileStore) -> None:
    """Schema 2 -> 3: who recorded a claim, resolved or deleted it, and each entry of the audit trail, get the
    identity of the Telegram user who did it (see model._Acted), found from the name by _telegram_identities, as
    forecasts did in 2. An entry for a forecast takes the identity of its forecast."""
    telegram_identity = _telegram_identities(store)

    def attributed(doc: dict[str, Any], key: str = "who", name: str = "by", known: str | None = None) -> dict[str, Any]:
        who = doc.get(key) or (telegram_identity(doc[name]) if known is None else known)
        return {**doc, key: who} if who else dict(doc)

    for name in store._claim_files():
        claims, audit = store._db(name).table("claims"), store._db(name).table("audit")
        forecasters: dict[tuple[int, str, str], str] = {}  # (claim, name, when) -> the forecast's identity
        with store._reading(name):
            for doc in claims.all():
                forecasters.update(((doc.doc_id, f["by"], f["at"]), f.get("who", "")) for f in doc["forecasts"])
                changed = attributed(doc, "created_who", "created_by")
                for part in ("outcome", "archived"):
                    if doc.get(part):
                        changed[part] = attributed(doc[part])
                if changed != doc:
                    claims.update(changed, doc_ids=[doc.doc_id])
        shard = name.split("-")[1]  # (the audit files of schema 4 too: a directory today's code wrote as schema 2)
        for table in (audit, store._db(f"audit-{shard}").table("audit"), store._db(f"evidence-{shard}").table("audit")):
            for entry in table.all():
                forecast = orjson.loads(entry["change"])["after"] if entry["action"] in ("forecast", "withdraw") else None
                key = forecast and (entry["claim"], forecast.get("by"), forecast.get("at"))
                changed = attributed(entry, known=forecasters.get(key))  # type: ignore[arg-type]
                if changed != entry:
                    table.update(changed, doc_ids=[entry.doc_id])


MIGRATIONS[1] = _forecasters_by_identity
MIGRATIONS[2] = _actors_by_identity


def _audit_in_files_of_its_own(store: FileStore) -> None:
    """Schema 3 -> 4: each claims-NNNN file's `audit` table moves to audit-NNNN (after any entries already there),
    in the one commit of the migration: listing claims then reads the claims, not their history."""
    for name in store._claim_files():
        claims = store._db(name)
        with store._reading(name):
            moved = [dict(d) for d in claims.table("audit").all()]
        if not moved:
            continue
        audit_name = name.replace("claims-", "audit-", 1)
        audit = store._db(audit_name)
        with store._reading(audit_name):
            kept = [dict(d) for d in audit.table("audit").all()]
        audit.drop_table("audit")
        audit.table("audit").insert_multiple(moved + kept)
        claims.drop_table("audit")


def _audit_files_then_actors(store: FileStore) -> None:
    """Schema 3 -> 4: the audit trail's move (_audit_in_files_of_its_own), then who did what given identities again
    (_actors_by_identity changes nothing twice): a directory written when schema 3 meant the move alone (commit
    6585a65, before identities took that number) has not had that step."""
    _audit_in_files_of_its_own(store)
    _actors_by_identity(store)


MIGRATIONS[3] = _audit_files_then_actors


def open_store(location: str | Path | None, **kwargs: Any) -> Store:
    """The store at `location`: a PostgreSQL database (postgresql://user@host/db), a data directory, or memory
    when None. With `once=True`, for a process that reads what it shows and ends: claims are read for each listing,
    never all kept."""
    if location is not None and is_database(location):
        from claimwatch.pgstore import PgStore  # psycopg loads only for a database
        return PgStore(str(location), **kwargs)
    return FileStore(MemoryBackend() if location is None else FileBackend(Path(location)), **kwargs)
