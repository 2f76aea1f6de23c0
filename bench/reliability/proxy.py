"""An asyncio TCP fault proxy: sits between the daemon and a shop emulator and, when told to,
adds latency, resets connections, black-holes them, trickles bodies or truncates answers.

Every decision comes from the proxy's own seeded random generator, so a campaign replays from its
seed (up to the timing of the operating system).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field

KINDS = ("latency", "reset", "blackhole", "slow", "truncate")


@dataclass
class FaultProxy:
    target_host: str
    target_port: int
    rng: random.Random
    rate: float = 0.0  # share of answer chunks that get a fault (0: a plain pipe)
    injected: Counter[str] = field(default_factory=Counter)
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(self._serve(reader, writer))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        up = asyncio.create_task(self._pipe(client_r, up_w, faulty=False))
        down = asyncio.create_task(self._pipe(up_r, client_w, faulty=True))
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (up, down):
                task.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            client_w.transport.abort()
            up_w.transport.abort()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, faulty: bool
    ) -> None:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            if faulty and self.rate and self.rng.random() < self.rate:
                kind = self.rng.choice(KINDS)
                self.injected[kind] += 1
                if kind == "latency":
                    await asyncio.sleep(self.rng.uniform(0.05, 0.8))
                elif kind == "reset":
                    return  # both sides are aborted: a connection reset mid-answer
                elif kind == "blackhole":
                    await asyncio.sleep(3600)  # the answer never comes: the client times out
                elif kind == "slow":
                    for i in range(0, len(chunk), 256):
                        writer.write(chunk[i : i + 256])
                        await writer.drain()
                        await asyncio.sleep(0.005)
                    continue
                elif kind == "truncate":
                    writer.write(chunk[: max(1, len(chunk) // 2)])
                    await writer.drain()
                    return
            writer.write(chunk)
            await writer.drain()
