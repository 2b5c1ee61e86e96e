"""Charts as PNG bytes, drawn with matplotlib without a display (the only module that imports it)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date

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
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    ax.plot([0, 1], [0, 1], linestyle="--", color="#999999", label="perfect calibration")
    filled = [b for b in bins if b["n"]]
    if filled:
        xs = [b["mean_p"] for b in filled]
        ys = [b["observed"] for b in filled]
        errors = [[y - b["wilson_low"] for y, b in zip(ys, filled, strict=True)],
                  [b["wilson_high"] - y for y, b in zip(ys, filled, strict=True)]]
        ax.errorbar(xs, ys, yerr=errors, fmt="o", color="#1f5fa8", ecolor="#9bb7d9", capsize=3,
                    label="observed (95% interval)")
        for x, y, b in zip(xs, ys, filled, strict=True):
            ax.annotate(f"n={b['n']}", (x, y), textcoords="offset points", xytext=(6, -12), fontsize=8)
    else:
        ax.text(0.5, 0.5, "no resolved forecasts yet", ha="center", va="center", color="#666666")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="forecast probability", ylabel="how often it happened", title=title)
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    return _png(fig, title)


def brier_over_time_png(points: Sequence[tuple[date, float, float | None]], title: str) -> bytes:
    """Brier per period, (day, analysts' Brier, team's Brier), as lines."""
    fig, ax = plt.subplots(figsize=(7, 3.5))
    if points:
        days = [p[0] for p in points]
        ax.plot(days, [p[1] for p in points], marker="o", color="#1f5fa8", label="analysts")
        team = [(d, t) for d, _, t in points if t is not None]
        if team:
            ax.plot([d for d, _ in team], [t for _, t in team], marker="s", color="#d2691e", label="team consensus")
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no resolved forecasts yet", ha="center", va="center", color="#666666",
                transform=ax.transAxes)
    ax.axhline(0.25, linestyle=":", color="#999999")
    ax.set(ylim=(0, 1), ylabel="Brier (lower is better)", title=title)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return _png(fig, title)
