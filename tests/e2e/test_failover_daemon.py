"""A failover of the primary PostgreSQL under a running daemon (issue 20): `syncd run` on a real
primary and synchronous standby (syncd/testing/pgpair.py) through one multi-host DSN with
``target_session_attrs=read-write``, till sales dropped every 0.1 s; the primary is killed
(``-m immediate``) in the middle and the standby promoted. Every receipt is in the ledger once,
the shop shows the exact sum, and the convergence time is measured (printed; `-s` to see it)."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.config import load_config
from syncd.ledger import open_store
from syncd.testing.harness import DaemonProcess, Emulator, until
from syncd.testing.pg import find_binary
from syncd.testing.pgpair import ReplicatedPair
from tests.e2e.test_cluster import Cluster, _config
from tests.e2e.test_daemon_process import onboard

SALES = 60
FAIL_AT = 20


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    with Emulator("prestashop", 8) as emulator:
        yield emulator.info


@pytest.fixture
def pair() -> Iterator[ReplicatedPair]:
    missing = [b for b in ("initdb", "pg_ctl", "pg_basebackup") if find_binary(b) is None]
    if missing:
        pytest.skip(f"PostgreSQL's {', '.join(missing)} not installed: no replicated pair")
    replicated = ReplicatedPair().start()
    yield replicated
    replicated.stop()


@pytest.mark.timeout(240)
async def test_a_running_daemon_follows_the_promoted_standby_with_nothing_lost(
    tmp_path: Path, shop: dict[str, Any], pair: ReplicatedPair
) -> None:
    config = _config(tmp_path, shop, pair.dsn())
    cluster = Cluster(tmp_path, shop, config)
    sku = sorted(await cluster.quantities())[0]
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{shop['url']}/__emulator/quantities", json={sku: SALES * 3}) as resp,
    ):
        assert resp.status == 200
    initial = await cluster.quantities()
    await onboard(config, initial)
    daemon = DaemonProcess(config, cwd=tmp_path)
    daemon.start()
    try:
        await until(lambda: cluster.holds_all(daemon), timeout=30)
        failed_at = 0.0
        promotion: asyncio.Task[None] | None = None
        first_after: asyncio.Task[float] | None = None
        for n in range(SALES):
            if n == FAIL_AT:
                await asyncio.to_thread(pair.kill_primary)
                failed_at = time.monotonic()
                promotion = asyncio.create_task(asyncio.to_thread(pair.promote_standby))
            cluster.sell(sku, 1)
            if n == FAIL_AT:  # the sale made as the primary died: when does the shop show it?
                first_after = asyncio.create_task(_shown_at(cluster, sku, initial[sku] - n - 1))
            await asyncio.sleep(0.1)
        last_sale = time.monotonic()
        assert promotion is not None and first_after is not None
        await promotion
        await until(lambda: _shows(cluster, sku, initial[sku] - SALES), timeout=90)
        converged = time.monotonic()
        recovered = await first_after
        assert daemon.running, "the daemon rode out the failover"
        store = await open_store(load_config(config).ledger, migrate=False)
        try:
            assert (await store.levels([sku]))[sku] == initial[sku] - SALES
            moves = [m for m in await store.movements(sku=sku, limit=500) if m.channel == "till"]
            assert len(moves) == SALES and all(m.delta == -1 for m in moves)
            assert len({m.doc_id for m in moves}) == SALES  # each receipt once
        finally:
            await store.close()
        assert await cluster.shop_quantity(sku) == initial[sku] - SALES
        print(
            f"failover under a running daemon: the sale made as the primary died reached the "
            f"shop {recovered - failed_at:.2f} s after; all {SALES} sales shown "
            f"{converged - last_sale:.2f} s after the last one; "
            f"{len(daemon.events('lease_renewal_failed'))} renewals failed, "
            f"{len(daemon.events('job_stopped_lease_unsure'))} jobs stopped and taken again"
        )
    finally:
        daemon.stop(signal.SIGTERM, 30) if daemon.running else None
        daemon.kill()


async def _shown_at(cluster: Cluster, sku: str, at_most: int) -> float:
    """When the shop first shows ``at_most`` or less (later sales only lower it)."""
    while await cluster.shop_quantity(sku) > at_most:
        await asyncio.sleep(0.05)
    return time.monotonic()


async def _shows(cluster: Cluster, sku: str, qty: int) -> bool:
    return await cluster.shop_quantity(sku) == qty
