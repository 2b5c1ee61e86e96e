"""Forecast accuracy review: which forecasts count, and the figures per analyst, tag, source and period.

Three kinds of forecaster are scored on each resolved claim that is not void:
- each analyst, by their last forecast made before the event (scores.counted_forecast);
- the team consensus, the median of those analysts' forecasts;
- the source, by the probability the claim carried when it was recorded (`claim.p`).
Figures resting on fewer than MIN_RESOLVED claims are marked too few to judge.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from claimwatch import scores
from claimwatch.model import Claim, Outcome

MIN_RESOLVED = 5
TEAM = "team consensus"
SOURCE = "source"


@dataclass(frozen=True)
class Scored:
    """One counted forecast on one resolved claim."""

    claim: Claim
    kind: str  # "analyst", "team" or "source"
    forecaster: str
    p: float
    o: float
    brier: float
    log_score: float
    time_weighted: float | None = None  # analysts only


def cutoff(outcome: Outcome, tz: ZoneInfo) -> datetime:
    """Forecasts count if made before this: the start of the event's day, else when the outcome was recorded."""
    if outcome.event_date is None:
        return outcome.at
    return datetime.combine(outcome.event_date, time(0), tz)


def score_claims(claims: Iterable[Claim], tz: ZoneInfo) -> list[Scored]:
    scored: list[Scored] = []
    for claim in claims:
        o = scores.outcome_code(claim.outcome.value) if claim.outcome else None
        if o is None:
            continue
        assert claim.outcome is not None
        end = cutoff(claim.outcome, tz)
        by_forecaster: dict[str, list] = defaultdict(list)
        for f in claim.forecasts:
            by_forecaster[f.by].append(f)
        counted = []
        for name, made in by_forecaster.items():
            f = scores.counted_forecast(made, end)
            if f is not None:
                counted.append(f.p)
                scored.append(Scored(claim, "analyst", name, f.p, o, scores.brier(f.p, o), scores.log_score(f.p, o),
                                     scores.time_weighted_brier(made, o, end)))
        team = scores.consensus(counted)
        if team is not None:
            scored.append(Scored(claim, "team", TEAM, team, o, scores.brier(team, o), scores.log_score(team, o)))
        if claim.p is not None and claim.created_at < end:
            scored.append(Scored(claim, "source", source_label(claim), claim.p, o, scores.brier(claim.p, o),
                                 scores.log_score(claim.p, o)))
    return scored


def source_label(claim: Claim) -> str:
    return claim.source.title or claim.source.url or claim.source.author or "(no source)"


@dataclass(frozen=True)
class Scope:
    """Which part of the record to review; everything when empty."""

    tag: str | None = None
    forecaster: str | None = None
    source_words: tuple[str, ...] = ()

    def describe(self) -> str:
        parts = ([f"#{self.tag}"] if self.tag else []) + ([f"@{self.forecaster}"] if self.forecaster else [])
        parts += [f"source “{' '.join(self.source_words)}”"] if self.source_words else []
        return ", ".join(parts) or "all claims"

    def keeps(self, claim: Claim) -> bool:
        if self.tag and self.tag not in claim.tags:
            return False
        if self.source_words:
            hay = f"{claim.source.title} {claim.source.url} {claim.source.author}".casefold()
            return all(w.casefold() in hay for w in self.source_words)
        return True


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _figures(rows: list[Scored]) -> dict[str, Any]:
    n = len({r.claim.id for r in rows})
    return {"n": n, "brier": _mean([r.brier for r in rows]), "log_score": _mean([r.log_score for r in rows]),
            "too_few": n < MIN_RESOLVED}


def review(scored: list[Scored], scope: Scope = Scope()) -> dict[str, Any]:
    """Every figure of a review, as the JSON that `claimwatch stats --json` prints."""
    rows = [r for r in scored if scope.keeps(r.claim)]
    if scope.forecaster:
        theirs = {r.claim.id for r in rows if r.kind == "analyst" and r.forecaster == scope.forecaster}
        rows = [r for r in rows if r.claim.id in theirs and (r.kind != "analyst" or r.forecaster == scope.forecaster)]
    analysts = [r for r in rows if r.kind == "analyst"]
    team = {r.claim.id: r for r in rows if r.kind == "team"}
    by_forecaster: dict[str, list[Scored]] = defaultdict(list)
    for r in analysts:
        by_forecaster[r.forecaster].append(r)
    forecasters = {}
    for name, own in sorted(by_forecaster.items()):
        figures = _figures(own)
        figures["time_weighted_brier"] = _mean([r.time_weighted for r in own if r.time_weighted is not None])
        figures["vs_team"] = _mean([r.brier - team[r.claim.id].brier for r in own])  # < 0: better than the team
        forecasters[name] = figures
    claims = {r.claim.id for r in rows}
    pairs = [(r.p, r.o) for r in analysts]
    decomposition = scores.murphy(pairs)
    return {
        "scope": scope.describe(),
        "n_claims": len(claims),
        "n_forecasts": len(analysts),
        "brier": _mean([r.brier for r in analysts]),
        "log_score": _mean([r.log_score for r in analysts]),
        "time_weighted_brier": _mean([r.time_weighted for r in analysts if r.time_weighted is not None]),
        "too_few": len({r.claim.id for r in analysts}) < MIN_RESOLVED,
        "min_resolved": MIN_RESOLVED,
        "team": _figures(list(team.values())),
        "source": _figures([r for r in rows if r.kind == "source"]),
        "by_forecaster": forecasters,
        "by_tag": _breakdown(rows, lambda r: r.claim.tags),
        "by_source": _breakdown(rows, lambda r: (source_label(r.claim),)),
        "by_period": _breakdown(rows, lambda r: (_quarter(r.claim),)),
        "calibration": [{"bin_low": b.low, "bin_high": b.high, "n": b.n, "mean_p": b.mean_p, "observed": b.observed,
                         "wilson_low": b.interval[0], "wilson_high": b.interval[1]} for b in scores.calibration(pairs)],
        "murphy": None if decomposition is None else {
            "brier": decomposition.brier, "reliability": decomposition.reliability,
            "resolution": decomposition.resolution, "uncertainty": decomposition.uncertainty},
    }


def _quarter(claim: Claim) -> str:
    assert claim.outcome is not None
    day = claim.outcome.event_date or claim.outcome.at.date()
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def _breakdown(rows: list[Scored], keys: Any) -> dict[str, dict[str, Any]]:
    """Per key: the analysts' figures, with the team's and the source's Brier on the same claims."""
    grouped: dict[str, list[Scored]] = defaultdict(list)
    for r in rows:
        for key in keys(r):
            grouped[key].append(r)
    out = {}
    for key, group in sorted(grouped.items()):
        figures = _figures([r for r in group if r.kind == "analyst"])
        figures["team_brier"] = _mean([r.brier for r in group if r.kind == "team"])
        figures["source_brier"] = _mean([r.brier for r in group if r.kind == "source"])
        out[key] = figures
    return out


# --- text for people -------------------------------------------------------------------------


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def judged(figures: dict[str, Any], what: str = "Brier") -> str:
    """'Brier 0.182 on 12 claims', or 'n = 3, too few to judge'."""
    if figures["n"] == 0:
        return "no resolved claims yet"
    if figures["too_few"]:
        return f"n = {figures['n']}, too few to judge (Brier {_num(figures['brier'])} so far)"
    return f"{what} {_num(figures['brier'])} on {figures['n']} claims"


def summary_text(result: dict[str, Any]) -> str:
    """A short summary for chat and the terminal (plain text; escape it for HTML)."""
    if result["n_forecasts"] == 0:
        return (f"Forecast accuracy ({result['scope']}): no resolved claims with forecasts yet. Scores appear once "
                "claims are resolved (true, false or partial) and someone forecast them before the event.")
    lines = [f"Forecast accuracy ({result['scope']}): {result['n_claims']} resolved claims, "
             f"{result['n_forecasts']} forecasts that count.",
             f"Brier {_num(result['brier'])} (0 is perfect, 0.25 is always saying 50%), "
             f"log score {_num(result['log_score'], 2)}, time-weighted Brier {_num(result['time_weighted_brier'])}"
             + (f" — n = {result['n_claims']}, too few to judge" if result["too_few"] else "") + ".",
             f"Team consensus: {judged(result['team'])}.",
             f"Sources' own probabilities: {judged(result['source'])}."]
    best = [b for b in result["calibration"] if b["n"]]
    if best:
        widest = max(best, key=lambda b: b["n"])
        lines.append(f"Calibration: of {widest['n']} forecasts between {widest['bin_low']:.0%} and "
                     f"{widest['bin_high']:.0%}, {widest['observed']:.0%} came true.")
    return "\n".join(lines)


def leaderboard_text(result: dict[str, Any]) -> str:
    ranked = sorted(result["by_forecaster"].items(), key=lambda kv: (kv[1]["too_few"], kv[1]["brier"]))
    if not ranked:
        return "No analyst has a resolved forecast yet."
    lines = ["Analysts by Brier score (lower is better); Δ team is the difference from the team consensus on the "
             "same claims (negative: better than the team):"]
    for i, (name, f) in enumerate(ranked, 1):
        delta = f"{f['vs_team']:+.3f}" if f["vs_team"] is not None else "—"
        if f["too_few"]:
            lines.append(f"·  {name}: n = {f['n']}, too few to judge (Brier {_num(f['brier'])}, Δ team {delta})")
        else:
            lines.append(f"{i}. {name}: Brier {_num(f['brier'])}, n = {f['n']}, Δ team {delta}")
    return "\n".join(lines)
