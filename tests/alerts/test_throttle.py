"""The throttle's decisions, alone: at once, then per window, never more than N an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from syncd.alerts.throttle import Throttle, digest_day

T = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


def test_the_first_mail_goes_at_once_then_one_per_window() -> None:
    throttle = Throttle(timedelta(seconds=60), max_per_hour=12)
    assert throttle.next_mail_at(T, []) == T
    assert throttle.next_mail_at(T, [T - timedelta(seconds=10)]) == T + timedelta(seconds=50)
    assert throttle.next_mail_at(T, [T - timedelta(seconds=90)]) == T


def test_a_storm_is_capped_per_hour() -> None:
    throttle = Throttle(timedelta(seconds=60), max_per_hour=3)
    sent: list[datetime] = []
    now = T
    for _ in range(24 * 60):  # something new every minute for a day
        if throttle.next_mail_at(now, sent) <= now:
            sent.append(now)
        now += timedelta(minutes=1)
    assert len(sent) <= 3 * 24
    for start in sent:  # never more than 3 in any hour
        assert sum(start <= t < start + timedelta(hours=1) for t in sent) <= 3


def test_the_digest_is_due_after_its_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert digest_day(datetime(2026, 3, 14, 6, 59, tzinfo=UTC), paris, (8, 0)) is None
    day = digest_day(datetime(2026, 3, 14, 7, 0, tzinfo=UTC), paris, (8, 0))
    assert day is not None and day.isoformat() == "2026-03-14"
    assert digest_day(T, paris, None) is None
