"""The `[reconcile]` table → a frozen, typed ReconcileSettings; every problem is a ConfigIssue."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncd.settings import ConfigIssue


@dataclass(frozen=True, slots=True)
class ReconcileSettings:
    """When the daemon reconciles, and what it does about what it finds."""

    enabled: bool = True
    interval_seconds: float = 3600.0  # a scheduled run this often
    after_recovery: bool = True  # and one for a channel back from an outage
    after_outage_seconds: float = 300.0  # an outage at least this long (a blip is not one)
    fix: bool = True  # queue corrections (False: report only)
    channels: tuple[str, ...] = ()  # () = every channel that is pushed to
    repull_seconds: float = 86_400.0  # orders updated this far back are pulled again
    drift_again_seconds: float = 10_800.0  # drift within this time after a fix is a conflict
    first_run_seconds: float = 300.0  # the first scheduled run, this long after start-up


def parse_reconcile(
    table: Mapping[str, Any],
    *,
    file: str,
    issues: list[ConfigIssue],
    channel_names: Sequence[str],
) -> ReconcileSettings:
    """Read the `[reconcile]` table; problems are appended to ``issues`` (never raised here)."""
    from syncd.settings import TableReader

    r = TableReader(table, file=file, prefix="reconcile", issues=issues)
    interval = r.number("interval_seconds", 3600.0, minimum=0.1, maximum=7 * 86_400)
    channels = r.string_list("channels", ())
    unknown = [c for c in channels if c not in channel_names]
    if unknown:
        r.problem(
            "channels",
            f"unknown channel(s) {', '.join(unknown)}",
            f"one or more of: {', '.join(channel_names)}",
        )
    drift_again = r.number("drift_again_seconds", max(10_800.0, 3 * interval), minimum=1)
    if drift_again < interval:
        r.problem(
            "drift_again_seconds",
            f"{drift_again:g} is shorter than interval_seconds ({interval:g}): drift found by "
            "the next run after a fix would never be a conflict",
            f"drift_again_seconds = {3 * interval:g}",
        )
    settings = ReconcileSettings(
        enabled=r.boolean("enabled", True),
        interval_seconds=interval,
        after_recovery=r.boolean("after_recovery", True),
        after_outage_seconds=r.number("after_outage_seconds", 300.0, minimum=0, maximum=86_400),
        fix=r.boolean("fix", True),
        channels=tuple(c for c in channels if c in channel_names),
        repull_seconds=r.number("repull_seconds", 86_400.0, minimum=0, maximum=90 * 86_400),
        drift_again_seconds=drift_again,
        first_run_seconds=r.number("first_run_seconds", 300.0, minimum=0, maximum=86_400),
    )
    r.reject_unknown()
    return settings
