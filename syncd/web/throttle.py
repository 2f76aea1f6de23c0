"""Password guessing, slowed down per client and overall, for the login form and HTTP Basic.

Each client (an IPv4 address or an IPv6 /64, seen through a trusted proxy) may fail five times
freely; after that its attempts are spaced 1, 2, 4… up to 30 s apart, in the order they came,
and an attempt that would wait more than a minute is answered 429 without being checked. Over
all clients, beyond 100 failures a minute (many addresses guessing), an address that already
failed and has not logged in within 30 days also waits in one line, a second apart.

Why the merchant is never locked out: the delay is taken *before* the password is checked,
whatever the answer (so a fast answer tells nothing), and the right password is accepted once
its turn comes. One address's failures delay only that address. The overall line holds only
addresses that have failed already and never logged in: the merchant's usual machines, and the
first attempt from any new one, are checked at once even while many addresses guess. The only
refusal (429, "wait a minute") is for an address that already has a minute of attempts
waiting, which is the guessing address itself; its queue empties within a minute of the last
attempt. (An attacker with many addresses gets one unqueued guess per address per 15 minutes:
on a shop's network a few hundred, an IPv6 /64 counting as one address.)
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from syncd.tally import Tally

log = structlog.get_logger("syncd.web")

FREE_FAILURES = 5
BASE_DELAY = 1.0
MAX_DELAY = 30.0
MAX_WAIT = 60.0  # an attempt that would wait longer is answered 429, unchecked
FORGET_AFTER = 15 * 60.0  # a client's failures are forgotten this long after the last one
GLOBAL_BUDGET = 100  # failures per window over all clients before unknown ones queue
GLOBAL_WINDOW = 60.0
GLOBAL_SPACING = 1.0
KNOWN_FOR = 30 * 86400.0  # an address that logged in is "known" this long
MAX_CLIENTS = 10_000  # tracked addresses; idle ones are dropped beyond this


@dataclass
class _Client:
    failures: int = 0
    last_failure: float = 0.0
    next_slot: float = 0.0
    waiting: int = 0


def spacing(failures: int) -> float:
    """How long after its ``failures``-th failure a client's next attempt waits."""
    if failures < FREE_FAILURES:
        return 0.0
    return min(BASE_DELAY * 2.0 ** (failures - FREE_FAILURES), MAX_DELAY)


class Busy(Exception):
    """Too many attempts wait for this client: answer 429 with ``retry_after`` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many login attempts; try again in {retry_after:.0f} s")
        self.retry_after = retry_after


class LoginThrottle:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._clients: dict[str, _Client] = {}
        self._known: dict[str, float] = {}
        self._failures: deque[float] = deque()
        self._global_next = 0.0
        self._closed = False
        self.tally = Tally(log, "login_failures", clock=clock)

    def close(self) -> None:
        """The page is stopping: attempts still waiting give up (the stop does not wait)."""
        self._closed = True

    async def check(
        self,
        client: str,
        attempt: Callable[[], bool],
        *,
        via: str,
        gone: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Wait for this client's turn, then run ``attempt`` (the password check) and count
        its outcome. Raises :class:`Busy` when the turn is more than a minute away, or when
        the client hangs up (``gone()``) or the page stops while it waits."""
        now = self._clock()
        state = self._client(client, now)
        committed = state.failures + state.waiting
        slot = max(now, state.next_slot)
        first = state.failures == 0 and state.waiting == 0
        if not first and not self._known_recently(client, now) and self._over_budget(now):
            slot = max(slot, self._global_next)
            if slot - now <= MAX_WAIT:
                self._global_next = slot + GLOBAL_SPACING
        if slot - now > MAX_WAIT:
            self.tally.add("refused", source=client)
            raise Busy(slot - now - MAX_WAIT + 1)
        # Reserve the turn as if this attempt failed: concurrent guesses queue behind it.
        state.next_slot = slot + spacing(committed + 1)
        state.waiting += 1
        try:
            await self._wait_until(slot, gone)
            ok = attempt()
        finally:
            state.waiting -= 1
        done = self._clock()
        if ok:
            state.failures = 0
            state.next_slot = done
            self._known[client] = done
        else:
            state.failures += 1
            state.last_failure = done
            self._failures.append(done)
            self.tally.add("failures", source=client)
            self.tally.add(f"via_{via}")
        return ok

    async def _wait_until(self, slot: float, gone: Callable[[], bool]) -> None:
        # In short steps: a client that hung up frees its place (its turn stays reserved).
        while (left := slot - self._clock()) > 0:
            if self._closed or gone():
                raise Busy(left)
            await asyncio.sleep(min(left, 0.25))

    def _client(self, key: str, now: float) -> _Client:
        state = self._clients.get(key)
        if state is None:
            if len(self._clients) >= MAX_CLIENTS:
                self._prune(now)
            state = self._clients[key] = _Client()
        elif state.failures and not state.waiting and now - state.last_failure > FORGET_AFTER:
            state.failures = 0
        return state

    def _prune(self, now: float) -> None:
        for key, state in list(self._clients.items()):
            if (
                not state.waiting
                and state.next_slot <= now
                and (not state.failures or now - state.last_failure > FORGET_AFTER)
            ):
                del self._clients[key]
        for key, at in list(self._known.items()):
            if now - at > KNOWN_FOR:
                del self._known[key]

    def _known_recently(self, client: str, now: float) -> bool:
        at = self._known.get(client)
        return at is not None and now - at <= KNOWN_FOR

    def _over_budget(self, now: float) -> bool:
        while self._failures and now - self._failures[0] > GLOBAL_WINDOW:
            self._failures.popleft()
        return len(self._failures) >= GLOBAL_BUDGET
