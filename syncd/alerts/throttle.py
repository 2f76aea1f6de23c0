"""When alert mails may go out: the first of an incident at once, the rest grouped per window,
never more than a few an hour; and when the daily digest is due. Pure decisions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Throttle:
    window: timedelta = timedelta(seconds=60)
    max_per_hour: int = 12

    def next_mail_at(self, now: datetime, recent: Sequence[datetime]) -> datetime:
        """When the next alert mail may be built, given when the recent ones were (≥ the last
        hour's). No mail within the window: now, the first of an incident goes at once. Else
        at the end of the window, so whatever arrives meanwhile shares one mail; and once
        ``max_per_hour`` went out within an hour, not before the oldest of them is an hour
        old (a flapping channel never becomes a mail storm)."""
        due = now
        if recent:
            due = max(due, max(recent) + self.window)
            last_hour = sorted(t for t in recent if t > now - HOUR)
            if len(last_hour) >= self.max_per_hour:
                due = max(due, last_hour[-self.max_per_hour] + HOUR)
        return due


def digest_day(now: datetime, zone: ZoneInfo, at: tuple[int, int] | None) -> date | None:
    """The local day whose digest is due at ``now`` (the digest time has passed), or None."""
    if at is None:
        return None
    local = now.astimezone(zone)
    if (local.hour, local.minute) >= at:
        return local.date()
    return None
