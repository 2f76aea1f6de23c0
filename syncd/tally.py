"""Counts of a repeated event (failed logins, refused webhooks), logged as one line per window:
an attack is a line a minute with its figures, not a line per request."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any


class Tally:
    """``add("failures", source="10.0.0.5")``; the first count of a window schedules its line,
    written ``window`` seconds later (or by :meth:`flush`, e.g. when the daemon stops)."""

    def __init__(
        self,
        log: Any,
        event: str,
        *,
        window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = log
        self._event = event
        self._window = window
        self._clock = clock
        self._counts: Counter[str] = Counter()
        self._sources: Counter[str] = Counter()
        self._started: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def add(self, counter: str, *, source: str | None = None, **_: Any) -> None:
        now = self._clock()
        if self._started is None:
            self._started = now
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
            if loop is not None:
                self._timer = loop.call_later(self._window, self.flush)
        self._counts[counter] += 1
        if source:
            self._sources[source] += 1
        if now - self._started >= self._window:
            self.flush()

    def flush(self) -> None:
        """Write the line for what was counted (nothing when nothing was)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._counts or self._started is None:
            self._started = None
            return
        self._log.warning(
            self._event,
            **dict(self._counts),
            clients=len(self._sources),
            busiest=dict(self._sources.most_common(3)),
            seconds=round(self._clock() - self._started, 1),
        )
        self._counts.clear()
        self._sources.clear()
        self._started = None
