"""Forecast accuracy: the review against a brute-force second implementation and hand-computed figures,
its scopes, `claimwatch stats` and `claimwatch report`, and the scored exports (CSV and ClaimReview)."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claimwatch import cli, ledger
from claimwatch.accuracy import MIN_RESOLVED, Scope, calibration_lean, summary_text
from claimwatch.errors import InputError
from claimwatch.report import MAX_CLAIMS_LISTED, render_report
from claimwatch.store import Store, open_store

from conftest import NOW, UTC_TZ, run_cli

LN = math.log


def review(store: Store, tz: ZoneInfo = UTC_TZ, scope: Scope = Scope()) -> dict[str, Any]:
    return ledger.accuracy_review(store, tz, scope)


def render(store: Store, tz: ZoneInfo = UTC_TZ, scope: Scope = Scope()) -> str:
    """The report as `claimwatch report` makes it (without evidence)."""
    resolved = ledger.resolved_claims(store, scope)
    return render_report(review(store, tz, scope), resolved[:MAX_CLAIMS_LISTED], len(resolved), {}, NOW, tz)


# --- 1. a second, deliberately simple implementation ---------------------------------------------


@dataclass(frozen=True)
class Rec:
    """One generated claim, in plain values."""

    created: datetime
    p: float | None
    forecasts: tuple[tuple[str, float, datetime], ...]  # (by, p, at)
    outcome: str | None  # true, false, partial, void, or None (open)
    event_date: date | None
    outcome_at: datetime


CODE = {"true": 1.0, "false": 0.0, "partial": 0.5}


def simple_review(recs: list[Rec], tz: ZoneInfo) -> dict[str, Any]:
    """Brute force, straight from the definitions; shares nothing with claimwatch.scores/accuracy."""
    analysts: dict[str, list[float]] = {}
    weighted: dict[str, list[float]] = {}  # per forecaster, the Brier of each claim averaged over time
    bins: list[list[tuple[float, float]]] = [[] for _ in range(10)]  # [0, .1), ..., [.8, .9), [.9, 1]
    team: list[float] = []
    source: list[float] = []
    n_claims = 0
    for r in recs:
        if r.outcome not in CODE:
            continue
        o = CODE[r.outcome]
        cut = datetime.combine(r.event_date, time(0), tz) if r.event_date else r.outcome_at
        last: dict[str, tuple[datetime, float]] = {}
        for by, p, at in r.forecasts:
            if at < cut and (by not in last or at > last[by][0]):
                last[by] = (at, p)
        for by, (_, p) in last.items():
            analysts.setdefault(by, []).append((p - o) ** 2)
            bins[min(int(round(p * 10, 9)), 9)].append((p, o))  # p * 10 within 1e-9 of an edge is on it
            made = sorted((at, q) for name, q, at in r.forecasts if name == by and at < cut) + [(cut, None)]
            stood = [((q - o) ** 2, (made[j + 1][0] - at).total_seconds()) for j, (at, q) in enumerate(made[:-1])]
            weighted.setdefault(by, []).append(sum(b * s for b, s in stood) / sum(s for _, s in stood))
        ps = sorted(p for _, p in last.values())
        if ps:
            k = len(ps)
            median = ps[k // 2] if k % 2 else (ps[k // 2 - 1] + ps[k // 2]) / 2
            team.append((median - o) ** 2)
        has_source = r.p is not None and r.created < cut
        if has_source:
            source.append((r.p - o) ** 2)
        n_claims += bool(ps) or has_source
    everything = [b for bs in analysts.values() for b in bs]

    def mean(xs: list[float]) -> float | None:
        return sum(xs) / len(xs) if xs else None

    return {"n_claims": n_claims, "n_forecasts": len(everything), "brier": mean(everything),
            "team": (len(team), mean(team)), "source": (len(source), mean(source)),
            "by_forecaster": {by: (len(bs), mean(bs)) for by, bs in analysts.items()},
            "time_weighted": {by: mean(ws) for by, ws in weighted.items()},
            "bins": [(len(b), mean([p for p, _ in b]), mean([o for _, o in b])) for b in bins]}


BASE = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=30)  # half hours, so forecasts fall exactly on cutoffs in UTC, Europe and India
ZONES = [UTC_TZ, ZoneInfo("Europe/Stockholm"), ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Kolkata")]
moment = st.integers(0, 48 * 30).map(lambda k: BASE + k * STEP)
probability = st.one_of(st.sampled_from([0.0, 1.0, 0.5, 0.25, 0.75]), st.floats(0, 1))


@st.composite
def recs(draw: st.DrawFn) -> Rec:
    forecasts = draw(st.lists(st.tuples(st.sampled_from(["ana", "bo", "cy", "dee"]), probability, moment),
                              max_size=8, unique_by=lambda f: (f[0], f[2])))  # no forecaster forecasts twice at once
    return Rec(created=draw(moment), p=draw(st.none() | probability), forecasts=tuple(forecasts),
               outcome=draw(st.sampled_from(["true", "false", "partial", "void", None])),
               event_date=draw(st.none() | st.integers(0, 31).map(lambda d: BASE.date() + timedelta(days=d))),
               outcome_at=draw(moment))


def as_doc(records: list[Rec]) -> dict[str, Any]:
    return {"version": 1, "claims": [{
        "text": f"generated claim {i}", "created": r.created.isoformat(), "p": r.p,
        "forecasts": [{"by": by, "p": p, "at": at.isoformat()} for by, p, at in r.forecasts],
        "outcome": None if r.outcome is None else {
            "value": r.outcome, "at": r.outcome_at.isoformat(),
            "event_date": r.event_date and r.event_date.isoformat()}} for i, r in enumerate(records)]}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(recs(), max_size=10), tz=st.sampled_from(ZONES))
def test_review_agrees_with_a_brute_force_second_implementation(records: list[Rec], tz: ZoneInfo) -> None:
    store = open_store(None)
    ledger.import_claims(store, as_doc(records), "importer", NOW)
    got = review(store, tz)
    want = simple_review(records, tz)

    assert (got["n_claims"], got["n_forecasts"]) == (want["n_claims"], want["n_forecasts"])
    assert got["brier"] == pytest.approx(want["brier"])
    assert (got["team"]["n"], got["team"]["brier"]) == (want["team"][0], pytest.approx(want["team"][1]))
    assert (got["source"]["n"], got["source"]["brier"]) == (want["source"][0], pytest.approx(want["source"][1]))
    assert set(got["by_forecaster"]) == set(want["by_forecaster"])
    for name, (n, brier) in want["by_forecaster"].items():
        assert (got["by_forecaster"][name]["n"], got["by_forecaster"][name]["brier"]) == (n, pytest.approx(brier))
        assert got["by_forecaster"][name]["too_few"] == (n < MIN_RESOLVED)
    for name, tw in want["time_weighted"].items():
        assert got["by_forecaster"][name]["time_weighted_brier"] == pytest.approx(tw)
    assert len(got["calibration"]) == 10
    assert sum(b["n"] for b in got["calibration"]) == got["n_forecasts"]
    assert [(b["n"], b["mean_p"], b["observed"]) for b in got["calibration"]] == [
        (n, pytest.approx(mean_p), pytest.approx(observed)) for n, mean_p, observed in want["bins"]]
    if got["n_forecasts"]:
        m = got["murphy"]
        assert m["brier"] == pytest.approx(got["brier"])
        assert m["brier"] == pytest.approx(m["reliability"] - m["resolution"] + m["uncertainty"], abs=1e-9)
        assert all(b["n"] == 0 or 0 <= b["observed"] <= 1 for b in got["calibration"])
    else:
        assert got["murphy"] is None and got["brier"] is None


def test_the_simple_implementation_itself_applies_the_cutoff_and_the_median() -> None:
    """Guard the oracle: a forecast at the cutoff does not count; the median of two is their mean."""
    day = date(2024, 1, 10)
    cut = datetime.combine(day, time(0), UTC_TZ)
    rec = Rec(created=cut - STEP, p=0.5, outcome="true", event_date=day, outcome_at=cut + 10 * STEP,
              forecasts=(("ana", 0.8, cut - 2 * STEP), ("ana", 0.0, cut), ("bo", 0.4, cut - STEP)))
    got = simple_review([rec], UTC_TZ)
    assert got["by_forecaster"] == {"ana": (1, pytest.approx(0.04)), "bo": (1, pytest.approx(0.36))}
    assert got["team"] == (1, pytest.approx(0.16)) and got["source"] == (1, 0.25) and got["n_claims"] == 1


# --- 2. a small store computed by hand -----------------------------------------------------------


def fixed_doc() -> dict[str, Any]:
    """Claims A-H; the figures they must give are worked out in test_review_of_a_small_store_by_hand."""
    return {"version": 1, "claims": [
        {"id": "A", "kind": "forecast", "text": "Gas deal signed in June", "tags": ["energy"],
         "source": {"title": "Beijing energy report", "url": "https://news.example/a", "author": "Zhang Wei",
                    "published": "2024-05-01"},
         "created": "2024-05-01T08:00:00+00:00", "p": 0.7,
         "forecasts": [{"by": "ana", "p": 0.8, "at": "2024-06-01T10:00:00+00:00"},
                       {"by": "bo", "p": 0.2, "at": "2024-06-06T00:00:00+00:00"},
                       {"by": "bo", "p": 0.4, "at": "2024-06-11T00:00:00+00:00"},
                       {"by": "ana", "p": 0.1, "at": "2024-06-16T00:00:00+00:00"},  # exactly at the cutoff
                       {"by": "ana", "p": 0.05, "at": "2024-06-20T00:00:00+00:00"}],  # hindsight
         "outcome": {"value": "true", "event_date": "2024-06-16", "at": "2024-06-18T09:00:00+00:00", "by": "ed",
                     "note": "signed in Beijing",
                     "evidence": ["https://evidence.example/a1", "https://evidence.example/a2"]}},
        {"id": "B", "text": "Pipeline halted", "tags": ["energy", "china"], "source": {"title": "Moscow wire"},
         "created": "2024-06-20T00:00:00+00:00",
         "forecasts": [{"by": "ana", "p": 0.3, "at": "2024-06-30T00:00:00+00:00"},
                       {"by": "ana", "p": 0.9, "at": "2024-07-02T00:00:00+00:00"}],  # after it was resolved
         "outcome": {"value": "false", "at": "2024-07-01T12:00:00+00:00", "by": "ed"}},
        {"id": "C", "text": "Tariffs partly lifted", "tags": ["china"], "source": {"url": "https://china.example/c"},
         "created": "2024-08-10T06:00:00+00:00", "p": 0.9,  # recorded after the event: the source is not scored
         "forecasts": [{"by": "bo", "p": 0.5, "at": "2024-08-01T00:00:00+00:00"}],
         "outcome": {"value": "partial", "event_date": "2024-08-10", "at": "2024-08-12T00:00:00+00:00", "by": "fay"}},
        {"id": "D", "text": "Summit postponed", "tags": ["energy"], "created": "2024-05-01T00:00:00+00:00", "p": 0.5,
         "forecasts": [{"by": "ana", "p": 0.9, "at": "2024-05-02T00:00:00+00:00"},
                       {"by": "bo", "p": 0.9, "at": "2024-05-02T00:00:00+00:00"}],
         "outcome": {"value": "void", "at": "2024-06-01T00:00:00+00:00", "by": "ed"}},
        {"id": "E", "text": "Still open", "tags": ["energy"], "created": "2024-05-01T00:00:00+00:00", "p": 0.5,
         "forecasts": [{"by": "ana", "p": 0.6, "at": "2024-05-02T00:00:00+00:00"}]},
        {"id": "F", "text": "Bridge opens", "source": {"author": "Reuters desk"},
         "created": "2024-07-15T00:00:00+00:00", "p": 0.6,
         "forecasts": [{"by": "cy", "p": 1.0, "at": "2024-08-01T00:00:00+00:00"}],
         "outcome": {"value": "true", "event_date": "2024-09-01", "at": "2024-09-02T00:00:00+00:00", "by": "ed"}},
        {"id": "G", "text": "Port reopens", "created": "2024-09-01T00:00:00+00:00",
         "forecasts": [{"by": "cy", "p": 0.0, "at": "2024-09-15T00:00:00+00:00"}],
         "outcome": {"value": "true", "at": "2024-10-01T00:00:00+00:00", "by": "ed"}},
        {"id": "H", "text": "Nobody forecast this", "created": "2024-09-01T00:00:00+00:00",
         "outcome": {"value": "true", "at": "2024-10-02T00:00:00+00:00", "by": "ed",
                     "evidence": ["http://old.example/h"]}},
    ]}


@pytest.fixture
def fixed(store: Store) -> Store:
    ledger.import_claims(store, fixed_doc(), "importer", NOW)
    return store


def test_review_of_a_small_store_by_hand(fixed: Store) -> None:
    r = review(fixed)
    # Counted (UTC): A ana 0.8 (0.1 at the cutoff and 0.05 later do not count), A bo 0.4 (not his earlier 0.2),
    # B ana 0.3 (not the 0.9 after the outcome), C bo 0.5, F cy 1.0, G cy 0.0. D is void, E open, H unforecast.
    # Briers: A ana 0.2² = 0.04, A bo 0.6² = 0.36, B ana 0.09, C bo 0, F cy 0, G cy 1.
    assert r["n_claims"] == 5  # A, B, C, F, G
    assert r["n_forecasts"] == 6
    assert r["n_late_forecasts"] == 3  # A ana at the cutoff and after it, B ana after the outcome
    assert r["brier"] == pytest.approx(1.49 / 6)
    assert r["too_few"] is False and r["min_resolved"] == MIN_RESOLVED == 5  # 5 claims with analysts
    # log scores, p clipped to [0.01, 0.99]: ln .8, ln .4, ln .7, ln .5 (partial: ½ ln .5 + ½ ln .5), ln .99, ln .01
    assert r["log_score"] == pytest.approx((LN(.8) + LN(.4) + LN(.7) + LN(.5) + LN(.99) + LN(.01)) / 6)

    ana, bo, cy = (r["by_forecaster"][k] for k in ("ana", "bo", "cy"))
    assert list(r["by_forecaster"]) == ["ana", "bo", "cy"]
    assert (ana["n"], ana["brier"]) == (2, pytest.approx((0.2 ** 2 + 0.3 ** 2) / 2))  # 0.065
    assert ana["brier"] == pytest.approx(0.065)
    assert (bo["n"], bo["brier"]) == (2, pytest.approx(0.18))  # (0.6² + 0) / 2
    assert (cy["n"], cy["brier"]) == (2, pytest.approx(0.5))  # p = 1 on true: 0; p = 0 on true: 1
    assert ana["log_score"] == pytest.approx((LN(0.8) + LN(0.7)) / 2)
    assert bo["log_score"] == pytest.approx((LN(0.4) + LN(0.5)) / 2)
    assert cy["log_score"] == pytest.approx((LN(0.99) + LN(0.01)) / 2)  # finite: -2.307, not -inf
    assert all(f["too_few"] for f in (ana, bo, cy))
    # time-weighted: bo on A stood at 0.2 from 6 to 11 June and at 0.4 from 11 to 16 June: (0.64 + 0.36) / 2 = 0.5;
    # on C only one forecast: 0. ana: 0.04 and 0.09.
    assert bo["time_weighted_brier"] == pytest.approx(0.25)
    assert ana["time_weighted_brier"] == pytest.approx(0.065)

    # team consensus = median of the counted forecasts: A median(0.8, 0.4) = 0.6 -> 0.16; B 0.3 -> 0.09;
    # C 0.5 -> 0; F 1.0 -> 0; G 0.0 -> 1. Mean 1.25 / 5 = 0.25 on 5 claims: enough to judge.
    assert r["team"] == {"n": 5, "brier": pytest.approx(0.25), "too_few": False,
                         "log_score": pytest.approx((LN(.6) + LN(.7) + LN(.5) + LN(.99) + LN(.01)) / 5)}
    # vs_team: ana (0.04 - 0.16 + 0.09 - 0.09) / 2 = -0.06; bo (0.36 - 0.16 + 0 - 0) / 2 = 0.1; cy 0
    assert ana["vs_team"] == pytest.approx(-0.06)
    assert bo["vs_team"] == pytest.approx(0.1)
    assert cy["vs_team"] == pytest.approx(0.0)
    # source: A p 0.7 -> 0.09, F p 0.6 -> 0.16; C's p was recorded after the event, B has none
    assert r["source"] == {"n": 2, "brier": pytest.approx(0.125), "too_few": True,
                           "log_score": pytest.approx((LN(.7) + LN(.6)) / 2)}

    assert r["by_tag"]["energy"] == {"n": 2, "brier": pytest.approx(0.49 / 3), "log_score": pytest.approx(
        (LN(.8) + LN(.4) + LN(.7)) / 3), "too_few": True, "team_brier": pytest.approx(0.125),
        "source_brier": pytest.approx(0.09)}
    assert r["by_tag"]["china"]["brier"] == pytest.approx(0.045) and r["by_tag"]["china"]["source_brier"] is None
    assert set(r["by_source"]) == {"Beijing energy report", "Moscow wire", "https://china.example/c",
                                   "Reuters desk", "(no source)"}
    assert r["by_source"]["(no source)"]["brier"] == pytest.approx(1.0)  # G only (H has no scored forecast)
    assert {k: v["n"] for k, v in r["by_period"].items()} == {"2024-Q2": 1, "2024-Q3": 3, "2024-Q4": 1}

    bins = {i: b for i, b in enumerate(r["calibration"])}
    assert [b["n"] for b in r["calibration"]] == [1, 0, 0, 1, 1, 1, 0, 0, 1, 1]  # p 0, .3, .4, .5, .8, 1
    assert (bins[0]["bin_low"], bins[0]["bin_high"], bins[9]["bin_high"]) == (0.0, 0.1, 1.0)
    assert (bins[0]["observed"], bins[3]["observed"], bins[5]["observed"], bins[9]["observed"]) == (1, 0, 0.5, 1)
    assert bins[4]["mean_p"] == pytest.approx(0.4) and bins[1]["mean_p"] is None
    # every forecast value distinct: reliability = Brier, resolution = uncertainty = var(o) with obar = 0.75
    m = r["murphy"]
    assert m["brier"] == pytest.approx(1.49 / 6) and m["reliability"] == pytest.approx(1.49 / 6)
    assert m["uncertainty"] == pytest.approx(0.875 / 6) and m["resolution"] == pytest.approx(0.875 / 6)


def test_the_event_day_starts_in_the_configured_time_zone(fixed: Store) -> None:
    # In Los Angeles (UTC-7 in summer) 16 June starts at 07:00 UTC: ana's 0.1 at 00:00 UTC now counts (0.9² = 0.81),
    # and C's source p, recorded 06:00 UTC on 10 August, comes before that day's start (0.4² = 0.16).
    r = review(fixed, ZoneInfo("America/Los_Angeles"))
    assert r["by_forecaster"]["ana"]["brier"] == pytest.approx((0.81 + 0.09) / 2)
    assert r["source"]["n"] == 3 and r["source"]["brier"] == pytest.approx((0.09 + 0.16 + 0.16) / 3)
    # team on A: median(0.1, 0.4) = 0.25 -> 0.5625
    assert r["team"]["brier"] == pytest.approx((0.5625 + 0.09 + 0 + 0 + 1) / 5)


def test_a_review_of_an_empty_store_has_no_figures(store: Store) -> None:
    r = review(store)
    assert (r["n_claims"], r["n_forecasts"], r["brier"], r["log_score"], r["murphy"]) == (0, 0, None, None, None)
    assert r["team"] == {"n": 0, "brier": None, "log_score": None, "too_few": True} and r["by_forecaster"] == {}
    assert [b["n"] for b in r["calibration"]] == [0] * 10


def test_too_few_becomes_false_at_min_resolved_claims(store: Store) -> None:

    def claims(k: int) -> dict[str, Any]:
        return {"version": 1, "claims": [
            {"text": f"c{i}", "created": "2024-01-01T00:00:00+00:00",
             "forecasts": [{"by": "ana", "p": 0.9, "at": "2024-01-02T00:00:00+00:00"}],
             "outcome": {"value": "true", "at": "2024-02-01T00:00:00+00:00"}} for i in range(k)]}

    ledger.import_claims(store, claims(MIN_RESOLVED - 1), "x", NOW)
    assert review(store)["by_forecaster"]["ana"]["too_few"] is True and review(store)["too_few"] is True
    ledger.import_claims(store, claims(MIN_RESOLVED), "x", NOW)
    r = review(store)
    assert r["by_forecaster"]["ana"] | {"brier": round(r["by_forecaster"]["ana"]["brier"], 9)} == {
        "n": 5, "brier": 0.01, "log_score": pytest.approx(LN(0.9)), "too_few": False,
        "time_weighted_brier": pytest.approx(0.01), "vs_team": pytest.approx(0.0)}


# --- 3. scopes -----------------------------------------------------------------------------------


def test_parse_scope_reads_tag_analyst_and_source_words() -> None:
    assert ledger.parse_scope("#energy @ana Beijing report".split()) == Scope(
        tag="energy", forecaster="ana", source_words=("Beijing", "report"))
    assert ledger.parse_scope(["#Energy"]) == Scope(tag="energy")
    assert ledger.parse_scope([]) == Scope()
    for bare in (["#"], ["@"]):  # refused, as `stats --tag '#'` and `--by ''` are
        with pytest.raises(InputError):
            ledger.parse_scope(bare)
    assert Scope(tag="energy", forecaster="ana", source_words=("Beijing", "report")).describe() == (
        "#energy, @ana, source “Beijing report”")
    assert Scope().describe() == "all claims"


def test_tag_scope_keeps_only_that_tags_claims(fixed: Store) -> None:
    r = review(fixed, scope=Scope(tag="energy"))  # A and B (D void, E open)
    assert (r["n_claims"], r["n_forecasts"]) == (2, 3)
    assert r["brier"] == pytest.approx(0.49 / 3)
    assert {k: v["n"] for k, v in r["by_forecaster"].items()} == {"ana": 2, "bo": 1}
    assert (r["team"]["n"], r["team"]["brier"]) == (2, pytest.approx(0.125))
    assert (r["source"]["n"], r["source"]["brier"]) == (1, pytest.approx(0.09))
    assert r["scope"] == "#energy"
    with pytest.raises(InputError, match="no claim has the tag #nosuchtag"):  # not an empty review
        review(fixed, scope=Scope(tag="nosuchtag"))


def test_forecaster_scope_keeps_their_claims_with_the_team_and_source_on_them(fixed: Store) -> None:
    r = review(fixed, scope=Scope(forecaster="bo"))  # bo counted on A and C only
    assert list(r["by_forecaster"]) == ["bo"]
    assert (r["n_claims"], r["n_forecasts"], r["brier"]) == (2, 2, pytest.approx(0.18))
    assert r["by_forecaster"]["bo"]["vs_team"] == pytest.approx(0.1)  # the team still includes ana on A
    assert (r["team"]["n"], r["team"]["brier"]) == (2, pytest.approx((0.16 + 0) / 2))
    assert (r["source"]["n"], r["source"]["brier"]) == (1, pytest.approx(0.09))  # A's 0.7; C's came too late
    assert set(r["by_tag"]) == {"energy", "china"} and r["by_tag"]["energy"]["brier"] == pytest.approx(0.36)
    assert sum(b["n"] for b in r["calibration"]) == 2

    ana = review(fixed, scope=Scope(forecaster="ana"))  # A and B
    assert (ana["team"]["n"], ana["team"]["brier"]) == (2, pytest.approx(0.125))
    with pytest.raises(InputError, match="'zed' has made no forecast here"):  # not an empty review
        review(fixed, scope=Scope(forecaster="zed"))


@pytest.mark.parametrize("words, claims", [
    (("beijing",), {"Gas deal signed in June"}),
    (("Beijing", "report"), {"Gas deal signed in June"}),
    (("china.example",), {"Tariffs partly lifted"}),
    (("zhang",), {"Gas deal signed in June"}),  # the author counts too
    (("REUTERS",), {"Bridge opens"}),
    (("Beijing", "wire"), set()),  # every word must occur
])
def test_source_scope_matches_every_word_in_title_url_or_author(fixed: Store, words, claims) -> None:
    result = review(fixed, scope=Scope(source_words=words))
    assert result["n_claims"] == len(claims)
    assert set(result["by_source"]) == {c.source.title or c.source.url or c.source.author
                                        for c in fixed.find_claims() if c.text in claims}
    scored = {"Gas deal signed in June", "Pipeline halted", "Tariffs partly lifted", "Bridge opens", "Port reopens"}
    assert {c.text for c in ledger.resolved_claims(fixed, Scope(source_words=words))} & scored == claims


def test_combined_scope_from_parse_scope(fixed: Store) -> None:
    r = review(fixed, scope=ledger.parse_scope("#energy @ana Beijing report".split()))
    assert (r["n_claims"], r["n_forecasts"], r["brier"]) == (1, 1, pytest.approx(0.04))
    assert (r["team"]["brier"], r["source"]["brier"]) == (pytest.approx(0.16), pytest.approx(0.09))


# --- 4. `claimwatch stats` -----------------------------------------------------------------------


def ok(result):
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding fixed_doc(), imported through the CLI (which then seeds no examples)."""
    root = tmp_path_factory.mktemp("stats")
    (root / "claims.json").write_text(json.dumps(fixed_doc()), "utf-8")
    assert ok(run_cli("import", str(root / "claims.json"), data=root / "data")).stdout.endswith(
        "8 added, 0 updated, 0 unchanged\n")
    return root / "data"


def stats_json(data: Path, *args: str) -> dict[str, Any]:
    return json.loads(ok(run_cli("stats", "--json", *args, data=data)).stdout)


def test_stats_json_has_the_documented_keys_and_figures(imported: Path) -> None:
    r = stats_json(imported)
    for key in ("n_claims", "n_forecasts", "brier", "log_score", "team", "by_forecaster", "calibration", "murphy",
                "source", "by_tag", "by_source", "by_period", "too_few", "scope"):
        assert key in r, key
    assert (r["n_claims"], r["n_forecasts"]) == (5, 6)
    assert r["brier"] == pytest.approx(1.49 / 6)
    assert math.isfinite(r["log_score"])
    assert (r["team"]["n"], r["team"]["brier"]) == (5, pytest.approx(0.25))
    assert set(r["by_forecaster"]) == {"ana", "bo", "cy"}
    for name, brier in (("ana", 0.065), ("bo", 0.18), ("cy", 0.5)):
        f = r["by_forecaster"][name]
        assert {"n", "brier", "log_score"} <= set(f)
        assert (f["n"], f["brier"]) == (2, pytest.approx(brier))
    assert len(r["calibration"]) == 10
    for i, b in enumerate(r["calibration"]):
        assert {"bin_low", "bin_high", "n", "mean_p", "observed"} <= set(b)
        assert (b["bin_low"], b["bin_high"]) == (pytest.approx(i / 10), pytest.approx((i + 1) / 10))
    assert sum(b["n"] for b in r["calibration"]) == 6


def test_stats_tag_and_by_options_narrow_the_review(imported: Path) -> None:
    energy = stats_json(imported, "--tag", "#Energy")
    assert (energy["n_claims"], energy["n_forecasts"], energy["scope"]) == (2, 3, "#energy")
    assert energy["brier"] == pytest.approx(0.49 / 3)
    bo = stats_json(imported, "--by", "bo")
    assert list(bo["by_forecaster"]) == ["bo"]
    assert (bo["n_claims"], bo["n_forecasts"], bo["brier"]) == (2, 2, pytest.approx(0.18))
    assert bo["team"]["n"] == 2


def test_stats_text_marks_small_samples_too_few_to_judge(imported: Path) -> None:
    out = ok(run_cli("stats", data=imported)).stdout
    assert "5 resolved claims, 6 forecasts that count" in out
    assert "Brier 0.248" in out
    assert "Team consensus: Brier 0.250 on 5 claims." in out
    assert "Sources' own probabilities: n = 2, too few to judge (Brier 0.125 so far)." in out
    for name, brier in (("ana", "0.065"), ("bo", "0.180"), ("cy", "0.500")):
        assert f"·  {name}: n = 2, too few to judge (Brier {brier}" in out
    china = ok(run_cli("stats", "--tag", "china", data=imported)).stdout
    assert "— n = 2, too few to judge." in china


def test_stats_text_says_one_forecast_and_one_claim_in_the_singular(store: Store) -> None:
    ledger.import_claims(store, {"claims": [{"text": "Alone", "forecasts": [{"by": "ana", "p": 0.7, "at": "2024-01-01"
                                             "T00:00:00Z"}], "outcome": {"value": "true", "event_date": "2024-02-01"}}]},
                         "x", NOW)
    text = summary_text(review(store))
    assert "1 resolved claim, 1 forecast that counts." in text
    assert "Calibration: underconfident over 1 forecast: 30 points nearer to 50%" in text


def test_stats_text_says_how_many_claims_the_analysts_figures_rest_on(store: Store) -> None:
    outcome = {"value": "true", "event_date": "2024-02-01"}
    ledger.import_claims(store, {"claims": [
        {"text": "Forecast", "forecasts": [{"by": "ana", "p": 0.7, "at": "2024-01-01T00:00:00Z"}], "outcome": outcome},
        {"text": "Sourced", "p": 0.9, "created": "2024-01-01T00:00:00Z", "outcome": outcome}]}, "x", NOW)
    result = review(store)
    assert (result["n_claims"], result["n_claims_forecast"]) == (2, 1)
    text = summary_text(result)
    assert "2 resolved claims, 1 forecast that counts (on 1 of them; the rest scored by the team or source alone)." in text
    assert "— n = 1, too few to judge." in text


def _bin(mean_p: float, observed: float, n: int) -> dict[str, Any]:
    return {"n": n, "mean_p": mean_p, "observed": observed}


@pytest.mark.parametrize("bins, says", [
    ([_bin(0.8, 0.6, 10), _bin(0.2, 0.4, 10)], "overconfident over 20 forecasts: 20 points further from 50%"),
    ([_bin(0.7, 0.9, 4), _bin(0.3, 0.1, 4)], "underconfident over 8 forecasts: 20 points nearer to 50%"),
    ([_bin(0.9, 0.88, 50), _bin(0.5, 0.9, 3)], "close to calibrated over 53 forecasts (within 4 points"),
    ([_bin(0.1, 0.0, 1), _bin(0.2, 0.0, 1), _bin(0.4, 1.0, 1), _bin(0.7, 1.0, 1)],  # errors that do not cancel
     "30 points from what happened on average over 4 forecasts, too sure in some ranges and not sure enough"),
    ([_bin(0.8, 0.6, 10), _bin(0.8, 0.8, 0)], "overconfident over 10 forecasts: 20 points"),  # empty bins weigh nothing
])
def test_calibration_line_says_which_way_the_forecasts_lean(bins: list[dict[str, Any]], says: str) -> None:
    assert calibration_lean(bins).startswith("Calibration: " + says)


# --- 5. the report ---------------------------------------------------------------------------------


class Page(HTMLParser):
    """Checks that table, thead, tbody, tr, th and td nest and close; collects images, headings and rows."""

    NESTED = {"table": {None, "section"}, "thead": {"table"}, "tbody": {"table"}, "tr": {"thead", "tbody", "table"},
              "td": {"tr"}, "th": {"tr"}}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.images: list[str] = []
        self.h2: list[str] = []
        self.section = ""
        self.in_h2 = False
        self.rows: dict[str, list[list[str]]] = {}  # body rows of each section's table, as cell texts
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.images.append(dict(attrs)["src"] or "")
        if tag == "h2":
            self.in_h2 = True
            self.h2.append("")
        if tag in self.NESTED:
            parent = next((t for t in reversed(self.stack)), None)
            if tag != "table" and parent not in self.NESTED[tag]:
                self.errors.append(f"<{tag}> inside <{parent}>")
            if tag == "table" and "table" in self.stack:
                self.errors.append("nested table")
            self.stack.append(tag)
            if tag == "tr" and "tbody" in self.stack:
                self.rows.setdefault(self.section, []).append([])
            if tag == "td":
                self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "h2":
            self.in_h2 = False
            self.section = self.h2[-1]
        if tag in self.NESTED:
            if not self.stack or self.stack[-1] != tag:
                self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
                return
            self.stack.pop()
            if tag == "td" and "tbody" in self.stack:
                self.rows[self.section][-1].append("".join(self.cell or []))
                self.cell = None

    def handle_data(self, data: str) -> None:
        if self.in_h2:
            self.h2[-1] += data
        if self.cell is not None:
            self.cell.append(data)


def parse_page(html: str) -> Page:
    page = Page()
    page.feed(html)
    page.close()
    assert page.errors == [] and page.stack == []
    return page


def png_images(page: Page) -> list[bytes]:
    prefix = "data:image/png;base64,"
    return [base64.b64decode(src[len(prefix):], validate=True) for src in page.images if src.startswith(prefix)]


SECTIONS = ["Calibration", "Brier over time", "Analysts", "Tags", "Sources", "Quarters", "Resolved claims"]


def test_report_on_an_empty_data_directory_says_nothing_is_resolved_yet(tmp_path: Path, data: Path | str) -> None:
    out = tmp_path / "report.html"
    result = ok(run_cli("report", "-o", str(out), data=data))
    assert f"wrote {out}: 0 resolved claims, 0 scored (0 forecasts that count: made before the event)" in result.stderr
    html = out.read_text("utf-8")
    assert html.startswith("<!doctype html>") and html.rstrip().endswith("</html>")
    assert "No resolved claims with forecasts yet." in html
    page = parse_page(html)
    assert page.h2 == SECTIONS
    images = png_images(page)
    assert len(images) == 2 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images)
    assert "No analyst has a resolved forecast yet." in html and "Nothing resolved yet." in html


def large_doc(n: int = 3000) -> dict[str, Any]:
    """n resolved claims, event days one apart (claim i on day i), 4 analysts each, 7 tags, 11 sources."""
    start = date(2015, 1, 1)
    claims = []
    for i in range(n):
        day = start + timedelta(days=i)
        before = datetime.combine(day, time(0), UTC) - timedelta(days=3)
        claims.append({
            "id": f"L{i}", "text": f"Large claim {i} <&>", "tags": [f"tag{i % 7}"],
            "source": {"title": f"Source {i % 11}"}, "created": (before - timedelta(days=30)).isoformat(),
            "p": (i % 11) / 10,
            "forecasts": [{"by": f"analyst{j}", "p": ((i + 3 * j) % 11) / 10, "at": before.isoformat()}
                          for j in range(4)],
            "outcome": {"value": ("true", "false", "partial")[i % 3], "event_date": day.isoformat(),
                        "at": (datetime.combine(day, time(12), UTC)).isoformat()}})
    return {"version": 1, "claims": claims}


def test_report_of_a_large_store_renders_valid_html_with_charts_and_a_capped_list(store: Store) -> None:
    ledger.import_claims(store, large_doc(), "importer", NOW)
    result = review(store)
    assert (result["n_claims"], result["n_forecasts"]) == (3000, 12000)
    html = render(store)
    page = parse_page(html)
    assert page.h2 == SECTIONS
    images = png_images(page)
    assert len(images) >= 2 and all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images)

    assert [row[0] for row in page.rows["Analysts"]] == sorted(
        [f"analyst{j}" for j in range(4)], key=lambda a: result["by_forecaster"][a]["brier"])
    assert [row[1] for row in page.rows["Analysts"]] == ["3000"] * 4
    assert sorted(row[0] for row in page.rows["Tags"]) == [f"tag{k}" for k in range(7)]
    assert sorted(row[0] for row in page.rows["Sources"]) == sorted(f"Source {k}" for k in range(11))
    assert len(page.rows["Calibration"]) == 10  # p in 0, 0.1, ..., 1.0: every bin used

    assert MAX_CLAIMS_LISTED == 1000
    assert f"The {MAX_CLAIMS_LISTED} most recent of 3000 " in html
    listed = [int(row[0]) for row in page.rows["Resolved claims"]]
    assert listed == list(range(3000, 2000, -1))  # the most recent event first; claim i+1 happened on day i
    assert "Large claim 2999 &lt;&amp;&gt;" in html and "Large claim 1999 " not in html


def test_report_of_the_small_store_shows_its_figures(fixed: Store) -> None:
    html = render(fixed)
    page = parse_page(html)
    analysts = {row[0]: row for row in page.rows["Analysts"]}
    assert analysts["ana"][1:3] == ["2", "0.065"] and analysts["bo"][1:3] == ["2", "0.180"]
    assert analysts["ana"][5] == "-0.060" and analysts["bo"][5] == "+0.100"
    assert analysts["ana"][-1] == "n = 2, too few to judge"
    listed = [int(row[0]) for row in page.rows["Resolved claims"]]
    assert {1, 2, 3, 6, 7} <= set(listed) and not {5} & set(listed)  # A B C F G scored; E is open
    assert "most recent of" not in html  # nothing left out


def test_report_tables_align_number_headers_with_their_numbers_and_keep_dates_whole(fixed: Store) -> None:
    html = render(fixed)
    assert "<th>analyst</th><th class=n>claims</th><th class=n>Brier</th>" in html
    assert "<th>#</th><th>claim</th>" in html  # the claims table holds text
    assert "<span class='note date'>2024-06-16</span>" in html and ".date{white-space:nowrap}" in html


# --- 6. ClaimReview --------------------------------------------------------------------------------


def test_claimreview_export_has_only_resolved_claims_with_the_required_fields(fixed: Store) -> None:
    items = json.loads(ledger.export_claims(fixed, "claimreview", NOW, UTC_TZ))
    assert [i["claimReviewed"] for i in items] == [
        "Pipeline halted", "Tariffs partly lifted", "Bridge opens", "Port reopens",
        "Nobody forecast this"]  # A (a forecast, not a claim to check), D (void) and E (open) are left out
    for item in items:
        assert item["@context"] == "https://schema.org" and item["@type"] == "ClaimReview"
        assert item["url"] and item["datePublished"] and item["author"]["name"]
        rating = item["reviewRating"]
        assert (rating["bestRating"], rating["worstRating"]) == (5, 1)
        assert item["itemReviewed"]["@type"] == "Claim"
    by_text = {i["claimReviewed"]: i for i in items}
    ratings = {t: (i["reviewRating"]["ratingValue"], i["reviewRating"]["alternateName"]) for t, i in by_text.items()}
    assert ratings == {"Pipeline halted": (1, "False"),
                       "Tariffs partly lifted": (3, "Partly true"), "Bridge opens": (5, "True"),
                       "Port reopens": (5, "True"), "Nobody forecast this": (5, "True")}

    c = by_text["Tariffs partly lifted"]
    assert (c["datePublished"], c["author"]["name"]) == ("2024-08-12", "fay")
    # a source's title is where the claim appeared, not who made it
    assert by_text["Pipeline halted"]["itemReviewed"] == {
        "@type": "Claim", "appearance": [{"@type": "CreativeWork", "headline": "Moscow wire"}]}
    assert by_text["Nobody forecast this"]["url"] == "http://old.example/h"
    assert by_text["Tariffs partly lifted"]["url"] == "https://china.example/c"  # no evidence: the source's URL
    assert by_text["Tariffs partly lifted"]["itemReviewed"] == {
        "@type": "Claim", "appearance": [{"@type": "CreativeWork", "url": "https://china.example/c"}]}
    assert by_text["Pipeline halted"]["url"] == "urn:claimwatch:claim:B"  # neither: an URN of the claim
    assert by_text["Bridge opens"]["itemReviewed"]["author"] == {"@type": "Person", "name": "Reuters desk"}
    assert by_text["Port reopens"]["itemReviewed"] == {"@type": "Claim"}
    assert "reviewBody" not in by_text["Port reopens"]


# --- 7. CSV ----------------------------------------------------------------------------------------


def test_csv_export_marks_the_forecasts_that_count_and_scores_only_them(fixed: Store) -> None:
    rows = list(csv.DictReader(io.StringIO(ledger.export_claims(fixed, "csv", NOW, UTC_TZ))))
    got = [(r["id"], r["forecaster"], r["p"], r["counts"], r["brier"]) for r in rows]
    assert [(i, by, p, counts) for i, by, p, counts, _ in got] == [
        ("A", "ana", "0.8", "yes"), ("A", "bo", "0.2", "no"), ("A", "bo", "0.4", "yes"),
        ("A", "ana", "0.1", "no"),  # made at the very start of the event's day
        ("A", "ana", "0.05", "no"),
        ("B", "ana", "0.3", "yes"), ("B", "ana", "0.9", "no"),
        ("C", "bo", "0.5", "yes"),
        ("D", "ana", "0.9", ""), ("D", "bo", "0.9", ""),  # void: not scored
        ("E", "ana", "0.6", ""),  # open
        ("F", "cy", "1.0", "yes"), ("G", "cy", "0.0", "yes"),
        ("H", "", "", ""),  # resolved without forecasts: one row, forecast columns empty
    ]
    briers = {(i, by, p): b for i, by, p, counts, b in got}
    assert all(b == "" for (i, by, p, counts, b) in got if counts != "yes")
    expected = {("A", "ana", "0.8"): 0.04, ("A", "bo", "0.4"): 0.36, ("B", "ana", "0.3"): 0.09,
                ("C", "bo", "0.5"): 0.0, ("F", "cy", "1.0"): 0.0, ("G", "cy", "0.0"): 1.0}
    for key, value in expected.items():
        assert float(briers[key]) == pytest.approx(value, abs=1e-6), key
    # the CSV agrees with the review: the scored rows are exactly the review's analyst forecasts
    assert len(expected) == review(fixed)["n_forecasts"]
    assert {r["status"] for r in rows if r["id"] == "E"} == {"open"}


def test_csv_says_no_for_a_late_forecast_even_when_nothing_on_the_claim_counts(store: Store) -> None:
    late = {"created": "2024-01-01T00:00:00+00:00",
            "forecasts": [{"by": "ana", "p": 0.7, "at": "2024-03-01T00:00:00+00:00"}],  # a month after the event
            "outcome": {"value": "true", "event_date": "2024-02-01", "at": "2024-02-02T00:00:00+00:00"}}
    ledger.import_claims(store, {"version": 1, "claims": [{"text": "with a source p", "p": 0.4, **late},
                                                          {"text": "without one", **late}]}, "x", NOW)
    rows = list(csv.DictReader(io.StringIO(ledger.export_claims(store, "csv", NOW, UTC_TZ))))
    assert [(r["text"], r["status"], r["counts"], r["brier"]) for r in rows] == [
        ("with a source p", "resolved", "no", ""), ("without one", "resolved", "no", "")]


def test_forecasts_made_after_the_event_are_said_to_be_left_out_where_it_shows(tmp_path: Path, data: Path | str) -> None:
    """A team back-filling past claims sees why nothing is scored: in resolve's reply, show, stats and the report."""
    number = ledger.add_claim(open_store(data), ledger.NewClaim(text="Summit held in June"), "ann", NOW).id
    for who, p in (("ann", "70%"), ("bo", "60%")):
        assert run_cli("forecast", str(number), p, "--by", who, data=data).returncode == 0
    resolved = run_cli("resolve", str(number), "true", "--date", "2024-06-30", data=data)
    late = "2 forecasts (ann, bo) were made after the event (2024-06-30), so they are not scored (hindsight)."
    assert resolved.stdout.splitlines() == [f"#{number} resolved: true", late]
    assert late in run_cli("show", str(number), data=data).stdout
    assert "2 forecasts on resolved claims were made after the event, so not scored" in run_cli("stats", data=data).stdout
    assert "1 forecast on resolved claims was made after the event" in run_cli("stats", "--by", "bo", data=data).stdout
    report = run_cli("report", "-o", str(tmp_path / "r.html"), data=data)
    assert report.returncode == 0 and ": 1 resolved claim, 0 scored (0 forecasts that count" in report.stderr
    assert "2 forecasts on resolved claims were " in (tmp_path / "r.html").read_text("utf-8")


def test_report_never_leaves_claims_out_of_its_list_silently(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: Path | str) -> None:
    doc = large_doc(MAX_CLAIMS_LISTED - 10)  # 990 scored claims, on days 0..989
    start = date(2015, 1, 1) + timedelta(days=MAX_CLAIMS_LISTED)
    doc["claims"] += [{"text": f"Void claim {k}", "created": "2014-01-01T00:00:00+00:00",
                       "outcome": {"value": "void", "event_date": (start + timedelta(days=k)).isoformat(),
                                   "at": "2020-01-01T00:00:00+00:00"}} for k in range(20)]  # the most recent events
    ledger.import_claims(open_store(data), doc, "importer", NOW)
    for name in [k for k in os.environ if k.startswith("CLAIMWATCH_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CLAIMWATCH_DATA", str(data))
    monkeypatch.chdir(tmp_path)
    assert cli.main(["report", "-o", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text("utf-8")
    page = parse_page(html)
    listed = {int(row[0]) for row in page.rows["Resolved claims"]}
    assert len(listed) == MAX_CLAIMS_LISTED and set(range(991, 1011)) <= listed  # the void claims are listed
    missing = sorted(set(range(1, 991)) - listed)  # scored claims are numbers 1..990, in import order
    assert missing == [] or "most recent of" in html, f"scored claims {missing} left out without a note"
