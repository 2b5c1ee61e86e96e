"""The charts' layout, checked with matplotlib's own measures of what it drew (the PNG is written too, to look at)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claimwatch import charts


def _bin(mean_p: float, observed: float, n: int) -> dict[str, Any]:
    return {"n": n, "mean_p": mean_p, "observed": observed, "wilson_low": max(0.0, observed - 0.1),
            "wilson_high": min(1.0, observed + 0.1)}


CROWDED = [_bin(0.0, 0.0, 4), _bin(0.14, 0.12, 3), _bin(0.19, 0.12, 5), _bin(0.21, 0.13, 2), _bin(0.5, 0.5, 12),
           _bin(0.9, 1.0, 3), _bin(0.98, 1.0, 7)]  # few forecasts, close together, some at 0% and 100%


def test_calibration_labels_overlap_nothing_and_points_at_0_and_100_percent_show_whole(tmp_path: Path) -> None:
    fig = charts.calibration_figure(CROWDED, "Calibration of analysts' forecasts (@carol)")
    (tmp_path / "calibration.png").write_bytes(charts.calibration_png(CROWDED, "crowded"))  # to look at
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    labels = [t for t in ax.texts if t.get_text().startswith("n=")]
    assert [t.get_text() for t in labels] == ["n=4", "n=3", "n=5", "n=2", "n=12", "n=3", "n=7"]
    boxes = [t.get_window_extent(renderer) for t in labels]
    for i, box in enumerate(boxes):
        assert not any(box.overlaps(other) for other in boxes[i + 1:]), labels[i].get_text()
        assert not box.overlaps(ax.get_legend().get_window_extent(renderer))
        for axis_text in (ax.xaxis.label, ax.yaxis.label, ax.title, *ax.get_xticklabels(), *ax.get_yticklabels()):
            assert not box.overlaps(axis_text.get_window_extent(renderer)), (labels[i].get_text(), axis_text)
    inside = ax.get_window_extent(renderer)
    marker = ax.lines[1].get_markersize() * fig.dpi / 72 / 2  # the points' radius in pixels
    for b in CROWDED:
        x, y = ax.transData.transform((b["mean_p"], b["observed"]))
        assert inside.x0 <= x - marker and x + marker <= inside.x1 and inside.y0 <= y - marker and y + marker <= inside.y1


def test_calibration_png_names_what_it_shows() -> None:
    png = charts.calibration_png(CROWDED, "Calibration of analysts' forecasts (#energy)")
    assert png.startswith(b"\x89PNG") and b"Title\x00Calibration of analysts' forecasts (#energy)" in png


def test_brier_over_time_with_one_quarter_is_not_a_dot_on_a_long_axis_and_its_line_is_labelled(tmp_path: Path) -> None:
    from datetime import date

    from matplotlib.dates import num2date

    points = [(date(2026, 4, 1), 0.18, 0.2)]
    fig = charts.brier_over_time_figure(points, "Brier score per quarter of the event (all claims)")
    (tmp_path / "brier.png").write_bytes(charts.brier_over_time_png(points, "one quarter"))  # to look at
    ax = fig.axes[0]
    low, high = (num2date(x).date() for x in ax.get_xlim())
    assert (high - low).days <= 120
    assert [t.get_text() for t in ax.get_xticklabels()] == ["2026-Q2"]
    assert "always saying 50% (0.25)" in [t.get_text() for t in ax.get_legend().get_texts()]


def test_a_claims_forecast_chart_has_a_line_per_forecaster_the_median_and_the_event() -> None:
    from datetime import UTC, date, datetime

    def at(day: int) -> datetime:
        return datetime(2024, 5, day, tzinfo=UTC)

    lines = {"alice": [(at(1), 0.3), (at(10), 0.6)], "<bob>": [(at(3), 0.8)]}
    fig = charts.forecasts_figure(lines, [(at(1), 0.3), (at(3), 0.55), (at(10), 0.7)], (date(2024, 6, 1), "true"),
                                  "#1: forecasts over time")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["alice", "<bob>", "team median"]
    steps = {line.get_label(): list(line.get_ydata()) for line in ax.get_lines()}
    assert steps["alice"] == [0.3, 0.6, 0.6] and steps["team median"] == [0.3, 0.55, 0.7, 0.7]  # drawn on to the event
    assert any(t.get_text() == "true (2024-06-01)" for t in ax.texts)
    svg = charts.forecasts_svg(lines, [], None, "#1")
    assert b"&lt;bob&gt;" in svg and b"<bob>" not in svg and b"<script" not in svg
    assert svg == charts.forecasts_svg(lines, [], None, "#1")  # the same chart, the same bytes


def test_forecasts_seconds_apart_are_drawn_on_a_scale_of_days() -> None:
    from datetime import UTC, datetime

    first = datetime(2026, 3, 2, 21, 19, tzinfo=UTC)
    fig = charts.forecasts_figure({"ann": [(first, 0.4)], "bo": [(first.replace(second=30), 0.6)]}, [], None, "#2")
    ax = fig.axes[0]
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    assert labels and not any("." in label for label in labels)  # no "21:19.000000"
    low, high = ax.get_xlim()
    assert high - low >= 2  # days (matplotlib's unit for dates)
