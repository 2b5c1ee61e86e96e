"""Charts as PNG bytes (chat, report) and SVG (the web view), drawn with matplotlib without a display (the only
module that imports it)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot

import matplotlib.dates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def _png(fig: plt.Figure, title: str) -> bytes:
    """The figure as PNG, its title kept in the file's metadata too (what a shared file is about)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Title": title})
    plt.close(fig)
    return buffer.getvalue()


def _svg(fig: plt.Figure, title: str) -> bytes:
    """The figure as SVG for the web view: text kept as text (small, selectable), the same bytes for the same
    chart (no date, fixed ids), its title as the document's title."""
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "claimwatch"}):
        fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Title": title, "Date": None})
    plt.close(fig)
    return buffer.getvalue()


def calibration_svg(bins: Sequence[dict], title: str) -> bytes:
    return _svg(calibration_figure(bins, title), title)


def brier_over_time_svg(points: Sequence[tuple[date, float, float | None]], title: str) -> bytes:
    return _svg(brier_over_time_figure(points, title), title)


def forecasts_svg(lines: dict[str, Sequence[tuple[datetime, float]]], team: Sequence[tuple[datetime, float]],
                  event: tuple[date, str] | None, title: str) -> bytes:
    """A claim's forecasts over time: a stepped line per forecaster, the team's median, and the event's date with
    its outcome (`event`: the date and the outcome's word)."""
    return _svg(forecasts_figure(lines, team, event, title), title)


def forecasts_figure(lines: dict[str, Sequence[tuple[datetime, float]]], team: Sequence[tuple[datetime, float]],
                     event: tuple[date, str] | None, title: str) -> plt.Figure:
    """The chart forecasts_svg draws. A forecast stands until the next one, so each line steps (drawn on to the
    event, or to the last forecast of all)."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    ends = [at for points in lines.values() for at, _ in points]
    end = max(ends, default=None)
    if event is not None:
        end = max([e for e in [end] if e is not None] + [datetime.combine(event[0], datetime.min.time(), UTC)])
    for name, points in lines.items():
        xs = [at for at, _ in points] + [end]
        ax.step(xs, [p for _, p in points] + [points[-1][1]], where="post", marker="o",
                markevery=list(range(len(points))), linewidth=1.2, alpha=0.85, label=name)
    if team:
        ax.step([at for at, _ in team] + [end], [p for _, p in team] + [team[-1][1]], where="post", color="#222222",
                linewidth=2.4, linestyle="--", label="team median")
    if event is not None:
        day = datetime.combine(event[0], datetime.min.time(), UTC)
        ax.axvline(day, color="#b3261e", linewidth=1.5)
        ax.annotate(f"{event[1]} ({event[0]})", (day, 1.0), xytext=(-4, -12), textcoords="offset points",
                    ha="right", fontsize=8, color="#b3261e")
    if not lines:
        ax.text(0.5, 0.5, "no forecasts yet", ha="center", va="center", color="#666666", transform=ax.transAxes)
    ax.set(ylim=(-0.03, 1.03), ylabel="probability", title=title)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
        start = min(at for points in lines.values() for at, _ in points)
        if end - start < timedelta(days=2):  # forecasts minutes apart: a few days around them, ticked by day
            ax.set_xlim(start - timedelta(days=1), start + timedelta(days=2))
        ticks = matplotlib.dates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(ticks)
        ax.xaxis.set_major_formatter(matplotlib.dates.ConciseDateFormatter(ticks))  # "May", "10", "2024": no ".000000"
    return fig


def calibration_png(bins: Sequence[dict], title: str) -> bytes:
    """Observed frequency against mean forecast per bin, with Wilson intervals and the diagonal of perfection."""
    return _png(calibration_figure(bins, title), title)


# Where a bin's "n=" label may go, in points from its point: right below first, then above, left, further out.
_LABEL_PLACES = ((6, -12), (6, 6), (-34, -12), (-34, 6), (6, -24), (6, 18), (-34, -24), (-34, 18))
_MARGIN = 0.04  # beyond 0% and 100%, so points there show whole


def calibration_figure(bins: Sequence[dict], title: str) -> plt.Figure:
    """The calibration chart as a figure (calibration_png draws it): each bin's "n=" label placed where it overlaps
    no other label, no axis text and the legend, as matplotlib measures them."""
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999999", label="perfect calibration")
    filled = [b for b in bins if b["n"]]
    labels = []
    if filled:
        xs = [b["mean_p"] for b in filled]
        ys = [b["observed"] for b in filled]
        errors = [[y - b["wilson_low"] for y, b in zip(ys, filled, strict=True)],
                  [b["wilson_high"] - y for y, b in zip(ys, filled, strict=True)]]
        ax.errorbar(xs, ys, yerr=errors, fmt="o", color="#1f5fa8", ecolor="#9bb7d9", capsize=3,
                    label="observed (95% interval)")
        labels = [ax.annotate(f"n={b['n']}", (x, y), textcoords="offset points", xytext=_LABEL_PLACES[0], fontsize=8)
                  for x, y, b in zip(xs, ys, filled, strict=True)]
    else:
        ax.text(0.5, 0.5, "no resolved forecasts yet", ha="center", va="center", color="#666666")
    ax.set(xlim=(-_MARGIN, 1 + _MARGIN), ylim=(-_MARGIN, 1 + _MARGIN), xlabel="forecast probability",
           ylabel="how often it happened", title=title)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    _place_labels(fig, ax, labels)
    return fig


def _place_labels(fig: plt.Figure, ax: plt.Axes, labels: list) -> None:
    """Move each label to the first of _LABEL_PLACES where it stays inside the axes and overlaps nothing placed."""
    renderer = fig.canvas.get_renderer()
    inside = ax.get_window_extent(renderer)
    taken = [ax.get_legend().get_window_extent(renderer)] if ax.get_legend() else []
    for label in labels:
        for place in _LABEL_PLACES:
            label.xyann = place
            box = label.get_window_extent(renderer).padded(2)  # a gap between labels, so "n=7n=3" cannot happen
            if inside.contains(box.x0, box.y0) and inside.contains(box.x1, box.y1) \
                    and not any(box.overlaps(other) for other in taken):
                break
        else:
            label.xyann = _LABEL_PLACES[0]  # nowhere free: the first place, as before
        taken.append(label.get_window_extent(renderer).padded(2))


def brier_over_time_png(points: Sequence[tuple[date, float, float | None]], title: str) -> bytes:
    """Brier per quarter, (its first day, analysts' Brier, team's Brier), as lines."""
    return _png(brier_over_time_figure(points, title), title)


def brier_over_time_figure(points: Sequence[tuple[date, float, float | None]], title: str) -> plt.Figure:
    """The chart brier_over_time_png draws: one tick per quarter (as 2026-Q2) when there are few, an axis no
    wider than the quarters shown (one quarter is not a dot on a three-year axis), the 0.25 line labelled."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.axhline(0.25, linestyle=":", color="#999999", label="always saying 50% (0.25)")
    if points:
        days = [p[0] for p in points]
        ax.plot(days, [p[1] for p in points], marker="o", color="#1f5fa8", label="analysts")
        team = [(d, t) for d, _, t in points if t is not None]
        if team:
            ax.plot([d for d, _ in team], [t for _, t in team], marker="s", color="#d2691e", label="team consensus")
        ax.set_xlim(min(days) - timedelta(days=45), max(days) + timedelta(days=45))
        if len(days) <= 12:
            ax.set_xticks(days, [f"{d.year}-Q{(d.month - 1) // 3 + 1}" for d in days])
    else:
        ax.text(0.5, 0.5, "no resolved forecasts yet", ha="center", va="center", color="#666666",
                transform=ax.transAxes)
    ax.legend(fontsize=8)
    ax.set(ylim=(0, 1), ylabel="Brier (lower is better)", title=title)
    ax.grid(alpha=0.3)
    if points and len(points) > 12:
        fig.autofmt_xdate()
    return fig
