"""The Connector contract: pull documents with a cursor, push levels, read levels, health.

A connector knows its channel's API and nothing of the ledger's tables; the engine moves values
between the two. A new shop is one new module that subclasses :class:`Connector`, plus an entry
point in the ``syncd.connectors`` group.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar, cast

import aiohttp

from syncd.domain import Document, Rejection
from syncd.reconcile.compare import Finding
from syncd.settings import ConfigIssue as ConfigIssue  # re-exported: the old import path


@dataclass(frozen=True, slots=True)
class Batch:
    """What one step of a pull produced; applied to the ledger in one transaction.

    ``cursors`` are the channel's named positions to store with the documents (e.g.
    ``{"orders.date_upd": "2024-05-01 10:02:00"}`` or ``{"file:<sha256>": "done"}``); they are
    written only if the documents are.
    """

    documents: Sequence[Document] = ()
    cursors: Mapping[str, str] = field(default_factory=dict)
    rejections: Sequence[Rejection] = ()
    # From Connector.missed_documents only: what the ledger had missed (an order, a till
    # file), for the reconcile report.
    missed: Sequence[Finding] = ()


@dataclass(frozen=True, slots=True)
class PushItem:
    """One SKU to write: what the channel should show, and what we believe it shows now."""

    sku: str
    available: int
    last_known: int | None  # None: we never wrote or read this SKU on this channel
    force: bool = False  # write even if the channel drifted lower (the engine already pulled)
    # Defer too when the channel shows MORE than last_known (a back-office edit, or a
    # cancellation not pulled yet): hand_edits adopt/report look at it before it is written over.
    defer_higher: bool = False
    # The ledger location whose figure this is, for a channel that writes each location apart
    # (Connector.shop_locations); '' for a channel told one figure.
    location: str = ""


class WebhookVerdict(StrEnum):
    """What a channel makes of a webhook it was sent (Connector.webhook_verdict)."""

    ACCEPTED = "accepted"  # genuine and new: pull soon
    DUPLICATE = "duplicate"  # genuine, already received (same delivery id): nothing to do
    REFUSED = "refused"  # not signed with the channel's secret


class PushStatus(StrEnum):
    WRITTEN = "written"  # the channel now shows `shown`
    UNCHANGED = "unchanged"  # it already showed that figure; nothing written
    DEFERRED = "deferred"  # the channel moved away from last_known: pull its orders first
    SKIPPED = "skipped"  # cannot be written here (SKU not in the shop, depends_on_stock…)


@dataclass(frozen=True, slots=True)
class PushResult:
    sku: str
    status: PushStatus
    shown: int | None = None  # figure the channel shows after the push (WRITTEN/UNCHANGED)
    observed: int | None = None  # figure read before writing, when the connector read one
    reason: str = ""  # for SKIPPED / DEFERRED, in plain words


@dataclass(frozen=True, slots=True)
class ChannelLevel:
    """One SKU's figure as read from a channel, comparable with the ledger's `available`."""

    sku: str
    quantity: int
    name: str = ""
    barcode: str = ""
    detail: Mapping[str, Any] = field(default_factory=dict)  # e.g. source qty and salable qty


@dataclass(frozen=True, slots=True)
class ChannelKit:
    """A kit as a channel defines it (a PrestaShop pack, a Magento bundle): SKU → units per kit.

    ``derived``: the channel computes the kit's figure itself from its components (a Magento
    bundle); syncd then never pushes a figure for it to that channel."""

    sku: str
    components: Mapping[str, int]
    derived: bool = False


SettingsT = TypeVar("SettingsT")


class Connector(Generic[SettingsT]):
    """Base class of every channel connector, generic in its settings type (what
    :meth:`parse_settings` makes of its config table and ``__init__`` receives).

    Lifecycle: ``async with connector:`` opens it (sessions, caches), ``check()`` makes one cheap
    authenticated call at start-up and raises :class:`~syncd.exceptions.NotReadyError` (retry),
    :class:`~syncd.exceptions.AuthError` (park and show) or
    :class:`~syncd.exceptions.ChannelConfigError` (refuse the channel).
    """

    type: ClassVar[str] = ""  # the `type` in config, e.g. "prestashop"
    # True when a push must carry every SKU (a complete stock file), not only the changed ones.
    full_snapshot: ClassVar[bool] = False
    # True when the channel lowers its own figure on its own sales (a webshop). False when its
    # figure is what we last wrote (a stock file the till imports): then every change is pushed.
    follows_own_sales: ClassVar[bool] = True
    # True when pulling again from an earlier cursor reads again what was applied (an API
    # queried by update time): a catch-up then pulls again from a rewound cursor. False when a
    # pull consumes its input (till files moved to done/): only missed_documents() catches up.
    rereads: ClassVar[bool] = True
    # Keys of the channel's config table this connector reads (besides the common ones).
    settings_keys: ClassVar[frozenset[str]] = frozenset()
    # True when the shop signs its webhooks' bodies itself (Shopify, WooCommerce): the body is read
    # first and handed to webhook_verdict. False: syncd's own X-Syncd-Secret header is checked.
    signs_webhooks: ClassVar[bool] = False
    # The config key of shop_locations' table (e.g. "shopify_locations"), for error messages.
    shop_locations_key: ClassVar[str] = ""

    def __init__(
        self,
        name: str,
        settings: SettingsT,
        *,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.name = name
        self.settings: SettingsT = settings
        self.session = session
        self._wake = asyncio.Event()

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[SettingsT | None, list[ConfigIssue]]:
        """Turn the channel's config table into this connector's frozen settings.

        Report every problem at once as :class:`ConfigIssue` (``prefix`` is the dotted key of the
        table, e.g. ``channels.webshop``); return ``(None, issues)`` when the settings are unusable.
        The default hands over a copy of the table, which suits a ``Connector[dict[str, Any]]``;
        a connector with its own settings type overrides it.
        """
        return cast(SettingsT, dict(table)), []

    @classmethod
    def shop_locations(cls, settings: Any) -> Mapping[str, str]:
        """Ledger location → the shop's own location, for a channel that is told each location's
        figure apart (one lane per location, :func:`syncd.domain.lane_name`); empty (the
        default) for a channel told one figure for all the locations it sells from. The config
        checks that these are exactly the channel's locations."""
        return {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> Connector[SettingsT]:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Acquire what the connector needs (an HTTP session if none was injected…)."""

    async def close(self) -> None:
        """Release it."""

    async def check(self) -> None:
        """One cheap authenticated call; raise the classified error when it fails."""

    # -- ingest --------------------------------------------------------------------------------

    def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        """Yield batches of documents newer than ``cursors`` (this channel's stored positions).

        Re-reading documents already applied is harmless (the ledger applies differences), so
        pulls may overlap; a batch's cursors are stored in the same transaction as its documents.
        The engine resumes the iterator only after the yielded batch has committed, so code after
        a ``yield`` may act on it (move a file to ``done/``, advance an in-memory position).
        """
        return _no_batches()

    def missed_documents(
        self,
        known: Callable[[], Awaitable[Set[str]]],
        cursors: Mapping[str, str],
        *,
        window_seconds: float,
    ) -> AsyncIterator[Batch]:
        """What the channel has and the ledger never applied, though it should have (a ledger
        restored from a backup, an order updated behind the ingest cursor): batches of those
        documents, each with a :class:`~syncd.reconcile.compare.Finding` per missed item in
        ``missed`` (a batch may carry findings only). ``known()`` reads the document ids the
        ledger has for this channel (a large set: read it only when needed); ``cursors`` are
        the channel's stored positions; ``window_seconds`` how far back a recent miss is looked
        for. A batch's cursors are stored with its documents, as in :meth:`pull` (so never give
        a pull position here: a catch-up must not move the ingest position back). The engine
        resumes the iterator after the batch is committed. The default finds nothing."""
        return _no_batches()

    async def wait_for_change(self, max_wait: float) -> None:
        """Return when there may be something new to pull, or after ``max_wait`` seconds.

        The default waits for :meth:`nudge` (a webhook, a drift found by a push) or the timeout;
        a folder watcher returns as soon as a file lands.
        """
        try:
            await asyncio.wait_for(self._wake.wait(), max_wait)
        except TimeoutError:
            pass
        self._wake.clear()

    def nudge(self) -> None:
        """Ask for a pull now (webhook received, push found drift)."""
        self._wake.set()

    def webhook_verdict(
        self, headers: Mapping[str, str], body: bytes, secret: bytes
    ) -> WebhookVerdict:
        """Whether a webhook is genuine (``secret``: the channel's ``webhook_secret``) and new.
        The default checks syncd's own header; a shop that signs its bodies overrides it (and
        sets ``signs_webhooks``). Compare in constant time."""
        given = headers.get("X-Syncd-Secret", "").encode("utf-8", "surrogateescape")
        ok = hmac.compare_digest(given, secret)
        return WebhookVerdict.ACCEPTED if ok else WebhookVerdict.REFUSED

    @classmethod
    def is_webhook_ping(cls, headers: Mapping[str, str], body: bytes) -> bool:
        """A shop's unsigned "is this URL alive" request made when a webhook is created,
        answered 200 without a pull (``signs_webhooks`` connectors only)."""
        return False

    # -- push ----------------------------------------------------------------------------------

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        """Write the figures; one result per item. Raise RetriableError for a temporary failure
        of the whole batch (nothing is acknowledged and it is retried) and AuthError/FatalError
        when retrying cannot help."""
        raise NotImplementedError

    # -- reconciliation ------------------------------------------------------------------------

    async def read_figures(self, skus: Sequence[str]) -> dict[str, int]:
        """What the channel shows now for a few SKUs (read back after its own orders are pulled,
        to catch a sale that landed between a push's read and its write). Override with a
        cheaper per-SKU read where the channel has one."""
        wanted = set(skus)
        figures: dict[str, int] = {}
        async for page in self.read_levels(sorted(wanted)):
            figures.update({level.sku: level.quantity for level in page if level.sku in wanted})
        return figures

    async def read_location_figures(self, location: str, skus: Sequence[str]) -> dict[str, int]:
        """What a channel told each location apart shows at ``location`` for a few SKUs, read
        back after its own orders are pulled, as read_figures is for a channel told one figure.
        None by default: a shop whose writes compare-and-set (Shopify) never erases a sale."""
        return {}

    def read_levels(self, skus: Sequence[str] | None = None) -> AsyncIterator[list[ChannelLevel]]:
        """Yield pages of every SKU's figure (or only ``skus``), comparable with `available`."""
        return _no_levels()

    def read_location_levels(
        self, location: str, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """For a channel told each location apart (:meth:`shop_locations`): pages of every SKU's
        figure the shop shows at ``location`` (a ledger location), comparable with that lane's
        `available`, as read_levels is for a channel told one figure. None by default."""
        return _no_levels()

    async def read_kits(self) -> list[ChannelKit]:
        """The kits this channel defines (read at `syncd init`); none by default."""
        return []


async def _no_batches() -> AsyncIterator[Batch]:
    return
    yield  # pragma: no cover


async def _no_levels() -> AsyncIterator[list[ChannelLevel]]:
    return
    yield  # pragma: no cover
