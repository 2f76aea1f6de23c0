"""Fuzzing the webhook door of a real daemon: POST /hooks/{type}/{channel} answers only 202, 401
or 413; a wrong or missing X-Syncd-Secret, or an unknown channel, is 401 and nudges nothing; a
body over 64 KiB is 413; only an accepted call nudges, and only its own channel. Also: the bench
runs clean."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz import failures, run_fuzz
from bench.reliability.fuzz_inputs import (
    WEBHOOK_LIMIT,
    WEBHOOK_SECRET,
    HookCase,
    hook_case,
    hook_daemon,
    run_hook,
)
from syncd.cli.run import ServedDaemon


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[ServedDaemon]:
    async with hook_daemon(tmp_path) as running:
        yield running


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(seed=st.integers(min_value=0, max_value=2**63))
async def test_random_webhook_calls_keep_the_contract(daemon: ServedDaemon, seed: int) -> None:
    case = hook_case(random.Random(seed))
    assert await run_hook(daemon, case) == [], f"replay: hook_case(Random({seed}))"


def case(secret: bytes | None, size: int = 10, *, path: str = "/hooks/fuzzhook/shop") -> HookCase:
    expected = 202 if secret == WEBHOOK_SECRET.encode() and size <= WEBHOOK_LIMIT else 401
    if secret == WEBHOOK_SECRET.encode() and size > WEBHOOK_LIMIT:
        expected = 413
    return HookCase(path, secret, b"x" * size, "application/json", False, expected, "shop")


@pytest.mark.parametrize(
    "call",
    [
        case(b"\xff\xfe"),  # not UTF-8: the header came back with surrogates; .encode() gave 500
        case(WEBHOOK_SECRET.encode() + b"\x80"),
        case(None, 200_000),  # no secret and too big: 401 first, nothing read, nothing nudged
        case(b"wrong", WEBHOOK_LIMIT + 1),
        case(WEBHOOK_SECRET.encode(), WEBHOOK_LIMIT),  # exactly 64 KiB is accepted
        case(WEBHOOK_SECRET.encode(), WEBHOOK_LIMIT + 1),
    ],
    ids=["latin1", "secret+0x80", "none-big", "wrong-big", "at-limit", "over-limit"],
)
async def test_webhook_edge_cases(daemon: ServedDaemon, call: HookCase) -> None:
    assert await run_hook(daemon, call) == []


async def test_the_open_channel_without_a_secret_refuses_even_the_right_one(
    daemon: ServedDaemon,
) -> None:
    call = HookCase(
        "/hooks/fuzzhook/open", WEBHOOK_SECRET.encode(), b"{}", "text/plain", True, 401, "open"
    )
    assert await run_hook(daemon, call) == []


@pytest.mark.timeout(60)
def test_the_fuzz_bench_runs_every_target_clean() -> None:
    result = run_fuzz(seed=7, count=400)
    assert result["inputs"] == 400 and set(result["by_target"]) >= {"csv_till", "webhook"}
    assert failures(result) == 0, result["first_failures"]
