"""The kit rows of the apply path: load the kits a batch needs.

A load step the document writer (:mod:`syncd.ledger.apply`) calls: every kit that is, or holds, a
SKU of the batch, with all its components. The rules are the planner's; a component's movement
names its kit in the movements' own ``kit`` column (``insert_movement``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from syncd.ledger.planner import Kit
from syncd.ledger.sqlbase import Tx


async def load_kits(tx: Tx, skus: Sequence[str], *, probe: bool = False) -> dict[str, Kit]:
    """Every kit that is, or holds, one of ``skus`` (or a component of a kit among them), with
    all its components.

    ``probe``: where a statement costs microseconds (SQLite, in process), look first whether the
    ledger has any kit at all; a ledger without kits then pays almost nothing for them. Over a
    network (PostgreSQL) that look would be one more round trip: the one query answers instead.
    """
    if not skus:
        return {}
    if probe and not await tx.fetch("kits_exist"):
        return {}
    return kits_from_rows(await tx.fetch("kits_for", list(skus)))


def kits_from_rows(rows: Iterable[Sequence[Any]]) -> dict[str, Kit]:
    """Kits from ``(kit, component, quantity, derived_by)`` rows (``kits_for``, the snapshot)."""
    parts: dict[str, dict[str, int]] = {}
    derived: dict[str, frozenset[str]] = {}
    for kit, component, quantity, derived_by in rows:
        parts.setdefault(kit, {})[component] = int(quantity)
        derived[kit] = channel_set(derived_by)
    return {kit: Kit(kit, components, derived[kit]) for kit, components in parts.items()}


def kit_skus(kits: Mapping[str, Kit]) -> set[str]:
    """The kits and all their components: the SKUs whose rows a batch with these kits needs."""
    return set(kits) | {c for kit in kits.values() for c in kit.components}


def channel_set(text: str) -> frozenset[str]:
    """The channels of a ``derived_by`` column (comma-separated; channel names have no comma)."""
    return frozenset(c for c in text.split(",") if c)
