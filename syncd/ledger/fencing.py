"""Fencing of ledger writes by leases (issue 20; the leases themselves: :mod:`syncd.ledger.leases`).

A job runs with its lease in :data:`current_leases`, a context variable, so every task the job
starts inherits it; every write transaction made there checks, in that transaction, that the
lease still has its holder and epoch, else raises :class:`~syncd.exceptions.StaleLease` and writes
nothing. No method of the ledger takes a lease: a write is fenced by the job it is made for.

Writes outside the ledger (a shop's HTTP write, a stock file for the till, a mail) cannot be
checked in a transaction of ours. They are fenced as far as this daemon can tell: a job also runs
with its :class:`Tenure` (:data:`current_tenures`), this daemon's own account of how long its
lease is surely still its (the renewal's start plus the lease, in the monotonic clock, which runs
on while the process is paused), and :func:`check_tenure` refuses such a write once less than a
margin of it is left. A daemon woken from a pause past its lease so never sends it. What remains
(a pause between this check and the bytes leaving, a request slower than the margin) only a shop
with a compare-and-set closes (Shopify's ``changeFromQuantity``); the new holder's drift-aware
read-back and the remembered attempts cover the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar

import structlog

from syncd.exceptions import StaleLease


class Tx(Protocol):
    """What a fence check needs of a transaction (:class:`syncd.ledger.sqlbase.Tx` has it)."""

    async def fetch(self, name: str, *args: Any) -> list[Any]: ...


TxT = TypeVar("TxT", bound=Tx)


log = structlog.get_logger("syncd.ledger")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Lease:
    job: str
    holder: str
    epoch: int
    since: datetime
    expires_at: datetime


# The leases the current task writes under (a job's loops, and every task they start).
current_leases: ContextVar[tuple[Lease, ...]] = ContextVar("syncd_leases", default=())


@dataclass(slots=True)
class Tenure:
    """How long this daemon surely holds a job's lease, in the event loop's (monotonic) clock:
    kept up to date by the renewals (:class:`syncd.engine.cluster.Cluster`)."""

    job: str
    valid_until: float  # loop time: the renewal's start plus the lease's length
    margin: float  # a write outside the ledger needs this much of it left
    lost: bool = False  # taken by another daemon, or the job stopped

    def left(self) -> float:
        return self.valid_until - asyncio.get_running_loop().time()


current_tenures: ContextVar[tuple[Tenure, ...]] = ContextVar("syncd_tenures", default=())


@contextlib.contextmanager
def holding(*tenures: Tenure) -> Iterator[None]:
    """Writes outside the ledger made in this block (and its tasks) need ``tenures``."""
    token = current_tenures.set((*current_tenures.get(), *tenures))
    try:
        yield
    finally:
        current_tenures.reset(token)


def check_tenure(what: str) -> None:
    """Before a write outside the ledger (``what``: "PUT https://…", "stock file", "mail"): each
    tenure of the calling job still has its margin left, else StaleLease (nothing sent).
    Outside any job (one daemon without a cluster, a command) there is nothing to check."""
    for tenure in current_tenures.get():
        left = tenure.left()
        if tenure.lost or left < tenure.margin:
            log.warning(
                "stale_write_refused",
                job=tenure.job,
                write=what,
                lease_left_seconds=round(left, 3),
                lost=tenure.lost,
            )
            raise StaleLease(
                f"job {tenure.job!r}: {what} not sent: this daemon may no longer hold the job "
                f"({left:.2f} s of its lease left, {tenure.margin:.2f} s needed)"
            )


@contextlib.contextmanager
def writing_under(*leases: Lease) -> Iterator[None]:
    """Fence every ledger write made in this block (and in tasks started in it) by ``leases``."""
    token = current_leases.set((*current_leases.get(), *leases))
    try:
        yield
    finally:
        current_leases.reset(token)


async def check_fences(tx: Tx, fences: Sequence[Lease]) -> None:
    """In a write transaction: each lease still held with its epoch, else StaleLease."""
    for lease in fences:
        if not await tx.fetch("lease_check", lease.job, lease.holder, lease.epoch):
            log.warning(
                "stale_write_refused", job=lease.job, holder=lease.holder, epoch=lease.epoch
            )
            raise StaleLease(
                f"job {lease.job!r}: the lease of {lease.holder!r} (epoch {lease.epoch}) was "
                "taken by another daemon; this write is refused"
            )


def fenced(
    body: Callable[[TxT], Awaitable[T]], fences: Sequence[Lease] | None = None
) -> Callable[[TxT], Awaitable[T]]:
    """``body``, preceded in its transaction by the check of ``fences`` (default: the leases the
    calling task writes under)."""
    if fences is None:
        fences = current_leases.get()
    if not fences:
        return body

    async def checked(tx: TxT) -> T:
        await check_fences(tx, fences)
        return await body(tx)

    return checked


@contextlib.contextmanager
def unfenced() -> Iterator[None]:
    """Writes made here are fenced by no lease (lease rows themselves; the ledger's own writer
    task, which carries each job's leases with the job)."""
    token = current_leases.set(())
    try:
        yield
    finally:
        current_leases.reset(token)
