"""Charts as PNG bytes, drawn with matplotlib without a display (the only module that imports it)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # no display needed; must come before pyplot

import matplotlib.pyplot as plt  # noqa: E402


def _png(fig: plt.Figure, title: str) -> bytes:
    """The figure as PNG, its title kept in the file's metadata too (what a shared file is about)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Title": title})
    plt.close(fig)
    return buffer.getvalue()


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
