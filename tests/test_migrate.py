"""`claimwatch migrate --to`: a data directory into PostgreSQL and back, verified, the source untouched."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from claimwatch import ledger
from claimwatch.migrate import fingerprint
from claimwatch.model import Chat, Evidence, Feed, NewsItem, OutcomeValue, Role, Source, Stance
from claimwatch.store import open_store

from conftest import NOW, postgres_location, run_cli

TODAY = datetime.now(UTC) - timedelta(hours=1)
READS = (["list", "all", "--json"], ["show", "1", "--json"], ["history", "1", "--json"], ["evidence", "1"],
         ["stats", "--json"], ["feeds", "list"], ["settings", "--json"])


def fill(data: Path) -> None:
    """A store with a row in every table, times in more than one offset, a deleted claim, labels and alerts."""
    store = open_store(data)
    moscow = NOW.astimezone(datetime.fromisoformat("2026-03-02T12:30:00+03:00").tzinfo)
    first = ledger.add_claim(store, ledger.NewClaim(
        text="Power of Siberia 2 stays stalled", source=Source("Report", "https://r.example/1", "Ann", date(2024, 5, 20),
                                                               "no deal on price"),
        review_date=date(2026, 6, 1), tags=("energy", "china"), watch=("Power of Siberia 2", "Сила Сибири 2"), p=0.7),
        "ann", moscow).id
    ledger.add_forecast(store, first, 0.6, "bob", NOW + timedelta(hours=1), "talks slow")
    ledger.add_forecast(store, first, 0.8, "Cy (42)", NOW + timedelta(hours=2), who="tg:42")
    second = ledger.add_claim(store, ledger.NewClaim(text="China skips the summit", tags=("china",)), "ann", NOW).id
    ledger.add_forecast(store, second, 0.3, "bob", NOW)
    ledger.resolve(store, second, OutcomeValue.TRUE, "ann", NOW + timedelta(days=1), note="it did",
                   event_date=date(2026, 3, 2), evidence=("https://e.example/1",), today=date(2026, 3, 3))
    third = ledger.add_claim(store, ledger.NewClaim(text="A mistaken claim"), "ann", NOW).id
    ledger.delete_claim(store, third, "ann", NOW, "typo")
    ledger.share(store, second, "ann", NOW)
    found = [Evidence(0, first, f"https://n.example/{i}", f"Pipeline news {i}", NOW + timedelta(minutes=i), "Wire",
                      NOW, ("Power of Siberia 2",), words=("Power of Siberia 2",)) for i in range(3)]
    store.add_evidence(found[:1])
    store.add_evidence(found[1:], alert=True)
    store.add_evidence([Evidence(0, first, "", "No link", NOW, "Wire")])
    store.label_evidence(first, 2, Stance.SUPPORTS, "ann", NOW)
    store.set_role(7, Role.ANALYST, "ann", "admin", NOW)
    store.add_invite("abc", Role.SUBSCRIBER, "ann", NOW)
    store.add_invite("used", Role.ANALYST, "ann", NOW, used_by=8, used_at=NOW)
    store.save_chat(Chat(-100, "supergroup", "Desk", digest="daily", digest_at=time(8, 30), tz="Europe/Moscow",
                         muted=(third,)))
    store.subscribe(-100, "#energy", NOW, ("evidence",))
    store.save_team_setting("hide-forecasts", "until-own")
    [feed] = store.add_feeds([Feed(0, "https://feeds.example/wire", "Wire", NOW, "ann", etag='"x"')])
    store.save_seen(feed.id, {"k1": ("h1", NOW), "k2": ("h2", moscow)})
    # the news window is the last 14 days of the clock migrate runs on (the real one)
    store.add_news([NewsItem("Wire", "https://n.example/0", "Pipeline news 0", "summary", TODAY)], TODAY)
    store.queue_messages([{"key": "-100/e1", "chat": -100, "event": "e1", "kind": "evidence", "claim": first,
                           "title": "t", "line": "a line", "created": NOW.isoformat(), "status": "pending",
                           "attempts": 0, "next_try": NOW.isoformat(), "sent_at": None, "error": ""}],
                         state={"reminded": "2026-03-02"})


def files(data: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(data.iterdir()) if p.is_file()}


def test_a_data_directory_moves_to_postgresql_and_back_with_nothing_lost(tmp_path: Path, postgres_database: str) -> None:
    data, database, back = tmp_path / "data", postgres_location(postgres_database), tmp_path / "back"
    fill(data)
    before = files(data)
    there = run_cli("migrate", "--to", database, data=data)
    assert there.returncode == 0, there.stderr
    assert "verified" in there.stdout and files(data) == before  # the source is left as it was
    copied = open_store(database)  # vacuumed at once: the planner knows the claims, their pages are all visible
    assert copied._one("select reltuples, relallvisible from pg_class where oid = 'claims'::regclass") == (3, 1)
    home = run_cli("migrate", "--to", str(back), data=database)
    assert home.returncode == 0, home.stderr
    expected = fingerprint(open_store(data), TODAY)
    assert fingerprint(open_store(database), TODAY) == expected == fingerprint(open_store(back), TODAY)
    assert all(count for count, _ in expected.values())  # every table has rows
    assert expected["claims"][0] == 3 and expected["evidence"][0] == 4 and expected["alert events"][0] == 3  # two news, one outcome
    for args in READS:  # and what users see is the same (times are kept as instants: in UTC once in a database)
        shown = [run_cli(*args, data=where) for where in (database, back)]
        assert shown[0].returncode == 0 and shown[0].stdout == shown[1].stdout, args


@pytest.mark.parametrize("where", ["database", "directory"])
def test_a_store_that_holds_data_is_not_a_target_and_nothing_changes(tmp_path: Path, postgres_database: str,
                                                                     where: str) -> None:
    data = tmp_path / "data"
    fill(data)
    target = postgres_location(postgres_database) if where == "database" else str(tmp_path / "other")
    assert run_cli("add", "Something else", data=target, examples=False).returncode == 0
    before, target_before = files(data), fingerprint(open_store(target), NOW)
    refused = run_cli("migrate", "--to", target, data=data)
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "holds data already" in refused.stderr
    assert files(data) == before and fingerprint(open_store(target), NOW) == target_before


def test_migrate_needs_a_store_to_copy(tmp_path: Path) -> None:
    result = run_cli("migrate", "--to", str(tmp_path / "other"), data=tmp_path / "none", examples=False)
    assert result.returncode == 2 and "there is no data directory" in result.stderr
    assert not (tmp_path / "other").exists() and not (tmp_path / "none").exists()
