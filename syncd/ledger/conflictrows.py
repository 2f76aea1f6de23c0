"""Conflicts and rejections a batch records, in its transaction: oversells per location and SKU
(recorded, grown, resolved when the stock comes back), unknown SKUs, quarantined rows."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence

import structlog

from syncd.domain import (
    DEFAULT_LOCATION,
    ConflictKind,
    ConflictStatus,
    DocumentRef,
    Rejection,
)
from syncd.ledger.planner import OversellEvent, Plan, oversell_documents
from syncd.ledger.sqlbase import SqlBase, Tx, ref_json
from syncd.ledger.values import from_us
from syncd.logs import clean

log = structlog.get_logger("syncd.ledger")
MAX_CONFLICT_DOCUMENTS = 20  # documents kept in one conflict's detail


class ConflictWriter(SqlBase):
    """The conflict and rejection rows of the apply path (:class:`~syncd.ledger.apply.DocumentApplier`)."""

    async def _record_oversells(self, tx: Tx, plan: Plan, now_us: int) -> None:
        """One open conflict per SKU and location that went below zero; resolved when the
        location's stock comes back."""
        crossing = {(e.location, e.sku) for e in plan.oversells}
        # Locations whose stock came back: their open oversell conflicts are resolved.
        recovered = {
            key
            for key, qty in plan.at.items()
            if plan.at_before[key] < 0 <= qty and key not in crossing
        }
        involved = sorted({sku for _, sku in crossing | recovered})
        default = (await tx.fetch("locations") or [(DEFAULT_LOCATION,)])[0][0]
        # A conflict recorded before locations existed names none: it is the default one's.
        open_rows = {
            (str(json.loads(row[4]).get("location") or default), row[1]): row
            for row in await tx.fetch("open_oversells", involved)
        }
        for key in sorted(recovered):
            row = open_rows.get(key)
            if row is None:
                continue
            detail = json.loads(row[4])
            detail["resolved_by"] = "stock_back"
            detail["on_hand"] = plan.at[key]
            await tx.execute("update_conflict", row[0], "resolved", 0, json.dumps(detail), now_us)
        if not crossing:
            return
        names = dict(await tx.fetch("product_names", sorted({sku for _, sku in crossing})))
        by_key: dict[tuple[str, str], list[OversellEvent]] = defaultdict(list)
        for event in plan.oversells:
            by_key[(event.location, event.sku)].append(event)
        # One write per SKU, location and batch, whatever the number of units: a burst of sales
        # on an empty SKU must not cost one conflict update (and a longer JSON) per unit.
        for (location, sku), events in sorted(by_key.items()):
            deepest = min(e.after for e in events)
            # A component sold through a kit: the conflict names the kit and the component that
            # ran out (the conflict's SKU), each document the kit it sold.
            kit_of = {(e.document.channel, e.document.doc_id): e.kit for e in events if e.kit}
            row = open_rows.get((location, sku))
            if row is not None:
                detail = json.loads(row[4])
                docs: list[dict[str, object]] = detail.setdefault("documents", [])
                known = {(d.get("channel"), d.get("doc_id")) for d in docs}
                for event in events:
                    ref = event.document
                    if (ref.channel, ref.doc_id) not in known and len(
                        docs
                    ) < MAX_CONFLICT_DOCUMENTS:
                        docs.append(_ref_with_kit(ref, kit_of))
                        known.add((ref.channel, ref.doc_id))
                detail["on_hand"] = events[-1].after
                if kit_of:
                    detail["kits"] = sorted({*detail.get("kits", []), *kit_of.values()})
                detail["location"] = location
                shortfall = max(int(row[3]), -deepest)
                await tx.execute(
                    "update_conflict", row[0], row[2], shortfall, json.dumps(detail), now_us
                )
                continue
            first = events[0]
            batch_docs = {(e.document.channel, e.document.doc_id) for e in events}
            earlier = [
                DocumentRef(
                    channel=ch,
                    doc_id=doc_id,
                    reference=reference,
                    kind=kind,
                    quantity=int(qty),
                    occurred_at=from_us(occurred_us),
                    url=url,
                )
                for ch, doc_id, reference, kind, qty, occurred_us, url in await tx.fetch(
                    "recent_outflows", sku, 20, location
                )
                if (ch, doc_id) not in batch_docs
            ]
            refs = oversell_documents(first, earlier)
            for event in events[1:]:
                if len(refs) >= MAX_CONFLICT_DOCUMENTS:
                    break
                refs.append(event.document)
            detail = {
                "name": names.get(sku, ""),
                "on_hand": events[-1].after,
                "location": location,
                "documents": [_ref_with_kit(r, kit_of) for r in refs],
            }
            if kit_of:
                detail["kits"] = sorted(set(kit_of.values()))
            await tx.fetch(
                "insert_conflict",
                ConflictKind.OVERSELL.value,
                ConflictStatus.OPEN.value,
                sku,
                first.document.channel,
                -deepest,
                json.dumps(detail),
                now_us,
            )
            log.warning(
                "oversell_recorded",
                sku=sku,
                kits=sorted(set(kit_of.values())),
                location=location,
                shortfall=-deepest,
                documents=[f"{r.channel}:{r.reference}" for r in refs],
            )

    async def _record_unknown(self, tx: Tx, plan: Plan, now_us: int) -> None:
        seen: dict[tuple[str, str], list[str]] = defaultdict(list)
        for channel, doc_id, identifier in plan.unknown:
            seen[(channel, identifier)].append(doc_id)
        for (channel, identifier), doc_ids in sorted(seen.items()):
            await self._upsert_conflict(
                tx,
                ConflictKind.UNKNOWN_SKU,
                sku=identifier,
                channel=channel,
                detail={"identifier": identifier, "documents": sorted(set(doc_ids))[:20]},
                now_us=now_us,
            )
        log.warning("unknown_sku_kept", identifiers=sorted({i for _, _, i in plan.unknown})[:20])

    async def _upsert_conflict(
        self,
        tx: Tx,
        kind: ConflictKind,
        *,
        sku: str,
        channel: str,
        detail: Mapping[str, object],
        now_us: int,
    ) -> int:
        rows = await tx.fetch("open_conflict_like", kind.value, sku, channel)
        if rows:
            await tx.execute("touch_conflict", rows[0][0], json.dumps(detail), now_us)
            return int(rows[0][0])
        rows = await tx.fetch(
            "insert_conflict", kind.value, "open", sku, channel, 0, json.dumps(detail), now_us
        )
        return int(rows[0][0])

    async def _write_rejections(self, tx: Tx, rejections: Sequence[Rejection], now_us: int) -> None:
        # Rejection texts come from outside (a file's header, a shop's answer) and are shown on
        # the status page and in mails: cleaned like a log line, whatever the channel.
        rejections = [
            Rejection(
                r.channel, clean(r.source), r.row, clean(r.column), clean(r.value), clean(r.reason)
            )
            for r in rejections
        ]
        await tx.executemany(
            "insert_rejection",
            [(r.channel, r.source, r.row, r.column, r.value, r.reason, now_us) for r in rejections],
        )
        for r in rejections:
            if r.row is None:  # a whole file or document could not be read
                await self._upsert_conflict(
                    tx,
                    ConflictKind.UNREADABLE,
                    sku="",
                    channel=r.channel,
                    detail={"source": r.source, "reason": r.reason},
                    now_us=now_us,
                )


def _ref_with_kit(ref: DocumentRef, kit_of: Mapping[tuple[str, str], str]) -> dict[str, object]:
    data = ref_json(ref)
    kit = kit_of.get((ref.channel, ref.doc_id))
    if kit:
        data["kit"] = kit
    return data
