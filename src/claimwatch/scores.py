"""Proper scores for probability forecasts of yes/no events. Pure functions, no I/O.

An outcome is coded o = 1 (true), 0 (false) or 0.5 (partial); void claims are not scored.
Every function validates its input and raises ValueError for a probability outside [0, 1].
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from claimwatch.model import OutcomeValue

LOG_SCORE_CLIP = 0.01  # log scores clip p to [0.01, 0.99]: one certain miss costs ln(0.01) = -4.61, not -inf
OUTCOME_CODES = {OutcomeValue.TRUE: 1.0, OutcomeValue.FALSE: 0.0, OutcomeValue.PARTIAL: 0.5}


class Timed(Protocol):
    """A forecast: a probability made at a time (model.Forecast is one)."""

    @property
    def p(self) -> float: ...
    @property
    def at(self) -> datetime: ...


F = TypeVar("F", bound=Timed)


def _valid(p: float, o: float = 0.0) -> bool:
    # chained comparisons: NaN compares false, a non-number raises TypeError
    try:
        return 0 <= p <= 1 and 0 <= o <= 1
    except TypeError:
        return False


def _invalid(p: float, o: float = 0.0) -> ValueError:
    if not (isinstance(p, int | float) and 0 <= p <= 1):
        return ValueError(f"a probability must be within [0, 1], not {p!r}")
    return ValueError(f"an outcome must be within [0, 1], not {o!r}")


def outcome_code(value: OutcomeValue) -> float | None:
    """1 for true, 0 for false, 0.5 for partial, None for void (not scored)."""
    return OUTCOME_CODES.get(value)


def brier(p: float, o: float) -> float:
    """Brier score on the 0-1 scale: (p - o)^2. 0 is perfect, 0.25 is always saying 50%, 1 is certain and wrong.

    Brier, G. W. (1950), "Verification of forecasts expressed in terms of probability",
    Monthly Weather Review 78(1): 1-3.
    """
    if not _valid(p, o):
        raise _invalid(p, o)
    return (p - o) ** 2


def log_score(p: float, o: float, clip: float = LOG_SCORE_CLIP) -> float:
    """Logarithmic score: o ln(p) + (1 - o) ln(1 - p), i.e. ln(p) if true and ln(1 - p) if false,
    with p clipped to [clip, 1 - clip]. 0 is perfect; higher (closer to 0) is better.

    Good, I. J. (1952), "Rational decisions", Journal of the Royal Statistical Society B 14(1): 107-114.
    """
    if not _valid(p, o):
        raise _invalid(p, o)
    q = clip if p < clip else 1 - clip if p > 1 - clip else p
    if o == 1 or o == 0:  # one logarithm for the usual yes/no outcome
        return math.log(q if o == 1 else 1 - q)
    return o * math.log(q) + (1 - o) * math.log(1 - q)


def counted_forecast(forecasts: Iterable[F], cutoff: datetime) -> F | None:
    """The forecast that counts: the last one made before `cutoff` (the event's date, or the time the
    outcome was recorded when no event date is given). Later forecasts are hindsight and do not count."""
    last = None
    for f in forecasts:  # of two made at the same time, the later one given, as Claim.current_forecasts does
        if f.at < cutoff and (last is None or f.at >= last.at):
            last = f
    return last


def time_weighted_brier(forecasts: Iterable[Timed], o: float, cutoff: datetime) -> float | None:
    """The Brier score averaged over time, from the forecaster's first forecast to `cutoff`:

        sum_j (p_j - o)^2 * (t_{j+1} - t_j) / (cutoff - t_1),   with t_{k+1} = cutoff,

    each forecast weighted by how long it stood. The period starts at the forecaster's own first
    forecast, so forecasting late is not rewarded (as it would be if the days before a first forecast
    were scored as zero) and not punished either. None if nothing was forecast before `cutoff`.
    """
    made = [f for f in forecasts if f.at < cutoff]
    if len(made) < 2:  # the common case: one forecast stood the whole period
        return brier(made[0].p, o) if made else None
    made.sort(key=lambda f: f.at)
    total = (cutoff - made[0].at).total_seconds()
    ends = [f.at for f in made[1:]] + [cutoff]
    return sum(brier(f.p, o) * (end - f.at).total_seconds() for f, end in zip(made, ends, strict=True)) / total


def consensus(probabilities: Sequence[float]) -> float | None:
    """The team's view: the median of its members' forecasts (robust to one extreme member)."""
    for p in probabilities:
        if not _valid(p):
            raise _invalid(p)
    return statistics.median(probabilities) if probabilities else None


def wilson_interval(successes: float, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval (95% by default) for a proportion successes / n.

    Wilson, E. B. (1927), "Probable inference, the law of succession, and statistical inference",
    JASA 22(158): 209-212. (0, 1) when n = 0.
    """
    if n == 0:
        return 0.0, 1.0
    phat = successes / n
    centre = phat + z * z / (2 * n)
    spread = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    low, high = (centre - spread) / denominator, (centre + spread) / denominator
    return max(0.0, min(low, phat)), min(1.0, max(high, phat))  # rounding must not leave phat outside


@dataclass(frozen=True)
class Bin:
    low: float
    high: float
    n: int
    mean_p: float | None
    observed: float | None  # the mean outcome in the bin
    interval: tuple[float, float]  # Wilson 95% interval of `observed`


def calibration(pairs: Sequence[tuple[float, float]], bins: int = 10) -> list[Bin]:
    """Forecasts (p, o) in `bins` equal bins of p ([0, 0.1), ..., [0.9, 1.0]): how often what was
    forecast at about p happened. A partial outcome counts as half an occurrence."""
    groups: list[list[tuple[float, float]]] = [[] for _ in range(bins)]
    index: dict[tuple[float, float], int] = {}  # each pair's bin, checked and worked out once: pairs repeat a lot
    for p, o in pairs:
        pair = (p, o)
        try:
            i = index.get(pair)
        except TypeError:  # unhashable, so not a number: _valid says so
            i = None
        if i is None:
            if not _valid(p, o):
                raise _invalid(p, o)
            i = index[pair] = min(int(round(p * bins, 9)), bins - 1)  # round: 0.3 * 10 may be 2.9999...
        groups[i].append(pair)
    result = []
    for i, group in enumerate(groups):
        n = len(group)
        hits = sum([o for _, o in group])
        result.append(Bin(i / bins, (i + 1) / bins, n, sum([p for p, _ in group]) / n if n else None,
                          hits / n if n else None, wilson_interval(hits, n)))
    return result


@dataclass(frozen=True)
class Decomposition:
    """Murphy's partition of the Brier score: brier = reliability - resolution + uncertainty."""

    brier: float
    reliability: float  # how far forecasts are from what happened at that level; lower is better
    resolution: float  # how much forecasts tell apart what happened from the base rate; higher is better
    uncertainty: float  # the variance of the outcomes: what no forecaster can remove


def murphy(pairs: Sequence[tuple[float, float]]) -> Decomposition | None:
    """Murphy's decomposition over the distinct forecast values, so the identity holds exactly:

        BS  = 1/N sum_i (p_i - o_i)^2
        REL = 1/N sum_k n_k (p_k - obar_k)^2
        RES = 1/N sum_k n_k (obar_k - obar)^2
        UNC = 1/N sum_i (o_i - obar)^2        (= obar (1 - obar) when every outcome is 0 or 1)

    Murphy, A. H. (1973), "A new vector partition of the probability score",
    Journal of Applied Meteorology 12(4): 595-600. None when there are no pairs.
    """
    if not pairs:
        return None
    groups: dict[float, list[float]] = {}
    checked: set[tuple[float, float]] = set()  # each distinct pair checked once: pairs repeat a lot
    for p, o in pairs:
        pair = (p, o)
        try:
            seen = pair in checked
        except TypeError:  # unhashable, so not a number: _valid says so
            seen = False
        if not seen:
            if not _valid(p, o):
                raise _invalid(p, o)
            checked.add(pair)
        groups.setdefault(p, []).append(o)
    n = len(pairs)
    obar = sum([o for _, o in pairs]) / n
    reliability = sum(len(os) * (p - sum(os) / len(os)) ** 2 for p, os in groups.items()) / n
    resolution = sum(len(os) * (sum(os) / len(os) - obar) ** 2 for os in groups.values()) / n
    uncertainty = sum([(o - obar) ** 2 for _, o in pairs]) / n
    return Decomposition(sum([(p - o) ** 2 for p, o in pairs]) / n, reliability, resolution, uncertainty)
