"""The daemon: opens the ledger, starts each channel, supervises its loops, stops cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import aiohttp
import structlog

from syncd.alerts.service import AlertService
from syncd.backoff import backoff_seconds
from syncd.channelstatus import ChannelState
from syncd.config import Secret, Settings, ledger_names, load_config
from syncd.connectors import connector_class
from syncd.connectors.base import Connector
from syncd.domain import utcnow
from syncd.engine.channel import ChannelRunner
from syncd.engine.cluster import Cluster, daemon_name
from syncd.engine.declare import declare_channels
from syncd.engine.notify import SystemdNotifier
from syncd.engine.reconciler import ScheduledReconciler
from syncd.engine.stockfolder import StockFolders
from syncd.events import EventFeed
from syncd.exceptions import ConfigError, LedgerError
from syncd.ledger import open_store
from syncd.ledger.fencing import writing_under
from syncd.ledger.store import Store
from syncd.logs import configure_logging, register_secret
from syncd.stockin.reorderfile import ReorderFileError, import_reorder_file
from syncd.stockin.reorderlist import digest_payloads, reorder_list
from syncd.tally import Tally

log = structlog.get_logger("syncd.daemon")


class Frontend(Protocol):
    """Something served next to the loops (the status page and webhooks: ``syncd.cli.run``):
    started once the channels are, stopped after the pushes are flushed."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...


@dataclass
class Supervised:
    """A named loop that is restarted with backoff when it crashes, and never silently gone."""

    name: str
    factory: Callable[[], Awaitable[None]]
    task: asyncio.Task[None] | None = None
    crashes: int = 0
    alive: bool = False


@dataclass
class HookGate:
    """A channel's webhook floor: one pull per ``min_seconds`` at most; the webhooks that come
    within it share a single pull at its end (so the last change they announce is still read)."""

    min_seconds: float
    last: float = float("-inf")
    pending: asyncio.TimerHandle | None = None

    def nudge(self, connector: Connector[Any]) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if self.pending is not None:
            return  # a pull is already due at the end of the floor
        wait = self.last + self.min_seconds - now
        if wait <= 0:
            self.last = now
            connector.nudge()
            return

        def fire() -> None:
            self.pending = None
            self.last = loop.time()
            connector.nudge()

        self.pending = loop.call_later(wait, fire)

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.cancel()
            self.pending = None


@dataclass
class Daemon:
    settings: Settings
    store: Store | None = None
    events: EventFeed = field(default_factory=EventFeed)
    runners: dict[str, ChannelRunner] = field(default_factory=dict)
    notifier: SystemdNotifier = field(default_factory=SystemdNotifier)
    loops: list[Supervised] = field(default_factory=list)
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    web_port: int | None = None
    reconciler: ScheduledReconciler | None = None  # scheduled and after-outage reconciliation
    cluster: Cluster | None = None  # the jobs' leases among the daemons sharing the ledger
    alerts: AlertService | None = None  # the alert mail loop; .status for the page
    stock_folders: StockFolders | None = None  # [stock] receipts_folder / counts_folder
    frontends: list[Frontend] = field(default_factory=list)
    reload_hooks: list[Callable[[Settings], None]] = field(default_factory=list)  # SIGHUP
    hook_gates: dict[str, HookGate] = field(default_factory=dict)
    refused_hooks: Tally = field(default_factory=lambda: Tally(log, "webhook_refused"))
    _session: aiohttp.ClientSession | None = None
    _connectors: list[Connector[Any]] = field(default_factory=list)

    # -- start ----------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the ledger, declare channels, start every channel and the web endpoints."""
        settings = self.settings
        for secret in _secrets(settings):
            register_secret(secret)
        name = daemon_name(settings.cluster)
        self.store = await open_store(settings.ledger, holder=name)
        store = self.store
        self.cluster = Cluster(store, settings.cluster, self.stopping, name=name)
        await declare_channels(store, settings)
        await self._apply_stock_settings(settings)
        await self._import_reorder_file(settings)
        if settings.reconcile.enabled:  # before the channels: it hears their first state change
            self.reconciler = ScheduledReconciler(
                settings, store, self.runners, stopping=self.stopping, events=self.events
            )
        self._session = aiohttp.ClientSession()
        for channel in settings.channels:
            if not channel.enabled:
                continue
            cls = connector_class(channel.type)
            connector = cls(channel.name, channel.options, session=self._session)
            await connector.open()
            self._connectors.append(connector)
            runner = ChannelRunner(channel, connector, store, settings.sync, self.events)
            if self.reconciler is not None:
                runner.state_listeners.append(self.reconciler.channel_state)
            self.runners[channel.name] = runner
            self._hold(
                f"channel:{channel.name}",
                functools.partial(self._run_channel, runner),
                preferred=not settings.cluster.prefer or channel.name in settings.cluster.prefer,
                claim=channel.name in settings.cluster.prefer,
                quiesce=runner.quiet,
            )
        cluster = self.cluster
        self._supervise("presence", cluster.presence)
        self._supervise("health", self._health_loop)
        self._supervise("prune", self._prune_loop)
        if self.reconciler is not None:
            self._hold("reconcile", self.reconciler.loop)
        self.alerts = AlertService(
            settings.alerts,
            store,
            channels=lambda: [r.status for r in self.runners.values()],
            admin_order_urls={
                c.name: str(getattr(c.options, "admin_order_url", "") or "")
                for c in settings.channels
            },
            config_file=settings.file,
            events=self.events,
            reorder=self._to_reorder,
        )
        alerts = self.alerts
        self._hold("alerts", lambda: alerts.run(self.stopping))
        if settings.stock.receipts_folder is not None or settings.stock.counts_folder is not None:
            folders = self.stock_folders = StockFolders(settings, store, self.events, self.stopping)
            self._supervise("stock-folders", folders.loop)
            self.reload_hooks.append(folders.reload)  # moved folders: watched after SIGHUP
        interval = self.notifier.watchdog_interval()
        if interval is not None:
            self._supervise("watchdog", lambda: self._watchdog_loop(interval))
        for frontend in self.frontends:
            await frontend.start()
        log.info(
            "daemon_started",
            ledger=settings.ledger.backend,
            channels=[c.name for c in settings.channels if c.enabled],
            web_port=self.web_port,
        )
        self.notifier.ready(self.status_line())

    async def _apply_stock_settings(self, settings: Settings) -> None:
        assert self.store is not None
        if settings.aliases:
            await self.store.set_aliases(settings.aliases)
        # Always: kits dropped from [kits] since the last start are removed from the ledger.
        await self.store.set_kits(settings.kits, source="config", replace_source=True)
        for sku, qty in settings.buffers.items():
            await self.store.set_buffer(qty, sku=sku)
        for channel in settings.channels:
            for name in ledger_names(channel):  # a lane's location keeps the channel's buffer
                await self.store.set_buffer(channel.buffer, channel=name)
                for sku, qty in channel.buffers.items():
                    await self.store.set_buffer(qty, channel=name, sku=sku)

    async def _import_reorder_file(self, settings: Settings) -> None:
        """``[stock] reorder_file``, read at start: its good rows stored, its bad ones logged."""
        path = settings.stock.reorder_file
        if path is None:
            return
        assert self.store is not None
        config_skus = {*settings.stock.reorder_points, *settings.stock.reorder_quantities}
        try:
            result = await import_reorder_file(self.store, path, config_skus=config_skus)
        except ReorderFileError as err:
            log.warning("reorder_file_unusable", file=str(path), error=str(err))
            return
        for r in result.rejections:
            log.warning(
                "reorder_row_rejected", file=r.source, row=r.row, column=r.column, reason=r.reason
            )
        log.info(
            "reorder_points_imported",
            file=str(path),
            points=len(result.imported),
            rejected=len(result.rejections),
            config_wins=result.config_wins,
        )

    async def _to_reorder(self, now: datetime) -> list[dict[str, Any]]:
        """What the daily digest lists: the SKUs to reorder now (the config as reloaded)."""
        assert self.store is not None
        return digest_payloads(await reorder_list(self.store, self.settings.stock, now=now))

    def _hold(
        self,
        job: str,
        run: Callable[[], Coroutine[Any, Any, None]],
        *,
        preferred: bool = True,
        claim: bool = False,
        quiesce: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    ) -> None:
        """Run a job whenever this daemon holds its lease (:class:`~.cluster.Cluster`)."""
        assert self.cluster is not None
        cluster = self.cluster
        self._supervise(
            f"{job}:lease",
            lambda: cluster.hold(job, run, preferred=preferred, claim=claim, quiesce=quiesce),
        )

    async def _run_channel(self, runner: ChannelRunner) -> None:
        """Start-up check (retried while the channel is not ready), then its loops, until the
        job ends (the daemon stops, or its lease went to another daemon: then they are stopped)."""
        if not await runner.start_up():
            return
        assert self.store is not None
        loops = []
        if runner.settings.push:
            loops.append(self._supervise(f"{runner.name}:push", runner.push_loop))
        if runner.settings.pull:
            loops.append(self._supervise(f"{runner.name}:ingest", runner.ingest_loop))
        try:
            await asyncio.gather(*(loop.task for loop in loops if loop.task is not None))
        finally:
            for loop in loops:
                if loop.task is not None and not self.stopping.is_set():
                    loop.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await loop.task
                    self.loops.remove(loop)

    def _supervise(self, name: str, factory: Callable[[], Awaitable[None]]) -> Supervised:
        loop = Supervised(name, factory)
        loop.task = asyncio.create_task(self._keep_running(loop), name=name)
        self.loops.append(loop)
        return loop

    async def _keep_running(self, loop: Supervised) -> None:
        while not self.stopping.is_set():
            loop.alive = True
            try:
                await loop.factory()
                loop.alive = False
                return
            except asyncio.CancelledError:
                loop.alive = False
                raise
            except Exception as err:  # noqa: BLE001 - a crashed loop is reported and restarted
                loop.alive = False
                loop.crashes += 1
                wait = backoff_seconds(loop.crashes, base=1, cap=60)
                log.exception("loop_crashed", loop=loop.name, crashes=loop.crashes, error=str(err))
                self.events.publish("loop_crashed", loop=loop.name, error=str(err))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), wait)

    async def _health_loop(self) -> None:
        last = ""
        while not self.stopping.is_set():
            for runner in self.runners.values():
                if self.cluster is None or self.cluster.holds(f"channel:{runner.name}"):
                    await runner.record_health()
            line = self.status_line()
            if line != last:
                self.notifier.status(line)
                last = line
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 5)

    async def _prune_loop(self) -> None:
        """Daily, forget what the retention period no longer needs, so nothing but the
        movement history grows while the daemon runs for months."""
        assert self.store is not None
        wait = 60.0  # not during start-up
        while not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), wait)
            if self.stopping.is_set():
                return
            before = utcnow() - timedelta(days=self.settings.ledger.retention_days)
            try:
                removed = await self.store.prune(before)
            except LedgerError as err:
                log.warning("prune_failed", error=str(err))
                wait = 600.0
                continue
            if removed.get("file_cursors"):
                for runner in self.runners.values():
                    runner.forget_cursors()
            wait = 24 * 3600.0

    async def _watchdog_loop(self, interval: float) -> None:
        # Pinged from the event loop itself: a blocked loop stops the pings and systemd acts.
        while not self.stopping.is_set():
            self.notifier.watchdog()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), interval)

    def status_line(self) -> str:
        parts = [f"{r.name}: {r.status.state.value}" for r in self.runners.values()]
        return "; ".join(parts) or "no channel"

    # -- health ---------------------------------------------------------------------------------

    def health(self) -> tuple[bool, list[str]]:
        """(healthy, reasons): every loop alive and every channel's lag under its threshold."""
        reasons = []
        for loop in self.loops:
            if not loop.alive and loop.task is not None and not loop.task.done():
                reasons.append(f"loop {loop.name} is restarting after a crash")
        for runner in self.runners.values():
            if runner.status.state in (
                ChannelState.DEGRADED,
                ChannelState.DOWN,
                ChannelState.REFUSED,
            ):
                reasons.append(
                    f"channel {runner.name} is {runner.status.state.value}: {runner.status.last_error}"
                )
        return (not reasons, reasons)

    # -- stop -----------------------------------------------------------------------------------

    async def stop(self) -> None:
        """Stop taking work, finish the open ledger transaction, flush pushes for the grace
        period, then cancel what is left and close everything."""
        if self.stopping.is_set():
            return
        self.notifier.stopping()
        log.info("daemon_stopping", grace_seconds=self.settings.sync.grace_seconds)
        self.stopping.set()
        for runner in self.runners.values():
            runner.stopping.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.sync.grace_seconds
        tasks = [s.task for s in self.loops if s.task is not None]
        # Loops see `stopping` and return; a push in flight finishes within the grace period.
        done, pending = (
            await asyncio.wait(tasks, timeout=max(0.1, deadline - loop.time()))
            if tasks
            else (set(), set())
        )
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        cluster = self.cluster
        held = dict(cluster.held) if cluster is not None else {}
        for runner in self.runners.values():
            lease = held.get(f"channel:{runner.name}")
            if (
                lease is not None  # another daemon runs this channel: not ours to flush
                and runner.status.state not in (ChannelState.REFUSED, ChannelState.DOWN)
                and runner.settings.push
            ):
                with writing_under(lease):
                    await runner.flush(deadline)
        for runner in self.runners.values():
            lease = held.get(f"channel:{runner.name}")
            if lease is not None:
                runner.status.state = ChannelState.STOPPED
                with writing_under(lease):
                    await runner.record_health()
        if cluster is not None:
            await cluster.release_all()  # a standby takes the jobs at once
        for frontend in reversed(self.frontends):
            await frontend.stop()
        for gate in self.hook_gates.values():
            gate.cancel()
        self.refused_hooks.flush()
        for connector in self._connectors:
            with contextlib.suppress(Exception):
                await connector.close()
        if self._session is not None:
            await self._session.close()
        if self.store is not None:
            await self.store.close()  # waits for the ledger writer to finish what it holds
        self.notifier.close()
        log.info("daemon_stopped")

    async def reload(self) -> None:
        """SIGHUP: re-read the config; apply what is safe (log level, buffers, aliases)."""
        try:
            fresh = load_config(self.settings.file)
        except ConfigError as err:
            log.error("reload_refused", error=str(err), issues=[str(i) for i in err.issues])
            return
        configure_logging(fresh.log.level, fresh.log.format)
        await self._apply_stock_settings(fresh)
        for hook in self.reload_hooks:
            hook(fresh)
        old = {c.name: c.type for c in self.settings.channels}
        new = {c.name: c.type for c in fresh.channels}
        if old != new:
            log.warning("reload_needs_restart", reason="channels were added, removed or retyped")
        log.info("config_reloaded", file=fresh.file)


def _secrets(settings: Settings) -> list[str]:
    found = []
    if settings.ledger.dsn is not None:
        found.append(settings.ledger.dsn.reveal())
    if settings.web.password is not None:
        found.append(settings.web.password.reveal())
    if settings.alerts.smtp_password is not None:
        found.append(settings.alerts.smtp_password.reveal())
    for channel in settings.channels:
        if channel.webhook_secret is not None:
            found.append(channel.webhook_secret.reveal())
        found.extend(_secret_values(channel.options))
    return found


def _secret_values(options: object) -> list[str]:
    values = []
    for name in dir(options):
        if name.startswith("_"):
            continue
        with contextlib.suppress(Exception):
            value = getattr(options, name)
            if isinstance(value, Secret):
                values.append(value.reveal())
    return values
