"""The ledger's use cases and the interchange format, on both store backends."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from claimwatch import interchange, ledger, render
from claimwatch.errors import InputError, NotFound
from claimwatch.model import Forecast, OutcomeValue, Source, claim_to_dict
from claimwatch.parsing import parse_url
from claimwatch.store import Store

from conftest import NOW, ROOT, UTC_TZ

LATER = NOW + timedelta(days=1)


def snapshot(store: Store) -> list[dict]:
    return [claim_to_dict(c) for c in store.find_claims()] + [
        [str(h) for h in store.history(c.id)] for c in store.find_claims()]


def test_forecasts_are_all_kept_and_the_latest_is_current(store: Store) -> None:
    claim = ledger.add_claim(store, ledger.NewClaim(text="Pipeline signed by 2027"), "ana", NOW)
    ledger.add_forecast(store, claim.id, 0.7, "ana", NOW, "first look")
    ledger.add_forecast(store, claim.id, 0.2, "bo", NOW + timedelta(hours=1))
    claim = ledger.add_forecast(store, claim.id, 0.4, "ana", LATER, "after the talks")
    assert [(f.by, f.p) for f in claim.forecasts] == [("ana", 0.7), ("bo", 0.2), ("ana", 0.4)]
    assert claim.current_forecasts() == {"bo": Forecast("bo", 0.2, NOW + timedelta(hours=1)),
                                         "ana": Forecast("ana", 0.4, LATER, "after the talks")}
    last = store.history(claim.id)[-1]
    assert (last.action, last.before["p"], last.after["p"]) == ("forecast", 0.7, 0.4)


def test_the_same_forecast_sent_twice_at_once_is_recorded_once(store: Store) -> None:
    n = ledger.add_claim(store, ledger.NewClaim(text="Summit without China"), "ana", NOW).id
    for at in (NOW, NOW + timedelta(seconds=2)):  # a button pressed twice
        ledger.add_forecast(store, n, 0.6, "bo", at, who="tg:7")
    ledger.add_forecast(store, n, 0.6, "bo", NOW + timedelta(seconds=3), "a note", who="tg:7")  # another note: new
    ledger.add_forecast(store, n, 0.6, "bo", NOW + timedelta(minutes=5), "a note", who="tg:7")  # later: new
    ledger.add_forecast(store, n, 0.6, "cy", NOW + timedelta(minutes=5))  # someone else: new
    assert [(c.action, c.by) for c in store.history(n)] == [("add", "ana")] + [("forecast", "bo")] * 3 + [
        ("forecast", "cy")]
    assert len(store.get_claim(n).forecasts) == 4


def test_resolve_and_reopen_keep_the_old_outcome_in_history(store: Store) -> None:
    n = ledger.add_claim(store, ledger.NewClaim(text="Summit without China"), "ana", NOW).id
    resolved = ledger.resolve(store, n, OutcomeValue.TRUE, "bo", LATER, note="no delegation",
                              event_date=date(2026, 3, 1), evidence=("https://e.org/a",), today=LATER.date())
    assert resolved.status == "resolved"
    assert (resolved.outcome.value, resolved.outcome.event_date, resolved.outcome.at) == (
        OutcomeValue.TRUE, date(2026, 3, 1), LATER)
    with pytest.raises(InputError, match="already resolved"):
        ledger.resolve(store, n, OutcomeValue.FALSE, "bo", LATER)
    with pytest.raises(InputError, match="reopen it"):
        ledger.add_forecast(store, n, 0.5, "bo", LATER)
    reopened = ledger.reopen(store, n, "ana", LATER + timedelta(hours=1), "wrong summit")
    assert reopened.outcome is None and reopened.status == "open"
    actions = [(c.action, c.by) for c in store.history(n)]
    assert actions == [("add", "ana"), ("resolve", "bo"), ("reopen", "ana")]
    reopen = store.history(n)[-1]
    assert reopen.before["value"] == "true" and reopen.before["note"] == "no delegation"
    assert reopen.after == {"note": "wrong summit"}
    assert render.change_line(reopen, UTC_TZ).endswith("reopen    wrong summit (was true — no delegation)")
    with pytest.raises(InputError, match="open already"):
        ledger.reopen(store, n, "ana", LATER)


@pytest.mark.parametrize("call, error", [
    (lambda s: ledger.add_forecast(s, 99, 0.5, "ana", NOW), NotFound),
    (lambda s: ledger.resolve(s, 1, OutcomeValue.TRUE, "a", NOW, event_date=date(2026, 3, 3), today=NOW.date()),
     InputError),
    (lambda s: ledger.resolve(s, 1, OutcomeValue.TRUE, "a", NOW, evidence=("ftp://x",)), InputError),
    (lambda s: ledger.add_claim(s, ledger.NewClaim(text="   "), "a", NOW), InputError),
    (lambda s: ledger.add_claim(s, ledger.NewClaim(text="x" * 4001), "a", NOW), InputError),
    (lambda s: ledger.reopen(s, 1, "a", NOW), InputError),
])
def test_bad_requests_change_nothing(store: Store, call, error) -> None:
    ledger.add_claim(store, ledger.NewClaim(text="existing"), "ana", NOW)
    before = snapshot(store)
    with pytest.raises(error):
        call(store)
    assert snapshot(store) == before


def test_due_lists_open_claims_whose_review_date_has_come(store: Store) -> None:
    def add(text: str, review: date | None) -> int:
        return ledger.add_claim(store, ledger.NewClaim(text=text, review_date=review), "ana", NOW).id
    late, today, _future, _undated = (add("late", date(2026, 1, 5)), add("today", NOW.date()),
                                      add("future", date(2026, 3, 3)), add("undated", None))
    done = add("done", date(2026, 1, 1))
    ledger.resolve(store, done, OutcomeValue.FALSE, "bo", NOW)
    assert [c.id for c in ledger.due(store, NOW.date())] == [late, today]


# --- import and export -----------------------------------------------------------------------


def sample_doc() -> dict:
    return {"version": 1, "claims": [
        {"id": "ext-1", "kind": "forecast", "text": "China skips the summit",
         "source": {"title": "Report", "url": "https://r.org", "author": "A", "published": "2024-05-20",
                    "quote": "has not yet announced"},
         "created": "2024-05-21T09:00:00+00:00", "review_date": "2024-06-17", "tags": ["summit"],
         "watch": ["peace summit", "мирный саммит", "+China"], "p": 0.6,
         "forecasts": [{"by": "ana", "p": 0.7, "at": "2024-05-22T10:00:00+00:00", "note": "gut"},
                       {"by": "bo", "p": 0.55, "at": "2024-05-23T10:00:00Z"}],
         "outcome": {"value": "true", "event_date": "2024-06-16", "at": "2024-06-17T08:00:00+00:00",
                     "by": "ana", "note": "absent", "evidence": ["https://e.org/1"]}},
        {"text": "Exports to Russia fell in March", "tags": ["trade"], "review_date": "2024-06-30"},
    ]}


def test_import_names_every_problem_and_conflict_in_one_refusal(store: Store) -> None:
    ledger.import_claims(store, sample_doc(), "ana", NOW)
    before = snapshot(store)
    doc = sample_doc()
    doc["claims"][0]["outcome"]["value"] = "false"  # a conflict with the store
    doc["claims"][1]["p"] = 1.5  # the schema
    doc["claims"] += [
        {"text": "Resolved in the future", "outcome": {"value": "true", "event_date": "2099-01-01"}},  # needs `now`
        {"text": "Coloured \x1b[31mred"},
        {"text": "Forecast by two lines", "forecasts": [{"by": "al\nice", "p": 0.5, "at": "2024-05-01T00:00:00"}]},
        {"text": "A bad tag", "tags": ["bad tag!"]},
    ]
    with pytest.raises(InputError) as error:
        ledger.import_claims(store, doc, "ana", LATER, "bad.json")
    lines = str(error.value).splitlines()
    assert lines[0] == "bad.json: 5 problems and 1 conflict with the claims stored here, nothing imported"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "claims[1].p", "claims[2].outcome.event_date", "claims[3].text", "claims[4].forecasts[0].by", "claims[5].tags",
        "claims[0] (#1)"]
    assert snapshot(store) == before


def test_a_file_without_a_version_imports(store: Store) -> None:
    doc = sample_doc()
    del doc["version"]
    assert ledger.import_claims(store, doc, "ana", NOW).summary() == "2 added, 0 updated, 0 unchanged"


def test_import_adds_claims_and_a_second_import_changes_nothing(store: Store) -> None:
    result = ledger.import_claims(store, sample_doc(), "ana", NOW)
    assert (len(result.added), len(result.updated), result.unchanged) == (2, 0, 0)
    first = store.get_claim(1)
    assert first.ext_id == "ext-1" and first.outcome.value == OutcomeValue.TRUE and len(first.forecasts) == 2
    assert store.get_claim(2).created_at == NOW  # a missing creation time is the time of import
    before = snapshot(store)
    again = ledger.import_claims(store, sample_doc(), "ana", LATER)
    assert (len(again.added), len(again.updated), again.unchanged) == (0, 0, 2)
    assert snapshot(store) == before


def test_import_merges_new_forecasts_into_known_claims(store: Store) -> None:
    ledger.import_claims(store, sample_doc(), "ana", NOW)
    doc = sample_doc()
    doc["claims"][0]["forecasts"].append({"by": "cy", "p": 0.9, "at": "2024-05-24T10:00:00+00:00"})
    result = ledger.import_claims(store, doc, "ana", LATER)
    assert [c.id for c in result.updated] == [1] and result.unchanged == 1
    assert [f.by for f in store.get_claim(1).forecasts] == ["ana", "bo", "cy"]
    assert store.history(1)[-1].action == "import"


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["claims"][0]["outcome"].update(value="false"),
     "claims[0] (#1): the outcome is false on 2024-06-16 in the file but true on 2024-06-16 here"),
    (lambda d: d["claims"][0]["outcome"].update(event_date="2024-06-15"),
     "claims[0] (#1): the outcome is true on 2024-06-15 in the file but true on 2024-06-16 here"),
    (lambda d: d["claims"][0]["forecasts"][1].update(p=0.2),
     "claims[0] (#1): bo's forecast of 2024-05-23T10:00:00+00:00 is 0.2 in the file but 0.55 here"),
])
def test_import_contradicting_stored_claims_imports_nothing_and_names_each_conflict(store: Store, mutate,
                                                                                   expected: str) -> None:
    ledger.import_claims(store, sample_doc(), "ana", NOW)
    before = snapshot(store)
    doc = sample_doc()
    mutate(doc)
    doc["claims"][0]["forecasts"].append({"by": "cy", "p": 0.9, "at": "2024-05-24T10:00:00+00:00"})  # new: not added
    doc["claims"].append({"text": "A new claim"})  # not added either
    with pytest.raises(InputError, match="1 conflict with the claims stored here, nothing imported") as e:
        ledger.import_claims(store, doc, "ana", LATER)
    assert str(e.value).splitlines()[1:] == [f"  {expected}"]
    assert snapshot(store) == before


def test_links_typed_are_checked_alike(store: Store) -> None:
    for bad in ("https://", "http://a b", "HTTP://x\n.org", "ftp://x", "javascript:alert(1)", "notaurl"):
        with pytest.raises(InputError, match="is not a web address"):
            parse_url(bad)
        if bad.lower().startswith("http"):  # meant as a link, so not taken as a title
            with pytest.raises(InputError, match="is not a web address"):
                ledger.source_from_text(bad)
    assert ledger.source_from_text("HTTP: the protocol") == Source(title="HTTP: the protocol")  # no //: a title
    claim = store.get_claim(ledger.add_claim(store, ledger.NewClaim(
        text="t", source=ledger.source_from_text("HTTPS://Example.org/r?q=1")), "ana", NOW).id)
    assert claim.source == Source(url="HTTPS://Example.org/r?q=1")
    assert ledger.source_from_text("javascript:alert(1)") == Source(title="javascript:alert(1)")  # a title: text
    with pytest.raises(InputError, match="'http://a b' is not a web address"):
        ledger.resolve(store, claim.id, OutcomeValue.TRUE, "ana", NOW, evidence=("http://a b",))
    assert store.get_claim(claim.id).outcome is None


@pytest.mark.parametrize("mutate, expected", [
    (lambda d: d["claims"][0]["outcome"].update(event_date="2099-01-01"),
     "claims[0].outcome.event_date: 2099-01-01 is in the future"),
    (lambda d: d["claims"][0].update(p=float("nan")), "claims[0].p: nan is not a probability"),
    (lambda d: d["claims"][0]["forecasts"][1].update(p=float("nan")), "claims[0].forecasts[1].p: nan is not a"),
    (lambda d: d["claims"][0]["forecasts"][0].update(p=1.5), "claims[0].forecasts[0].p"),
    (lambda d: d["claims"][1].pop("text"), "claims[1]: 'text' is a required property"),
    (lambda d: d["claims"][1].update(review_date="2024-99-01"), "claims[1].review_date"),
    (lambda d: d["claims"][1].update(source={"published": "2099-01-01"}),
     "claims[1].source.published: 2099-01-01 is in the future"),
    (lambda d: d["claims"][1].update(review_date="2026-02-30"),
     "claims[1].review_date: '2026-02-30' is not a date (day is out of range for month)"),
    (lambda d: d["claims"][0]["forecasts"][1].update(at="2026-02-30T10:00:00"),
     "claims[0].forecasts[1].at: '2026-02-30T10:00:00' is not a time"),
    (lambda d: d["claims"][1].update(id="ext-1"), "claims[1].id: 'ext-1' is used by claims[0]"),
    (lambda d: d["claims"][0].update(watch=["-only excluded"]), "claims[0].watch"),
    (lambda d: d["claims"][0].update(tags=["no/slash"]), "claims[0].tags"),
    (lambda d: d["claims"][0]["outcome"].update(value="maybe"), "claims[0].outcome"),
    (lambda d: d["claims"][0]["forecasts"][1].update(at="yesterday"), "claims[0].forecasts[1].at"),
    (lambda d: d.update(version=2), "version"),
    (lambda d: d.pop("claims"), "'claims' is a required property"),
])
def test_import_with_a_problem_imports_nothing_and_names_it(store: Store, mutate, expected: str) -> None:
    ledger.add_claim(store, ledger.NewClaim(text="already here"), "ana", NOW)
    before = snapshot(store)
    doc = sample_doc()
    mutate(doc)
    with pytest.raises(InputError) as error:
        ledger.import_claims(store, doc, "ana", NOW, "bad.json")
    assert expected in str(error.value)
    assert str(error.value).startswith("bad.json: 1 problem, nothing imported")
    assert snapshot(store) == before


def test_import_lists_every_problem(store: Store) -> None:
    doc = sample_doc()
    doc["claims"][0]["p"] = -0.1
    doc["claims"][1]["text"] = ""
    with pytest.raises(InputError) as error:
        ledger.import_claims(store, doc, "ana", NOW, "bad.json")
    lines = str(error.value).splitlines()
    assert lines[0] == "bad.json: 2 problems, nothing imported"
    assert any("claims[0].p" in line for line in lines) and any("claims[1].text" in line for line in lines)


def test_json_export_reimports_into_an_empty_store_with_nothing_lost(store: Store, tmp_path: Path) -> None:
    from claimwatch.store import open_store
    ledger.import_claims(store, sample_doc(), "ana", NOW)
    n = ledger.add_claim(store, ledger.NewClaim(text="Added by hand", tags=("x",), p=0.3), "bo", NOW).id
    ledger.add_forecast(store, n, 0.25, "cy", LATER, "note")
    exported = json.loads("".join(interchange.json_chunks(store.find_claims(), LATER)))
    assert interchange.problems(exported) == []

    fresh = open_store(tmp_path / "fresh")
    ledger.import_claims(fresh, copy.deepcopy(exported), "someone else", LATER + timedelta(days=5))
    assert fresh.find_claims() == store.find_claims()  # numbers, authors and times included
    assert json.loads("".join(interchange.json_chunks(fresh.find_claims(), LATER))) == exported


def test_csv_export_has_a_row_per_forecast(store: Store) -> None:
    import csv
    import io
    ledger.import_claims(store, sample_doc(), "ana", NOW)
    rows = list(csv.DictReader(io.StringIO("".join(interchange.csv_chunks(store.find_claims(), UTC_TZ)))))
    assert [(r["number"], r["forecaster"], r["p"], r["outcome"]) for r in rows] == [
        ("1", "ana", "0.7", "true"), ("1", "bo", "0.55", "true"), ("2", "", "", "")]


def test_csv_export_keeps_spreadsheets_from_running_texts_as_formulas(store: Store) -> None:
    import csv
    import io
    claim = ledger.add_claim(store, ledger.NewClaim(text="=HYPERLINK(\"https://evil.example\",\"x\")",
                                                    source=Source(title="@SUM(A1)"), ext_id="-2+3"), "+ana", NOW)
    ledger.add_forecast(store, claim.id, 0.5, "\tbo", NOW, "-1 for now")
    ledger.add_claim(store, ledger.NewClaim(text="a - b = c", source=Source(url="https://x.example/-1")), "ana", NOW)
    rows = list(csv.DictReader(io.StringIO("".join(interchange.csv_chunks(store.find_claims(), UTC_TZ)))))
    assert [(r["text"], r["source"], r["id"], r["forecaster"], r["note"]) for r in rows] == [
        ("'=HYPERLINK(\"https://evil.example\",\"x\")", "'@SUM(A1)", "'-2+3", "'\tbo", "'-1 for now"),
        ("a - b = c", "", "", "", "")]


def test_bundled_claims_file_is_valid_and_drawn_from_the_source_report() -> None:
    doc = interchange.load_file(ROOT / "claims.json")
    assert interchange.problems(doc) == []
    claims = doc["claims"]
    assert 12 <= len(claims) <= 20
    assert {c["kind"] for c in claims} == {"claim", "forecast"}
    assert all(c["outcome"] is None for c in claims)  # no outcome we are not certain of
    assert all(c["source"]["quote"] and c["review_date"] and c["tags"] and c["watch"] for c in claims)
    text = " ".join(c["text"] + " " + " ".join(c["watch"]) for c in claims)
    for topic in ("peace summit", "Power of Siberia 2", "Сила Сибири", "西伯利亚力量", "exports to Russia",
                  "frozen", "Belt and Road", "nuclear", "Arctic", "transit"):
        assert topic in text, topic
    report = ROOT.parent / "shared" / "source-report.txt"
    if report.exists():  # beside the checkout on developer machines and in CI
        body = report.read_text("utf-8")
        assert [c["id"] for c in claims if c["source"]["quote"] not in body] == []
    assert interchange.bundled_claims_path().read_bytes() == (ROOT / "claims.json").read_bytes()


def _old_claim(store: Store, text: str, **changes) -> int:
    """A claim as claimwatch kept it before links were checked (any source URL; evidence with a space)."""
    from claimwatch.model import Change, Claim
    claim = Claim(id=0, text=text, created_at=NOW, created_by="ana").with_changes(**changes)
    return store.insert_claim(claim, Change(0, NOW, "ana", "add", None, claim_to_dict(claim))).id


def test_an_export_holding_links_older_versions_kept_imports_again(store: Store, tmp_path: Path) -> None:
    from claimwatch.model import Outcome
    from claimwatch.store import open_store
    _old_claim(store, "Report without a scheme", source=Source(title="r", url="example.org/report"))
    _old_claim(store, "Resolved long ago", outcome=Outcome(OutcomeValue.TRUE, NOW, "ana", date(2026, 2, 1),
                                                          evidence=("https://news.example/a b", "javascript:x()")))
    exported = json.loads(ledger.export_claims(store, "json", NOW, UTC_TZ))
    before = snapshot(store)
    again = ledger.import_claims(store, copy.deepcopy(exported), "ana", LATER)
    assert (again.summary(), again.warnings) == ("0 added, 0 updated, 2 unchanged", [])
    assert snapshot(store) == before

    fresh = open_store(tmp_path / "fresh")
    restored = ledger.import_claims(fresh, copy.deepcopy(exported), "bo", LATER)
    assert fresh.find_claims() == store.find_claims()
    assert [w.split(":")[0] for w in restored.warnings] == [
        "claims[0].source.url", "claims[1].outcome.evidence[0]", "claims[1].outcome.evidence[1]"]
    assert all("kept as written" in w for w in restored.warnings)
    review = json.loads("".join(interchange.claimreview_chunks(fresh.find_claims(), UTC_TZ)))
    assert review[0]["url"] == "urn:claimwatch:claim:2"  # links that are not web addresses are not used as links


def test_import_allows_an_event_date_that_is_today_somewhere_and_never_refuses_the_stored_outcome(
        store: Store) -> None:
    from claimwatch.model import Outcome
    evening = NOW.replace(hour=20)  # 2026-03-03 in Tokyo, still 2026-03-02 in UTC
    doc = {"version": 1, "claims": [{"text": "Resolved today in Tokyo", "outcome": {
        "value": "true", "event_date": "2026-03-03", "at": "2026-03-02T19:00:00Z", "by": "ken"}}]}
    assert ledger.import_claims(store, copy.deepcopy(doc), "ana", evening).summary() == "1 added, 0 updated, 0 unchanged"
    doc["claims"].append({"text": "Not yet anywhere", "outcome": {"value": "true", "event_date": "2026-03-04"}})
    with pytest.raises(InputError, match=r"1 problem, nothing imported\n  claims\[1\]\.outcome\.event_date: "
                                         "2026-03-04 is in the future"):
        ledger.import_claims(store, doc, "ana", evening)
    # an outcome stored with a date ahead of this clock (another machine's) is the store's own: it imports again
    _old_claim(store, "Recorded by a clock ahead", outcome=Outcome(OutcomeValue.FALSE, NOW, "ana", date(2026, 3, 9)))
    exported = json.loads(ledger.export_claims(store, "json", NOW, UTC_TZ))
    assert ledger.import_claims(store, exported, "ana", NOW).summary() == "0 added, 0 updated, 2 unchanged"


def test_two_forecasts_by_one_person_at_one_time_export_and_import_again(store: Store, tmp_path: Path) -> None:
    from claimwatch.store import open_store
    n = ledger.add_claim(store, ledger.NewClaim(text="Twice at once"), "ana", NOW).id
    ledger.add_forecast(store, n, 0.3, "ana", NOW)
    ledger.add_forecast(store, n, 0.4, "ana", NOW)
    exported = json.loads(ledger.export_claims(store, "json", NOW, UTC_TZ))
    before = snapshot(store)
    assert ledger.import_claims(store, copy.deepcopy(exported), "ana", LATER).summary() == "0 added, 0 updated, 1 unchanged"
    assert snapshot(store) == before
    fresh = open_store(tmp_path / "fresh")
    ledger.import_claims(fresh, copy.deepcopy(exported), "ana", LATER)
    assert fresh.find_claims() == store.find_claims()
    exported["claims"][0]["forecasts"][0]["p"] = 0.5
    with pytest.raises(InputError, match=r"ana's forecast of 2026-03-02T09:30:00\+00:00 is 0.5 in the file but "
                                         "0.3 and 0.4 here"):
        ledger.import_claims(store, exported, "ana", LATER)
    assert snapshot(store) == before


def test_consensus_over_time_follows_each_forecast_and_withdrawal(store: Store) -> None:
    claim = ledger.add_claim(store, ledger.NewClaim(text="Power of Siberia 2 is signed"), "ann", NOW)
    ledger.add_forecast(store, claim.id, 0.2, "ann", NOW + timedelta(hours=1))
    ledger.add_forecast(store, claim.id, 0.6, "bo", NOW + timedelta(hours=2))
    ledger.add_forecast(store, claim.id, 0.4, "ann", NOW + timedelta(hours=3))
    withdrawn = ledger.withdraw_forecast(store, claim.id, "ann", NOW + timedelta(hours=4))
    assert [(at - NOW, p) for at, p in ledger.consensus_over_time(withdrawn)] == [
        (timedelta(hours=1), 0.2), (timedelta(hours=2), 0.4), (timedelta(hours=3), 0.5),
        (timedelta(hours=4), 0.4)]  # ann's 40% withdrawn: her 20% stands again
    unforecast = ledger.add_claim(store, ledger.NewClaim(text="Nobody has forecast this"), "ann", NOW)
    assert ledger.consensus(withdrawn) == 0.4 and ledger.consensus(unforecast) is None
