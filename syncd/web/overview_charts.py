"""The overview's three pictures (time for a sale to reach each channel, how long updates
waited, units sold per hour), as inline SVG with their data for the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from syncd.i18n import Translator
from syncd.web.charts import Series, bar_chart, colors_for, line_chart
from syncd.web.history import History, Point

if TYPE_CHECKING:
    from syncd.web.view import DaemonView


def _window(history: History, now: datetime) -> tuple[datetime, datetime | None]:
    """The charts' span (the last 24 hours, at least 5 minutes) and, when the history is younger
    than a day (it lives in memory), since when it exists."""
    day = now - timedelta(hours=24)
    first = max(day, history.started or now)
    start = min(first, now - timedelta(minutes=5))
    return start, (first if first > day else None)


def _series(points: dict[str, list[Point]], colors: dict[str, tuple[str, str]]) -> list[Series]:
    out = []
    for channel, values in points.items():
        color, dash = colors.get(channel, ("#1f5fa8", ""))
        out.append(Series(channel, [(p.at, p.value) for p in values], color, dash))
    return out


async def charts(
    daemon: DaemonView, history: History, t: Translator, now: datetime
) -> dict[str, Any]:
    """The three pictures of the overview, as inline SVG, with their data for the API."""
    assert daemon.store is not None
    names = list(daemon.runners)
    colors = colors_for(names)
    start, since = _window(history, now)
    end = now
    span = t.gettext("since %(time)s", time=t.time(since)) if since else t.gettext("last 24 hours")
    latency = history.latency_series(now)
    lag = history.lag_series(now)

    def line_summary(s: Series) -> str:
        values = [v for _at, v in s.points]
        return t.gettext(
            "%(label)s: latest %(last)s, highest %(high)s",
            label=s.label,
            last=t.seconds(values[-1]),
            high=t.seconds(max(values)),
        )

    first_hour = (now - timedelta(hours=23)).replace(minute=0, second=0, microsecond=0)
    hours = [first_hour + timedelta(hours=i) for i in range(24)]
    sales = await daemon.store.sales_per_hour(first_hour)
    index = {h: i for i, h in enumerate(hours)}
    stacks: dict[str, list[int]] = {name: [0] * len(hours) for name in names}
    for row in sales:
        if row.hour in index:
            stacks.setdefault(row.channel, [0] * len(hours))[index[row.hour]] += row.units
    return {
        "span": span,
        "legend": [{"channel": n, "color": colors[n][0], "dash": colors[n][1]} for n in names],
        "latency_svg": line_chart(
            _series(latency, colors),
            start=start,
            end=end,
            zone=t.zone,
            title=t.gettext("Time for a sale to reach each channel (median per minute)"),
            empty_text=t.gettext("Nothing recorded yet."),
            y_label=t.seconds,
            summarize=line_summary,
        ),
        "lag_svg": line_chart(
            _series(lag, colors),
            start=start,
            end=end,
            zone=t.zone,
            title=t.gettext("How long updates waited per channel"),
            empty_text=t.gettext("Nothing recorded yet."),
            y_label=t.seconds,
            summarize=line_summary,
        ),
        "sales_svg": bar_chart(
            hours,
            stacks,
            colors,
            zone=t.zone,
            title=t.gettext("Units sold per channel per hour"),
            empty_text=t.gettext("Nothing recorded yet."),
            summarize=lambda ch, total: t.ngettext(
                "%(label)s: %(num)d unit", "%(label)s: %(num)d units", total, label=ch
            ),
        ),
        "latency": {ch: [[p.at, round(p.value, 4)] for p in pts] for ch, pts in latency.items()},
        "lag": {ch: [[p.at, round(p.value, 1)] for p in pts] for ch, pts in lag.items()},
        "sales_per_hour": {
            ch: [[h, units] for h, units in zip(hours, values, strict=True) if units]
            for ch, values in stacks.items()
        },
    }
