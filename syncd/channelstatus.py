"""What the daemon knows of a channel right now: read by the engine, the alerts and the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class ChannelState(StrEnum):
    STARTING = "starting"
    IN_SYNC = "in_sync"
    CATCHING_UP = "catching_up"
    DEGRADED = "degraded"  # failing, retrying; its outbox waits for it
    DOWN = "down"  # not reachable at start-up; retried in the background
    REFUSED = "refused"  # bad credentials or settings: a person must act
    STOPPED = "stopped"


@dataclass
class ChannelStatus:
    """What the daemon knows of a channel right now (shown by `status` and the page)."""

    name: str
    type: str
    state: ChannelState = ChannelState.STARTING
    last_pull: datetime | None = None
    last_push: datetime | None = None
    last_error: str = ""
    push_failures: int = 0
    pull_failures: int = 0
    pull_generation: int = 0  # completed pulls, to know a deferred push has seen a pull since
    documents: int = 0
    pushed: int = 0
    loops_alive: dict[str, bool] = field(default_factory=dict)
