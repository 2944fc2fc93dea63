"""Tiny inline-SVG charts for the self-contained HTML report (no JavaScript, no internet)."""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

__all__ = ["bars", "cdf", "change_bars", "histogram", "lines", "marked_lines", "scatter"]

W, H = 640, 260
L, R, T, B = 60, 20, 30, 40  # margins
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")


def _nice(lo: float, hi: float) -> tuple[float, float]:
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


def _frame(title: str, xlabel: str, ylabel: str, x0: float, x1: float, y0: float, y1: float, body: str,
           legend: Sequence[str] = (), *, xticks: bool = True) -> str:
    ticks = []
    for i in range(5):
        fx = x0 + (x1 - x0) * i / 4
        fy = y0 + (y1 - y0) * i / 4
        px = L + (W - L - R) * i / 4
        py = H - B - (H - T - B) * i / 4
        if xticks:
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


def cdf(series: Mapping[str, Sequence[float]], title: str, xlabel: str, max_points: int = 400) -> str:
    """Cumulative distributions side by side: for each run, the share of requests at or below x."""
    values = {name: sorted(v) for name, v in series.items() if v}
    if not values:
        return _empty(title)
    x0 = 0.0
    x1 = max(v[-1] for v in values.values()) * 1.02
    x0, x1 = _nice(x0, x1)
    body = []
    for i, data in enumerate(values.values()):
        step = max(1, math.ceil(len(data) / max_points))
        pts = [*[(x, (k + 1) / len(data)) for k, x in enumerate(data)][::step], (data[-1], 1.0)]
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in (_xy(x, y, x0, x1, 0.0, 1.0) for x, y in pts))
        body.append(f'<polyline points="{path}" fill="none" stroke="{COLORS[i % len(COLORS)]}" stroke-width="1.5"/>')
    return _frame(title, xlabel, "share of requests", x0, x1, 0.0, 1.0, "".join(body), list(values))


def bars(categories: Sequence[str], series: Mapping[str, Sequence[float | None]], title: str, ylabel: str) -> str:
    """Grouped bars: one group per category, one bar per series (a missing figure: no bar, "n/a")."""
    numbers = [v for vals in series.values() for v in vals if v is not None]
    if not numbers or not categories:
        return _empty(title)
    y0, y1 = _nice(0.0, max(numbers) * 1.1)
    group_w = (W - L - R) / len(categories)
    bar_w = group_w * 0.8 / max(1, len(series))
    body = []
    for c, label in enumerate(categories):
        gx = L + c * group_w + group_w * 0.1
        body.append(f'<text x="{gx + group_w * 0.4:.1f}" y="{H - B + 28}" text-anchor="middle">{html.escape(label)}</text>')
        for s, vals in enumerate(series.values()):
            v = vals[c] if c < len(vals) else None
            x = gx + s * bar_w
            if v is None:
                body.append(f'<text x="{x + bar_w / 2:.1f}" y="{H - B - 4}" text-anchor="middle" font-size="9">n/a</text>')
                continue
            _, top = _xy(0, v, 0, 1, y0, y1)
            body.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(bar_w - 2, 1):.1f}" height="{H - B - top:.1f}" '
                        f'fill="{COLORS[s % len(COLORS)]}"><title>{html.escape(f"{label}: {v:.4g}")}</title></rect>')
    return _frame(title, "", ylabel, 0.0, float(len(categories)), y0, y1, "".join(body), list(series), xticks=False)


def marked_lines(series: Mapping[str, Sequence[tuple[float, float | None]]], title: str, xlabel: str, ylabel: str,
                 marks: Sequence[tuple[float, str]] = ()) -> str:
    """Lines with points, and vertical marks (e.g. the knee of a sweep) labelled."""
    points = [(x, y) for s in series.values() for x, y in s if y is not None]
    if not points:
        return _empty(title)
    xs = [p[0] for p in points] + [m[0] for m in marks]
    x0, x1 = _nice(min(xs), max(xs))
    y0, y1 = _nice(0.0, max(p[1] for p in points) * 1.1)
    body = []
    for x, label in marks:
        px, _ = _xy(x, 0, x0, x1, y0, y1)
        body.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{T}" y2="{H - B}" stroke="#d62728" stroke-dasharray="4 3"/>'
                    f'<text x="{px + 3:.1f}" y="{T + 10}" fill="#d62728">{html.escape(label)}</text>')
    for i, pts in enumerate(series.values()):
        xy = [_xy(x, y, x0, x1, y0, y1) for x, y in pts if y is not None]
        color = COLORS[i % len(COLORS)]
        body.append(f'<polyline points="{" ".join(f"{px:.1f},{py:.1f}" for px, py in xy)}" fill="none" '
                    f'stroke="{color}" stroke-width="1.5"/>')
        body.extend(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>' for px, py in xy)
    return _frame(title, xlabel, ylabel, x0, x1, y0, y1, "".join(body), list(series))


def change_bars(rows: Sequence[tuple[str, float | None, bool | None]], title: str) -> str:
    """Horizontal bars of the relative change of each figure (red: worse, green: better, "n/a": not measured)."""
    if not rows:
        return _empty(title)
    height = T + B + 18 * len(rows)
    known = [abs(c) for _, c, _ in rows if c is not None]
    span = max(known, default=0.1) * 1.15 or 0.1
    left, right = 200, W - R
    mid = (left + right) / 2
    body = [f'<line x1="{mid}" x2="{mid}" y1="{T}" y2="{height - B + 6}" stroke="#000"/>',
            f'<text x="{left}" y="{height - 8}">{-span:+.0%}</text>',
            f'<text x="{right}" y="{height - 8}" text-anchor="end">{span:+.0%}</text>']
    for i, (name, change, worse) in enumerate(rows):
        y = T + 18 * i
        body.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{html.escape(name)}</text>')
        if change is None:
            body.append(f'<text x="{mid + 4}" y="{y + 12}">n/a</text>')
            continue
        width = (right - mid) * abs(change) / span
        x = mid if change >= 0 else mid - width
        color = "#d62728" if worse else "#2ca02c"
        body.append(f'<rect x="{x:.1f}" y="{y + 2}" width="{max(width, 1):.1f}" height="13" fill="{color}">'
                    f'<title>{html.escape(f"{name}: {change:+.1%}")}</title></rect>'
                    f'<text x="{(x + width + 4) if change >= 0 else (x - 4):.1f}" y="{y + 12}" '
                    f'text-anchor="{"start" if change >= 0 else "end"}" font-size="10">{change:+.1%}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{height}" font-family="sans-serif" font-size="11">'
            f'<text x="{W / 2}" y="16" text-anchor="middle" font-size="13" font-weight="bold">{html.escape(title)}</text>'
            + "".join(body) + "</svg>")
