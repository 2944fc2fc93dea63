"""Tiny inline-SVG charts for the self-contained HTML report (no JavaScript, no internet)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

__all__ = ["histogram", "lines", "scatter"]

W, H = 640, 260
L, R, T, B = 60, 20, 30, 40  # margins
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _nice(lo: float, hi: float) -> tuple[float, float]:
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _frame(title: str, xlabel: str, ylabel: str, x0: float, x1: float, y0: float, y1: float, body: str,
           legend: Sequence[str] = ()) -> str:
    ticks = []
    for i in range(5):
        fx = x0 + (x1 - x0) * i / 4
        fy = y0 + (y1 - y0) * i / 4
        px = L + (W - L - R) * i / 4
        py = H - B - (H - T - B) * i / 4
        ticks.append(f'<text x="{px:.1f}" y="{H - B + 15}" text-anchor="middle">{fx:.4g}</text>')
        ticks.append(f'<text x="{L - 5}" y="{py + 4:.1f}" text-anchor="end">{fy:.4g}</text>')
        ticks.append(f'<line x1="{L}" x2="{W - R}" y1="{py:.1f}" y2="{py:.1f}" stroke="#eee"/>')
    leg = "".join(
        f'<rect x="{W - R - 150}" y="{T + 4 + 14 * i}" width="10" height="10" fill="{COLORS[i % len(COLORS)]}"/>'
        f'<text x="{W - R - 135}" y="{T + 13 + 14 * i}">{html.escape(name)}</text>'
        for i, name in enumerate(legend)
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="11">'
        f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{html.escape(title)}</text>'
        + "".join(ticks)
        + body
        + f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#000"/>'
        f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#000"/>'
        f'<text x="{W / 2}" y="{H - 5}" text-anchor="middle">{html.escape(xlabel)}</text>'
        f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" text-anchor="middle">{html.escape(ylabel)}</text>'
        + leg
        + "</svg>"
    )


def _empty(title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="60" font-family="sans-serif">'
            f'<text x="10" y="30">{html.escape(title)}: no data</text></svg>')


def histogram(values: Sequence[float], title: str, xlabel: str, bins: int = 40) -> str:
    if not values:
        return _empty(title)
    lo, hi = _nice(min(values), max(values))
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / width))] += 1
    top = max(counts)
    pw, ph = (W - L - R) / bins, H - T - B
    bars = "".join(
        f'<rect x="{L + i * pw:.1f}" y="{H - B - ph * c / top:.1f}" width="{max(pw - 1, 1):.1f}" '
        f'height="{ph * c / top:.1f}" fill="{COLORS[0]}"/>'
        for i, c in enumerate(counts)
        if c
    )
    return _frame(title, xlabel, "requests", lo, hi, 0, top, bars)


def _xy(x: float, y: float, x0: float, x1: float, y0: float, y1: float) -> tuple[float, float]:
    return (L + (W - L - R) * (x - x0) / (x1 - x0), H - B - (H - T - B) * (y - y0) / (y1 - y0))


def scatter(series: Mapping[str, Sequence[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
            max_points: int = 3000) -> str:
    points = [p for s in series.values() for p in s]
    if not points:
        return _empty(title)
    x0, x1 = _nice(min(p[0] for p in points), max(p[0] for p in points))
    y0, y1 = _nice(0.0, max(p[1] for p in points) * 1.05)
    body = []
    for i, pts in enumerate(series.values()):
        step = max(1, math.ceil(len(pts) / max_points))
        for x, y in list(pts)[::step]:
            px, py = _xy(x, y, x0, x1, y0, y1)
            body.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="1.6" fill="{COLORS[i % len(COLORS)]}" fill-opacity="0.6"/>')
    return _frame(title, xlabel, ylabel, x0, x1, y0, y1, "".join(body), list(series))


def lines(series: Mapping[str, Sequence[tuple[float, float]]], title: str, xlabel: str, ylabel: str,
          shade: tuple[float, float] | None = None) -> str:
    points = [p for s in series.values() for p in s]
    if not points:
        return _empty(title)
    x0, x1 = _nice(min(p[0] for p in points), max(p[0] for p in points))
    y0, y1 = _nice(0.0, max(p[1] for p in points) * 1.05)
    body = []
    if shade is not None:
        a, _ = _xy(max(shade[0], x0), 0, x0, x1, y0, y1)
        b, _ = _xy(min(shade[1], x1), 0, x0, x1, y0, y1)
        body.append(f'<rect x="{a:.1f}" y="{T}" width="{max(b - a, 0):.1f}" height="{H - T - B}" fill="#f3f3d8"/>')
    for i, pts in enumerate(series.values()):
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (_xy(x, y, x0, x1, y0, y1) for x, y in pts))
        body.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5"/>')
    return _frame(title, xlabel, ylabel, x0, x1, y0, y1, "".join(body), list(series))
