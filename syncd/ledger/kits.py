"""Kit definitions in the ledger: write them (config, `syncd kits import`, init), list them.

A kit is a SKU made of components (issue 17). The rules (what a kit line moves, a kit's figure)
are the planner's (:mod:`syncd.ledger.planner`); this module only reads and writes the rows: the
``kits`` and ``kit_components`` tables (migration 0010) and movements that name their kit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import structlog

from syncd.domain import kit_problems, utcnow
from syncd.ledger.apply import DocumentApplier
from syncd.ledger.kitrows import channel_set, load_kits
from syncd.ledger.planner import ApplyResult
from syncd.ledger.sqlbase import Tx
from syncd.ledger.values import to_us

log = structlog.get_logger("syncd.ledger")


@dataclass(frozen=True, slots=True)
class KitDefinition:
    """A kit as stored: its components, where the definition came from, and the channels that
    compute its figure themselves (never pushed to for this SKU)."""

    sku: str
    components: Mapping[str, int]
    source: str
    derived_by: tuple[str, ...] = ()


class KitStore(Protocol):
    """Kit definitions: the config's ``[kits]``, `syncd kits import`, `syncd init`."""

    async def set_kits(
        self,
        kits: Mapping[str, Mapping[str, int]],
        *,
        source: str,
        replace_source: bool = False,
        derived_by: str = "",
    ) -> list[ApplyResult]: ...
    async def kit_definitions(self) -> list[KitDefinition]: ...


# -- definitions --------------------------------------------------------------------------------


class KitsSql(DocumentApplier):
    """:class:`KitStore` over SQL (queries: ``kits.sql``)."""

    async def set_kits(
        self,
        kits: Mapping[str, Mapping[str, int]],
        *,
        source: str,
        replace_source: bool = False,
        derived_by: str = "",
    ) -> list[ApplyResult]:
        """Add or replace kit definitions, in one transaction; every figure they change is
        queued, and lines kept pending for a kit SKU (unknown until now) are applied.

        ``replace_source``: kits from ``source`` not in ``kits`` are removed (the config's
        ``[kits]`` is the whole list). ``derived_by``: a channel that computes these kits'
        figures itself (a Magento bundle) and is never pushed to for them.
        Raises ValueError, nothing written, when the definitions together are unusable."""
        now_us = to_us(utcnow())

        async def body(tx: Tx) -> list[str]:
            stored = await self._stored_kits(tx)
            merged = {d.sku: dict(d.components) for d in stored}
            removed: list[str] = []
            if replace_source:
                removed = [d.sku for d in stored if d.source == source and d.sku not in kits]
                for sku in removed:
                    merged.pop(sku, None)
            merged.update({k: dict(v) for k, v in kits.items()})
            problems = kit_problems(merged)
            if problems:
                raise ValueError("; ".join(problems))
            before = {d.sku: d for d in stored}
            for sku in removed:
                await tx.execute("delete_kit_components", sku)
                await tx.execute("delete_kit", sku)
            skus = sorted({*kits, *(c for parts in kits.values() for c in parts)})
            await tx.executemany("insert_product_min", [(s, now_us) for s in skus])
            for sku, parts in sorted(kits.items()):
                old = before.get(sku)
                channels = set(old.derived_by) if old is not None else set()
                if derived_by:
                    channels.add(derived_by)
                await tx.execute("upsert_kit", sku, source, ",".join(sorted(channels)), now_us)
                await tx.execute("delete_kit_components", sku)
                await tx.executemany(
                    "insert_kit_component", [(sku, c, q) for c, q in sorted(parts.items())]
                )
            return sorted({*kits, *removed})

        changed = await self._run(body)
        if changed:
            log.info("kits_defined", source=source, kits=len(kits), changed=changed[:20])
            await self._refresh(changed)
        return await self._replay_pending(set(kits))

    async def kit_definitions(self) -> list[KitDefinition]:
        async with self._read() as tx:
            return await self._stored_kits(tx)

    async def kits_among(self, skus: Sequence[str]) -> set[str]:
        """The kits among ``skus``."""
        if not skus:
            return set()
        async with self._read() as tx:
            kits = await load_kits(tx, sorted(set(skus)))
        return set(kits) & set(skus)

    @staticmethod
    async def _stored_kits(tx: Tx) -> list[KitDefinition]:
        parts: dict[str, dict[str, int]] = {}
        meta: dict[str, tuple[str, str]] = {}
        for kit, source, derived_by, component, quantity in await tx.fetch("kits_all"):
            meta[kit] = (source, derived_by)
            if component is not None:
                parts.setdefault(kit, {})[component] = int(quantity)
        return [
            KitDefinition(sku, parts.get(sku, {}), source, tuple(sorted(channel_set(derived_by))))
            for sku, (source, derived_by) in sorted(meta.items())
        ]
