"""The accuracy report: one self-contained HTML file, charts embedded, readable in any browser."""

from __future__ import annotations

import base64
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from claimwatch import charts
from claimwatch.accuracy import MIN_RESOLVED, Scored, calibration_title, leaderboard, quarter_points, score_claim
from claimwatch.model import Claim, Evidence, claim_to_dict
from claimwatch.render import percent
from claimwatch.parsing import web_address

MAX_CLAIMS_LISTED = 1000

STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d2733;max-width:1040px;margin:2rem auto;
padding:0 1rem;background:#fbfbfd}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{margin-top:2.4rem;border-bottom:2px solid #e3e8ef;padding-bottom:.3rem}
.sub{color:#5b6878}.cards{display:flex;flex-wrap:wrap;gap:.8rem;margin:1.2rem 0}
.card{background:#fff;border:1px solid #e3e8ef;border-radius:8px;padding:.7rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}table{border-collapse:collapse;width:100%;background:#fff;font-size:.92rem}
th,td{border-bottom:1px solid #e9edf2;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f2f5f9}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.date{white-space:nowrap}.few{color:#8a94a3;font-style:italic}
img{max-width:100%;background:#fff;border:1px solid #e3e8ef;border-radius:8px}.true{color:#1b7f3b}
.false{color:#b3261e}.partial{color:#a66300}.note{color:#5b6878;font-size:.9rem}ul{margin:.2rem 0;padding-left:1.2rem}
"""


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _delta(value: float | None) -> str:
    return "—" if value is None else f"{value:+.3f}"


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _figures_row(name: str, f: dict[str, Any], extra: list[str]) -> str:
    few = ' class="few"' if f["too_few"] else ""
    judged = f"n = {f['n']}, too few to judge" if f["too_few"] else ""
    cells = [f"<td>{escape(name)}</td>", f'<td class="n">{f["n"]}</td>', f'<td class="n">{_num(f["brier"])}</td>',
             *extra, f"<td>{judged}</td>"]
    return f"<tr{few}>{''.join(cells)}</tr>"


def _table(headers: list[str], rows: list[str], empty: str, numbers: bool = True) -> str:
    """A table; with `numbers`, the columns after the first hold numbers, right-aligned, their headers too."""
    if not rows:
        return f'<p class="note">{escape(empty)}</p>'
    head = "".join(f"<th{' class=n' if numbers and i and h else ''}>{escape(h)}</th>" for i, h in enumerate(headers))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def render_report(result: dict[str, Any], claims: list[Claim], resolved: int, evidence: dict[int, list[Evidence]],
                  now: datetime, tz: ZoneInfo) -> str:
    """The report of `result` (accuracy.review), listing `claims` (the most recent of `resolved` resolved
    claims in scope) with their scores and `evidence` (by claim number)."""
    parts = [f"<h1>Forecast accuracy</h1><p class='sub'>{escape(result['scope'])} · generated "
             f"{now.astimezone(tz):%Y-%m-%d %H:%M} ({escape(str(tz))}) by claimwatch</p>"]
    if result["n_forecasts"] == 0:
        parts.append("<p><b>No resolved claims with forecasts yet.</b> This report fills in as claims are resolved "
                     "(true, false or partial) and analysts have forecast them before the event.</p>")
    late = result.get("n_late_forecasts", 0)
    if late:
        parts.append(f"<p><b>{late} forecast{'s' * (late != 1)} on resolved claims {'were' if late != 1 else 'was'} "
                     "made after the event</b>, so not scored (hindsight): a record filled in afterwards scores "
                     "only the forecasts dated before each event.</p>")
    cards = [("resolved claims", str(result["n_claims"])), ("forecasts that count", str(result["n_forecasts"])),
             ("analysts' Brier", _num(result["brier"])), ("log score", _num(result["log_score"], 2)),
             ("team consensus Brier", _num(result["team"]["brier"])),
             ("sources' Brier", _num(result["source"]["brier"]))]
    parts.append("<div class='cards'>" + "".join(f"<div class='card'><b>{v}</b>{escape(k)}</div>" for k, v in cards)
                 + "</div>")
    parts.append(f"<p class='note'>Brier score: (p − o)², 0 is perfect, 0.25 is always saying 50%, lower is better; "
                 f"o is 1 for true, 0 for false, 0.5 for partial; void claims are not scored. Each analyst's last "
                 f"forecast before the event counts. Figures from fewer than {MIN_RESOLVED} resolved claims are "
                 f"marked too few to judge.</p>")

    parts.append("<h2>Calibration</h2>")
    parts.append(_img(charts.calibration_png(result["calibration"], calibration_title(result)), "calibration chart"))
    bins = [f"<tr><td>{b['bin_low']:.0%}–{b['bin_high']:.0%}</td><td class='n'>{b['n']}</td>"
            f"<td class='n'>{_num(b['mean_p'], 2)}</td><td class='n'>{_num(b['observed'], 2)}</td>"
            f"<td class='n'>{_num(b['wilson_low'], 2)}–{_num(b['wilson_high'], 2)}</td></tr>"
            for b in result["calibration"] if b["n"]]
    parts.append(_table(["forecast", "n", "mean forecast", "observed", "95% interval"], bins, "No forecasts yet."))
    m = result["murphy"]
    if m:
        parts.append(f"<p>Murphy decomposition: Brier {_num(m['brier'])} = reliability {_num(m['reliability'])} "
                     f"− resolution {_num(m['resolution'])} + uncertainty {_num(m['uncertainty'])}.</p>")

    parts.append("<h2>Brier over time</h2>")
    parts.append(_img(charts.brier_over_time_png(quarter_points(result),
                                                 f"Brier score per quarter of the event ({result['scope']})"),
                      "Brier over time"))

    def breakdown(title: str, key: str, label: str) -> None:
        rows = [_figures_row(name, f, [f'<td class="n">{_num(f["team_brier"])}</td>',
                                       f'<td class="n">{_num(f["source_brier"])}</td>'])
                for name, f in result[key].items()]
        parts.append(f"<h2>{escape(title)}</h2>")
        parts.append(_table([label, "claims", "analysts' Brier", "team's Brier", "source's Brier", ""], rows,
                            "Nothing resolved yet."))

    parts.append("<h2>Analysts</h2>")
    rows = [_figures_row(name, f, [f'<td class="n">{_num(f["log_score"], 2)}</td>',
                                   f'<td class="n">{_num(f["time_weighted_brier"])}</td>',
                                   f'<td class="n">{_delta(f["vs_team"])}</td>'])
            for name, f in leaderboard(result)]
    parts.append(_table(["analyst", "claims", "Brier", "log score", "time-weighted Brier", "Δ team", ""], rows,
                        "No analyst has a resolved forecast yet."))
    breakdown("Tags", "by_tag", "tag")
    breakdown("Sources", "by_source", "source")
    breakdown("Quarters", "by_period", "quarter of the event")

    parts.append("<h2>Resolved claims</h2>")
    if resolved > len(claims):
        parts.append(f"<p class='note'>The {len(claims)} most recent of {resolved} resolved claims.</p>")
    items = [_claim_row(c, score_claim(c.id, claim_to_dict(c), tz), evidence.get(c.id, [])) for c in claims]
    parts.append(_table(["#", "claim", "outcome", "forecasts that count", "evidence"], items, "None yet.", numbers=False))
    body = "\n".join(parts)
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width,initial-scale=1'><title>claimwatch: forecast accuracy</title>"
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>\n")


def _link(url: str, label: str) -> str:
    """A link to a web address; anything else a stored link may hold (kept as written) is shown as text."""
    if not web_address(url):
        return escape(label)
    return f'<a href="{escape(url, quote=True)}">{escape(label)}</a>'


def _claim_row(claim: Claim, rows: list[Scored], evidence: list[Evidence]) -> str:
    assert claim.outcome is not None
    o = claim.outcome
    when = o.event_date or o.at.date()
    forecasts = "".join(f"<li>{escape(r.forecaster)}: {percent(r.p)} (Brier {r.brier:.3f})</li>"
                        for r in sorted(rows, key=lambda r: (r.kind != "analyst", r.forecaster)))
    links = [_link(url, url) for url in o.evidence]
    links += [_link(e.url, e.title or e.url) + f" ({e.stance.value})" for e in evidence
              if e.stance.value in ("supports", "contradicts")][:5]
    source = f"<br><span class='note'>{escape(claim.source.title)}</span>" if claim.source.title else ""
    return (f"<tr><td>{claim.id}</td><td>{escape(claim.text)}{source}</td>"
            f"<td class='{o.value.value}'>{o.value.value}<br><span class='note date'>{when}</span></td>"
            f"<td><ul>{forecasts}</ul></td><td>{'<br>'.join(links) or '—'}</td></tr>")
