"""Several daemons on one PostgreSQL ledger (issue 20), as processes: one runs each job, a standby
takes over a killed daemon's jobs within seconds, and a paused daemon that wakes after its jobs
moved never writes again; every till sale reaches the shop exactly once throughout."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.cli.status import gather_status
from syncd.config import load_config
from syncd.ledger import open_store
from syncd.ledger.fencing import Lease
from syncd.testing.harness import DaemonProcess, Emulator, until
from syncd.testing.harness import write_config as write_toml
from tests.e2e.test_daemon_process import HEADER, onboard

LEASE_SECONDS = 2.0
JOBS = {"alerts", "channel:till", "channel:webshop"}


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    with Emulator("prestashop", 8) as emulator:
        yield emulator.info


def _config(tmp: Path, shop: dict[str, Any], dsn: str) -> Path:
    config = write_toml(
        tmp / "syncd.toml",
        {
            "ledger": {"backend": "postgres", "dsn": dsn},
            "log": {"level": "info", "format": "json"},
            "sync": {"grace_seconds": 2, "outbox_poll_seconds": 1},
            "web": {"enabled": False},
            "cluster": {"lease_seconds": LEASE_SECONDS},
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": "till/inbox",
                    "stock_file": "till/stock.csv",
                    "settle_seconds": 0.2,
                    "poll_seconds": 0.5,
                    "stock_min_interval_seconds": 0.1,
                },
                "webshop": {
                    "type": "prestashop",
                    "url": shop["url"],
                    "api_key": shop["api_key"],
                    "poll_seconds": 0.3,
                    "overlap_seconds": 2,
                },
            },
        },
    )
    (tmp / "till" / "inbox").mkdir(parents=True)
    return config


class Cluster:
    def __init__(self, tmp: Path, shop: dict[str, Any], config: Path) -> None:
        self.tmp, self.shop, self.config = tmp, shop, config
        self.daemons: list[DaemonProcess] = []
        self.receipts = 0

    def start(self) -> DaemonProcess:
        n = len(self.daemons)
        daemon = DaemonProcess(self.config, cwd=self.tmp, log=self.tmp / f"daemon-{n}.log")
        daemon.start()
        self.daemons.append(daemon)
        return daemon

    async def leases(self) -> list[Lease]:
        store = await open_store(load_config(self.config).ledger)
        try:
            return await store.leases()
        finally:
            await store.close()

    async def holds_all(self, daemon: DaemonProcess) -> bool:
        """Every job held, unexpired, by ``daemon`` (holder names carry the process id)."""
        assert daemon.proc is not None
        now = time.time()
        mine = {
            lease.job
            for lease in await self.leases()
            if f":{daemon.proc.pid}:" in lease.holder and lease.expires_at.timestamp() > now
        }
        return mine >= JOBS

    def sell(self, sku: str, qty: int) -> None:
        self.receipts += 1
        receipt = f"4-{10000 + self.receipts}"
        row = f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},20.00,0.00,20.00,8.00,12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
        staging = self.tmp / "till" / f".{receipt}"
        staging.write_text(HEADER + row, encoding="utf-8")
        staging.replace(self.tmp / "till" / "inbox" / f"{receipt}.csv")

    async def quantities(self) -> dict[str, int]:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.shop['url']}/__emulator/quantities") as resp,
        ):
            return {str(k): int(v) for k, v in (await resp.json()).items()}

    async def shop_quantity(self, sku: str) -> int:
        return (await self.quantities())[sku]


async def test_a_standby_takes_over_and_a_paused_daemon_never_writes_again(
    tmp_path: Path, shop: dict[str, Any], pg_dsn: str
) -> None:
    config = _config(tmp_path, shop, pg_dsn)
    cluster = Cluster(tmp_path, shop, config)
    initial = await cluster.quantities()
    await onboard(config, initial)
    sku = next(s for s in sorted(initial) if initial[s] >= 10)
    sold = 0
    a = cluster.start()
    try:
        await until(lambda: cluster.holds_all(a), timeout=30)
        b = cluster.start()
        await asyncio.sleep(LEASE_SECONDS * 2)
        assert await cluster.holds_all(a)  # the standby waits
        assert b.events("job_taken") == []

        cluster.sell(sku, 1)
        sold += 1
        await until(lambda: _shows(cluster, sku, initial[sku] - sold), timeout=20)

        # kill -9 of the active daemon: the standby has every job within 10 s.
        a.stop(signal.SIGKILL)
        killed = time.monotonic()
        await until(lambda: cluster.holds_all(b), timeout=10)
        takeover = time.monotonic() - killed
        assert takeover < 10
        cluster.sell(sku, 2)
        sold += 2
        await until(lambda: _shows(cluster, sku, initial[sku] - sold), timeout=20)

        # The active daemon paused (SIGSTOP): a new standby takes its jobs; woken, it has lost
        # them and writes nothing more.
        c = cluster.start()
        await asyncio.sleep(1)
        assert b.proc is not None
        b.proc.send_signal(signal.SIGSTOP)
        await until(lambda: cluster.holds_all(c), timeout=15)
        cluster.sell(sku, 3)
        sold += 3
        b.proc.send_signal(signal.SIGCONT)
        await until(lambda: _shows(cluster, sku, initial[sku] - sold), timeout=20)
        await until(
            lambda: len(b.events("job_lost")) + len(b.events("job_stopped_lease_unsure")) >= 2
        )
        await asyncio.sleep(LEASE_SECONDS)
        assert await cluster.holds_all(c)
        # Exactly once: the ledger holds each receipt once, and the shop shows the sum.
        store = await open_store(load_config(config).ledger)
        try:
            assert (await store.levels([sku]))[sku] == initial[sku] - sold
            till_moves = [
                m for m in await store.movements(sku=sku, limit=50) if m.channel == "till"
            ]
            assert sorted(-m.delta for m in till_moves) == [1, 2, 3]
        finally:
            await store.close()
        assert await cluster.shop_quantity(sku) == initial[sku] - sold
        # Which daemon runs each job, as `syncd status --json` shows it.
        status = await gather_status(load_config(config))
        assert {j["job"] for j in status["jobs"] if j["running"]} >= JOBS
        assert all(f":{c.proc.pid}:" in j["daemon"] for j in status["jobs"] if j["running"])
    finally:
        for daemon in cluster.daemons:
            if daemon.proc is not None and daemon.proc.poll() is None:
                daemon.proc.send_signal(signal.SIGCONT)
            daemon.kill()


async def _shows(cluster: Cluster, sku: str, qty: int) -> bool:
    return await cluster.shop_quantity(sku) == qty
