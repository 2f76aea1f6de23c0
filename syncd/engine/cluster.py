"""Several daemons on one ledger (issue 20): each job runs on the daemon holding its lease.

A job is a channel's loops (``channel:<name>``), the alert mails (``alerts``) or the scheduled
reconciliation (``reconcile``). :meth:`Cluster.hold` waits for the job's lease, runs the job under
it (every ledger write the job's tasks make is fenced by it: :mod:`syncd.ledger.fencing`), renews
it every third of ``lease_seconds``, and stops the job the moment the lease is lost, or cannot be
renewed before it would expire (the database unreachable: another daemon may take it then). A
daemon alone takes every lease at once; a standby polls, and takes a job once its lease expired.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog

from syncd.config import ClusterSettings
from syncd.domain import utcnow
from syncd.exceptions import LedgerError
from syncd.ledger.fencing import Lease, Tenure, holding, writing_under
from syncd.ledger.leases import CLAIM, PRESENCE, LeaseStore

log = structlog.get_logger("syncd.cluster")


def _dead_here(holder: str, me: str) -> bool:
    """Whether ``holder`` was a process of this machine (same base name as ``me``) that is gone.
    A process id reused since is taken for alive: then the lease is waited for, as for anyone."""
    rest, _, _started = holder.rpartition(":")
    base, _, pid_text = rest.rpartition(":")
    if base != me.rsplit(":", 2)[0] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def daemon_name(settings: ClusterSettings) -> str:
    """This process's name among the daemons: the configured one, else host and process id; a
    restarted daemon is a new holder (its old leases are taken over like anyone's)."""
    base = settings.name or socket.gethostname()
    return f"{base}:{os.getpid()}:{int(time.time())}"


@dataclass
class Cluster:
    store: LeaseStore
    settings: ClusterSettings
    stopping: asyncio.Event
    name: str = ""
    held: dict[str, Lease] = field(default_factory=dict)  # job → the lease this daemon holds
    tenures: dict[str, Tenure] = field(default_factory=dict)  # job → how long it surely does
    present: Lease | None = None  # this daemon's presence (shown as a standby when idle)
    claims: dict[str, Lease] = field(default_factory=dict)  # jobs it prefers, held by others

    def __post_init__(self) -> None:
        if not self.name:
            self.name = daemon_name(self.settings)

    def holds(self, job: str) -> bool:
        return job in self.held

    async def hold(
        self,
        job: str,
        run: Callable[[], Coroutine[Any, Any, None]],
        *,
        preferred: bool = True,
        claim: bool = False,
        quiesce: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None = None,
    ) -> None:
        """Run ``run`` whenever this daemon holds ``job``'s lease, until the daemon stops. The
        lease is kept at the stop (:meth:`release_all` lets the others take it at once).

        ``claim``: this daemon's ``prefer`` names the job. While another daemon holds it, this
        one says so (a lease ``claim:<job>``); a holder whose ``prefer`` does not name it hands
        it over at its next renewal: inside ``quiesce`` (a channel's push lock: the batch in
        flight finishes, no other starts) its loops are stopped and the lease is released."""
        ttl = self.settings.lease_seconds
        poll = min(1.0, ttl / 3)
        # A job another daemon prefers: taken only once it has been free for a whole lease.
        free_for = 0.0 if preferred else ttl
        if not preferred and await self._sleep(ttl):
            return
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            asked = loop.time()
            lease = await self._acquire(job, free_for)
            if lease is None:
                if claim:
                    await self._claim(job)
                if await self._sleep(poll):
                    return
                continue
            if claim:
                await self._unclaim(job)
            self.held[job] = lease
            # Writes outside the ledger (shops, the till's stock file, mails) need a third of
            # the lease left by this daemon's own clock: fencing.check_tenure.
            tenure = Tenure(job, asked + ttl, ttl / 3)
            self.tenures[job] = tenure
            log.info("job_taken", job=job, daemon=self.name, epoch=lease.epoch)
            with writing_under(lease), holding(tenure):
                task = asyncio.create_task(run(), name=f"job:{job}")
            handover = False
            try:
                handover = await self._keep(job, lease, task, tenure, yields=not claim)
                if handover and not task.done():
                    await _wind_down(task, quiesce, ttl / 3)
            finally:
                if not self.stopping.is_set():
                    tenure.lost = True
                    self.held.pop(job, None)
                ended = task.done()
                if not ended:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            if handover and not self.stopping.is_set():
                with contextlib.suppress(LedgerError):
                    await self.store.release_lease(self.held.get(job, lease))
                log.info("job_handed_over", job=job, daemon=self.name, epoch=lease.epoch)
                # The daemon preferring it takes it now; this one waits, as a standby does.
                if await self._sleep(ttl):
                    return
                continue
            if ended and not self.stopping.is_set():
                error = None if task.cancelled() else task.exception()
                if error is not None:
                    # A crash: the lease is let go, and the supervisor holds again after a pause.
                    with contextlib.suppress(LedgerError):
                        await self.store.release_lease(lease)
                    raise error
                # The job returned (alert mails off, a channel refused at start-up): it stays
                # this daemon's, not started again, so that no other daemon runs it either (the
                # daemons share one config); the lease is renewed until the daemon stops.
                log.info("job_ended", job=job, daemon=self.name)
                self.held[job] = lease
                idle = asyncio.create_task(self.stopping.wait())
                try:
                    await self._keep(job, lease, idle, tenure)
                finally:
                    idle.cancel()
                if self.stopping.is_set():
                    return
                self.held.pop(job, None)

    async def presence(self) -> None:
        """Hold this daemon's presence (job ``daemon:<name>``) until it stops, so that every
        daemon's views show the standbys too; presences gone for an hour are forgotten."""
        ttl = self.settings.lease_seconds
        job = PRESENCE + self.name
        with contextlib.suppress(LedgerError):
            await self.store.forget_daemons(utcnow() - timedelta(hours=1))
        while not self.stopping.is_set():
            try:
                lease = self.present
                if lease is not None:
                    lease = await self.store.renew_lease(lease, ttl)
                if lease is None:
                    lease = await self.store.acquire_lease(job, self.name, ttl)
                self.present = lease
            except LedgerError as err:
                log.info("presence_not_renewed", daemon=self.name, error=str(err))
            if await self._sleep(ttl / 3):
                return

    async def release_all(self) -> None:
        """At a graceful stop, after the last flush: every job can be taken at once."""
        for job, lease in sorted(self.held.items()):
            with contextlib.suppress(LedgerError):
                await self.store.release_lease(lease)
                log.info("job_released", job=job, daemon=self.name, epoch=lease.epoch)
        self.held.clear()
        if self.present is not None:
            with contextlib.suppress(LedgerError):
                await self.store.release_lease(self.present)
            self.present = None

    async def _acquire(self, job: str, free_for: float) -> Lease | None:
        ttl = self.settings.lease_seconds
        try:
            lease = await self.store.acquire_lease(job, self.name, ttl, free_for=free_for)
            if lease is None:
                # Held by this machine's earlier process (killed, restarted by systemd): no need
                # to wait for its lease to expire; its epoch fences it like any other.
                dead = next((x for x in await self.store.leases() if x.job == job), None)
                if dead is not None and _dead_here(dead.holder, self.name):
                    lease = await self.store.take_over_lease(dead, self.name, ttl)
            return lease
        except LedgerError as err:
            log.info("lease_not_acquired", job=job, error=str(err))
            return None

    async def _claim(self, job: str) -> None:
        """Say (or keep saying) that this daemon prefers ``job``, held by another."""
        ttl = self.settings.lease_seconds
        claim = self.claims.get(job)
        try:
            if claim is not None:
                claim = await self.store.renew_lease(claim, ttl)
            if claim is None:
                claim = await self.store.acquire_lease(CLAIM + job, self.name, ttl)
        except LedgerError:
            claim = None
        if claim is None:
            self.claims.pop(job, None)
        else:
            self.claims[job] = claim

    async def _unclaim(self, job: str) -> None:
        claim = self.claims.pop(job, None)
        if claim is not None:
            with contextlib.suppress(LedgerError):
                await self.store.release_lease(claim)

    async def _claimed(self, job: str, lease: Lease) -> bool:
        """Another daemon claims ``job`` now (by the database's clock: ``lease`` was just
        renewed, so its expiry less the lease's length is the database's now)."""
        now = lease.expires_at - timedelta(seconds=self.settings.lease_seconds)
        return any(
            x.job == CLAIM + job and x.holder != self.name and x.expires_at > now
            for x in await self.store.leases()
        )

    async def _keep(
        self,
        job: str,
        lease: Lease,
        task: asyncio.Task[Any],
        tenure: Tenure,
        *,
        yields: bool = False,
    ) -> bool:
        """Renew ``lease`` while ``task`` runs; return when the daemon stops, the task ends, or
        the lease is lost (or would expire before we could renew it); True when the job is to be
        handed over (``yields``: a daemon preferring it claims it). ``tenure.valid_until`` is
        counted from before each renewal was asked: the database's expiry is later."""
        ttl = self.settings.lease_seconds
        loop = asyncio.get_running_loop()
        while True:
            waiter = asyncio.ensure_future(self.stopping.wait())
            done, _ = await asyncio.wait({task, waiter}, timeout=ttl / 3)
            waiter.cancel()
            if task in done or self.stopping.is_set():
                return False
            asked = loop.time()
            try:
                renewed = await asyncio.wait_for(
                    self.store.renew_lease(lease, ttl), max(0.1, tenure.valid_until - asked)
                )
            except (LedgerError, TimeoutError) as err:
                if loop.time() < tenure.valid_until - ttl / 6:
                    log.info("lease_renewal_failed", job=job, error=str(err) or type(err).__name__)
                    continue
                log.warning("job_stopped_lease_unsure", job=job, daemon=self.name)
                return False
            if renewed is None:
                log.warning("job_lost", job=job, daemon=self.name, epoch=lease.epoch)
                return False
            lease = renewed
            self.held[job] = lease
            tenure.valid_until = asked + ttl
            if yields:
                with contextlib.suppress(LedgerError):
                    if await self._claimed(job, lease):
                        log.info("job_handover", job=job, daemon=self.name, epoch=lease.epoch)
                        return True

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; True if the daemon is stopping."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
        return self.stopping.is_set()


async def _wind_down(
    task: asyncio.Task[Any],
    quiesce: Callable[[], contextlib.AbstractAsyncContextManager[Any]] | None,
    within: float,
) -> None:
    """Stop a job being handed over: inside ``quiesce`` if it can be entered ``within`` seconds
    (the batch in flight finishes first), else at once (a kill mid-batch is safe, only slower)."""
    manager = quiesce() if quiesce is not None else None
    entered = False
    if manager is not None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(manager.__aenter__(), within)
            entered = True
    try:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    finally:
        if manager is not None and entered:
            await manager.__aexit__(None, None, None)
