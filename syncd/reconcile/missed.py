"""Missed events: orders the ledger never applied, safe earlier cursors to pull from again, till
files never applied. Pure: the engine lists what the channel has and what the ledger has."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

CHANNEL_TIME = "%Y-%m-%d %H:%M:%S"  # how PrestaShop and Magento cursors are written
FIRST_DAY = datetime(1970, 1, 2)  # noqa: DTZ001 - a shop's wall time, like its cursors


def _parse(value: str) -> datetime | None:
    try:
        return datetime.strptime(value, CHANNEL_TIME)  # noqa: DTZ007 - the channel's wall time
    except ValueError:
        return None


def rewind_cursors(cursors: Mapping[str, str], seconds: float) -> dict[str, str]:
    """The cursors moved ``seconds`` back, to pull again what was updated while we were down.

    Only time cursors (``YYYY-MM-DD HH:MM:SS``) move; file and offset cursors stay, because a
    file is identified by its content, not by a position in time. Pulling again is harmless:
    a document version already applied changes nothing.
    """
    out = dict(cursors)
    for key, value in cursors.items():
        when = _parse(value)
        if when is not None:
            out[key] = max(FIRST_DAY, when - timedelta(seconds=seconds)).strftime(CHANNEL_TIME)
    return out


def newest_time(cursors: Mapping[str, str]) -> str:
    """The latest time cursor ("" when the channel has none): where the next pull starts."""
    times = [v for v in cursors.values() if _parse(v) is not None]
    return max(times, default="")


def earliest_cursors(cursors: Mapping[str, str], before: str) -> dict[str, str]:
    """The cursors moved back to just before ``before`` (a channel time), never forward."""
    target = _parse(before)
    out = dict(cursors)
    if target is None:
        return out
    moved = max(FIRST_DAY, target - timedelta(seconds=1)).strftime(CHANNEL_TIME)
    for key, value in cursors.items():
        when = _parse(value)
        if when is not None and when > target:
            out[key] = moved
    return out


@dataclass(frozen=True, slots=True)
class MissingOrder:
    order_id: str
    updated: str  # the channel's update time of the order (its cursor format)


def missing_orders(
    channel_orders: Mapping[str, str],
    known: Iterable[str],
    *,
    since: str = "",
    before: str = "",
) -> list[MissingOrder]:
    """Orders the channel has (id → update time) that the ledger never applied, oldest id first.

    ``since`` (a channel time) leaves out orders before the configured start, which the ledger
    is not meant to have; ``before`` (the ingest cursor) leaves out orders updated since, which
    the next pull reads anyway. Times compare as text (``YYYY-MM-DD HH:MM:SS``).
    """
    have = set(known)
    out = [
        MissingOrder(order_id, updated)
        for order_id, updated in channel_orders.items()
        if order_id not in have
        and (not since or updated >= since)
        and (not before or updated < before)
    ]
    out.sort(key=lambda m: (len(m.order_id), m.order_id))
    return out


def id_gaps(ids: Iterable[str]) -> list[int]:
    """Numbers missing between the smallest and largest numeric id (deleted or missed orders)."""
    numbers = sorted({int(i) for i in ids if i.isdigit()})
    if len(numbers) < 2:
        return []
    present = set(numbers)
    return [n for n in range(numbers[0], numbers[-1]) if n not in present]


@dataclass(frozen=True, slots=True)
class TillFile:
    name: str
    folder: str  # inbox | done
    sha256: str


def missing_files(files: Iterable[TillFile], cursors: Mapping[str, str]) -> list[TillFile]:
    """Till files whose content the ledger has no record of applying.

    A file still in the inbox is on its way (the ingest loop reads it); one in ``done/`` was
    moved there after a commit the ledger no longer has (a restored backup, another ledger).
    """
    seen: set[str] = set()
    out = []
    for f in sorted(files, key=lambda f: (f.folder, f.name)):
        if f.sha256 in seen:
            continue
        seen.add(f.sha256)
        if cursors.get(f"file:{f.sha256}") != "done":
            out.append(f)
    return out
