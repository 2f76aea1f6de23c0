"""Cluster.hold (issue 20) on the real SQLite ledger, two daemons' stores on one file: a job runs
only while its lease is held, stops by itself when the lease cannot be renewed in time, and the
other daemon takes it once it expired, with the next epoch."""

from __future__ import annotations

import asyncio
from pathlib import Path

from syncd.config import ClusterSettings
from syncd.engine.cluster import Cluster
from syncd.ledger.fencing import current_leases
from syncd.ledger.sqlite import SqliteStore
from syncd.testing.harness import until

TTL = 0.6


async def test_a_job_stops_when_its_lease_cannot_be_renewed_and_the_other_daemon_takes_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ledger.sqlite3"
    one, two = await SqliteStore(path).open(), await SqliteStore(path).open()
    stop_one, stop_two = asyncio.Event(), asyncio.Event()
    a = Cluster(one, ClusterSettings(lease_seconds=TTL), stop_one, name="a")
    b = Cluster(two, ClusterSettings(lease_seconds=TTL), stop_two, name="b")
    running: dict[str, int] = {}  # daemon → epoch its job runs under

    def job(name: str) -> object:
        async def run() -> None:
            (lease,) = current_leases.get()  # the job writes under its lease
            running[name] = lease.epoch
            try:
                await asyncio.Event().wait()
            finally:
                running.pop(name, None)

        return run

    held_a = asyncio.create_task(a.hold("alerts", job("a")))  # type: ignore[arg-type]
    await until(lambda: "a" in running)
    held_b = asyncio.create_task(b.hold("alerts", job("b")))  # type: ignore[arg-type]
    await asyncio.sleep(TTL * 2)
    assert running == {"a": 1}  # renewed: b waits
    await one.close()  # a's ledger gone (a cut network): a cannot renew
    await until(lambda: "a" not in running, timeout=TTL * 2)
    await until(lambda: running.get("b") == 2, timeout=TTL * 4)
    assert b.holds("alerts") and not a.holds("alerts")
    stop_one.set()
    stop_two.set()
    await asyncio.gather(held_a, held_b)
    await b.release_all()
    await two.close()


async def test_a_job_that_returns_keeps_its_lease_and_is_run_once(tmp_path: Path) -> None:
    """Alert mails off: the job returns at once. It must not pass from daemon to daemon."""
    path = tmp_path / "ledger.sqlite3"
    one, two = await SqliteStore(path).open(), await SqliteStore(path).open()
    stop = asyncio.Event()
    a = Cluster(one, ClusterSettings(lease_seconds=TTL), stop, name="a")
    b = Cluster(two, ClusterSettings(lease_seconds=TTL), stop, name="b")
    runs: list[str] = []

    def job(name: str) -> object:
        async def run() -> None:
            runs.append(name)

        return run

    held_a = asyncio.create_task(a.hold("alerts", job("a")))  # type: ignore[arg-type]
    await until(lambda: runs == ["a"])
    held_b = asyncio.create_task(b.hold("alerts", job("b")))  # type: ignore[arg-type]
    await asyncio.sleep(TTL * 3)
    assert runs == ["a"] and a.holds("alerts") and not b.holds("alerts")
    stop.set()
    await asyncio.gather(held_a, held_b)
    await one.close()
    await two.close()
