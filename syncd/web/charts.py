"""Small charts rendered on the server as inline SVG: no script, no CDN, readable offline.

Colours come from one palette with enough contrast on white; every chart has a title and a text
summary (``<title>``/``<desc>``) for screen readers, and a legend that does not rely on colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from markupsafe import Markup, escape

# Dark enough for 3:1 against white (WCAG 1.4.11 non-text contrast).
PALETTE = ("#1f5fa8", "#b3421b", "#2d7a3a", "#7b3fa0", "#8a6d00", "#0f7b83")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "4 4", "1 2")

WIDTH = 460
HEIGHT = 220
PAD_LEFT = 60
PAD_RIGHT = 14
PAD_TOP = 14
PAD_BOTTOM = 30


@dataclass(frozen=True, slots=True)
class Series:
    label: str
    points: Sequence[tuple[datetime, float]]
    color: str
    dash: str = ""


def colors_for(names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """A stable colour and dash pattern per channel, in the order the channels are configured."""
    return {
        name: (PALETTE[i % len(PALETTE)], DASHES[i % len(DASHES)]) for i, name in enumerate(names)
    }


def nice_ceiling(value: float) -> float:
    """1, 2, 2.5 or 5 times a power of ten, at least ``value`` (and never 0)."""
    if value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        candidate = step * 10.0**exponent
        if candidate >= value * 0.999:
            return candidate
    return 10.0 ** (exponent + 1)


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _tick_step(span: timedelta) -> timedelta:
    for minutes in (5, 10, 15, 30, 60, 120, 180, 360):
        if span / timedelta(minutes=minutes) <= 5:
            return timedelta(minutes=minutes)
    return timedelta(hours=12)


def _time_ticks(start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    step = _tick_step(end - start)
    local = start.astimezone(zone)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    first = midnight + step * math.ceil((local - midnight) / step)
    ticks = []
    tick = first
    while tick <= end:
        ticks.append(tick)
        tick += step
    return ticks


def _frame(title: str, summary: str, body: list[str], css_class: str) -> Markup:
    ident = f"chart-{abs(hash((title, summary))) % 10**8}"
    parts = [
        f'<svg class="{css_class}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-t">{escape(title)}</title>',
        f'<desc id="{ident}-d">{escape(summary)}</desc>',
        *body,
        "</svg>",
    ]
    return Markup("".join(parts))


def _axes(
    y_max: float, y_label: Callable[[float], str], ticks: Sequence[tuple[float, str]]
) -> list[str]:
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    out = []
    for i in range(3):  # 0, half, top: nice numbers since y_max is 1, 2, 2.5 or 5 × 10ⁿ
        value = y_max * i / 2
        y = PAD_TOP + plot_h - plot_h * i / 2
        out.append(
            f'<line x1="{PAD_LEFT}" y1="{y:.1f}" x2="{WIDTH - PAD_RIGHT}" y2="{y:.1f}" '
            f'stroke="#d0d4d9" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="14" '
            f'fill="#333">{escape(y_label(value))}</text>'
        )
    base = PAD_TOP + plot_h
    for x, label in ticks:
        out.append(
            f'<line x1="{x:.1f}" y1="{base}" x2="{x:.1f}" y2="{base + 4}" stroke="#555"/>'
            f'<text x="{x:.1f}" y="{base + 20}" text-anchor="middle" font-size="14" '
            f'fill="#333">{escape(label)}</text>'
        )
    return out


def line_chart(
    series: Sequence[Series],
    *,
    start: datetime,
    end: datetime,
    zone: tzinfo,
    title: str,
    empty_text: str,
    y_label: Callable[[float], str],
    summarize: Callable[[Series], str],
) -> Markup:
    """One line per series over [start, end]; values ≥ 0."""
    drawn = [s for s in series if s.points]
    if not drawn:
        return _frame(title, empty_text, [_empty(empty_text)], "chart chart-empty")
    top = max(v for s in drawn for _t, v in s.points)
    y_max = nice_ceiling(top)
    span = max((end - start).total_seconds(), 1.0)
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x_of(when: datetime) -> float:
        return PAD_LEFT + plot_w * max(0.0, (when - start).total_seconds()) / span

    def y_of(value: float) -> float:
        return PAD_TOP + plot_h - plot_h * min(value, y_max) / y_max

    ticks = [(x_of(t), t.strftime("%H:%M")) for t in _time_ticks(start, end, zone)]
    body = _axes(y_max, y_label, ticks)
    for s in drawn:
        coords = " ".join(f"{x_of(t):.1f},{y_of(v):.1f}" for t, v in s.points)
        dash = f' stroke-dasharray="{s.dash}"' if s.dash else ""
        body.append(
            f'<polyline fill="none" stroke="{s.color}" stroke-width="2" '
            f'stroke-linejoin="round"{dash} points="{coords}"><title>{escape(s.label)}</title>'
            f"</polyline>"
        )
        if len(s.points) == 1:
            (t, v) = s.points[0]
            body.append(f'<circle cx="{x_of(t):.1f}" cy="{y_of(v):.1f}" r="3" fill="{s.color}"/>')
    summary = "; ".join(summarize(s) for s in drawn)
    return _frame(title, summary, body, "chart")


def bar_chart(
    hours: Sequence[datetime],
    stacks: Mapping[str, Sequence[int]],
    colors: Mapping[str, tuple[str, str]],
    *,
    zone: tzinfo,
    title: str,
    empty_text: str,
    summarize: Callable[[str, int], str],
) -> Markup:
    """Stacked bars, one per hour, one segment per channel."""
    totals = [sum(values[i] for values in stacks.values()) for i in range(len(hours))]
    if not hours or not any(totals):
        return _frame(title, empty_text, [_empty(empty_text)], "chart chart-empty")
    y_max = nice_ceiling(max(totals))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / len(hours)
    bar = max(1.0, slot * 0.7)
    every = max(1, math.ceil(len(hours) / 6))
    ticks = [
        (PAD_LEFT + slot * (i + 0.5), hour.astimezone(zone).strftime("%Hh"))
        for i, hour in enumerate(hours)
        if i % every == 0
    ]
    body = _axes(y_max, lambda v: _num(v), ticks)
    for i, hour in enumerate(hours):
        x = PAD_LEFT + slot * i + (slot - bar) / 2
        y = float(PAD_TOP + plot_h)
        for channel, values in stacks.items():
            units = values[i]
            if units <= 0:
                continue
            height = plot_h * units / y_max
            y -= height
            color = colors.get(channel, (PALETTE[0], ""))[0]
            label = f"{channel} {hour.astimezone(zone):%H}h: {units}"
            body.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{height:.1f}" '
                f'fill="{color}" stroke="#fff" stroke-width="0.5"><title>{escape(label)}</title>'
                f"</rect>"
            )
    summary = "; ".join(summarize(ch, sum(v)) for ch, v in stacks.items())
    return _frame(title, summary, body, "chart")


def _empty(text: str) -> str:
    return (
        f'<rect x="1" y="1" width="{WIDTH - 2}" height="{HEIGHT - 2}" fill="#f6f7f8" '
        f'stroke="#d0d4d9"/><text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" '
        f'font-size="14" fill="#444">{escape(text)}</text>'
    )
