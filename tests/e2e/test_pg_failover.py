"""A failover of the primary PostgreSQL under a running daemon (issue 20). The daemon's ledger is a
real primary with a synchronous streaming standby (syncd/testing/pgpair.py), named together in
one DSN with ``target_session_attrs=read-write``. Till sales keep arriving while the primary dies
and, a second later, the standby is promoted (as an operator or pg_auto_failover does): the daemon
rides through without a restart, every sale reaches the shop exactly once, and the time from the
primary's death to a shop in step again is measured and printed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from syncd.config import load_config
from syncd.ledger import open_store
from syncd.testing.harness import DaemonProcess, Emulator, until
from syncd.testing.pgpair import ReplicatedPair
from tests.e2e.test_cluster import Cluster, _config
from tests.e2e.test_daemon_process import onboard

SALES = 36
FAIL_AT = 12  # the primary dies after this many sales
PROMOTE_AFTER = 1.0  # seconds between the primary's death and the standby's promotion


@pytest.fixture
def shop() -> Iterator[dict[str, Any]]:
    with Emulator("prestashop", 40) as emulator:
        yield emulator.info


async def test_a_running_daemon_follows_a_promoted_standby_with_every_sale_once(
    tmp_path: Path, shop: dict[str, Any], pair: ReplicatedPair
) -> None:
    config = _config(tmp_path, shop, pair.dsn())
    cluster = Cluster(tmp_path, shop, config)
    initial = await cluster.quantities()
    await onboard(config, initial)
    # Each sale of a unit the shop has (an oversell is another test's business).
    plan = [s for s in sorted(initial) for _ in range(min(initial[s], 3))][:SALES]
    assert len(plan) == SALES, initial
    skus = sorted(set(plan))
    daemon: DaemonProcess = cluster.start()
    sold = dict.fromkeys(skus, 0)
    try:
        cluster.sell(plan[0], 1)
        sold[plan[0]] += 1
        await until(lambda: _in_step(cluster, initial, sold), timeout=30)

        died_at = 0.0
        for n in range(1, SALES):
            if n == FAIL_AT:
                await asyncio.to_thread(pair.kill_primary)
                died_at = time.monotonic()
                await asyncio.sleep(PROMOTE_AFTER)
                await asyncio.to_thread(pair.promote_standby)
            sku = plan[n]
            cluster.sell(sku, 1)
            sold[sku] += 1
            await asyncio.sleep(0.1)
        await until(lambda: _in_step(cluster, initial, sold), timeout=60)
        converged = time.monotonic() - died_at
        assert daemon.running, "the daemon exited when its primary died"
        assert (
            daemon.events("ledger_unavailable")
            or daemon.events("lease_renewal_failed")
            or (daemon.events("job_stopped_lease_unsure"))
        ), "the failover was not felt"

        # Exactly once, in the promoted ledger: each receipt one movement, the sums right.
        store = await open_store(load_config(config).ledger)
        try:
            assert await store.levels(skus) == {s: initial[s] - sold[s] for s in skus}
            moves = [m for s in skus for m in await store.movements(sku=s, limit=100)]
            receipts = sorted(m.doc_id for m in moves if m.channel == "till")
            assert len(receipts) == SALES
            assert len(set(receipts)) == SALES
        finally:
            await store.close()
        print(
            f"failover under a running daemon: the shop was in step {converged:.2f} s after the "
            f"primary died (promotion after {PROMOTE_AFTER:.1f} s), {SALES} sales, none lost"
        )
        assert converged < 30
    finally:
        daemon.kill()


async def _in_step(cluster: Cluster, initial: dict[str, int], sold: dict[str, int]) -> bool:
    shown = await cluster.quantities()
    return all(shown[s] == initial[s] - n for s, n in sold.items())
