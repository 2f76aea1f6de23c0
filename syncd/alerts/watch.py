"""Channel outages: a channel degraded, down or refused longer than a threshold is reported once
per outage, and its return is reported too. Pure: the alert service acts on the decisions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

BAD_STATES = frozenset({"degraded", "down", "refused"})
GOOD_STATES = frozenset({"in_sync", "catching_up"})


@dataclass(frozen=True, slots=True)
class Observation:
    channel: str
    state: str
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class ChannelDown:
    channel: str
    state: str
    since: datetime
    last_error: str

    def minutes(self, now: datetime) -> int:
        return int((now - self.since).total_seconds() // 60)


@dataclass(frozen=True, slots=True)
class ChannelBack:
    channel: str
    conflict_id: int
    since: datetime


@dataclass(slots=True)
class _Outage:
    since: datetime
    state: str
    last_error: str
    conflict_id: int | None = None  # set once reported
    reported: bool = False


class ChannelWatch:
    """Follows each channel's state over time; `observe` says what to report."""

    def __init__(self, threshold: timedelta) -> None:
        self.threshold = threshold
        self._outages: dict[str, _Outage] = {}

    def resume(self, channel: str, conflict_id: int, since: datetime) -> None:
        """An outage already reported before a restart: not reported again, its end is."""
        self._outages[channel] = _Outage(since, "down", "", conflict_id, True)

    def reported(self, channel: str, conflict_id: int) -> None:
        outage = self._outages.get(channel)
        if outage is not None:
            outage.conflict_id = conflict_id

    def observe(
        self, observations: Iterable[Observation], now: datetime
    ) -> list[ChannelDown | ChannelBack]:
        actions: list[ChannelDown | ChannelBack] = []
        for obs in observations:
            outage = self._outages.get(obs.channel)
            if obs.state in BAD_STATES:
                if outage is None:
                    outage = self._outages[obs.channel] = _Outage(now, obs.state, obs.last_error)
                outage.state = obs.state
                outage.last_error = obs.last_error or outage.last_error
                if not outage.reported and now - outage.since >= self.threshold:
                    outage.reported = True
                    actions.append(
                        ChannelDown(obs.channel, outage.state, outage.since, outage.last_error)
                    )
            elif obs.state in GOOD_STATES and outage is not None:
                del self._outages[obs.channel]
                if outage.reported and outage.conflict_id is not None:
                    actions.append(ChannelBack(obs.channel, outage.conflict_id, outage.since))
        return actions
