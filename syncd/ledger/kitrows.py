"""The kit rows of the apply path: load the kits a batch needs, write movements naming a kit.

Two steps the document writer (:mod:`syncd.ledger.apply`) calls, kept apart from it: a load step
(every kit that is, or holds, a SKU of the batch, with all its components) and a write step
(component movements that name the kit they were sold as part of). The rules are the planner's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from syncd.domain import Movement
from syncd.ledger.planner import Kit
from syncd.ledger.sqlbase import Tx
from syncd.ledger.values import to_us


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
    parts: dict[str, dict[str, int]] = {}
    derived: dict[str, frozenset[str]] = {}
    for kit, component, quantity, derived_by in await tx.fetch("kits_for", list(skus)):
        parts.setdefault(kit, {})[component] = int(quantity)
        derived[kit] = channel_set(derived_by)
    return {kit: Kit(kit, components, derived[kit]) for kit, components in parts.items()}


def kit_skus(kits: Mapping[str, Kit]) -> set[str]:
    """The kits and all their components: the SKUs whose rows a batch with these kits needs."""
    return set(kits) | {c for kit in kits.values() for c in kit.components}


async def write_kit_movements(tx: Tx, movements: Iterable[Movement], now_us: int) -> None:
    """Movements of components sold (returned, received) through a kit, naming the kit."""
    rows = [
        (
            m.sku,
            m.delta,
            m.reason.value,
            m.channel,
            m.doc_id,
            m.doc_version,
            to_us(m.occurred_at),
            now_us,
            m.kit,
        )
        for m in movements
    ]
    if rows:
        await tx.executemany("insert_kit_movement", rows)


def channel_set(text: str) -> frozenset[str]:
    """The channels of a ``derived_by`` column (comma-separated; channel names have no comma)."""
    return frozenset(c for c in text.split(",") if c)
