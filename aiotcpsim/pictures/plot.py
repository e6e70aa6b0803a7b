"""Plots over virtual time: any ``(time, value)`` samples as an SVG chart.

Rule owned here: **a curve is just samples**.  A :class:`Series` is a name,
a list of ``(time, value)`` pairs and a drawing style; this module knows
nothing of TCP.  Adding a curve (cwnd, RTO, once the core records them) means
building one more :class:`Series` and putting it in a :class:`Plot`.

Styles: ``"step"`` holds each value until the next sample (counters, windows),
``"line"`` joins samples, ``"points"`` marks each sample (segments sent).
Axes get "nice" ticks (1, 2 or 5 times a power of ten).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

from .svg import MONO, Canvas, num, text_width

__all__ = ["PALETTE", "Plot", "Series", "nice_ticks", "plot_svg"]

PALETTE = ("#1f5fa8", "#c00000", "#2a8a3a", "#b85c00", "#6a3d9a", "#555555")
"""Colours given in turn to series that name none."""


class Series(NamedTuple):
    """One curve: ``samples`` are ``(virtual time, value)``, in time order."""

    name: str
    samples: Sequence[tuple[float, float]]
    style: str = "step"
    color: str = ""


class Plot(NamedTuple):
    """A chart: a title, what the y axis counts, and its curves."""

    title: str
    y_label: str
    series: Sequence[Series]
    y_max: float | None = None
    """Clip the y axis here (values above are drawn on the top edge)."""


_LEFT, _RIGHT, _TOP, _BOTTOM = 70.0, 20.0, 46.0, 40.0


def nice_ticks(lo: float, hi: float, count: int = 6, *, least: float = 0.0) -> list[float]:
    """About ``count`` round values covering ``[lo, hi]``, at least ``least`` apart."""
    if not hi > lo:
        hi = lo + 1.0
    raw = max((hi - lo) / count, least)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1.0, 2.0, 5.0, 10.0) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    k = 0
    while first + k * step <= hi + step * 1e-6 or len(ticks) < 2:
        ticks.append(round(first + k * step, 12))
        k += 1
    if ticks[-1] < hi:
        ticks.append(round(first + k * step, 12))
    return ticks


def _tick_text(v: float, step: float) -> str:
    if abs(v) >= 1e6 and step >= 1e5:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4 and step >= 1e3:
        return f"{v / 1e3:g}k"
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{v:.{decimals}f}"


def plot_svg(plot: Plot, *, width: float = 720.0, height: float = 250.0) -> str:
    """``plot`` as an SVG chart, virtual time along x.  Deterministic."""
    points = [p for s in plot.series for p in s.samples]
    canvas = Canvas(width, height, title=plot.title)
    canvas.text(_LEFT, 16, plot.title, font_size=13, font_weight="bold", class_="plot-title")
    _legend(canvas, plot, width)
    if not points:
        canvas.text(width / 2, height / 2, "no samples", font_size=12, text_anchor="middle",
                    fill="#777777", class_="empty")  # fmt: skip
        return canvas.finish()
    xt = nice_ticks(min(t for t, _ in points), max(t for t, _ in points))
    top = max(v for _, v in points)
    if plot.y_max is not None:
        top = min(top, plot.y_max)
    whole = all(float(v).is_integer() for _, v in points)  # bytes, segments: no 0.5 ticks
    yt = nice_ticks(min(0.0, *(v for _, v in points)), top, least=1.0 if whole else 0.0)
    box = (_LEFT, _TOP, width - _RIGHT, height - _BOTTOM)

    def sx(t: float) -> float:
        return box[0] + (t - xt[0]) / (xt[-1] - xt[0]) * (box[2] - box[0])

    def sy(v: float) -> float:
        v = min(v, yt[-1])
        return box[3] - (v - yt[0]) / (yt[-1] - yt[0]) * (box[3] - box[1])

    _axes(canvas, plot, box, xt, yt, sx, sy)
    for i, series in enumerate(plot.series):
        color = series.color or PALETTE[i % len(PALETTE)]
        pts = [(sx(t), sy(v)) for t, v in series.samples]
        canvas.open("g", class_="series", data_name=series.name, data_samples=len(pts))
        canvas.title(f"{series.name}: {len(pts)} samples")
        if series.style == "points":
            for x, y in pts:
                canvas.leaf("circle", cx=x, cy=y, r=2.2, fill=color)
        elif pts:
            if series.style == "step":
                pts = _steps(pts)
            canvas.polyline(pts, fill="none", stroke=color, stroke_width=1.6)
        canvas.close()
    return canvas.finish()


def _steps(pts: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out = [pts[0]]
    for x, y in pts[1:]:
        out.append((x, out[-1][1]))
        out.append((x, y))
    return out


def _legend(canvas: Canvas, plot: Plot, width: float) -> None:
    x, y = _LEFT, 34.0
    canvas.open("g", class_="legend")
    for i, series in enumerate(plot.series):
        w = text_width(series.name, 10) + 30
        if x + w > width - _RIGHT and x > _LEFT:
            break  # the title attribute of each series still names it
        color = series.color or PALETTE[i % len(PALETTE)]
        canvas.rect(x, y - 7, 14, 4, fill=color)
        canvas.text(x + 18, y - 2, series.name, font_size=10, font_family=MONO, fill="#333333")
        x += w
    canvas.close()


def _axes(
    canvas: Canvas,
    plot: Plot,
    box: tuple[float, float, float, float],
    xt: list[float],
    yt: list[float],
    sx: Callable[[float], float],
    sy: Callable[[float], float],
) -> None:
    x0, y0, x1, y1 = box
    canvas.open("g", class_="axes", font_size=10, fill="#333333")
    canvas.rect(x0, y0, x1 - x0, y1 - y0, fill="none", stroke="#777777", stroke_width=1)
    xstep, ystep = xt[1] - xt[0], yt[1] - yt[0]
    for t in xt:
        x = sx(t)
        canvas.line(x, y1, x, y1 + 4, stroke="#777777")
        canvas.text(x, y1 + 15, _tick_text(t, xstep), text_anchor="middle", font_family=MONO,
                    class_="xtick")  # fmt: skip
    for v in yt:
        y = sy(v)
        canvas.line(x0, y, x1, y, stroke="#e4e4e4", stroke_width=1)
        canvas.text(x0 - 5, y + 3.5, _tick_text(v, ystep), text_anchor="end", font_family=MONO,
                    class_="ytick")  # fmt: skip
    canvas.text((x0 + x1) / 2, y1 + 32, "virtual time (s)", text_anchor="middle")
    canvas.text(14, (y0 + y1) / 2, plot.y_label, text_anchor="middle",
                transform=f"rotate(-90 14 {num((y0 + y1) / 2)})")  # fmt: skip
    canvas.close()
