"""Forecast accuracy review: which forecasts count, and the figures per analyst, tag, source and period.

Three kinds of forecaster are scored on each resolved claim that is not void:
- each analyst, by their last forecast made before the event (scores.counted_forecast);
- the team consensus, the median of those analysts' forecasts;
- the source, by the probability the claim carried when it was recorded (`claim.p`).
Figures resting on fewer than MIN_RESOLVED claims are marked too few to judge.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from claimwatch import scores
from claimwatch.model import parse_datetime

MIN_RESOLVED = 5
TEAM = "team consensus"


class Scored(NamedTuple):  # a tuple: there are as many of these as forecasts
    """One counted forecast on one resolved claim."""

    claim: int
    kind: str  # "analyst", "team" or "source"
    forecaster: str
    p: float
    o: float
    brier: float
    log_score: float
    at: datetime | None = None  # when the counted forecast was made (None for the team's)
    time_weighted: float | None = None  # analysts only
    who: str = ""  # an analyst's stable identity when `forecaster` is only their name as shown (model.Forecast)


_CODES = {value.value: code for value, code in scores.OUTCOME_CODES.items()}  # "true" -> 1.0 ...


class _Made(NamedTuple):
    p: float
    at: datetime


def cutoff(outcome: dict[str, Any], tz: ZoneInfo) -> datetime:
    """Forecasts count if made before this: the start of the event's day, else when the outcome was recorded.

    `outcome` is in the dict form (model.outcome_to_dict)."""
    if outcome.get("event_date"):
        return datetime.combine(date.fromisoformat(outcome["event_date"]), time(0), tz)
    return parse_datetime(outcome["at"])


def score_claim(number: int, claim: dict[str, Any], tz: ZoneInfo) -> list[Scored]:
    """The counted forecasts of one claim in the dict form (model.claim_to_dict); [] unless resolved, not void."""
    return _score(number, claim, tz)[0]


def late_forecasts(claim: dict[str, Any], tz: ZoneInfo) -> list[dict[str, Any]]:
    """The forecasts of a scored claim (resolved, not void; dict form) made at or after the event (see cutoff):
    hindsight, so never scored. Said wherever it matters, so a back-filled record does not look empty for no reason."""
    return _score(0, claim, tz)[1]


def _score(number: int, claim: dict[str, Any], tz: ZoneInfo) -> tuple[list[Scored], list[dict[str, Any]]]:
    """score_claim's rows and late_forecasts' forecasts, from one pass over the forecasts (review needs both)."""
    outcome = claim["outcome"]
    o = _CODES.get(outcome["value"]) if outcome else None
    if o is None:
        return [], []
    # in UTC, the zone forecasts are stored in: comparing times in one tzinfo skips asking each for its offset
    # (0.2 us a comparison with a ZoneInfo, 90k comparisons in a review)
    end = cutoff(outcome, tz).astimezone(UTC)
    # (p, at) of each forecaster's forecasts made before the event, by identity: plain tuples, as there are as many
    # as forecasts (100k in a review); a forecaster's several are made _Made only to choose the one that counts
    before: dict[str, list[tuple[float, datetime]]] = {}
    shown: dict[str, str] = {}  # identity -> the name its latest forecast here was made under
    late = []
    for f in claim["forecasts"]:
        if f.get("withdrawn"):  # withdrawn by its author: in the history, never scored
            continue
        at = parse_datetime(f["at"])
        if at < end:
            by = f["by"]
            who = f.get("who") or by
            made = before.get(who)
            if made is None:
                before[who] = [(f["p"], at)]
            else:
                made.append((f["p"], at))
            shown[who] = by
        else:
            late.append(f)
    rows = []
    for who, made in before.items():
        name = shown[who]
        if len(made) == 1:  # the usual case: it counts, and it stood for the whole period
            p, at = made[0]
            score, log = _scores(p, o)
            weighted = score
        else:
            forecasts = [_Made(p, at) for p, at in made]
            p, at = scores.counted_forecast(forecasts, end)  # type: ignore[misc]
            (score, log), weighted = _scores(p, o), scores.time_weighted_brier(forecasts, o, end)
        rows.append(_scored((number, "analyst", name, p, o, score, log, at, weighted, who if who != name else "")))
    team = scores.consensus([r.p for r in rows])
    if team is not None:
        rows.append(Scored(number, "team", TEAM, team, o, *_scores(team, o)))
    p = claim["p"]
    if p is not None:
        created = parse_datetime(claim["created"])
        if created < end:
            rows.append(Scored(number, "source", source_label(claim), p, o, *_scores(p, o), created))
    return rows, late


@functools.lru_cache(maxsize=65536)
def _scores(p: float, o: float) -> tuple[float, float]:
    """The Brier and log scores of p for outcome o, each pair worked out once: forecasts take a few hundred values
    (0.7, 0.15 ...), and a review scores 100k of them. (1 and 1.0 share an entry: their scores are the same floats.)"""
    return scores.brier(p, o), scores.log_score(p, o)


# A Scored from all its fields at once, without the Python-level __new__ a NamedTuple's constructor runs (a third of
# the time of making 100k of them): for the analysts' rows, the many; the few others take Scored's defaults
_scored = functools.partial(tuple.__new__, Scored)


def source_label(claim: dict[str, Any]) -> str:
    s = claim["source"]
    return s["title"] or s["url"] or s["author"] or "(no source)"


def quarter(claim: dict[str, Any]) -> str:
    """The quarter in which a resolved claim's event happened, e.g. 2024-Q2."""
    outcome = claim["outcome"]
    day = outcome.get("event_date") or outcome["at"]  # both start with YYYY-MM
    return f"{day[:4]}-Q{(int(day[5:7]) - 1) // 3 + 1}"


@dataclass(frozen=True)
class Scope:
    """Which part of the record to review; everything when empty."""

    tag: str | None = None
    forecaster: str | None = None  # an analyst's identity (Forecast.forecaster; ledger.check_scope finds it by name)
    source_words: tuple[str, ...] = ()
    typed: str | None = None  # the analyst as the user named them, shown instead of the identity found for it

    def describe(self) -> str:
        analyst = self.typed or self.forecaster
        parts = ([f"#{self.tag}"] if self.tag else []) + ([f"@{analyst}"] if analyst else [])
        parts += [f"source “{' '.join(self.source_words)}”"] if self.source_words else []
        return ", ".join(parts) or "all claims"

    def keeps(self, claim: dict[str, Any]) -> bool:
        if self.tag and self.tag not in claim["tags"]:
            return False
        if self.source_words:
            s = claim["source"]
            hay = f"{s['title']} {s['url']} {s['author']}".casefold()
            return all(w.casefold() in hay for w in self.source_words)
        return True


class _Tally:
    """Running sums for one line of the review."""

    __slots__ = ("claims", "n", "brier", "log", "weighted", "weighted_n", "vs_team", "team", "source")

    def __init__(self) -> None:
        self.claims = self.n = self.weighted_n = 0
        self.brier = self.log = self.weighted = self.vs_team = 0.0
        self.team: list[float] = []
        self.source: list[float] = []

    def add_claim(self, n: int, brier: float, log: float, weighted: float, weighted_n: int, vs_team: float,
                  team: float | None, source: float | None) -> None:
        """One claim's sums: its analysts' (n of them), and the team's and the source's Brier."""
        if n:
            self.claims += 1
            self.n += n
            self.brier += brier
            self.log += log
            self.weighted += weighted
            self.weighted_n += weighted_n
            self.vs_team += vs_team
        if team is not None:
            self.team.append(team)
        if source is not None:
            self.source.append(source)

    def add_row(self, row: Scored, team: Scored | None) -> None:
        self.n += 1
        self.brier += row.brier
        self.log += row.log_score
        if row.time_weighted is not None:
            self.weighted += row.time_weighted
            self.weighted_n += 1
        if team is not None:
            self.vs_team += row.brier - team.brier

    def figures(self) -> dict[str, Any]:
        n = self.n
        return {"n": self.claims, "brier": self.brier / n if n else None, "log_score": self.log / n if n else None,
                "too_few": self.claims < MIN_RESOLVED}


def _shown_name(who: str, names: dict[str, tuple[datetime, str]], everyone: dict[str, Any]) -> str:
    """An analyst's line in a review: the name they last forecast under, with their identity when another
    analyst goes by that name too (a command-line name, or a Telegram name that changed hands)."""
    name = names[who][1] if who in names else who
    shared = any(other != who and names.get(other, (None, other))[1] == name for other in everyone)
    return f"{name} ({who})" if shared and who != name else name


def review(claims: Iterable[tuple[int, dict[str, Any]]], tz: ZoneInfo, scope: Scope = Scope()) -> dict[str, Any]:
    """Every figure of a review of the claims (number, dict form), as `claimwatch stats --json` prints it.

    One pass keeping sums, not rows: each claim's rows are summed once, then added to the lines it
    belongs to (all, its tags, its source, its quarter), so 100k forecasts take well under a second.
    """
    overall = _Tally()
    forecasters: dict[str, _Tally] = defaultdict(_Tally)  # by identity
    names: dict[str, tuple[datetime, str]] = {}  # identity -> (when, the name it last forecast under)
    groups: dict[str, dict[str, _Tally]] = {"by_tag": defaultdict(_Tally), "by_source": defaultdict(_Tally),
                                            "by_period": defaultdict(_Tally)}
    team_all, source_all = _Tally(), _Tally()
    pairs: list[tuple[float, float]] = []
    n_claims = n_late = 0
    keeps = scope.keeps if scope.tag or scope.source_words else None  # (a test per claim only when there is one)
    by_tag, by_source, by_period = groups["by_tag"], groups["by_source"], groups["by_period"]
    for number, claim in claims:
        if keeps is not None and not keeps(claim):
            continue
        rows, late = _score(number, claim, tz)
        if late:
            n_late += sum(not scope.forecaster or (f.get("who") or f["by"]) == scope.forecaster for f in late)
        if scope.forecaster:
            if not any(r.kind == "analyst" and (r.who or r.forecaster) == scope.forecaster for r in rows):
                continue
            rows = [r for r in rows if r.kind != "analyst" or (r.who or r.forecaster) == scope.forecaster]
        if not rows:
            continue
        n_claims += 1
        # the team's row follows the analysts' (_score), and only the source's may follow it
        team = next((r for r in rows[-2:] if r.kind == "team"), None)
        n = weighted_n = 0  # the claim's own sums
        brier = log = weighted = vs_team = 0.0
        team_brier = source_brier = None
        for row in rows:
            if row.kind == "analyst":
                n += 1
                brier += row.brier
                log += row.log_score
                if row.time_weighted is not None:
                    weighted += row.time_weighted
                    weighted_n += 1
                if team is not None:
                    vs_team += row.brier - team.brier
                pairs.append((row.p, row.o))
                identity = row.who or row.forecaster
                if row.at is not None and (identity not in names or names[identity][0] <= row.at):
                    names[identity] = (row.at, row.forecaster)
                mine = forecasters[identity]
                mine.add_row(row, team)
                mine.claims += 1
            elif row.kind == "team":
                team_brier = row.brier
                team_all.add_row(row, None)
                team_all.claims += 1
            else:
                source_brier = row.brier
                source_all.add_row(row, None)
                source_all.claims += 1
        sums = (n, brier, log, weighted, weighted_n, vs_team, team_brier, source_brier)
        overall.add_claim(*sums)
        for tag in claim["tags"]:
            by_tag[tag].add_claim(*sums)
        by_source[source_label(claim)].add_claim(*sums)
        by_period[quarter(claim)].add_claim(*sums)

    def with_extras(t: _Tally) -> dict[str, Any]:
        return t.figures() | {"team_brier": _mean(t.team), "source_brier": _mean(t.source)}

    decomposition = scores.murphy(pairs)
    by_forecaster = {}
    for name, t in sorted((_shown_name(who, names, forecasters), t) for who, t in forecasters.items()):
        by_forecaster[name] = t.figures() | {"time_weighted_brier": t.weighted / t.weighted_n if t.weighted_n else None,
                                             "vs_team": t.vs_team / t.n}  # < 0: better than the team
    everything = overall.figures()
    return {
        "scope": scope.describe(),
        "n_claims": n_claims,  # scored at all: by analysts, the team or their source
        "n_claims_forecast": overall.claims,  # with analysts' forecasts that count: what their figures rest on
        "n_forecasts": overall.n,
        "n_late_forecasts": n_late,
        "brier": everything["brier"],
        "log_score": everything["log_score"],
        "time_weighted_brier": overall.weighted / overall.weighted_n if overall.weighted_n else None,
        "too_few": everything["too_few"],
        "min_resolved": MIN_RESOLVED,
        "team": team_all.figures(),
        "source": source_all.figures(),
        "by_forecaster": by_forecaster,
        **{g: {k: with_extras(t) for k, t in sorted(tallies.items())} for g, tallies in groups.items()},
        "calibration": [{"bin_low": b.low, "bin_high": b.high, "n": b.n, "mean_p": b.mean_p, "observed": b.observed,
                         "wilson_low": b.interval[0], "wilson_high": b.interval[1]} for b in scores.calibration(pairs)],
        "murphy": None if decomposition is None else {
            "brier": decomposition.brier, "reliability": decomposition.reliability,
            "resolution": decomposition.resolution, "uncertainty": decomposition.uncertainty},
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


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
    late = result.get("n_late_forecasts", 0)
    hindsight = (f"{late} forecast{'s' * (late != 1)} on resolved claims {'were' if late != 1 else 'was'} made after "
                 "the event, so not scored (hindsight).") if late else ""
    if result["n_forecasts"] == 0:
        return (f"Forecast accuracy ({result['scope']}): no resolved claims with forecasts yet. Scores appear once "
                "claims are resolved (true, false or partial) and someone forecast them before the event."
                + (" " + hindsight if hindsight else ""))
    on = result["n_claims_forecast"]
    lines = [f"Forecast accuracy ({result['scope']}): {result['n_claims']} resolved claim{'s' * (result['n_claims'] != 1)}, "
             + ("1 forecast that counts" if result["n_forecasts"] == 1 else f"{result['n_forecasts']} forecasts that count")
             + (f" (on {on} of them; the rest scored by the team or source alone)." if on != result["n_claims"] else ".")
             + (" " + hindsight if hindsight else ""),
             f"Brier {_num(result['brier'])} (0 is perfect, 0.25 is always saying 50%), "
             f"log score {_num(result['log_score'], 2)}, time-weighted Brier {_num(result['time_weighted_brier'])}"
             + (f" — n = {on}, too few to judge" if result["too_few"] else "") + ".",
             f"Team consensus: {judged(result['team'])}.",
             f"Sources' own probabilities: {judged(result['source'])}."]
    lean = calibration_lean(result["calibration"])
    if lean is not None:
        lines.append(lean)
    return "\n".join(lines)


def calibration_title(result: dict[str, Any]) -> str:
    """The calibration chart's title says what the review covers, so a shared picture keeps its context."""
    return f"Calibration of analysts' forecasts ({result['scope']})"


def calibration_lean(bins: list[dict[str, Any]]) -> str | None:
    """How far the forecasts were from what happened, and which way they lean, in one line. The distance is
    |p − observed| per bin, weighted by its forecasts: within 5 points counts as calibrated. The lean is
    sign(p − ½)·(p − observed): overconfident when further from 50% than what happened bore out (70% forecasts
    that came true 55% of the time), underconfident when nearer; when it is under half the distance, the
    errors point both ways (10% forecasts that came true, 90% ones that did not), and the line says so rather
    than letting them cancel."""
    filled = [b for b in bins if b["n"]]
    n = sum(b["n"] for b in filled)
    if not n:
        return None
    distance = sum(b["n"] * abs(b["mean_p"] - b["observed"]) for b in filled) / n
    gap = sum(b["n"] * (b["mean_p"] - b["observed"]) * ((b["mean_p"] > 0.5) - (b["mean_p"] < 0.5))
              for b in filled) / n
    points = round(abs(gap) * 100)
    forecasts = f"{n} forecast{'s' * (n != 1)}"
    if round(distance * 100) <= 5:
        return (f"Calibration: close to calibrated over {forecasts} (within {round(distance * 100)} points of "
                "what happened).")
    if abs(gap) < distance / 2:
        return (f"Calibration: {round(distance * 100)} points from what happened on average over {forecasts}, "
                "too sure in some ranges and not sure enough in others.")
    if gap > 0:
        return (f"Calibration: overconfident over {forecasts}: {points} points further from 50% on average "
                "than what happened bore out.")
    return (f"Calibration: underconfident over {forecasts}: {points} points nearer to 50% on average "
            "than what happened bore out.")


def leaderboard(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The analysts of a review, best Brier first; those with too few resolved claims to judge last."""
    return sorted(result["by_forecaster"].items(), key=lambda kv: (kv[1]["too_few"], kv[1]["brier"]))


def quarter_points(result: dict[str, Any]) -> list[tuple[date, float, float | None]]:
    """Brier per quarter of the event, as (its first day, analysts' Brier, team's Brier), for a chart."""
    return [(date(int(k[:4]), (int(k[-1]) - 1) * 3 + 1, 1), v["brier"], v["team_brier"])
            for k, v in result["by_period"].items() if v["brier"] is not None]


def leaderboard_text(result: dict[str, Any]) -> str:
    ranked = leaderboard(result)
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


def own_record(result: dict[str, Any]) -> dict[str, Any] | None:
    """The figures of the one analyst a review was scoped to; None when they have no scored forecast in it."""
    return next(iter(result["by_forecaster"].values()), None)


def track_record_text(result: dict[str, Any], who: str) -> str:
    """One analyst's record beside the team's, from a review scoped to them (plain text); `who`: their name."""
    mine = own_record(result)
    if mine is None:
        return (f"{who}: no resolved claim with a forecast of yours yet. Scores appear once claims you forecast "
                "are resolved (true, false or partial).")
    delta = f"{mine['vs_team']:+.3f}" if mine["vs_team"] is not None else "—"
    return "\n".join([
        f"Track record of {who}: {judged(mine)}; log score {_num(mine['log_score'], 2)}, time-weighted Brier "
        f"{_num(mine['time_weighted_brier'])}.",
        f"The team's consensus on the same claims: {judged(result['team'])}; your difference from it: {delta} "
        "(negative: better than the team).",
    ])
