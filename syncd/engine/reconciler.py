"""Reconciliation, the I/O side: read each channel's figures in pages, compare them with the
ledger, confirm, fix (queue corrections), remember fixes, record drift that comes back.

The decisions come from :mod:`syncd.reconcile` (pure). A run is stored as it goes (findings and
progress per page, one transaction each), so a run that crashed is resumed by the next one:
finished channels are not read again, and the pages already compared are not compared again.
``syncd reconcile`` runs it once; the daemon runs it on a schedule and after an outage
(:class:`ScheduledReconciler`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Protocol

import structlog

from syncd.channelstatus import ChannelState, ChannelStatus
from syncd.config import ChannelSettings, Settings
from syncd.connectors.base import ChannelLevel, Connector, PushItem
from syncd.domain import ConflictKind, lane_name, utcnow
from syncd.engine.catchup import catch_up
from syncd.events import EventFeed
from syncd.exceptions import ConnectorError, LedgerError
from syncd.ledger.store import ReconcileLedger, ReconcileRun, StoredFinding, StoredFix
from syncd.reconcile.compare import (
    Comparison,
    Figure,
    Finding,
    FindingKind,
    LedgerView,
    confirm,
)
from syncd.reconcile.fixes import RememberedFix, decide_fixes, drift_again_detail
from syncd.reconcile.report import ChannelReport, RunReport
from syncd.stockin.edits import Edit, settle_edits

log = structlog.get_logger("syncd.reconcile")
REFRESH_CHUNK = 5000  # figures recorded per transaction
LOGGED_FINDINGS = 20  # differences logged one by one per channel; the rest are counted


class Progress(Protocol):
    """Where a run reports how far it is (a rich progress bar on a TTY, nothing elsewhere)."""

    def start(self, channel: str, total: int | None) -> None: ...
    def advance(self, count: int) -> None: ...
    def finish(self) -> None: ...


class NoProgress:
    def start(self, channel: str, total: int | None) -> None:
        pass

    def advance(self, count: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    fix: bool = False  # queue corrections (and remember them)
    push: bool = False  # also write them through the connector now (no daemon needed)
    record_conflicts: bool = False  # drift again after a fix becomes a conflict
    catch_up: bool = True  # pull missed events before comparing
    repull_seconds: float = 86_400.0
    drift_again_seconds: float = 10_800.0
    resume: bool = True
    resume_idle_seconds: float = 30.0  # an unfinished run idle this long is resumed
    push_seconds: float = 60.0  # how long `push` may take per channel

    @property
    def mode(self) -> str:
        return "fix" if self.fix else "dry_run"


@dataclass
class ChannelTarget:
    """A channel to reconcile: its settings and an open connector; or, for a channel told each
    location apart (``shop_locations``), one of its lanes: ``location`` names it, and the
    target is the lane's ledger channel (syncd.domain.lane_name)."""

    settings: ChannelSettings
    connector: Connector[Any]
    location: str = ""

    @property
    def name(self) -> str:
        """Its name in the ledger: the channel's, or its lane's."""
        return lane_name(self.settings.name, self.location) if self.location else self.channel

    @property
    def channel(self) -> str:
        """The channel's own name: its orders, cursors and pushes are the channel's."""
        return self.settings.name

    def read_levels(self) -> AsyncIterator[list[ChannelLevel]]:
        """What the channel (its location, for a lane) shows, in pages."""
        if self.location:
            return self.connector.read_location_levels(self.location)
        return self.connector.read_levels()


def channel_targets(settings: ChannelSettings, connector: Connector[Any]) -> list[ChannelTarget]:
    """What reconcile and init compare of a channel: the channel itself, or, told each location
    apart, each of its lanes (one per location, each with its own figures shown)."""
    if settings.shop_locations:
        return [
            ChannelTarget(settings, connector, location) for location in settings.shop_locations
        ]
    return [ChannelTarget(settings, connector)]


def figure_of(level: ChannelLevel) -> Figure:
    """A connector's ChannelLevel as the pure core's Figure."""
    detail = level.detail or {}
    where = ""
    if not level.sku:
        where = ", ".join(f"{k} {v}" for k, v in sorted(detail.items()) if k.startswith("id_"))
    return Figure(
        sku=level.sku,
        quantity=level.quantity,
        barcode=level.barcode,
        name=level.name,
        managed=bool(detail.get("depends_on_stock")),
        where=where,
    )


def _stored(f: Finding, state: str) -> StoredFinding:
    return StoredFinding(f.sku, f.kind.value, f.wanted, f.figure, f.shown, state, f.detail)


def _finding(channel: str, s: StoredFinding) -> Finding:
    return Finding(channel, s.sku, FindingKind(s.kind), s.wanted, s.figure, s.shown, s.detail)


@dataclass
class Reconciler:
    store: ReconcileLedger
    sync_settings: Any  # SyncSettings, for pushing corrections through a ChannelRunner
    options: ReconcileOptions = field(default_factory=ReconcileOptions)
    progress: Progress = field(default_factory=NoProgress)
    events: EventFeed | None = None
    # Channels pulled again this run: a channel's lanes share its orders, caught up once.
    _caught_up: set[str] = field(default_factory=set, init=False, repr=False)

    async def run(self, targets: Sequence[ChannelTarget]) -> RunReport:
        """Reconcile each channel (each lane) in turn; resume the last run if it crashed."""
        self._caught_up = set()
        names = [t.name for t in targets]
        run: ReconcileRun | None = None
        if self.options.resume:
            idle = utcnow() - timedelta(seconds=self.options.resume_idle_seconds)
            run = await self.store.resumable_reconcile_run(
                self.options.mode, names, idle_since=idle
            )
        resumed = run is not None
        if run is None:
            run = await self.store.start_reconcile_run(self.options.mode, names)
        else:
            log.info("reconcile_resumed", run=run.id, progress=dict(run.progress))
        report = RunReport(run.id, self.options.mode, run.started_at, resumed=resumed)
        for target in targets:
            report.channels.append(await self._channel(run, target))
        if not report.failed:
            await self.store.finish_reconcile_run(run.id)
        log.info(
            "reconcile_finished",
            run=run.id,
            mode=self.options.mode,
            differences=report.differences,
            failed=[c.channel for c in report.channels if c.error],
        )
        if self.events is not None:
            self.events.publish(
                "reconcile_finished",
                run=run.id,
                differences=report.differences,
                channels={c.channel: len(c.differences) for c in report.channels},
            )
        return report

    async def _channel(self, run: ReconcileRun, target: ChannelTarget) -> ChannelReport:
        progress = run.progress.get(target.name, {})
        if progress.get("done"):
            return await self._stored_report(run, target, progress)
        started = time.monotonic()
        report = ChannelReport(
            target.name, target.settings.type, resumed=bool(progress), location=target.location
        )
        try:
            await self._reconcile(run, target, report, int(str(progress.get("pages", 0))))
        except (ConnectorError, LedgerError) as err:
            report.error = str(err)
            log.error("reconcile_channel_failed", channel=target.name, error=str(err))
        finally:
            self.progress.finish()
        report.seconds = time.monotonic() - started
        return report

    async def _stored_report(
        self, run: ReconcileRun, target: ChannelTarget, progress: Mapping[str, object]
    ) -> ChannelReport:
        """A channel a crashed run had finished: its report, from the ledger."""
        stored = await self.store.reconcile_findings(run.id, target.name)
        report = ChannelReport(
            target.name, target.settings.type, resumed=True, location=target.location
        )
        report.findings = [
            _finding(target.name, s) for s in stored if s.state in ("confirmed", "fixed")
        ]
        for key in ("compared", "in_flight", "fixed", "pushed", "refreshed", "moved"):
            value = progress.get(key, 0)
            setattr(report, key, int(value) if isinstance(value, int) else 0)
        return report

    # -- one channel ----------------------------------------------------------------------------

    async def _reconcile(
        self, run: ReconcileRun, target: ChannelTarget, report: ChannelReport, skip_pages: int
    ) -> None:
        name, connector = target.name, target.connector
        missed: list[Finding] = []
        if self.options.catch_up and target.settings.pull and target.channel not in self._caught_up:
            # A lane's orders are its channel's: pulled again (and missed ones reported) once.
            self._caught_up.add(target.channel)
            caught = await catch_up(
                self.store, connector, target.channel, repull_seconds=self.options.repull_seconds
            )
            missed = caught.findings
        views = await self._views(name)
        comparison = Comparison(name, views)
        self.progress.start(name, len(views) or None)
        pages = 0
        async for page in target.read_levels():
            figures = [figure_of(level) for level in page]
            found = comparison.feed(figures, record=pages >= skip_pages)
            pages += 1
            if pages > skip_pages:
                await self.store.save_reconcile_progress(
                    run.id,
                    name,
                    pages=pages,
                    done=False,
                    findings=[_stored(f, "candidate") for f in found],
                )
            self.progress.advance(len(figures))
        tail = comparison.finish()
        stored = await self.store.reconcile_findings(run.id, name)
        candidates = [_finding(name, s) for s in stored if s.state == "candidate"]
        candidates += tail + missed
        await self._settle(run, target, report, comparison, candidates, pages)

    async def _views(self, channel: str) -> dict[str, LedgerView]:
        queued = {i.sku: i.wanted for i in await self.store.take_outbox(channel, 10**9)}
        return {
            w.sku: LedgerView(w.wanted, w.shown, queued.get(w.sku))
            for w in await self.store.wanted_levels(channel)
        }

    async def _settle(
        self,
        run: ReconcileRun,
        target: ChannelTarget,
        report: ChannelReport,
        comparison: Comparison,
        candidates: list[Finding],
        pages: int,
    ) -> None:
        """Confirm the candidates against the ledger as it is now, then fix and record."""
        name, connector = target.name, target.connector
        fixable = [f for f in candidates if f.fixable]
        if fixable and self.options.catch_up and target.settings.pull and not _is_file(target):
            # Orders the channel took during the read move its known figure: pull them first.
            await catch_up(self.store, connector, target.channel, repull_seconds=0, gaps=False)
        fresh = await self._views(name) if fixable else {}
        confirmed, moved = confirm(candidates, fresh, comparison.duplicates)
        in_flight = [f for f in candidates if f.kind is FindingKind.IN_FLIGHT]
        report.compared = comparison.compared
        report.in_flight = comparison.in_flight
        report.moved = len(moved)
        report.findings = [f for f in confirmed if f.kind is not FindingKind.IN_FLIGHT]
        unsettled = {f.sku for f in confirmed} | {f.sku for f in moved}
        fixes = await self._fix(target, report, confirmed, comparison, unsettled)
        states = {f.sku: "fixed" for f in fixes}
        rows = [_stored(f, states.get(f.sku, "confirmed")) for f in report.findings]
        rows += [_stored(f, "moved") for f in moved] + [_stored(f, "in_flight") for f in in_flight]
        await self.store.save_reconcile_progress(
            run.id,
            name,
            pages=pages,
            done=True,
            findings=rows,
            stats={
                "compared": report.compared,
                "in_flight": report.in_flight,
                "fixed": report.fixed,
                "pushed": report.pushed,
                "refreshed": report.refreshed,
                "moved": report.moved,
            },
        )
        self._log(report)

    async def _fix(
        self,
        target: ChannelTarget,
        report: ChannelReport,
        confirmed: list[Finding],
        comparison: Comparison,
        unsettled: set[str],
    ) -> list[Finding]:
        name = target.name
        now = utcnow()
        remembered = {
            f.sku: RememberedFix(f.sku, f.figure, f.wanted, f.fixed_at)
            for f in await self.store.reconcile_fixes(name)
        }
        clean = [s for s in comparison.seen if s not in unsettled]
        decision = decide_fixes(
            confirmed,
            clean=clean,
            remembered=remembered,
            now=now,
            window=timedelta(seconds=self.options.drift_again_seconds),
            fix=self.options.fix,
        )
        if self.options.record_conflicts:
            for finding, before in decision.drift_again:
                await self.store.record_conflict(
                    ConflictKind.DRIFT_AGAIN,
                    sku=finding.sku,
                    channel=name,
                    detail=drift_again_detail(finding, before),
                )
                log.warning("drift_again", channel=name, sku=finding.sku, figure=finding.figure)
            report.drift_again = len(decision.drift_again)
        fixed: list[Finding] = []
        if self.options.fix:
            fixed = await self._apply(target, report, confirmed, decision.record, comparison)
        await self.store.update_reconcile_fixes(
            name,
            remember=[StoredFix(f.sku, f.figure, f.wanted, f.fixed_at) for f in decision.remember]
            if self.options.fix
            else [],
            forget=decision.forget,
        )
        return fixed

    async def _apply(
        self,
        target: ChannelTarget,
        report: ChannelReport,
        confirmed: list[Finding],
        record: Mapping[str, int],
        comparison: Comparison,
    ) -> list[Finding]:
        name = target.name
        fixed = [f for f in confirmed if f.sku in record]
        if _is_file(target):
            # A stock file is written whole: write it again rather than queue SKU by SKU.
            missing = [f for f in confirmed if f.kind is FindingKind.ONLY_IN_LEDGER]
            if fixed or missing:
                await self._rewrite_file(target)
                report.fixed = len(fixed) + len(missing)
                report.pushed = report.fixed
                return fixed + missing
            return []
        mode = target.settings.hand_edits
        if mode != "revert":
            # A back-office edit, confirmed after a catch-up pull: adopted or reported, never
            # written over (hand_edits); a figure we simply failed to push is still fixed.
            edits = [
                Edit(f.sku, f.figure, f.shown)
                for f in fixed
                if f.kind is FindingKind.HAND_EDIT and f.figure is not None and f.shown is not None
            ]
            outcome = await settle_edits(
                self.store,
                name,
                mode,
                edits,
                buffer_of=lambda sku: target.settings.buffers.get(sku, target.settings.buffer),
                location=target.location,
            )
            report.adopted = len(outcome.adopted)
            report.reported_edits = len(outcome.reported)
            settled = {e.sku for e in edits}
            record = {s: q for s, q in record.items() if s not in settled}
            fixed = [f for f in fixed if f.sku not in settled or f.sku in outcome.adopted]
        for chunk in _chunks(sorted(record.items()), REFRESH_CHUNK):
            await self.store.record_shown(name, dict(chunk))
        report.fixed = len(fixed)
        for chunk in _chunks(sorted(comparison.refresh.items()), REFRESH_CHUNK):
            report.refreshed += await self.store.record_shown(name, dict(chunk))
        if fixed and self.options.push and target.settings.push:
            report.pushed = await self.push_outbox(target)
        if fixed:
            log.info("reconcile_fixes_queued", channel=name, skus=len(fixed))
        return fixed

    async def push_outbox(self, target: ChannelTarget) -> int:
        """Write what the outbox holds for the channel now (`syncd reconcile --fix`); for a
        lane, what its own outbox holds (a runner told that one location pushes that lane)."""
        from syncd.engine.channel import ChannelRunner

        settings = target.settings
        if target.location:
            only = {target.location: settings.shop_locations[target.location]}
            settings = replace(settings, shop_locations=only)
        runner = ChannelRunner(
            settings, target.connector, self.store, self.sync_settings, EventFeed()
        )
        deadline = asyncio.get_running_loop().time() + self.options.push_seconds
        await runner.flush(deadline)
        return runner.status.pushed

    async def _rewrite_file(self, target: ChannelTarget) -> None:
        levels = await self.store.wanted_levels(target.name)
        items = [PushItem(w.sku, w.wanted, w.shown) for w in levels]
        await target.connector.push(items)
        await self.store.record_shown(target.name, {w.sku: w.wanted for w in levels})

    def _log(self, report: ChannelReport) -> None:
        diffs = report.differences
        for f in diffs[:LOGGED_FINDINGS]:
            log.info(
                "reconcile_difference",
                channel=f.channel,
                sku=f.sku,
                kind=f.kind.value,
                wanted=f.wanted,
                figure=f.figure,
                known=f.shown,
            )
        log.info(
            "reconcile_channel_done",
            channel=report.channel,
            compared=report.compared,
            in_flight=report.in_flight,
            differences=len(diffs),
            by_kind=report.counts(),
            fixed=report.fixed,
            moved=report.moved,
        )


def _is_file(target: ChannelTarget) -> bool:
    return target.connector.full_snapshot


def _chunks(items: Sequence[tuple[str, int]], size: int) -> Iterable[Sequence[tuple[str, int]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def can_read(connector: Connector[Any]) -> bool:
    """Whether the connector can tell what the channel shows (it overrides read_levels)."""
    return type(connector).read_levels is not Connector.read_levels


def readable(target: ChannelTarget) -> bool:
    """Whether what the target shows can be read: a channel's figures, or its location's."""
    if target.location:
        kind = type(target.connector)
        return kind.read_location_levels is not Connector.read_location_levels
    return can_read(target.connector)


# -- in the daemon ------------------------------------------------------------------------------


class ScheduledChannel(Protocol):
    """What the schedule reads of a running channel (a ChannelRunner)."""

    @property
    def settings(self) -> ChannelSettings: ...
    @property
    def connector(self) -> Connector[Any]: ...
    @property
    def status(self) -> ChannelStatus: ...


class ScheduledReconciler:
    """The daemon's `reconcile` loop: every ``interval_seconds``, and for a channel that comes
    back from an outage (it may have been edited, or sold, while we could not see it). A channel
    that is not up when its run is due is reconciled as soon as it is.

    It is told of every channel state change by :meth:`channel_state` (each runner calls it, in
    order, none dropped), not by the event feed, which drops old events for a slow subscriber:
    a lost "channel back" would delay the after-outage run by up to ``interval_seconds``."""

    OUTAGE = frozenset({ChannelState.DEGRADED, ChannelState.DOWN})
    BACK = frozenset({ChannelState.IN_SYNC, ChannelState.CATCHING_UP})

    def __init__(
        self,
        settings: Settings,
        store: ReconcileLedger,
        channels: Mapping[str, ScheduledChannel],
        *,
        stopping: asyncio.Event,
        events: EventFeed | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.channels = channels  # the daemon's runners, by name (it adds to it at start-up)
        self.stopping = stopping
        self.events = events  # where runs publish their progress (the page, `syncd tail`)
        self.runs = 0
        self.last: RunReport | None = None
        self._down_since: dict[str, float] = {}  # channel → monotonic time its outage started
        self._owed: set[str] = set()  # skipped while down: reconciled once up
        self._ready: set[str] = set()  # back (and owed, or after a long outage): run now
        self._wake = asyncio.Event()

    def channel_state(self, channel: str, state: ChannelState) -> None:
        """A channel changed state (called synchronously by its runner on every change)."""
        now = time.monotonic()
        if state in self.OUTAGE:
            self._down_since.setdefault(channel, now)
        elif state in self.BACK:
            since = self._down_since.pop(channel, None)
            rs = self.settings.reconcile
            long = since is not None and now - since >= rs.after_outage_seconds
            if channel in self._owed or (rs.after_recovery and long):
                self._ready.add(channel)
                self._wake.set()

    def _options(self) -> ReconcileOptions:
        rs = self.settings.reconcile
        return ReconcileOptions(
            fix=rs.fix,
            push=False,  # the channels' pushers write what is queued
            record_conflicts=True,
            repull_seconds=rs.repull_seconds,
            drift_again_seconds=rs.drift_again_seconds,
            resume_idle_seconds=min(rs.interval_seconds / 2, 300.0),
        )

    def _targets(self, only: set[str] | None = None) -> tuple[list[ChannelTarget], set[str]]:
        """The channels to reconcile now, and those owed a run once they are up."""
        chosen = set(self.settings.reconcile.channels)
        out, later = [], set()
        for name, runner in self.channels.items():
            if chosen and name not in chosen or only is not None and name not in only:
                continue
            if not runner.settings.push:
                continue
            # A channel told each location apart is compared lane by lane (one per location).
            targets = [t for t in channel_targets(runner.settings, runner.connector) if readable(t)]
            if not targets:
                continue
            if runner.status.state not in self.BACK:
                later.add(name)  # not reachable now; reconciled once it is back
                continue
            out.extend(targets)
        return out, later

    async def loop(self) -> None:
        rs = self.settings.reconcile
        due = time.monotonic() + rs.first_run_seconds
        while not self.stopping.is_set():
            if not self._ready:
                await self._sleep(max(0.0, due - time.monotonic()))
            if self.stopping.is_set():
                return
            if time.monotonic() >= due:
                self._ready.clear()  # a change from now on asks for another run
                self._owed = await self._run(None)
                due = time.monotonic() + rs.interval_seconds
            elif self._ready:
                ready = set(self._ready)
                self._ready.clear()
                log.info("reconcile_channels_back", channels=sorted(ready))
                self._owed = (self._owed - ready) | await self._run(ready)

    async def _sleep(self, seconds: float) -> None:
        """Until ``seconds`` have passed, a channel is back, or the daemon stops."""
        self._wake.clear()
        if self._ready:
            return
        waiters = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.stopping.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waiters:
                task.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)

    async def _run(self, only: set[str] | None) -> set[str]:
        """Run for the channels that are up; the names of those that are not."""
        targets, later = self._targets(only)
        if targets:
            await self._reconcile(targets)
        return later

    async def run_once(self, only: set[str] | None = None) -> RunReport | None:
        """Reconcile now the channels that are up (all, or ``only``)."""
        targets, _ = self._targets(only)
        return await self._reconcile(targets) if targets else None

    async def _reconcile(self, targets: list[ChannelTarget]) -> RunReport | None:
        reconciler = Reconciler(self.store, self.settings.sync, self._options(), events=self.events)
        try:
            self.last = await reconciler.run(targets)
        except LedgerError as err:  # the ledger is down: the run resumes at the next one
            log.warning("reconcile_failed", error=str(err))
            return None
        self.runs += 1
        return self.last
