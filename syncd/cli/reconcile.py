"""`syncd reconcile` and `syncd init` as a merchant runs them: open the ledger and the channels,
show progress (a rich bar with rate and ETA on a TTY), print tables or JSON, write the CSV report.

``--json`` prints one JSON object on stdout and nothing else there; tables, progress and
questions go to the terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import aiohttp
import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichBar
from rich.prompt import Confirm
from rich.text import Text

from syncd.config import ChannelSettings, Settings, ledger_names
from syncd.connectors import connector_class
from syncd.connectors.base import Connector
from syncd.engine import onboarding
from syncd.engine.declare import DeclaringStore, declare_channels
from syncd.engine.reconciler import (
    ChannelTarget,
    NoProgress,
    Progress,
    ReconcileOptions,
    Reconciler,
    channel_targets,
    readable,
)
from syncd.exceptions import ConnectorError, SchemaError
from syncd.ledger import open_store
from syncd.ledger.store import KitStore, Store
from syncd.logs import register_secret
from syncd.reconcile.report import (
    ChannelReport,
    onboard_json,
    onboard_tables,
    report_csv,
    report_json,
    report_tables,
)

log = structlog.get_logger("syncd.reconcile")
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class RateColumn(ProgressColumn):
    """SKUs per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f} SKU/s")


class BarProgress:
    """A rich progress bar per channel, with rate and ETA (when the total is known)."""

    def __init__(self, console: Console) -> None:
        self.bar = RichBar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            RateColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def start(self, channel: str, total: int | None) -> None:
        if not self.bar.live.is_started:
            self.bar.start()
        self.task = self.bar.add_task(f"reading {channel}", total=total)

    def advance(self, count: int) -> None:
        if self.task is not None:
            task = self.bar.tasks[self.task]
            if task.total is not None and task.completed + count > task.total:
                self.bar.update(self.task, total=task.completed + count)
            self.bar.advance(self.task, count)

    def finish(self) -> None:
        if self.task is not None:
            task = self.bar.tasks[self.task]
            self.bar.update(self.task, total=task.completed)
            self.task = None
        if self.bar.live.is_started:
            self.bar.stop()


def _progress() -> Progress:
    err = Console(file=sys.stderr)
    return BarProgress(err) if err.is_terminal else NoProgress()


# -- ledger and channels --------------------------------------------------------------------------


class PreparedStore(DeclaringStore, KitStore, Protocol):
    """What `prepare_store` sets up: locations, channels and kits."""


async def prepare_store(store: PreparedStore, settings: Settings) -> None:
    """What the daemon sets at start-up: locations, channels, aliases, buffers, kits (the config's)."""
    await declare_channels(store, settings)
    if settings.aliases:
        await store.set_aliases(settings.aliases)
    await store.set_kits(settings.kits, source="config", replace_source=True)
    for sku, qty in settings.buffers.items():
        await store.set_buffer(qty, sku=sku)
    for channel in settings.channels:
        for name in ledger_names(channel):  # a lane's location keeps the channel's buffer
            await store.set_buffer(channel.buffer, channel=name)
            for sku, qty in channel.buffers.items():
                await store.set_buffer(qty, channel=name, sku=sku)


@dataclass
class OpenChannels:
    targets: list[ChannelTarget] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # channel → why it cannot be used


@contextlib.asynccontextmanager
async def open_channels(channels: Sequence[ChannelSettings]) -> AsyncIterator[OpenChannels]:
    """Open and check each channel's connector; a failing one is reported, not fatal."""
    from syncd.engine.daemon import _secret_values

    out = OpenChannels()
    opened: list[Connector[Any]] = []
    async with aiohttp.ClientSession() as session:
        try:
            for channel in channels:
                for secret in _secret_values(channel.options):
                    register_secret(secret)
                connector = connector_class(channel.type)(
                    channel.name, channel.options, session=session
                )
                try:
                    await connector.open()
                    opened.append(connector)
                    await connector.check()
                except ConnectorError as err:
                    out.errors[channel.name] = str(err)
                    continue
                # A channel told each location apart: one target per lane (its location).
                out.targets.extend(channel_targets(channel, connector))
            yield out
        finally:
            for connector in opened:
                with contextlib.suppress(Exception):
                    await connector.close()


def _choose(settings: Settings, channel: str | None) -> list[ChannelSettings] | str:
    enabled = [c for c in settings.channels if c.enabled]
    if channel is not None:
        chosen = [c for c in enabled if c.name == channel]
        if not chosen:
            names = ", ".join(c.name for c in enabled)
            return f"no enabled channel {channel!r} in {settings.file} (channels: {names})"
        return chosen
    wanted = set(settings.reconcile.channels)
    return [c for c in enabled if c.push and (not wanted or c.name in wanted)]


def _write_text(path: Path, text: str) -> None:
    """The report replaced at once, through a temp file of a random name created with O_EXCL
    (a link planted as a fixed temp name would be written through). The folder is the one the
    merchant named, link or not."""
    from syncd.connectors.csv_till.safefs import write_atomic

    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        write_atomic(folder, path.name, text.encode("utf-8"))
    finally:
        os.close(folder)


def _emit_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")
    sys.stdout.flush()


# -- syncd reconcile --------------------------------------------------------------------------------


async def reconcile_command(
    settings: Settings,
    *,
    channel: str | None = None,
    fix: bool = False,
    as_json: bool = False,
    report_path: Path | None = None,
) -> int:
    chosen = _choose(settings, channel)
    console = Console(file=sys.stderr)
    if isinstance(chosen, str):
        console.print(f"error: {chosen}")
        return EXIT_USAGE
    store = await open_store(settings.ledger)
    try:
        await prepare_store(store, settings)
        async with open_channels(chosen) as opened:
            unreadable = {t.channel for t in opened.targets if not readable(t)}
            for name in unreadable:
                opened.errors[name] = "this channel's figures cannot be read back"
            targets = [t for t in opened.targets if t.channel not in unreadable]
            options = ReconcileOptions(
                fix=fix,
                push=fix,
                record_conflicts=fix,
                repull_seconds=settings.reconcile.repull_seconds,
                drift_again_seconds=settings.reconcile.drift_again_seconds,
            )
            reconciler = Reconciler(store, settings.sync, options, progress=_progress())
            report = await reconciler.run(targets)
    finally:
        await store.close()
    for name, error in opened.errors.items():
        report.channels.append(ChannelReport(name, settings.channel(name).type, error=error))
    if report_path is not None:
        _write_text(report_path, report_csv(report))
    if as_json:
        _emit_json(report_json(report))
    else:
        out = Console()
        for table in report_tables(report):
            out.print(table)
        if report_path is not None:
            console.print(f"report written to {report_path}")
    return EXIT_FAILURE if report.failed else EXIT_OK


# -- syncd init -------------------------------------------------------------------------------------


async def init_command(
    settings: Settings,
    *,
    source: str,
    dry_run: bool = False,
    yes: bool = False,
    as_json: bool = False,
) -> int:
    console = Console(file=sys.stderr)
    enabled = [c for c in settings.channels if c.enabled]
    if source not in {c.name for c in enabled}:
        names = ", ".join(c.name for c in enabled)
        console.print(f"error: no enabled channel {source!r} to take the stock from ({names})")
        return EXIT_USAGE
    store = await _ledger_for_init(settings, dry_run)
    try:
        if store is not None and not dry_run:
            await prepare_store(store, settings)
        async with open_channels(enabled) as opened:
            if source in opened.errors:
                console.print(f"error: {source}: {opened.errors[source]}")
                return EXIT_FAILURE
            return await _init(settings, store, opened, source, dry_run, yes, as_json, console)
    finally:
        if store is not None:
            await store.close()


async def _ledger_for_init(settings: Settings, dry_run: bool) -> Store | None:
    """The ledger; for a dry run, opened only if it exists (creating it would be a write),
    never migrated. None: no ledger yet (every level is 0)."""
    if not dry_run:
        return await open_store(settings.ledger)
    if settings.ledger.backend == "sqlite" and not settings.ledger.path.exists():
        return None
    try:
        return await open_store(settings.ledger, migrate=False)
    except SchemaError:
        return None


async def _init(
    settings: Settings,
    store: Store | None,
    opened: OpenChannels,
    source: str,
    dry_run: bool,
    yes: bool,
    as_json: bool,
    console: Console,
) -> int:
    # A channel told each location apart is read, and counted, location by location (its lanes).
    origin = [t for t in opened.targets if t.channel == source]
    if not all(readable(t) for t in origin):
        console.print(f"error: {source}'s figures cannot be read: it cannot be the source")
        return EXIT_USAGE
    others = [t for t in opened.targets if t.channel != source and readable(t)]
    for name, error in opened.errors.items():
        console.print(f"warning: {name} left out: {error}")
    progress = _progress()
    on_hand = await store.levels() if store is not None else {}
    on_hand_at = (
        {(r.location, r.sku): r.on_hand for r in await store.location_stock()}
        if store is not None
        else {}
    )
    plan, reads = await onboarding.plan(
        settings, origin, others, on_hand, on_hand_at=on_hand_at, progress=progress
    )
    if not plan.counts:
        console.print(f"error: {source} showed no stock figure: it cannot be the source")
        return EXIT_FAILURE
    counted = {t.name for t in origin}
    for name in sorted(n for n, figures in reads.items() if not figures and n not in counted):
        console.print(
            f"note: {name} reports no stock (a till's figures exist only once syncd has written "
            f"its stock file): it is left out of the SKU audit, and will be told the figures below"
        )
    # The tables and the outcome are the result: on stdout (or the JSON object alone there);
    # progress, notes, warnings and errors on stderr.
    out = console if as_json else Console()
    if not as_json:
        for table in onboard_tables(plan):
            out.print(table)
    confirmed = yes
    if not dry_run and not yes:
        if sys.stdin.isatty() and console.is_terminal:
            confirmed = Confirm.ask(
                f"Set the ledger from {source} ({len(plan.counts)} SKUs) and queue the changes?",
                console=console,
            )
        else:
            console.print("nothing written: confirm with --yes (or look first with --dry-run)")
            if as_json:
                _emit_json(onboard_json(plan, applied=False, dry_run=dry_run))
            return EXIT_USAGE
    if dry_run or not confirmed or store is None:
        if as_json:
            _emit_json(onboard_json(plan, applied=False, dry_run=dry_run))
        out.print("dry run: nothing written" if dry_run else "nothing written")
        return EXIT_OK
    reconciler = Reconciler(store, settings.sync, ReconcileOptions(push=True))
    outcome = await onboarding.apply(
        store, plan, origin, others, reads, push=reconciler.push_outbox, progress=progress
    )
    result = onboard_json(plan, applied=True, dry_run=False)
    result.update(
        counted=outcome.counted,
        history_documents=outcome.history_documents,
        queued=outcome.queued,
        pushed=outcome.pushed,
        counted_at=outcome.counted_at.astimezone(UTC).isoformat(),
    )
    if as_json:
        _emit_json(result)
    out.print(
        f"ledger set from {source} at {shop_time(outcome.counted_at, settings)}: "
        f"{outcome.counted} SKUs counted, {outcome.history_documents} earlier document(s) "
        f"recorded as already in the count, {outcome.queued} figure(s) queued, "
        f"{outcome.pushed} written"
    )
    return EXIT_OK


def shop_time(when: datetime, settings: Settings) -> str:
    """A time as the merchant reads it: in the shop's time zone, named."""
    local = when.astimezone(ZoneInfo(settings.web.timezone))
    return f"{local:%Y-%m-%d %H:%M:%S} {settings.web.timezone}"


# -- argparse -------------------------------------------------------------------------------------


def _quiet_logging(settings: Settings) -> None:
    """The tables are the output: only warnings and errors are logged (on stderr)."""
    from syncd.logs import configure_logging

    level = "error" if settings.log.level == "error" else "warning"
    configure_logging(level, settings.log.format)


def _cmd_reconcile(args: argparse.Namespace) -> int:
    import asyncio

    from syncd.config import load_config

    settings = load_config(args.config)
    _quiet_logging(settings)
    return asyncio.run(
        reconcile_command(
            settings,
            channel=args.channel,
            fix=args.fix,
            as_json=args.json,
            report_path=args.report,
        )
    )


def _cmd_init(args: argparse.Namespace) -> int:
    import asyncio

    from syncd.config import load_config

    settings = load_config(args.config)
    _quiet_logging(settings)
    return asyncio.run(
        init_command(
            settings, source=args.source, dry_run=args.dry_run, yes=args.yes, as_json=args.json
        )
    )


def add_commands(sub: Any) -> None:
    """`syncd reconcile` and `syncd init` (DESIGN.md §5)."""
    text = "compare every channel's figures with the ledger; explain, and with --fix repair"
    p = sub.add_parser("reconcile", help=text, description=text)
    p.set_defaults(func=_cmd_reconcile)
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--channel", default=None, metavar="C", help="only this channel")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="report only (the default)")
    mode.add_argument("--fix", action="store_true", help="queue and write the corrections")
    p.add_argument("--json", action="store_true")
    p.add_argument("--report", type=Path, default=None, metavar="FILE.csv")
    text = "onboarding: set the ledger from one channel's stock, after showing what changes"
    p = sub.add_parser("init", help=text, description=text)
    p.set_defaults(func=_cmd_init)
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--from", dest="source", required=True, metavar="CHANNEL")
    p.add_argument("--dry-run", action="store_true", help="show the changes; write nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument("--json", action="store_true")
