"""The score functions against hand-computed tables, and their invariants on random data."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claimwatch import scores
from claimwatch.model import Forecast, OutcomeValue

from conftest import NOW

H = timedelta(hours=1)


@pytest.mark.parametrize("p, o, expected", [
    (0.7, 1, 0.09), (0.7, 0, 0.49), (0.7, 0.5, 0.04), (0.5, 1, 0.25), (0.5, 0.5, 0.0),
    (0.0, 0, 0.0), (0.0, 1, 1.0), (1.0, 1, 0.0), (1.0, 0, 1.0), (1.0, 0.5, 0.25), (0.2, 0, 0.04),
])
def test_brier_table(p: float, o: float, expected: float) -> None:
    assert scores.brier(p, o) == pytest.approx(expected)


@pytest.mark.parametrize("p, o, expected", [
    (0.7, 1, math.log(0.7)), (0.7, 0, math.log(0.3)), (0.5, 1, math.log(0.5)),
    (0.8, 0.5, 0.5 * math.log(0.8) + 0.5 * math.log(0.2)),  # partial: half of each
    (1.0, 1, math.log(0.99)), (0.0, 1, math.log(0.01)),  # clipped to [0.01, 0.99], never -inf
    (0.0, 0, math.log(0.99)), (1.0, 0, math.log(0.01)), (0.995, 1, math.log(0.99)),
])
def test_log_score_table(p: float, o: float, expected: float) -> None:
    assert scores.log_score(p, o) == pytest.approx(expected)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf"), "0.5", None])
def test_scores_reject_probabilities_outside_0_1(bad: object) -> None:
    for score in (scores.brier, scores.log_score):
        with pytest.raises(ValueError, match="within \\[0, 1\\]"):
            score(bad, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        scores.calibration([(bad, 1)])  # type: ignore[list-item]
    with pytest.raises(ValueError):
        scores.consensus([0.5, bad])  # type: ignore[list-item]


def test_outcome_codes() -> None:
    assert [scores.outcome_code(v) for v in OutcomeValue] == [1.0, 0.0, 0.5, None]


def test_the_last_forecast_before_the_event_counts() -> None:
    made = [Forecast("a", 0.2, NOW), Forecast("a", 0.6, NOW + 2 * H), Forecast("a", 0.99, NOW + 5 * H)]
    assert scores.counted_forecast(made, NOW + 3 * H).p == 0.6  # 0.99 came after the event
    assert scores.counted_forecast(made, NOW + 2 * H).p == 0.2  # made at the cutoff: too late
    assert scores.counted_forecast(made, NOW) is None


def test_time_weighted_brier_weights_each_forecast_by_how_long_it_stood() -> None:
    made = [Forecast("a", 0.5, NOW), Forecast("a", 0.9, NOW + 3 * H), Forecast("a", 0.0, NOW + 9 * H)]
    # o = 1, event at +4h: 0.5 stood 3 h (0.25), 0.9 stood 1 h (0.01); the 0.0 came after the event
    assert scores.time_weighted_brier(made, 1, NOW + 4 * H) == pytest.approx((3 * 0.25 + 1 * 0.01) / 4)
    # starting late is not rewarded: one forecast an hour before the event scores its plain Brier
    assert scores.time_weighted_brier([Forecast("b", 0.9, NOW + 3 * H)], 1, NOW + 4 * H) == pytest.approx(0.01)
    assert scores.time_weighted_brier(made, 1, NOW) is None


def test_consensus_is_the_median() -> None:
    assert scores.consensus([0.2, 0.9, 0.4]) == 0.4
    assert scores.consensus([0.2, 0.4]) == pytest.approx(0.3)
    assert scores.consensus([]) is None


@pytest.mark.parametrize("k, n, low, high", [
    (0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (1, 1, 0.2065, 1.0), (0, 0, 0.0, 1.0),
])
def test_wilson_interval_table(k: int, n: int, low: float, high: float) -> None:
    assert scores.wilson_interval(k, n) == pytest.approx((low, high), abs=1e-4)


def test_calibration_bins_by_tenths() -> None:
    pairs = [(0.05, 0), (0.1, 1), (0.15, 0), (0.95, 1), (1.0, 1), (1.0, 0.5)]
    bins = scores.calibration(pairs)
    assert [(b.low, b.high, b.n) for b in bins[:2]] == [(0.0, 0.1, 1), (0.1, 0.2, 2)]
    assert bins[1].mean_p == pytest.approx(0.125) and bins[1].observed == 0.5
    assert (bins[9].n, bins[9].observed) == (3, pytest.approx(2.5 / 3))  # 1.0 falls in the top bin; partial is half
    assert [b.n for b in bins[2:9]] == [0] * 7 and bins[5].mean_p is None


def test_murphy_decomposition_by_hand() -> None:
    # p = 0.8 twice (one true, one false), p = 0.2 once (false): obar = 1/3
    d = scores.murphy([(0.8, 1), (0.8, 0), (0.2, 0)])
    assert d.brier == pytest.approx((0.04 + 0.64 + 0.04) / 3)
    assert d.reliability == pytest.approx((2 * 0.3 ** 2 + 0.2 ** 2) / 3)
    assert d.resolution == pytest.approx((2 * (0.5 - 1 / 3) ** 2 + (0 - 1 / 3) ** 2) / 3)
    assert d.uncertainty == pytest.approx((1 / 3) * (2 / 3))
    assert scores.murphy([]) is None


probability = st.one_of(st.sampled_from([0.0, 1.0, 0.5]), st.floats(0, 1), st.integers(0, 20).map(lambda i: i / 20))
pairs = st.lists(st.tuples(probability, st.sampled_from([0.0, 1.0, 0.5])), min_size=1, max_size=60)


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_murphy_identity_holds(data: list[tuple[float, float]]) -> None:
    d = scores.murphy(data)
    assert d.brier == pytest.approx(d.reliability - d.resolution + d.uncertainty, abs=1e-12)
    assert d.brier == pytest.approx(sum((p - o) ** 2 for p, o in data) / len(data))
    assert d.reliability >= 0 and d.resolution >= 0 and d.uncertainty >= 0


@settings(max_examples=300, deadline=None)
@given(pairs)
def test_calibration_bins_sum_to_the_forecasts(data: list[tuple[float, float]]) -> None:
    bins = scores.calibration(data)
    assert len(bins) == 10 and sum(b.n for b in bins) == len(data)
    for b in bins:
        if b.n:
            assert b.low - 1e-9 <= b.mean_p <= b.high + 1e-9  # a mean of floats may fall a hair outside
            assert b.interval[0] <= b.observed <= b.interval[1]


@settings(deadline=None)
@given(probability, st.sampled_from([0.0, 1.0]))
def test_scores_are_proper_for_binary_outcomes(p: float, o: float) -> None:
    # honest extremes score best: the right certainty beats any hedge
    assert scores.brier(o, o) <= scores.brier(p, o)
    assert scores.log_score(o, o) >= scores.log_score(p, o)
