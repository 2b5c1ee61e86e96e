"""The store: round trips on both backends, batching, freshness across instances, corruption, schema."""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from tinydb import TinyDB

from claimwatch import ledger
from claimwatch.errors import InputError, NotFound, StoreError
from claimwatch.model import Change, Claim, Evidence, Feed, Forecast, Kind, NewsItem, Outcome, OutcomeValue, Source, Stance
from claimwatch.store import ClaimFilter, FileBackend, FileStore, MemoryBackend, SCHEMA_VERSION, SHARD_SIZE, Store, open_store

from conftest import NOW, CountingBackend


def full_claim(number: int = 0, **changes: object) -> Claim:
    claim = Claim(
        id=number,
        text="Power of Siberia 2 stays stalled",
        created_at=NOW,
        created_by="ana",
        kind=Kind.FORECAST,
        ext_id="report-7",
        source=Source(title="Putin in Beijing", url="https://example.org/r", author="A. Author",
                      published=date(2024, 5, 20), quote="was not mentioned"),
        review_date=date(2026, 6, 30),
        tags=("energy", "russia"),
        watch=("Power of Siberia 2", "Сила Сибири 2", "西伯利亚力量2号", "+gas", "-football"),
        p=0.675,
        forecasts=(Forecast("ana", 0.7, NOW, "first"), Forecast("bo", 0.2, NOW + timedelta(hours=1))),
        outcome=Outcome(OutcomeValue.PARTIAL, NOW + timedelta(days=2), "bo", date(2026, 3, 3), "half",
                        ("https://e.org/1",)),
    )
    return replace(claim, **changes)


def add(store: Store, text: str = "a claim", **fields: object) -> Claim:
    return ledger.add_claim(store, ledger.NewClaim(text=text, **fields), "ana", NOW)


def test_claim_round_trips_with_every_field(store: Store) -> None:
    stored = store.insert_claim(full_claim(), Change(0, NOW, "ana", "add", None, None))
    assert stored.id == 1
    assert store.get_claim(1) == stored == full_claim(1)


def test_missing_claim_is_not_found(store: Store) -> None:
    add(store)
    with pytest.raises(NotFound, match="#2"):
        store.get_claim(2)
    with pytest.raises(NotFound):
        store.get_claim(0)


def test_numbers_continue_across_files_and_free_numbers_are_kept(store: Store) -> None:
    store.insert_claim(full_claim(SHARD_SIZE), Change(0, NOW, "ana", "import", None, None))
    assert add(store).id == SHARD_SIZE + 1  # first claim of the second file
    assert add(store).id == SHARD_SIZE + 2
    taken = store.insert_claim(full_claim(SHARD_SIZE), Change(0, NOW, "ana", "import", None, None))
    assert taken.id == SHARD_SIZE + 3  # a number in use is not reused
    assert [c.id for c in store.find_claims()] == [SHARD_SIZE, SHARD_SIZE + 1, SHARD_SIZE + 2, SHARD_SIZE + 3]
    if isinstance(store, FileStore):  # in files of 500 claims
        assert {"claims-0000", "claims-0001"} <= set(store.backend.names())


def test_find_claims_filters_by_status_due_tag_and_words(store: Store) -> None:
    due = add(store, "Exports fall", review_date=date(2026, 3, 1), tags=("trade",))
    later = add(store, "Pipeline signed", review_date=date(2026, 9, 1), tags=("energy",))
    resolved = ledger.resolve(store, add(store, "Summit held", review_date=date(2026, 1, 1)).id,
                              OutcomeValue.TRUE, "bo", NOW)

    def numbers(**kw: object) -> list[int]:
        return [c.id for c in store.find_claims(ClaimFilter(**kw))]

    assert numbers() == [due.id, later.id, resolved.id]
    assert numbers(status="open") == [due.id, later.id]
    assert numbers(status="resolved") == [resolved.id]
    assert numbers(due_by=date(2026, 3, 2)) == [due.id]
    assert numbers(tag="energy") == [later.id]
    assert numbers(words=("PIPELINE",)) == [later.id]
    assert numbers(words=("summit", "held")) == [resolved.id]
    assert numbers(words=("pipelines", "signing")) == [later.id]  # any form, on every store


def test_a_search_finds_a_claim_by_its_new_text_once_it_changed_in_this_process(store: Store) -> None:
    """A listing's search texts are kept per version of a file: a change made here is searched at once."""
    claim = add(store, "Gas deal signed")
    other = add(store, "Bridge opens")

    def found(*words: str) -> tuple[list[int], list[int]]:
        where = ClaimFilter(words=words)
        return [c.id for c in store.find_claims(where)], [n for n, _ in store.claim_dicts(where)]

    assert found("gas") == ([claim.id], [claim.id]) and found("pipeline") == ([], [])
    store.update_claim(claim.with_changes(text="Pipeline halted"), Change(claim.id, NOW, "ana", "edit", None, None))
    assert found("pipeline") == ([claim.id], [claim.id]) and found("gas") == ([], [])
    assert found("bridge") == ([other.id], [other.id])


def test_a_failed_transaction_changes_nothing(store: Store) -> None:
    claim = add(store)
    with pytest.raises(RuntimeError), store.transaction():
        store.update_claim(claim.with_changes(text="changed"), Change(1, NOW, "ana", "edit", None, None))
        add(store, "second")
        raise RuntimeError("boom")
    assert store.get_claim(1).text == "a claim"
    assert [c.id for c in store.find_claims()] == [1]
    assert [c.action for c in store.history(1)] == ["add"]


def test_a_transaction_writes_each_file_once() -> None:
    backend = MemoryBackend()
    store = FileStore(backend)
    writes: list[str] = []
    original = backend.commit
    backend.commit = lambda files: writes.extend(files) or original(files)  # type: ignore[method-assign]
    doc = {"version": 1, "claims": [{"text": f"claim {i}", "forecasts": [{"by": "a", "p": 0.5, "at": NOW.isoformat()}]}
                                    for i in range(40)]}
    ledger.import_claims(store, doc, "ana", NOW)
    assert writes == ["claims-0000", "audit-0000"]  # 40 claims and 40 audit entries, one commit, each file once
    store.add_evidence([Evidence(0, n, f"https://n.org/{n}", "t", NOW) for n in (1, 2, SHARD_SIZE + 1)])
    assert sorted(writes[2:]) == ["evidence-0000", "evidence-0001"]


def test_writes_by_another_instance_are_seen(tmp_path: Path) -> None:
    a, b = open_store(tmp_path), open_store(tmp_path)
    add(a, "first")
    assert b.get_claim(1).text == "first"  # b caches this file now
    ledger.add_forecast(a, 1, 0.3, "ana", NOW)
    assert b.get_claim(1).forecasts[0].p == 0.3
    assert add(b, "second").id == 2  # b's next number reflects a's writes
    assert add(a, "third").id == 3
    assert [c.text for c in b.find_claims()] == ["first", "second", "third"]


def test_files_are_plain_tinydb_json(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    add(store, "readable by TinyDB", tags=("x",))
    with TinyDB(tmp_path / "claims-0000.json") as db:
        assert db.table("claims").get(doc_id=1)["text"] == "readable by TinyDB"
    with TinyDB(tmp_path / "audit-0000.json") as db:
        assert db.table("audit").all()[0]["action"] == "add"
    with TinyDB(tmp_path / "meta.json") as db:
        assert db.table("meta").get(doc_id=1)["schema"] == SCHEMA_VERSION


@pytest.mark.parametrize("garbage", [b"", b"{not json", b'{"claims": {}}  trailing', b"[1, 2]"])
def test_corrupt_file_is_reported_by_name_and_left_untouched(tmp_path: Path, garbage: bytes) -> None:
    add(open_store(tmp_path))
    path = tmp_path / "claims-0000.json"
    path.write_bytes(garbage)
    store = open_store(tmp_path)
    with pytest.raises(StoreError, match="claims-0000.json"):
        store.get_claim(1)
    with pytest.raises(StoreError, match="claims-0000.json"):
        add(store, "must not replace the broken file")
    assert path.read_bytes() == garbage


def test_corrupt_meta_file_stops_opening(tmp_path: Path) -> None:
    open_store(tmp_path)
    (tmp_path / "meta.json").write_bytes(b"\x00\x01")
    with pytest.raises(StoreError, match="meta.json"):
        open_store(tmp_path)
    assert (tmp_path / "meta.json").read_bytes() == b"\x00\x01"


@pytest.mark.parametrize("meta, says", [(b'{"meta": {"1": {"schema": "x"}}}', "schema version 'x' is not a number"),
                                        (b'{"meta": {}}', "it holds no schema version"),
                                        (b'{"meta": {"1": {}}}', "it holds no schema version")])
def test_a_meta_file_without_a_schema_version_is_reported_as_such(tmp_path: Path, meta: bytes, says: str) -> None:
    add(open_store(tmp_path))
    (tmp_path / "meta.json").write_bytes(meta)
    with pytest.raises(StoreError, match=f"meta.json is not readable claimwatch data \\({says}\\)"):
        open_store(tmp_path)
    assert (tmp_path / "meta.json").read_bytes() == meta


def test_foreign_directory_is_not_taken_over(tmp_path: Path) -> None:
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(StoreError, match="meta.json"):
        open_store(tmp_path)


def test_leftover_temp_files_are_removed_at_open(tmp_path: Path) -> None:
    add(open_store(tmp_path))
    leftover = tmp_path / ".claims-0000.12345.tmp"
    leftover.write_bytes(b"half a wri")
    open_store(tmp_path)
    assert not leftover.exists()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path, schema_version=3)
    with pytest.raises(StoreError, match="newer claimwatch"):
        open_store(tmp_path, schema_version=2)


def test_migration_keeps_a_backup_of_the_old_files(tmp_path: Path) -> None:
    old = open_store(tmp_path, schema_version=1)
    add(old, "before migration")
    before = {p.name: p.read_bytes() for p in tmp_path.glob("*.json")}

    def shout(store: Store) -> None:
        with store.transaction():
            for claim in store.find_claims():
                store.update_claim(claim.with_changes(text=claim.text.upper()),
                                   Change(claim.id, NOW, "migration", "edit", None, None))

    migrated = open_store(tmp_path, schema_version=2, migrations={1: shout})
    assert migrated.schema_version == 2
    assert migrated.get_claim(1).text == "BEFORE MIGRATION"
    backup = Path(migrated.migrated_backup or "")
    assert backup.parent == tmp_path and backup.name.startswith("backup-schema1-")
    assert {p.name: p.read_bytes() for p in backup.glob("*.json")} == before
    assert open_store(tmp_path, schema_version=2).migrated_backup is None  # done once


def test_missing_migration_step_is_an_error(tmp_path: Path) -> None:
    open_store(tmp_path, schema_version=1)
    with pytest.raises(StoreError, match="no migration from schema 1 to 2"):
        open_store(tmp_path, schema_version=2, migrations={})


def test_due_claims_come_by_review_date_then_number_inside_a_transaction_too(store: Store) -> None:
    for days in (-1, -5, 3, -5, 0, -1):
        add(store, f"due in {days} days", review_date=NOW.date() + timedelta(days=days))
    due = ClaimFilter(status="open", due_by=NOW.date())
    assert [c.id for c in store.find_claims(due)] == [2, 4, 1, 6, 5]
    assert [c.id for c in store.find_claims()] == [1, 2, 3, 4, 5, 6]  # the rest by number
    with store.transaction():
        add(store, "due a week ago", review_date=NOW.date() - timedelta(days=7))
        assert [c.id for c in store.find_claims(due)] == [7, 2, 4, 1, 6, 5]


def test_a_database_of_schema_2_gets_the_due_index_and_lists_the_same_due_claims(postgres_database: str) -> None:
    from claimwatch.pgstore import MIGRATIONS, SCHEMA_VERSION

    from conftest import postgres_location

    data = postgres_location(postgres_database)
    # claims as schema 2 kept them (written as rows: today's claimwatch writes columns schema 2 did not have)
    at = f"'{NOW.isoformat()}'"
    rows = [(n, f"due in {days} days", days, "null, null") for n, days in enumerate((5, -3, -1, 0, -3), 1)]
    rows.append((6, "archived", -9, f"{at}, 'ana'"))
    old_rows = "".join(
        f"insert into claims (number, kind, text, created_at, created_by, review_date, archived_at, archived_by, "
        f"changed) values ({n}, 'claim', '{text}', {at}, 'ana', '{NOW.date() + timedelta(days=days)}', {archived}, 1);"
        f"insert into sources values ({n}, '', '', '', null, '');" for n, text, days, archived in rows)
    open_store(data, schema_version=2, migrations={0: MIGRATIONS[0], 1: MIGRATIONS[1] + old_rows})

    upgraded = open_store(data)
    assert upgraded.schema_version == SCHEMA_VERSION >= 3
    assert [c.id for c in ledger.due(upgraded, NOW.date())] == [2, 5, 3, 4]
    indexes = {name for (name,) in upgraded._rows("select indexname from pg_indexes where schemaname = current_schema()")}
    assert "claims_due" in indexes and "claims_review" not in indexes


def test_evidence_is_kept_per_claim_and_labelled_with_history(store: Store) -> None:
    first, second = add(store, "one"), add(store, "two")
    stored = store.add_evidence([
        Evidence(0, first.id, "https://n.org/a", "Old item", NOW - timedelta(days=2), feed="Feed",
                 published=NOW - timedelta(days=3), matched=("Power of Siberia 2",)),
        Evidence(0, second.id, "https://n.org/b", "Other claim", NOW),
        Evidence(0, first.id, "https://n.org/c", "New item", NOW, published=NOW - timedelta(days=1)),
    ])
    assert [e.title for e in store.evidence_for(first.id)] == ["New item", "Old item"]
    assert store.evidence_for(first.id)[1] == stored[0]
    assert [e.seq for e in stored] == [1, 1, 2]  # numbered per claim, not across the file: [1], [2] for #1
    labelled = store.label_evidence(first.id, stored[0].seq, Stance.SUPPORTS, "bo", NOW + timedelta(hours=1))
    assert labelled.stance == Stance.SUPPORTS
    assert store.evidence_for(first.id)[1].stance == Stance.SUPPORTS
    assert [c.action for c in store.history(first.id)] == ["add", "label"]
    with pytest.raises(NotFound):
        store.label_evidence(second.id, 2, Stance.CONTRADICTS, "bo", NOW)  # the second claim has only [1]


def test_evidence_given_again_among_new_rows_is_returned_as_stored_and_the_new_rows_numbered_after(store: Store) -> None:
    """Idempotent by key, within one call too (an item given again comes back with the stored row's id and number);
    only the new rows get alert events; numbers go on per claim."""
    first, second = add(store, "one"), add(store, "two")
    a, = store.add_evidence([Evidence(0, first.id, "https://n.org/a", "A", NOW)], alert=True)
    again = store.add_evidence([
        Evidence(0, second.id, "https://n.org/b", "B", NOW),
        Evidence(0, first.id, "https://n.org/a", "A again", NOW),  # the same link: the row stored already
        Evidence(0, first.id, "", "No link", NOW, feed="Wire"),
        Evidence(0, first.id, "", "No link", NOW, feed="Wire"),  # twice in this call: stored once
    ], alert=True)
    assert [(e.claim, e.seq, e.title) for e in again] == [(second.id, 1, "B"), (first.id, 1, "A again"),
                                                          (first.id, 2, "No link"), (first.id, 2, "No link")]
    assert again[1].id == a.id and again[2].id == again[3].id
    assert [e.title for e in store.evidence_for(first.id)] == ["No link", "A"]
    assert sorted((d["claim"], d["evidence"]) for d in store.alert_events()) == sorted(
        [(first.id, a.id), (second.id, again[0].id), (first.id, again[2].id)])


def test_rows_added_by_another_process_or_rolled_back_are_seen_by_the_next_add(tmp_path: Path) -> None:
    """The file store keeps an index of the evidence and news files between adds (FileStore._changing_indexed):
    what another process wrote meanwhile, and what a failed transaction did not write, are taken into account."""
    ours, theirs = open_store(tmp_path), open_store(tmp_path)
    claim = add(ours, "one")
    first, = ours.add_evidence([Evidence(0, claim.id, "https://n.org/1", "1", NOW)])
    second, = theirs.add_evidence([Evidence(0, claim.id, "https://n.org/2", "2", NOW)])
    third, again = ours.add_evidence([Evidence(0, claim.id, "https://n.org/3", "3", NOW),
                                      Evidence(0, claim.id, "https://n.org/2", "2", NOW)])
    assert [first.seq, second.seq, third.seq, again.seq] == [1, 2, 3, 2] and again.id == second.id
    with pytest.raises(RuntimeError), ours.transaction():
        ours.add_evidence([Evidence(0, claim.id, "https://n.org/4", "4", NOW)])
        ours.add_news([NewsItem("Wire", "https://n.org/4", "4", "", NOW)], NOW)
        raise RuntimeError("a failure later in the same transaction")
    fourth, = ours.add_evidence([Evidence(0, claim.id, "https://n.org/4", "4", NOW)])
    assert fourth.seq == 4 and [e.title for e in open_store(tmp_path).evidence_for(claim.id)] == ["4", "3", "2", "1"]
    theirs.add_news([NewsItem("Wire", "https://n.org/5", "5", "", NOW)], NOW)
    ours.add_news([NewsItem("Wire", "https://n.org/5", "5", "", NOW), NewsItem("Wire", "https://n.org/4", "4", "", NOW)],
                  NOW)
    assert sorted(i.title for i in open_store(tmp_path).recent_news(NOW)) == ["4", "5"]


def test_feeds_are_read_as_last_written_by_any_path_or_process(tmp_path: Path) -> None:
    """The file store keeps the Feeds it made from feeds.json's rows (FileStore._feeds_made): a row changed in place
    (TinyDB), replaced (save_feeds) or written by another process is read as written."""
    ours, theirs = open_store(tmp_path), open_store(tmp_path)
    ours.add_feed(Feed(0, "https://a.example/f", "a", NOW, "ana"))
    assert [f.name for f in ours.feeds()] == ["a"]
    ours.save_feed(replace(ours.feeds()[0], name="b"))
    assert [f.name for f in ours.feeds()] == ["b"]
    theirs.save_feeds([replace(theirs.feeds()[0], name="c")])
    assert [f.name for f in ours.feeds()] == ["c"]
    ours.save_feeds([replace(ours.feeds()[0], name="d", failures=2, next_check=NOW + timedelta(hours=1))])
    assert ours.feeds() == open_store(tmp_path).feeds() == [replace(theirs.feeds()[0], name="d", failures=2,
                                                                    next_check=NOW + timedelta(hours=1))]


def test_relabelling_evidence_with_its_stance_records_nothing(store: Store) -> None:
    claim = add(store, "one")
    item, = store.add_evidence([Evidence(0, claim.id, "https://n.org/a", "Item", NOW)])
    store.label_evidence(claim.id, item.seq, Stance.SUPPORTS, "bo", NOW)
    with pytest.raises(InputError, match=rf"evidence \[{item.seq}\] on #{claim.id} is labelled supports already"):
        store.label_evidence(claim.id, item.seq, Stance.SUPPORTS, "al", NOW + timedelta(hours=1))
    assert [c.action for c in store.history(claim.id)] == ["add", "label"]
    store.label_evidence(claim.id, item.seq, Stance.CONTRADICTS, "al", NOW + timedelta(hours=2))
    assert [c.action for c in store.history(claim.id)] == ["add", "label", "label"]


def test_memory_backend_isolates_stored_data() -> None:
    store = FileStore(MemoryBackend())
    claim = add(store, "kept", tags=("a",))
    fetched = store.get_claim(claim.id)
    assert fetched.tags == ("a",) and fetched is not claim


def test_file_backend_replaces_files_atomically(tmp_path: Path) -> None:
    backend = FileBackend(tmp_path)
    first = backend.write("x", {"t": {"1": {"v": 1}}})
    inode = os.stat(tmp_path / "x.json").st_ino
    second = backend.write("x", {"t": {"1": {"v": 2}}})
    assert second != first and second[1] > first[1]  # a new version always has a later mtime
    assert os.stat(tmp_path / "x.json").st_ino != inode  # renamed into place, not rewritten in place
    assert backend.read("x") == (second, {"t": {"1": {"v": 2}}})
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("content", [b'{"claims": 5}', b'{"claims": {"1": {"text": "no other fields"}}}',
                                     b'{"claims": {"x": {}}}'])
def test_data_of_the_wrong_shape_is_reported_by_name(tmp_path: Path, content: bytes) -> None:
    add(open_store(tmp_path))
    path = tmp_path / "claims-0000.json"
    path.write_bytes(content)
    store = open_store(tmp_path)
    with pytest.raises(StoreError, match="claims-0000.json is not readable claimwatch data"):
        store.find_claims()
    assert path.read_bytes() == content


def test_feeds_and_their_seen_entries_round_trip(store: Store) -> None:
    from claimwatch.model import Feed

    feed = store.add_feed(Feed(0, "https://news.example/rss", "News", NOW, "ana"))
    assert feed.id == 1 and store.feed(1) == feed
    with pytest.raises(InputError, match="watched already, as feed 1"):
        store.add_feed(Feed(0, "https://news.example/rss", "Again", NOW, "bo"))
    failing = replace(feed, failures=3, error="HTTP 500", last_error_at=NOW, next_check=NOW + timedelta(hours=1),
                      etag='"v2"')
    store.save_feed(failing)
    assert store.feeds() == [failing]
    store.save_seen(1, {"k1": ("h1", NOW), "k2": ("h2", NOW + timedelta(minutes=5))})
    assert store.seen(1) == {"k1": ("h1", NOW), "k2": ("h2", NOW + timedelta(minutes=5))}
    assert store.remove_feed(1) == failing
    assert store.feeds() == [] and store.seen(1) == {}
    with pytest.raises(NotFound):
        store.feed(1)


def test_feeds_saved_together_keep_their_order_and_a_removed_one_stays_removed(store: Store) -> None:
    from claimwatch.model import Feed

    a, b, c = (store.add_feed(Feed(0, f"https://{n}.example/rss", n, NOW, "ana")) for n in "abc")
    store.remove_feed(b.id)
    moved = replace(c, url="https://c.example/new", etag='"c2"')
    store.save_feeds([moved, replace(b, failures=1), replace(a, failures=2, error="HTTP 500")])
    assert store.feeds() == [replace(a, failures=2, error="HTTP 500"), moved]
    store.save_feeds([replace(moved, etag='"c3"')])  # found by its stored address, the new one
    assert store.feed(c.id).etag == '"c3"'


def _damage(path: Path, table: str, doc_id: str, key: str) -> bytes:
    """Drop one field of one document of a data file, as a hand edit might; the file's new bytes."""
    import orjson

    data = orjson.loads(path.read_bytes())
    del data[table][doc_id][key]
    path.write_bytes(orjson.dumps(data))
    return path.read_bytes()


@pytest.mark.parametrize("name, table, key", [("claims-0000", "claims", "text"), ("audit-0000", "audit", "change")])
def test_a_file_with_a_document_that_cannot_be_read_is_not_written(tmp_path: Path, name: str, table: str,
                                                                    key: str) -> None:
    store = open_store(tmp_path)
    add(store, "first")
    add(store, "second")
    damaged = _damage(tmp_path / f"{name}.json", table, "1", key)
    store = open_store(tmp_path)
    for write in (lambda: add(store, "probe"), lambda: ledger.add_forecast(store, 2, 0.5, "ana", NOW)):
        with pytest.raises(StoreError, match=f"{name}.json is not readable claimwatch data"):
            write()
        assert (tmp_path / f"{name}.json").read_bytes() == damaged


def test_a_write_refused_for_a_damaged_file_writes_no_other_file_of_its_transaction(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.subscribe(5, "all", NOW)
    add(store, "first")
    damaged = _damage(tmp_path / "people.json", "subscriptions", "1", "since")
    claims_before = (tmp_path / "claims-0000.json").read_bytes()
    store = open_store(tmp_path)
    with pytest.raises(StoreError, match="people.json"), store.transaction():
        ledger.add_forecast(store, 1, 0.5, "ana", NOW)
        store.subscribe(6, "all", NOW)
    assert (tmp_path / "people.json").read_bytes() == damaged
    assert (tmp_path / "claims-0000.json").read_bytes() == claims_before
    assert store.get_claim(1).forecasts == ()


def test_a_write_after_another_process_changed_the_file_reads_it_once(tmp_path: Path) -> None:
    mine, other = FileStore(CountingBackend(tmp_path)), open_store(tmp_path)
    add(mine, "first")
    add(mine, "second")
    for p in (0.2, 0.3):
        ledger.add_forecast(other, 2, p, "bo", NOW)  # as another process would
        before = mine.backend.reads.get("claims-0000", 0)
        ledger.add_forecast(mine, 1, p, "ana", NOW)
        assert mine.backend.reads["claims-0000"] == before + 1  # the new version, read once to change it
    assert [f.p for f in open_store(tmp_path).get_claim(2).forecasts] == [0.2, 0.3]


@pytest.mark.parametrize("name, table, key", [("claims-0000", "claims", "text"), ("audit-0000", "audit", "change")])
def test_a_document_damaged_after_this_store_wrote_the_file_still_stops_its_next_write(
        tmp_path: Path, name: str, table: str, key: str) -> None:
    store = open_store(tmp_path)
    add(store, "first")
    add(store, "second")
    damaged = _damage(tmp_path / f"{name}.json", table, "1", key)
    with pytest.raises(StoreError, match=f"{name}.json is not readable claimwatch data"):
        ledger.add_forecast(store, 2, 0.5, "ana", NOW)
    assert (tmp_path / f"{name}.json").read_bytes() == damaged
