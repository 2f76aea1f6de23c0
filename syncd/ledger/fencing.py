"""Fencing of ledger writes by leases (issue 20; the leases themselves: :mod:`syncd.ledger.leases`).

A job runs with its lease in :data:`current_leases`, a context variable, so every task the job
starts inherits it; every write transaction made there checks, in that transaction, that the
lease still has its holder and epoch, else raises :class:`~syncd.exceptions.StaleLease` and writes
nothing. No method of the ledger takes a lease: a write is fenced by the job it is made for.
"""

from __future__ import annotations

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
