"""What the status page's stock-in forms read (issue 16): documents' kind and meta for the activity
list, product names for a list of SKUs, and the SKUs a count's prefix covers."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from syncd.domain import DocumentKind
from syncd.ledger.sqlbase import Pairs, SqlBase

MAX_PREFIX_SKUS = 100_000  # a count's prefix covering more is refused by the page


@dataclass(frozen=True, slots=True)
class DocumentSummary:
    """A document as the activity list names it: what it is, and what a person wrote on it."""

    channel: str
    doc_id: str
    kind: DocumentKind
    reference: str
    cancelled: bool
    meta: Mapping[str, str]


class StockReads(Protocol):
    async def document_summaries(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], DocumentSummary]: ...
    async def names_of(self, skus: Sequence[str]) -> dict[str, str]: ...
    async def skus_with_prefix(self, prefix: str, limit: int = MAX_PREFIX_SKUS) -> list[str]: ...


class StockReadsSql(SqlBase):
    """:class:`StockReads` over SQL; ``stockreads.sql``."""

    async def document_summaries(
        self, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], DocumentSummary]:
        """The documents of ``keys`` (channel, doc_id) the ledger holds; one query for a page."""
        wanted = sorted(set(keys))
        if not wanted:
            return {}
        channels = [k[0] for k in wanted]
        ids = [k[1] for k in wanted]
        async with self._read() as tx:
            rows = await tx.fetch("document_summaries", Pairs(channels, ids))
        out = {}
        for channel, doc_id, kind, reference, cancelled, meta in rows:
            try:
                parsed = json.loads(meta or "{}")
            except ValueError:
                parsed = {}
            out[(str(channel), str(doc_id))] = DocumentSummary(
                channel=str(channel),
                doc_id=str(doc_id),
                kind=DocumentKind(kind),
                reference=str(reference),
                cancelled=bool(cancelled),
                meta={str(k): str(v) for k, v in parsed.items()}
                if isinstance(parsed, dict)
                else {},
            )
        return out

    async def names_of(self, skus: Sequence[str]) -> dict[str, str]:
        """Product names of the SKUs that have one."""
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        async with self._read() as tx:
            rows = await tx.fetch("product_names", wanted)
        return {str(sku): str(name) for sku, name in rows if name}

    async def skus_with_prefix(self, prefix: str, limit: int = MAX_PREFIX_SKUS) -> list[str]:
        """Every SKU (a product or a stock level) whose code starts with ``prefix``, exactly
        (case and all: ``%`` and ``_`` are plain characters here)."""
        if not prefix:
            raise ValueError("a prefix is needed: an empty one would name every SKU")
        async with self._read() as tx:
            rows = await tx.fetch("skus_with_prefix", prefix, limit)
        return [str(r[0]) for r in rows]
