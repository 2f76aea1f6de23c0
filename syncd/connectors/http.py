"""Shared HTTP plumbing for shop connectors: one session, classified errors, tenacity retries."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
)

from syncd.exceptions import AuthError, ConnectorError, FatalError, RetriableError
from syncd.ledger.fencing import check_tenure

log = structlog.get_logger("syncd.http")

# What the calls made in this task are for ("push" while the engine pushes a channel's figures,
# or holds its pushes back for a read of the shop, syncd/engine/channel.py's edit check):
# each such call's time waiting on the shop (its HTTP answer, its throttle) is logged as a
# debug event ``shop_wait``, so that a benchmark can tell syncd's own overhead from the shop's
# (bench/latency.py --own-overhead). Nothing is logged at the usual levels.
WAITING_FOR: ContextVar[str] = ContextVar("syncd_shop_waiting_for", default="")


@contextmanager
def waiting_for(purpose: str) -> Iterator[None]:
    """Tag the shop calls made inside (and in the tasks it starts) with ``purpose``."""
    token = WAITING_FOR.set(purpose)
    try:
        yield
    finally:
        WAITING_FOR.reset(token)


def note_wait(channel: str, what: str, started: float, seconds: float) -> None:
    """A debug ``shop_wait`` event: ``seconds`` from ``started`` (wall clock, time.time()) spent
    waiting on the shop (``what``: "http", "throttle") by a tagged call."""
    purpose = WAITING_FOR.get()
    if purpose:
        log.debug(
            "shop_wait",
            channel=channel,
            purpose=purpose,
            what=what,
            started=round(started, 6),
            seconds=round(seconds, 6),
        )


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    max_seconds: float = 60.0  # give up on one call after this long (the engine retries later)
    base_delay: float = 0.2
    max_delay: float = 10.0
    timeout: float = 15.0  # per request


@dataclass(frozen=True, slots=True)
class HttpResponse:
    status: int
    headers: Mapping[str, str]
    body: bytes

    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class HttpClient:
    """A small JSON/XML-over-HTTP client base with classified errors and retries.

    Subclasses override :meth:`classify` to turn a shop's error bodies into our exceptions; the
    retry decision is then only "is it a RetriableError" (STYLE.md §9).
    """

    def __init__(
        self,
        base_url: str,
        *,
        channel: str,
        session: aiohttp.ClientSession | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.channel = channel
        self.policy = policy or RetryPolicy()
        self._session = session
        self._own_session = session is None

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
            self._own_session = True

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpClient used before open()")
        return self._session

    def classify(self, response: HttpResponse, *, method: str, url: str) -> ConnectorError:
        """Turn a non-2xx response into the exception a caller acts on. Override per shop."""
        where = f"{method} {url}"
        if response.status == 429 or response.status >= 500:
            return RetriableError(
                f"{where}: HTTP {response.status}",
                channel=self.channel,
                code=str(response.status),
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if response.status in (401, 403):
            return AuthError(f"{where}: HTTP {response.status}", channel=self.channel)
        return FatalError(f"{where}: HTTP {response.status}", channel=self.channel)

    def redact(self, url: str) -> str:
        """The URL as it may appear in logs and errors (override to strip keys from queries)."""
        return url

    async def request_once(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | list[tuple[str, str]] | None = None,
        data: bytes | str | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> HttpResponse:
        url = path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"
        shown = self.redact(url)
        if method not in ("GET", "HEAD"):
            # Before every attempt: a daemon paused past its lease never sends a write
            # (StaleLease; the job is being stopped, another daemon holds it).
            check_tenure(f"{method} {shown}")
        sent = time.time()
        try:
            async with self.session.request(
                method,
                url,
                params=params,
                data=data,
                json=json_body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.policy.timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                response = HttpResponse(resp.status, dict(resp.headers), body)
            note_wait(self.channel, "http", sent, time.time() - sent)
        except TimeoutError as err:
            raise RetriableError(
                f"{method} {shown}: no answer within {self.policy.timeout:g} s",
                channel=self.channel,
                code="timeout",
            ) from err
        except aiohttp.ClientError as err:
            raise RetriableError(
                f"{method} {shown}: {type(err).__name__}: {err}",
                channel=self.channel,
                code="network",
            ) from err
        if response.status >= 400 or response.status in (301, 302, 303, 307, 308):
            error = self.classify(response, method=method, url=shown)
            error.status = response.status
            raise error
        return response

    async def request(self, method: str, path: str, **kwargs: Any) -> HttpResponse:
        """Send with retries: RetriableError is retried with exponential backoff and jitter,
        honouring Retry-After; anything else is raised at once."""
        policy = self.policy

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RetriableError) and exc.retry_after is not None:
                return min(exc.retry_after, policy.max_seconds)
            backoff = min(policy.max_delay, policy.base_delay * 2 ** (state.attempt_number - 1))
            return random.uniform(backoff / 2, backoff)  # noqa: S311 - jitter, not crypto

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "http_retry",
                channel=self.channel,
                method=method,
                attempt=state.attempt_number,
                wait_seconds=round(state.upcoming_sleep, 3),
                error=str(exc),
            )

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(RetriableError),
            stop=stop_after_attempt(policy.attempts) | stop_after_delay(policy.max_seconds),
            wait=wait,
            before_sleep=before_sleep,
            reraise=True,
            sleep=asyncio.sleep,
        )
        async for attempt in retrying:
            with attempt:
                return await self.request_once(method, path, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover
