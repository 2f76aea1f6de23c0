"""Leases per job (issue 20): which daemon runs a channel's loops, the alert mails, the scheduled
reconciliation, when several share one PostgreSQL; and the fence that keeps a daemon that lost
its lease from writing.

A lease is a row (``leases``): the job, its holder, an **epoch** raised at every takeover, and an
expiry in the database's clock. The holder renews it well before it expires; when it stops
renewing (killed, cut off, paused), another daemon takes it once it has expired, with the next
epoch. A lease table rather than advisory locks held on a session: a paused daemon (SIGSTOP, a
stalled VM) keeps its session, and so its advisory locks, alive; an expiry does not wait for it.

**Fencing** (:mod:`syncd.ledger.fencing`): every write transaction a job makes checks, in that
transaction, that its lease still has that holder and epoch (PostgreSQL: ``FOR SHARE``, so a
takeover waits for the write to commit, and a write after the takeover sees the new epoch), else
it raises :class:`~syncd.exceptions.StaleLease` and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

import structlog

from syncd.domain import utcnow
from syncd.ledger.fencing import Lease, unfenced
from syncd.ledger.sqlbase import SqlBase, Tx
from syncd.ledger.values import from_us, to_us

log = structlog.get_logger("syncd.ledger")

# A daemon's presence is a lease too (job ``daemon:<its name>``), renewed like a job's: the
# daemons holding no job are the standbys, and any daemon can show them.
PRESENCE = "daemon:"
# A daemon whose ``prefer`` names a job held by another says so (job ``claim:<job>``): the holder,
# if its own ``prefer`` does not name it, hands it over at its next renewal.
CLAIM = "claim:"


class LeaseStore(Protocol):
    async def acquire_lease(
        self, job: str, holder: str, ttl_seconds: float, *, free_for: float = 0.0
    ) -> Lease | None: ...
    async def take_over_lease(
        self, dead: Lease, holder: str, ttl_seconds: float
    ) -> Lease | None: ...
    async def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None: ...
    async def release_lease(self, lease: Lease) -> None: ...
    async def leases(self) -> list[Lease]: ...
    async def forget_daemons(self, before: datetime) -> int: ...


class LeasesSql(SqlBase):
    """:class:`LeaseStore` over SQL (``leases.sql``). Times are the database's on PostgreSQL
    (daemons on several machines share its clock); SQLite's daemons share one machine's."""

    async def acquire_lease(
        self, job: str, holder: str, ttl_seconds: float, *, free_for: float = 0.0
    ) -> Lease | None:
        """The lease, if it is free or expired (for ``free_for`` seconds at least), with the next
        epoch; None while another daemon holds it."""
        ttl_us = int(ttl_seconds * 1_000_000)
        grace_us = int(free_for * 1_000_000)

        async def body(tx: Tx) -> Lease | None:
            # How long it may wait on the lease's row (PostgreSQL: PostgresStore.acquire_lease).
            await tx.execute("lease_lock_wait")
            rows = await tx.fetch("lease_acquire", job, holder, ttl_us, grace_us, to_us(utcnow()))
            return _lease(job, holder, rows[0]) if rows else None

        with unfenced():
            lease = await self._run(body)
        if lease is not None:
            log.info("lease_acquired", job=job, holder=holder, epoch=lease.epoch)
        return lease

    async def take_over_lease(self, dead: Lease, holder: str, ttl_seconds: float) -> Lease | None:
        """Take ``dead`` (a lease whose holder is known to be gone) at once, with the next epoch;
        None if it changed meanwhile."""
        ttl_us = int(ttl_seconds * 1_000_000)

        async def body(tx: Tx) -> Lease | None:
            rows = await tx.fetch(
                "lease_take_over",
                dead.job,
                holder,
                ttl_us,
                dead.holder,
                dead.epoch,
                to_us(utcnow()),
            )
            return _lease(dead.job, holder, rows[0]) if rows else None

        with unfenced():
            lease = await self._run(body)
        if lease is not None:
            log.info("lease_taken_over", job=dead.job, holder=holder, dead=dead.holder)
        return lease

    async def renew_lease(self, lease: Lease, ttl_seconds: float) -> Lease | None:
        """Extend a lease still held with its epoch (even if it expired meanwhile, as long as
        nobody took it); None when it was taken: the job must stop at once."""
        ttl_us = int(ttl_seconds * 1_000_000)

        async def body(tx: Tx) -> Lease | None:
            rows = await tx.fetch(
                "lease_renew", lease.job, lease.holder, lease.epoch, ttl_us, to_us(utcnow())
            )
            return _lease(lease.job, lease.holder, rows[0]) if rows else None

        with unfenced():
            renewed = await self._run(body)
        if renewed is None:
            log.warning("lease_lost", job=lease.job, holder=lease.holder, epoch=lease.epoch)
        return renewed

    async def release_lease(self, lease: Lease) -> None:
        """Let another daemon take the job at once (a graceful stop)."""

        async def body(tx: Tx) -> None:
            await tx.execute("lease_release", lease.job, lease.holder, lease.epoch)

        with unfenced():
            await self._run(body)

    async def forget_daemons(self, before: datetime) -> int:
        """Remove the presence rows of daemons gone before ``before``."""

        async def body(tx: Tx) -> int:
            return len(await tx.fetch("leases_forget_daemons", to_us(before)))

        with unfenced():
            return await self._run(body)

    async def leases(self) -> list[Lease]:
        async with self._read() as tx:
            rows = await tx.fetch("leases_all")
        return [
            Lease(job, holder, int(epoch), from_us(since), from_us(expires))
            for job, holder, epoch, since, expires in rows
        ]


def cluster_view(leases: Sequence[Lease], now: datetime) -> dict[str, list[dict[str, Any]]]:
    """The cluster as every view shows it (`syncd status`, the page, /healthz, /metrics): the
    jobs (holder, since, running), and the daemons present with the jobs they run (none: a
    standby). Times are datetimes here; each view formats them its own way."""
    jobs = [
        {
            "job": x.job,
            "daemon": x.holder,
            "epoch": x.epoch,
            "since": x.since,
            "expires_at": x.expires_at,
            "running": x.expires_at > now,
        }
        for x in sorted(leases, key=lambda x: x.job)
        if not x.job.startswith((PRESENCE, CLAIM))
    ]
    daemons = []
    for x in sorted(leases, key=lambda x: x.holder):
        if not x.job.startswith(PRESENCE) or x.expires_at <= now:
            continue
        held = [
            j
            for j in leases
            if j.holder == x.holder
            and not j.job.startswith((PRESENCE, CLAIM))
            and j.expires_at > now
        ]
        daemons.append(
            {
                "daemon": x.holder,
                "up_since": x.since,
                "jobs": sorted(j.job for j in held),
                "since": min((j.since for j in held), default=None),
                "standby": not held,
            }
        )
    return {"jobs": jobs, "daemons": daemons}


def _lease(job: str, holder: str, row: Sequence[Any]) -> Lease:
    epoch, since, expires = row
    return Lease(job, holder, int(epoch), from_us(int(since)), from_us(int(expires)))
