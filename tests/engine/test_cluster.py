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


async def test_a_daemon_preferring_a_job_gets_it_handed_over_between_two_batches(
    tmp_path: Path,
) -> None:
    """Preemption: x runs the channel (its `prefer` names another), p starts later preferring it.
    x hands it over at its next renewal, after the batch in flight, and releases the lease: p
    runs it under the next epoch well before the lease would have expired; x does not take it
    back. Two daemons that both prefer it: the holder keeps it."""
    path = tmp_path / "ledger.sqlite3"
    ttl = 1.5
    stores = [await SqliteStore(path).open() for _ in range(3)]
    stop = asyncio.Event()
    x = Cluster(stores[0], ClusterSettings(lease_seconds=ttl), stop, name="x")
    p = Cluster(stores[1], ClusterSettings(lease_seconds=ttl), stop, name="p")
    q = Cluster(stores[2], ClusterSettings(lease_seconds=ttl), stop, name="q")
    log: list[tuple[str, str, int]] = []  # (daemon, "start"/"end" of a batch, epoch)
    locks = {name: asyncio.Lock() for name in "xpq"}

    def job(name: str) -> object:
        async def run() -> None:
            (lease,) = current_leases.get()
            while True:
                async with locks[name]:  # one batch: the quiesce lock held throughout
                    log.append((name, "start", lease.epoch))
                    await asyncio.sleep(0.25)
                    log.append((name, "end", lease.epoch))
                await asyncio.sleep(0)

        return run

    def hold(c: Cluster, claim: bool) -> asyncio.Task[None]:
        name = c.name
        return asyncio.create_task(
            c.hold(
                "channel:web",
                job(name),  # type: ignore[arg-type]
                preferred=True,
                claim=claim,
                quiesce=lambda: locks[name],
            )
        )

    held_x = hold(x, claim=False)
    await until(lambda: any(d == "x" for d, _, _ in log))
    started = asyncio.get_running_loop().time()
    held_p = hold(p, claim=True)
    await until(lambda: any(d == "p" for d, _, _ in log), timeout=ttl * 3)
    handed = asyncio.get_running_loop().time() - started
    # At x's next renewal (every ttl/3) plus p's poll, not after an expiry (ttl and more).
    assert handed < ttl, handed
    x_batches = [e for e in log if e[0] == "x"]
    first_p = log.index(next(e for e in log if e[0] == "p"))
    # x's last batch finished (every start has its end) before p's first began.
    assert x_batches[-1][1] == "end" and log.index(x_batches[-1]) < first_p
    assert [e[1] for e in x_batches].count("start") == [e[1] for e in x_batches].count("end")
    assert {e[2] for e in log if e[0] == "p"} == {2}
    await asyncio.sleep(ttl * 2)
    assert p.holds("channel:web") and not x.holds("channel:web")
    assert all(d == "p" for d, _, _ in log[first_p:])  # x never took it back

    # q prefers it too, but so does its holder p: p keeps it.
    held_q = hold(q, claim=True)
    await asyncio.sleep(ttl * 2)
    assert p.holds("channel:web") and not q.holds("channel:web")
    assert not any(d == "q" for d, _, _ in log)
    stop.set()
    await asyncio.gather(held_x, held_p, held_q)
    for store in stores:
        await store.close()
