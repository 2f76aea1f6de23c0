"""One channel's loops: ingest (channel → ledger) and push (ledger outbox → channel).

A channel that is down, slow or misconfigured only ever delays its own loops: every wait is
bounded, every failure is retried with backoff and jitter, and its outbox simply waits for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import structlog

from syncd.backoff import backoff_seconds as backoff_seconds  # re-exported: the old path
from syncd.channelstatus import ChannelState as ChannelState
from syncd.channelstatus import ChannelStatus as ChannelStatus
from syncd.config import ChannelSettings, SyncSettings
from syncd.connectors.base import Connector, PushItem, PushResult, PushStatus
from syncd.connectors.http import waiting_for
from syncd.domain import lane_name, utcnow
from syncd.engine.catchup import catch_up
from syncd.events import EventFeed
from syncd.exceptions import (
    AuthError,
    ChannelConfigError,
    ConnectorError,
    FatalError,
    LedgerError,
    RetriableError,
    StaleLease,
)
from syncd.ledger.fencing import check_tenure
from syncd.ledger.store import Ack, OutboxItem, StockInStore
from syncd.stockin.edits import Edit, settle_edits

log = structlog.get_logger("syncd.engine")
# Before a back-office edit is adopted, the shop's orders of this many seconds are pulled again,
# and gaps in its order ids looked for: an order the cursor passed must not be counted twice.
EDIT_REPULL_SECONDS = 900.0
# At most this many of a channel's latest movements name the SKUs read back at a runner's start.
OWED_READ_BACKS = 2000
LOGGED_FIGURES = 20  # SKUs named in one channel_figure_corrected event


class ChannelRunner:
    """Runs one channel's ingest and push loops against the ledger."""

    def __init__(
        self,
        settings: ChannelSettings,
        connector: Connector[Any],
        store: StockInStore,
        sync: SyncSettings,
        events: EventFeed,
    ) -> None:
        self.settings = settings
        self.connector = connector
        self.store = store
        self.sync = sync
        self.events = events
        self.status = ChannelStatus(settings.name, settings.type)
        self.stopping = asyncio.Event()
        self._deferred: dict[str, int] = {}  # SKU → pull generation when its push was deferred
        # The same per lane, for a channel told each location apart (settings.shop_locations).
        self._lane_deferred: dict[str, dict[str, int]] = {}
        self._low: dict[str, int] = {}  # SKU → pull generation when it read lower than believed
        self._lane_low: dict[str, dict[str, int]] = {}  # the same per lane
        # hand_edits adopt/report: SKU → (pull generation, figure, believed) when its figure
        # was first found to differ from what we believe; confirmed when found the same after
        # a complete pull since, with no push in flight.
        self._suspects: dict[str, tuple[int, int, int]] = {}
        # SKUs whose figure the channel's own documents moved and that were not read back since
        # (the read failed, or a batch committed before the pull failed); None until the first
        # pull of this runner fills it from the ledger (:meth:`_owed_read_backs`).
        self._unread: set[str] | None = None
        self._push_lock = asyncio.Lock()  # held by a push, and by the edit check
        self._recorded_state: ChannelState | None = None
        self._cursors: dict[str, str] | None = None
        # Told of every state change, in order (the event feed may drop some for a slow reader).
        self.state_listeners: list[Callable[[str, ChannelState], None]] = []

    @property
    def name(self) -> str:
        return self.settings.name

    # -- state ----------------------------------------------------------------------------------

    def _set_state(self, state: ChannelState, error: str = "") -> None:
        previous = self.status.state
        self.status.state = state
        if error:
            self.status.last_error = error
        if state is previous:
            return
        # An outage is logged once when it starts and once when it ends (STYLE.md §12).
        if state in (ChannelState.DEGRADED, ChannelState.DOWN, ChannelState.REFUSED):
            log.error("channel_unavailable", channel=self.name, state=state.value, error=error)
        elif previous in (ChannelState.DEGRADED, ChannelState.DOWN):
            log.info("channel_recovered", channel=self.name, state=state.value)
        for listener in self.state_listeners:
            listener(self.name, state)
        self.events.publish("channel_state", channel=self.name, state=state.value, error=error)

    async def record_health(self) -> None:
        try:
            await self.store.record_health(
                self.name,
                self.status.state.value,
                last_pull=self.status.last_pull,
                last_push=self.status.last_push,
                last_error=self.status.last_error,
            )
        except LedgerError as err:
            log.warning("health_not_recorded", channel=self.name, error=str(err))

    def _failed(self, kind: str, err: Exception) -> float:
        """Count a failure of the pull or push side; return how long to wait before retrying."""
        if kind == "push":
            self.status.push_failures += 1
            failures = self.status.push_failures
        else:
            self.status.pull_failures += 1
            failures = self.status.pull_failures
        message = f"{kind}: {err}"
        if isinstance(err, AuthError | ChannelConfigError):
            self._set_state(ChannelState.DEGRADED, message)
            # A person has to fix credentials or settings: retry slowly, no storm.
            return max(60.0, backoff_seconds(failures, cap=self.sync.retry_max_seconds))
        if failures >= self.sync.degraded_after_failures:
            self._set_state(ChannelState.DEGRADED, message)
        else:
            log.warning(f"{kind}_failed", channel=self.name, attempt=failures, error=str(err))
            self.status.last_error = message
        wait = backoff_seconds(failures, cap=self.sync.retry_max_seconds)
        if isinstance(err, RetriableError) and err.retry_after is not None:
            wait = max(wait, err.retry_after)
        return wait

    def _succeeded(self, kind: str) -> None:
        if kind == "push":
            self.status.push_failures = 0
            self.status.last_push = utcnow()
        else:
            self.status.pull_failures = 0
            self.status.last_pull = utcnow()
        recovering = (ChannelState.DEGRADED, ChannelState.DOWN, ChannelState.STARTING)
        if (
            self.status.push_failures == 0
            and self.status.pull_failures == 0
            and self.status.state in recovering
        ):
            self._set_state(ChannelState.IN_SYNC)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when the daemon stops."""
        try:
            await asyncio.wait_for(self.stopping.wait(), seconds)
        except TimeoutError:
            pass

    # -- start-up -------------------------------------------------------------------------------

    async def start_up(self) -> bool:
        """Check the channel until it answers; False when it must be refused (auth/config)."""
        failures = 0
        while not self.stopping.is_set():
            try:
                await self.connector.check()
            except (AuthError, ChannelConfigError) as err:
                self._set_state(ChannelState.REFUSED, str(err))
                return False
            except FatalError as err:
                self._set_state(ChannelState.REFUSED, str(err))
                return False
            except ConnectorError as err:
                failures += 1
                self._set_state(ChannelState.DOWN, str(err))
                await self._sleep(backoff_seconds(failures, cap=self.sync.retry_max_seconds))
                continue
            self._set_state(ChannelState.IN_SYNC)
            return True
        return False

    # -- ingest ---------------------------------------------------------------------------------

    async def ingest_loop(self) -> None:
        wait = self.settings.poll_seconds
        while not self.stopping.is_set():
            try:
                await self.pull_once()
                wait = self.settings.poll_seconds
            except ConnectorError as err:
                wait = self._failed("pull", err)
            except LedgerError as err:
                log.error("ledger_unavailable", channel=self.name, error=str(err))
                wait = backoff_seconds(self.status.pull_failures + 1, cap=30)
            if self.stopping.is_set():
                break
            if wait == self.settings.poll_seconds:
                await self._wait_for_change(wait)
            else:
                await self._sleep(wait)

    async def _wait_for_change(self, max_wait: float) -> None:
        waiter = asyncio.create_task(self.connector.wait_for_change(max_wait))
        stopper = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                task.cancel()
            await asyncio.gather(waiter, stopper, return_exceptions=True)

    def forget_cursors(self) -> None:
        """Read the cursors from the ledger again at the next pull (after pruning)."""
        self._cursors = None

    async def pull_once(self) -> int:
        """Pull what is new and apply it; batch by batch, each with its cursors."""
        # Read once, then kept in step with what this runner commits (a till keeps one cursor per
        # file: reading them all before every pull grows with the shop's history).
        if self._cursors is None:
            self._cursors = await self.store.cursors(self.name)
        cursors = dict(self._cursors)
        applied = 0
        reads_back = self.settings.push and self.connector.follows_own_sales
        if reads_back and self._unread is None:
            self._unread = await self._owed_read_backs()
        touched: set[str] = set()
        pull = self.connector.pull(cursors)
        try:
            async for batch in pull:
                if not batch.documents and not batch.cursors and not batch.rejections:
                    continue
                results = await self.store.apply_batch(
                    batch.documents,
                    channel=self.name,
                    cursors=batch.cursors,
                    rejections=batch.rejections,
                )
                self._cursors.update(batch.cursors)
                changed = [r for r in results if r.movements or r.pending]
                applied += len(changed)
                moved = {r.doc_id for r in results if r.movements}
                touched.update(s for d in batch.documents if d.doc_id in moved for s in d.lines)
                if self._unread is not None:
                    self._unread |= touched  # committed: owed a read-back, even if a batch fails
                for result in changed:
                    self.events.publish(
                        "document_applied",
                        channel=self.name,
                        doc_id=result.doc_id,
                        movements=result.movements,
                        pending=list(result.pending),
                    )
                for rejected in batch.rejections:
                    self.events.publish(
                        "row_rejected",
                        channel=self.name,
                        source=rejected.source,
                        row=rejected.row,
                        reason=rejected.reason,
                    )
                if self.stopping.is_set():
                    break  # what committed stays; the rest is pulled again after a restart
        finally:
            close = getattr(pull, "aclose", None)
            if close is not None:
                await close()
        self.status.documents += applied
        if reads_back:
            assert self._unread is not None
            owed = set(self._unread)
            if self.settings.shop_locations:
                # Each lane read back; none for a shop whose writes compare-and-set (Shopify:
                # a sale landing between a read and a write is refused, never written over).
                done = await self._read_back_lanes(owed)
            else:
                again = owed | set(self._low) | set(self._suspects)
                done = not again or await self._read_back(sorted(again))
            if done:
                self._unread -= owed
        self.status.pull_generation += 1
        self._succeeded("pull")
        if applied:
            log.info("documents_applied", channel=self.name, documents=applied)
        return applied

    async def _owed_read_backs(self) -> set[str]:
        """The SKUs this runner reads back at its first pull: those of the channel's own
        documents recorded in the last ``EDIT_REPULL_SECONDS``. A daemon stopped between a
        pull's commit and its read-back (killed, or the job handed over) left them unread, and
        nothing else reads them: a cancellation whose restock our write erased, pulled, makes
        the ledger believe the shop shows one more than it does, and queues nothing (campaign,
        PrestaShop one unit lower than the ledger until the reconciliation). Older ones were
        read by the daemon that pulled them, or by the reconciliation after an outage."""
        since = utcnow() - timedelta(seconds=EDIT_REPULL_SECONDS)
        recent = await self.store.movements(channel=self.name, limit=OWED_READ_BACKS)
        owed = {m.sku for m in recent if m.recorded_at >= since}
        if owed:
            log.info("read_backs_owed", channel=self.name, skus=len(owed))
        return owed

    async def _read_back(self, skus: list[str]) -> bool:
        """After the channel's own orders are applied, read what it shows for their SKUs; False
        when the shop could not be read (the SKUs are read at the next pull).

        A shop has no compare-and-set: a sale that lands between a push's read and its write is
        overwritten, and the order, pulled later, makes the ledger believe the shop lowered a
        figure it no longer shows. Reading those SKUs back finds the shop showing more than we
        believe and queues a correction, so such a lost update lasts one poll, not until the
        next reconciliation.

        A lower figure may hold orders not pulled yet, so it is only remembered. Found lower
        again after a complete pull since, no unpulled order explains it: a write erased a
        cancellation's restock (the mirror race). The belief is lowered and the correction
        queued, so that too lasts two polls, not until the next reconciliation.
        """
        if self.settings.hand_edits != "revert":
            # No push in flight: what we read is not half a write. Pushes wait meanwhile, on
            # the shop's answers to this check (and its throttle: Shopify's bucket refills for
            # the read while they wait): those calls are the push's waits on the shop too,
            # tagged so (bench latency --own-overhead tells them from syncd's own time).
            async with self._push_lock:
                with waiting_for("push"):
                    return await self._check_edits(skus)
        try:
            figures = await self.connector.read_figures(skus)
        except ConnectorError as err:
            log.warning("read_back_failed", channel=self.name, skus=len(skus), error=str(err))
            return False
        if figures:
            self._low = await self._correct(self.name, figures, self._low)
        return True

    async def _correct(
        self, name: str, figures: dict[str, int], low: dict[str, int]
    ) -> dict[str, int]:
        """Record figures read back on ``name`` (the channel, or one of its lanes): a higher
        one at once, a lower one when found lower again after a complete pull (``low``: SKU →
        pull generation when first found lower; the new map is returned)."""
        fixed = await self.store.record_shown(name, figures, only_higher=True)
        believed = await self.store.believed_figures(name, sorted(figures))
        generation = self.status.pull_generation
        lower = {s: q for s, q in figures.items() if s in believed and q < believed[s]}
        again = {s: q for s, q in lower.items() if low.get(s, generation) < generation}
        if again:
            fixed += await self.store.record_shown(name, again, only_lower=True)
        if fixed:
            log.warning("channel_figure_corrected", channel=name, skus=fixed)
        return {s: low.get(s, generation) for s in lower if s not in again}

    async def _read_back_lanes(self, touched: set[str]) -> bool:
        """_read_back for a channel told each location apart whose shop has no compare-and-set
        (Magento's sources): each lane's figures of the SKUs its orders moved, or found lower.
        False when a lane could not be read (the SKUs are read at the next pull)."""
        for location in self.settings.shop_locations:
            lane = lane_name(self.name, location)
            low = self._lane_low.get(lane, {})
            skus = sorted(touched | set(low))
            if not skus:
                continue
            try:
                figures = await self.connector.read_location_figures(location, skus)
            except ConnectorError as err:
                log.warning("read_back_failed", channel=lane, skus=len(skus), error=str(err))
                return False
            if figures:
                self._lane_low[lane] = await self._correct(lane, figures, low)
        return True

    async def _check_edits(self, skus: list[str]) -> bool:
        """hand_edits adopt/report: a figure that differs from what we believe, the same way
        twice with a complete pull between (so no unpulled order or cancellation explains it)
        and no push in flight (the caller holds the push lock), was changed in the back office.

        Orders pulled after an adoption move the belief like any order: the adoption took only
        the edit, never the order, so it is counted once. False: the shop could not be read.
        A suspect stays one (read at every pull) until it is settled.
        """
        try:
            figures = await self.connector.read_figures(skus)
        except ConnectorError as err:
            log.warning("read_back_failed", channel=self.name, skus=len(skus), error=str(err))
            return False
        believed = await self.store.believed_figures(self.name, sorted(figures))
        written = await self.store.written_figures(self.name, sorted(figures))
        generation = self.status.pull_generation
        confirmed: list[Edit] = []
        ours: dict[str, int] = {}
        agreed: dict[str, int] = {}
        for sku in skus:
            figure, known = figures.get(sku), believed.get(sku)
            if figure is not None and figure == known and written.get(sku, {figure}) != {figure}:
                agreed[sku] = figure  # the shop shows what we believe: earlier attempts settled
            if figure is None or known is None or figure == known:
                self._suspects.pop(sku, None)
                continue
            if figure in written.get(sku, ()):
                # Exactly what we last wrote (or tried to: an answer lost, a kill mid-push):
                # our write, not an edit. The orders pulled since moved our belief; the write
                # erased them in the shop (a lost update) or landed unacknowledged. Written
                # back now, as hand_edits = "revert" would (stored: survives a restart).
                ours[sku] = figure
                self._suspects.pop(sku, None)
                continue
            seen = self._suspects.get(sku)
            if seen is not None and seen[0] < generation and seen[1:] == (figure, known):
                confirmed.append(Edit(sku, figure, known))
                # The evidence, for whoever asks why a figure was taken for an edit.
                log.info(
                    "hand_edit_confirmed",
                    channel=self.name,
                    sku=sku,
                    figure=figure,
                    believed=known,
                    ours=sorted(written.get(sku, ())),
                    first_seen_generation=seen[0],
                    generation=generation,
                )
            elif seen is None or seen[1:] != (figure, known):
                self._suspects[sku] = (generation, figure, known)
        given_back = await self._given_back(confirmed, written)
        for edit in [e for e in confirmed if e.sku in given_back]:
            confirmed.remove(edit)
            ours[edit.sku] = edit.figure
            self._suspects.pop(edit.sku, None)
        if agreed:
            await self.store.settle_attempts(self.name, agreed)
        if ours:
            fixed = await self.store.record_shown(self.name, ours)
            # The evidence: each SKU's figure read (one of ours) and what we believed.
            found = {s: [q, believed.get(s)] for s, q in sorted(ours.items())[:LOGGED_FIGURES]}
            log.warning("channel_figure_corrected", channel=self.name, skus=fixed, found=found)
        if not confirmed:
            return True
        confirmed = await self._none_missed(confirmed)
        if not confirmed:
            return True
        outcome = await settle_edits(
            self.store,
            self.name,
            self.settings.hand_edits,
            confirmed,
            buffer_of=lambda sku: self.settings.buffers.get(sku, self.settings.buffer),
        )
        for edit in confirmed:
            self._suspects.pop(edit.sku, None)
        for sku, delta in outcome.adopted.items():
            self.events.publish("hand_edit_adopted", channel=self.name, sku=sku, delta=delta)
        for sku in outcome.reported:
            self.events.publish("hand_edit_reported", channel=self.name, sku=sku)
        return True

    async def _given_back(self, edits: list[Edit], written: dict[str, frozenset[int]]) -> set[str]:
        """The SKUs of ``edits`` found above a write of ours that an order of this channel,
        first seen already cancelled, holds: the shop took its units and gave them back before
        we ever counted it. Our write landed between (written over the sale), so the shop shows
        our write plus what the cancellation gave back: ours, written back, never adopted as a
        back-office edit (reliability campaign with WooCommerce, seed 116). That is above what
        we believe when the write was acknowledged, and may be below it when its answer was
        lost (a kill): the belief is then the figure before the write (campaign seed 438: our
        145 unanswered, belief 148, the shop 146). A real edit of the same SKU within the
        window is written back too, and reported by the correction."""
        higher = [e for e in edits if e.figure > min({e.believed, *written.get(e.sku, ())})]
        if not higher:
            return set()
        since = utcnow() - timedelta(seconds=EDIT_REPULL_SECONDS)
        return await self.store.uncounted_cancellations(
            self.name, sorted(e.sku for e in higher), since
        )

    async def _none_missed(self, edits: list[Edit]) -> list[Edit]:
        """The edits that no order the ledger missed explains: before an adoption, ask the shop
        for what the cursor may have passed (gaps in order ids, the last ``EDIT_REPULL_SECONDS``
        pulled again). An edit whose SKU that moves is judged again later (not adopted now)."""
        skus = sorted(e.sku for e in edits)
        before = await self.store.believed_figures(self.name, skus)
        try:
            caught = await catch_up(
                self.store, self.connector, self.name, repull_seconds=EDIT_REPULL_SECONDS
            )
        except ConnectorError as err:
            log.warning("hand_edit_check_failed", channel=self.name, error=str(err))
            return []
        finally:
            self.forget_cursors()
        if not caught.documents:
            return edits
        after = await self.store.believed_figures(self.name, skus)
        kept = [e for e in edits if after.get(e.sku) == before.get(e.sku)]
        for edit in edits:
            if edit not in kept:
                self._suspects.pop(edit.sku, None)  # an order explained it: judged afresh
        log.info("hand_edit_orders_caught_up", channel=self.name, documents=caught.documents)
        return kept

    # -- push -----------------------------------------------------------------------------------

    async def push_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                pushed = await self.push_once()
            except ConnectorError as err:
                await self._sleep(self._failed("push", err))
                continue
            except StaleLease:
                # Logged where refused (stale_write_refused); the job is being stopped.
                await self._sleep(1.0)
                continue
            except LedgerError as err:
                log.error("ledger_unavailable", channel=self.name, error=str(err))
                await self._sleep(backoff_seconds(2, cap=30))
                continue
            if pushed == 0:
                # A deferred push waits for the pull it asked for, but never sleeps through a
                # new sale: a commit wakes the pusher at once either way.
                await self._wait_for_outbox(0.2 if self._deferred else None)

    async def _wait_for_outbox(self, max_wait: float | None = None) -> None:
        waiter = asyncio.create_task(
            self.store.wait_for_outbox(self.name, max_wait or self.sync.outbox_poll_seconds)
        )
        stopper = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiter, stopper):
                task.cancel()
            await asyncio.gather(waiter, stopper, return_exceptions=True)

    def quiet(self) -> asyncio.Lock:
        """Held, no push is in flight (nor an edit check): the channel's loops can be stopped
        between two batches (a job handed over to a daemon that prefers it)."""
        return self._push_lock

    async def push_once(self) -> int:
        """Push one batch of the outbox; returns how many rows were acknowledged."""
        async with self._push_lock:
            with waiting_for("push"):  # its waits on the shop, told apart (bench latency)
                return await self._push_locked()

    async def _push_locked(self) -> int:
        if self.settings.shop_locations:
            return await self._push_lanes()
        items = await self.store.take_outbox(self.name, self.sync.push_batch)
        if len(items) < self.sync.push_batch:
            # Whole outbox seen: a deferral whose row is gone (the pull settled it) is over.
            queued = {i.sku for i in items}
            self._deferred = {s: g for s, g in self._deferred.items() if s in queued}
        if not items:
            self._update_lag_state(0)
            return 0
        self._update_lag_state(len(items))
        if self.connector.full_snapshot:
            results = await self._push_snapshot(items)
        else:
            force_after = self.status.pull_generation
            can_pull = self.settings.pull
            # adopt/report: a figure found higher than we believe is looked at before it is
            # written over; a suspected edit is never forced over before it is settled.
            watch = self.settings.hand_edits != "revert" and can_pull
            push_items = [
                PushItem(
                    sku=i.sku,
                    available=i.wanted,
                    last_known=i.last_known,
                    force=i.sku in self._deferred
                    and (not can_pull or force_after > self._deferred[i.sku])
                    and not (watch and i.sku in self._suspects),
                    defer_higher=watch,
                )
                for i in items
            ]
            if watch:
                # Remembered before writing (in the ledger: a kill mid-push forgets nothing), so
                # that finding this figure later is known to be our write, never an edit.
                await self.store.note_attempts(self.name, {i.sku: i.available for i in push_items})
            check_tenure(f"push to {self.name}")
            results = await self.connector.push(push_items)
        check_tenure(f"acknowledgement of {self.name}'s push")
        return await self._acknowledge(items, results)

    async def _push_lanes(self) -> int:
        """A channel told each location apart: each lane's outbox (one per location) is pushed
        with its location named, and acknowledged as that lane's."""
        depth = acknowledged = 0
        can_pull = self.settings.pull
        force_after = self.status.pull_generation
        for location in self.settings.shop_locations:
            lane = lane_name(self.name, location)
            items = await self.store.take_outbox(lane, self.sync.push_batch)
            deferred = self._lane_deferred.setdefault(lane, {})
            if len(items) < self.sync.push_batch:
                queued = {i.sku for i in items}
                self._lane_deferred[lane] = {s: g for s, g in deferred.items() if s in queued}
            depth += len(items)
            if not items:
                continue
            push_items = [
                PushItem(
                    sku=i.sku,
                    available=i.wanted,
                    last_known=i.last_known,
                    force=i.sku in deferred and (not can_pull or force_after > deferred[i.sku]),
                    location=location,
                )
                for i in items
            ]
            check_tenure(f"push to {lane}")
            results = await self.connector.push(push_items)
            check_tenure(f"acknowledgement of {lane}'s push")
            acknowledged += await self._acknowledge(items, results, lane=lane)
        self._update_lag_state(depth)
        return acknowledged

    async def _push_snapshot(self, items: list[OutboxItem]) -> list[PushResult]:
        """Channels that import a complete stock file get every SKU's figure."""
        everything = await self.store.wanted_levels(self.name)
        wanted = {i.sku: i.wanted for i in items}
        push_items = [PushItem(w.sku, wanted.get(w.sku, w.wanted), w.shown) for w in everything]
        check_tenure(f"push to {self.name}")
        results = await self.connector.push(push_items)
        return [r for r in results if r.sku in wanted]

    async def _acknowledge(
        self, items: list[OutboxItem], results: list[PushResult], *, lane: str = ""
    ) -> int:
        """``lane``: the items are that lane's (a location's figures), acknowledged as its."""
        by_sku = {r.sku: r for r in results}
        deferrals = self._lane_deferred.setdefault(lane, {}) if lane else self._deferred
        watch = self.settings.hand_edits != "revert" and not lane
        acks: list[Ack] = []
        deferred = 0
        for item in items:
            result = by_sku.get(item.sku)
            if result is None:
                continue  # not answered: stays queued
            if result.status in (PushStatus.WRITTEN, PushStatus.UNCHANGED):
                shown = item.wanted if result.shown is None else result.shown
                acks.append(Ack(item.sku, item.wanted, shown))
                deferrals.pop(item.sku, None)
                latency = (utcnow() - item.enqueued_at).total_seconds()
                self.events.publish(
                    "stock_pushed",
                    channel=self.name,
                    sku=item.sku,
                    quantity=shown,
                    queued_seconds=round(latency, 4),
                    **({"lane": lane} if lane else {}),
                )
            elif result.status is PushStatus.SKIPPED:
                acks.append(Ack(item.sku, item.wanted, None))
                deferrals.pop(item.sku, None)
                log.warning(
                    "push_skipped", channel=lane or self.name, sku=item.sku, reason=result.reason
                )
            else:  # DEFERRED: the channel sold (or restocked) units we have not pulled yet
                deferred += 1
                deferrals.setdefault(item.sku, self.status.pull_generation)
                if watch and result.observed is not None and item.last_known is not None:
                    figure = max(0, result.observed)
                    seen = self._suspects.get(item.sku)
                    if seen is None or seen[1:] != (figure, item.last_known):
                        generation = self.status.pull_generation
                        self._suspects[item.sku] = (generation, figure, item.last_known)
                log.info(
                    "push_deferred",
                    channel=lane or self.name,
                    sku=item.sku,
                    observed=result.observed,
                    last_known=item.last_known,
                )
        if deferred and self.settings.pull:
            self.connector.nudge()
        acknowledged = await self.store.ack_outbox(lane or self.name, acks) if acks else 0
        self.status.pushed += acknowledged
        if acknowledged or not deferred:
            self._succeeded("push")
        return acknowledged

    def _update_lag_state(self, depth: int) -> None:
        if self.status.state in (ChannelState.IN_SYNC, ChannelState.CATCHING_UP):
            self._set_state(ChannelState.CATCHING_UP if depth else ChannelState.IN_SYNC)

    # -- shutdown -------------------------------------------------------------------------------

    async def flush(self, deadline: float) -> None:
        """Push what is queued until the outbox is empty or the deadline (loop time) passes."""
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            try:
                remaining = deadline - loop.time()
                pushed = await asyncio.wait_for(self.push_once(), max(0.01, remaining))
            except (ConnectorError, LedgerError, TimeoutError):
                return
            if pushed == 0:
                return
