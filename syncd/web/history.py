"""The last 24 hours in memory: propagation latency and lag per channel, one point per minute.

Ring buffers fed by the daemon's events (each ``stock_pushed`` carries how long its figure waited
between entering the outbox and the shop confirming it) and by a sampler reading the outbox's lag.
They are lost on restart, which the charts say by starting "since" the first point.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

DAY_MINUTES = 24 * 60
HOUR = timedelta(hours=1)
HOUR_MINUTES = 60
SAMPLE_SIZE = 200  # latencies kept per channel and minute (a uniform reservoir sample)


def minute_of(when: datetime) -> datetime:
    return when.replace(second=0, microsecond=0)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def weighted_percentile(values: list[tuple[float, float]], q: float) -> float | None:
    """Percentile of (value, weight) pairs: each minute's sample stands for all its pushes."""
    if not values:
        return None
    ordered = sorted(values)
    total = sum(w for _v, w in ordered)
    target = q * total
    running = 0.0
    for value, weight in ordered:
        running += weight
        if running >= target - 1e-9:
            return value
    return ordered[-1][0]


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime  # start of the minute, UTC
    value: float


@dataclass(slots=True)
class _Minute:
    """One channel's pushes in one minute: their count, a sample, and (once closed) the median."""

    at: datetime
    count: int = 0
    sample: list[float] = field(default_factory=list)
    median: float = 0.0

    def add(self, value: float, rng: random.Random) -> None:
        self.count += 1
        if len(self.sample) < SAMPLE_SIZE:
            self.sample.append(value)
        else:
            slot = rng.randrange(self.count)
            if slot < SAMPLE_SIZE:
                self.sample[slot] = value

    def close(self) -> None:
        self.median = percentile(sorted(self.sample), 0.5) or 0.0

    def weighted(self) -> list[tuple[float, float]]:
        weight = self.count / len(self.sample) if self.sample else 0.0
        return [(v, weight) for v in self.sample]


@dataclass(frozen=True, slots=True)
class LatencySummary:
    samples: int
    p50: float | None
    p99: float | None


class History:
    """Per-minute series of the last day, per channel."""

    def __init__(self, minutes: int = DAY_MINUTES) -> None:
        self.minutes = minutes
        self.started: datetime | None = None
        self._latency: dict[str, deque[_Minute]] = {}
        self._lag: dict[str, deque[Point]] = {}
        self._rng = random.Random()

    def _mark(self, when: datetime) -> None:
        if self.started is None or when < self.started:
            self.started = minute_of(when)

    def record_latency(self, channel: str, seconds: float, when: datetime) -> None:
        """A figure reached ``channel`` ``seconds`` after it was queued."""
        self._mark(when)
        minutes = self._latency.setdefault(channel, deque(maxlen=self.minutes))
        at = minute_of(when)
        if not minutes or minutes[-1].at != at:
            if minutes:
                minutes[-1].close()
            if len(minutes) > HOUR_MINUTES:
                minutes[
                    -HOUR_MINUTES - 1
                ].sample.clear()  # older than an hour: the median is enough
            minutes.append(_Minute(at))
        minutes[-1].add(seconds, self._rng)

    def record_lag(self, channel: str, seconds: float, when: datetime) -> None:
        """The age of the channel's oldest queued figure; the minute keeps its highest value."""
        self._mark(when)
        points = self._lag.setdefault(channel, deque(maxlen=self.minutes))
        at = minute_of(when)
        if points and points[-1].at == at:
            if seconds > points[-1].value:
                points[-1] = Point(at, seconds)
        else:
            points.append(Point(at, seconds))

    def latency_summary(self, now: datetime, channel: str | None = None) -> LatencySummary:
        """p50 and p99 of the propagation latency over the last hour."""
        since = now - HOUR
        weighted: list[tuple[float, float]] = []
        count = 0
        for name, minutes in self._latency.items():
            if channel is not None and name != channel:
                continue
            for minute in reversed(minutes):
                if minute.at <= since:
                    break
                count += minute.count
                weighted.extend(minute.weighted())
        return LatencySummary(
            count, weighted_percentile(weighted, 0.5), weighted_percentile(weighted, 0.99)
        )

    def latency_series(self, now: datetime) -> dict[str, list[Point]]:
        since = now - timedelta(minutes=self.minutes)
        out = {}
        for channel, minutes in sorted(self._latency.items()):
            if minutes and minutes[-1].sample:
                minutes[-1].close()  # the running minute: its median so far
            out[channel] = [Point(m.at, m.median) for m in minutes if m.at >= since]
        return out

    def lag_series(self, now: datetime) -> dict[str, list[Point]]:
        since = now - timedelta(minutes=self.minutes)
        return {
            channel: [p for p in points if p.at >= since]
            for channel, points in sorted(self._lag.items())
        }
