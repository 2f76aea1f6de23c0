"""An in-process feed of what the daemon does, for the live page, `syncd tail` and the demo."""

from __future__ import annotations

import asyncio
from typing import Any

from syncd.domain import utcnow


class EventFeed:
    """Fan-out of small JSON-able events; a slow subscriber loses old events, never blocks us."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._queue_size = queue_size

    def publish(self, event: str, **fields: Any) -> None:
        item = {"event": event, "at": utcnow().isoformat(), **fields}
        for queue in list(self._subscribers):
            if queue.full():
                try:
                    queue.get_nowait()
                except asyncio.QueueEmpty:
                    pass
            queue.put_nowait(item)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)
