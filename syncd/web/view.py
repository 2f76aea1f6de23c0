"""What the web reads of a running daemon and calls on it: a narrow view, not the Daemon class.

The engine's ``Daemon`` satisfies it; the web imports nothing of the engine (the two are put
together by ``syncd.cli.run``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from syncd.channelstatus import ChannelStatus
from syncd.config import ChannelSettings, Settings
from syncd.events import EventFeed
from syncd.ledger.store import Store


class RunnerView(Protocol):
    """One channel as the page shows it."""

    @property
    def name(self) -> str: ...
    @property
    def settings(self) -> ChannelSettings: ...
    @property
    def status(self) -> ChannelStatus: ...


class LoopView(Protocol):
    """One supervised loop: restarting after a crash shows on the page and in /healthz."""

    @property
    def name(self) -> str: ...
    @property
    def alive(self) -> bool: ...
    @property
    def task(self) -> asyncio.Task[None] | None: ...


class DaemonView(Protocol):
    """The daemon's parts the status page, the API, /ws, /healthz and /metrics use."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def events(self) -> EventFeed: ...
    @property
    def runners(self) -> Mapping[str, RunnerView]: ...
    @property
    def loops(self) -> Sequence[LoopView]: ...
    @property
    def reload_hooks(self) -> list[Callable[[Settings], None]]: ...

    def health(self) -> tuple[bool, list[str]]:
        """(healthy, reasons): every loop alive and every channel within its lag threshold."""
        ...
