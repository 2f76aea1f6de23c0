"""The daemon in-process with fake channels and a real SQLite ledger: propagation, outages,
deferred pushes, refused channels, webhooks, the systemd watchdog."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.cli.run import ServedDaemon
from syncd.domain import Document, DocumentKind
from syncd.engine.channel import ChannelState
from syncd.exceptions import AuthError, RetriableError
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for as fake_settings
from syncd.testing.daemon import start_daemon as started
from syncd.testing.harness import until
from tests.conftest import DaemonStarter

T0 = datetime(2026, 11, 23, 10, 2, tzinfo=UTC)
DEFAULTS: dict[str, Any] = {
    "sync": {
        "degraded_after_failures": 2,
        "retry_max_seconds": 1,
        "outbox_poll_seconds": 1,
        "grace_seconds": 2,
    },
    "channels": {
        "till": {"type": "fake", "poll_seconds": 0.2},
        "shop": {"type": "fake", "poll_seconds": 0.2},
    },
}


def settings_for(tmp_path: Path, **extra: Any) -> Any:
    return fake_settings(tmp_path, DEFAULTS, **extra)


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    fake_connector.channels["shop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels


def sale(channel: str, doc_id: str, lines: dict[str, int]) -> Document:
    kind = DocumentKind.TILL_RECEIPT if channel == "till" else DocumentKind.WEB_ORDER
    return Document(channel, doc_id, kind, lines, T0, version=1, reference=doc_id)


def connector(daemon: ServedDaemon, name: str) -> FakeConnector:
    c = daemon.runners[name].connector
    assert isinstance(c, FakeConnector)
    return c


async def test_a_till_sale_reaches_the_shop_and_a_web_order_the_till(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    daemon = await start_daemon(settings_for(tmp_path))
    try:
        connector(daemon, "till").sell(sale("till", "4-10378", {"CAP": 2}))
        await until(lambda: channels["shop"].figures["CAP"] == 3)
        connector(daemon, "shop").sell(sale("shop", "1042", {"CAP": 1}))
        await until(lambda: channels["till"].figures["CAP"] == 2)
        assert channels["shop"].figures["CAP"] == 2
        assert daemon.store is not None
        assert await daemon.store.levels(["CAP"]) == {"CAP": 2}
    finally:
        await daemon.stop()


async def test_last_unit_sold_twice_gives_a_conflict_and_zero_everywhere(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    daemon = await start_daemon(settings_for(tmp_path))
    try:
        connector(daemon, "till").sell(sale("till", "4-10378", {"SHIRT-44": 1}))
        connector(daemon, "shop").sell(sale("shop", "1042", {"SHIRT-44": 1}))
        assert daemon.store is not None
        store = daemon.store
        await until(
            lambda: (
                channels["till"].figures["SHIRT-44"] == 0
                and channels["shop"].figures["SHIRT-44"] == 0
            )
        )

        async def conflicts() -> list[Any]:
            return await store.conflicts()

        for _ in range(200):
            found = await conflicts()
            if found:
                break
            await asyncio.sleep(0.02)
        assert [c.sku for c in found] == ["SHIRT-44"]
        assert {d.reference for d in found[0].documents} == {"4-10378", "1042"}
        assert await store.levels(["SHIRT-44"]) == {"SHIRT-44": -1}
    finally:
        await daemon.stop()


async def test_a_channel_down_never_blocks_the_others_and_converges_after(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    settings = settings_for(tmp_path, channels={"web2": {"type": "fake", "poll_seconds": 0.2}})
    channels["web2"] = FakeChannel(figures={"CAP": 5})
    daemon = await start_daemon(settings)
    try:
        channels["shop"].fail_push = RetriableError("HTTP 503", channel="shop")
        connector(daemon, "till").sell(sale("till", "t1", {"CAP": 1}))
        await until(lambda: channels["web2"].figures["CAP"] == 4)
        await until(lambda: daemon.runners["shop"].status.state is ChannelState.DEGRADED)
        assert channels["shop"].figures["CAP"] == 5
        connector(daemon, "till").sell(sale("till", "t2", {"CAP": 1}))
        await until(lambda: channels["web2"].figures["CAP"] == 3)
        channels["shop"].fail_push = None
        await until(lambda: channels["shop"].figures["CAP"] == 3, timeout=15)
        await until(
            lambda: (
                daemon.runners["shop"].status.state
                in (ChannelState.IN_SYNC, ChannelState.CATCHING_UP)
            )
        )
    finally:
        await daemon.stop()


async def test_deferred_push_pulls_the_unseen_sale_first(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    daemon = await start_daemon(
        settings_for(tmp_path, channels={"shop": {"type": "fake", "poll_seconds": 30}})
    )
    try:
        assert daemon.store is not None
        await until(lambda: channels["shop"].pushes != [])
        await until(lambda: daemon.runners["shop"].status.pull_generation >= 1)
        # The shop sells a cap; our pull is 30 s away. Meanwhile the till sells one too.
        channels["shop"].documents.append(sale("shop", "1043", {"CAP": 1}))
        channels["shop"].figures["CAP"] -= 1
        connector(daemon, "till").sell(sale("till", "t9", {"CAP": 1}))
        # A plain write of 4 would erase the shop's sale (lost update). It must end at 3.
        await until(lambda: channels["shop"].figures["CAP"] == 3)
        await asyncio.sleep(0.3)
        assert channels["shop"].figures["CAP"] == 3
        assert await daemon.store.levels(["CAP"]) == {"CAP": 3}
        cap_pushes = [i for push in channels["shop"].pushes for i in push if i.sku == "CAP"]
        # the write of 4 was attempted, deferred (the shop showed less than we knew), never forced
        assert any(i.available == 4 and not i.force for i in cap_pushes)
        assert not any(i.available == 4 and i.force for i in cap_pushes)
        assert cap_pushes[-1].available == 3
    finally:
        await daemon.stop()


async def test_a_write_that_erased_a_cancellation_is_found_and_corrected(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    # hand_edits = "revert": with "adopt", a figure lowered with no write of ours around the
    # change is a back-office edit (tests/engine/test_hand_edits.py has the adopt side).
    shop = {"type": "fake", "poll_seconds": 0.2, "hand_edits": "revert"}
    daemon = await start_daemon(settings_for(tmp_path, channels={"shop": shop}))
    try:
        channels["shop"].documents.append(sale("shop", "1043", {"CAP": 1}))
        channels["shop"].figures["CAP"] -= 1
        await until(lambda: channels["till"].figures["CAP"] == 4)
        # The customer cancels and the shop puts the cap back (5), but a push of ours that read
        # the shop before the restock writes 4 over it (no compare-and-set): the restock is
        # gone, and the ledger, applying the cancellation, believes the shop shows 5.
        cancel = Document(
            "shop", "1043", DocumentKind.WEB_ORDER, {"CAP": 0}, T0, version=2, reference="1043"
        )
        channels["shop"].documents.append(cancel)
        channels["shop"].figures["CAP"] = 4
        await until(lambda: channels["till"].figures["CAP"] == 5)
        # Read lower than believed after a pull, and again after the next: corrected.
        await until(lambda: channels["shop"].figures["CAP"] == 5)
    finally:
        await daemon.stop()


async def test_refused_channel_does_not_stop_the_others(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    channels["shop"].fail_check = AuthError("401: wrong key", channel="shop")
    settings = settings_for(tmp_path, channels={"web2": {"type": "fake", "poll_seconds": 0.2}})
    channels["web2"] = FakeChannel(figures={"CAP": 5})
    daemon = await start_daemon(settings)
    try:
        await until(lambda: daemon.runners["shop"].status.state is ChannelState.REFUSED)
        connector(daemon, "till").sell(sale("till", "t1", {"CAP": 2}))
        await until(lambda: channels["web2"].figures["CAP"] == 3)
        assert channels["shop"].pushes == []
        assert "wrong key" in daemon.runners["shop"].status.last_error
        healthy, reasons = daemon.health()
        assert not healthy and any("shop" in r for r in reasons)
    finally:
        await daemon.stop()


async def test_webhook_needs_the_secret_and_nudges_a_pull(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    settings = settings_for(
        tmp_path,
        web={"enabled": True, "port": 0},
        channels={"shop": {"type": "fake", "poll_seconds": 60, "webhook_secret": "s3cret-value"}},
    )
    daemon = await start_daemon(settings)
    try:
        url = f"http://127.0.0.1:{daemon.web_port}/hooks/fake/shop"
        await until(lambda: daemon.runners["shop"].status.pull_generation >= 1)
        pulls = channels["shop"].pulls
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data=b"{}") as resp:
                assert resp.status == 401
            async with http.post(url, headers={"X-Syncd-Secret": "wrong"}) as resp:
                assert resp.status == 401
            await asyncio.sleep(0.3)
            assert channels["shop"].pulls == pulls  # no side effect
            big = b"x" * (200 * 1024)
            async with http.post(url, data=big, headers={"X-Syncd-Secret": "s3cret-value"}) as resp:
                assert resp.status == 413
            async with http.post(url, headers={"X-Syncd-Secret": "s3cret-value"}) as resp:
                assert resp.status == 202
            await until(lambda: channels["shop"].pulls > pulls)
            async with http.get(f"http://127.0.0.1:{daemon.web_port}/healthz") as resp:
                assert resp.status == 200
    finally:
        await daemon.stop()


def test_watchdog_pings_stop_when_the_loop_is_blocked(
    tmp_path: Path, channels: dict[str, FakeChannel], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock_path = str(tmp_path / "notify.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(sock_path)
    receiver.settimeout(0.2)
    received: list[tuple[float, str]] = []
    done = threading.Event()

    def listen() -> None:
        while not done.is_set():
            try:
                data = receiver.recv(4096)
            except TimeoutError:
                continue
            received.append((time.monotonic(), data.decode()))

    thread = threading.Thread(target=listen)
    thread.start()
    monkeypatch.setenv("NOTIFY_SOCKET", sock_path)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))

    async def scenario() -> tuple[float, float]:
        daemon = await started(settings_for(tmp_path))
        try:
            await asyncio.sleep(0.5)
            blocked_at = time.monotonic()
            time.sleep(1.0)  # the event loop is blocked: no ping may be sent meanwhile
            unblocked_at = time.monotonic()
            await asyncio.sleep(0.5)
            return blocked_at, unblocked_at
        finally:
            await daemon.stop()

    try:
        blocked_at, unblocked_at = asyncio.run(scenario())
    finally:
        done.set()
        thread.join()
        receiver.close()
    messages = [m for _, m in received]
    assert any("READY=1" in m for m in messages)
    assert any("STOPPING=1" in m for m in messages)
    pings = [t for t, m in received if m == "WATCHDOG=1"]
    assert len([t for t in pings if t < blocked_at]) >= 2
    assert not [t for t in pings if blocked_at + 0.05 < t < unblocked_at - 0.05]
    assert [t for t in pings if t > unblocked_at]


async def test_a_sale_overwritten_between_read_and_write_is_corrected_after_its_pull(
    tmp_path: Path, channels: dict[str, FakeChannel], start_daemon: DaemonStarter
) -> None:
    daemon = await start_daemon(
        settings_for(tmp_path, channels={"shop": {"type": "fake", "poll_seconds": 60}})
    )
    try:
        assert daemon.store is not None
        await until(
            lambda: (
                channels["shop"].pushes != [] and daemon.runners["shop"].status.pull_generation >= 1
            )
        )
        channels["shop"].push_delay = 0.5
        connector(daemon, "till").sell(sale("till", "t1", {"CAP": 1}))  # ledger 4: a push starts
        await until(
            lambda: (
                any(i.sku == "CAP" and i.available == 4 for p in channels["shop"].pushes for i in p)
                or True
            )
        )
        await asyncio.sleep(0.2)  # the push has read 5 and not written yet
        # the shop sells one, stamped with the time it is placed (as real shops do: that is
        # how hand_edits = "adopt" tells this lost update from a back-office edit)
        placed = Document(
            "shop", "1044", DocumentKind.WEB_ORDER, {"CAP": 1}, datetime.now(UTC), version=1
        )
        channels["shop"].documents.append(placed)
        channels["shop"].figures["CAP"] -= 1  # it shows 4 … then our write of 4 erases the sale
        await asyncio.sleep(0.6)
        assert channels["shop"].figures["CAP"] == 4
        channels["shop"].push_delay = 0.0
        connector(daemon, "shop").nudge()  # its order is pulled only now, after the ack
        await until(lambda: channels["shop"].figures["CAP"] == 3)
        assert await daemon.store.levels(["CAP"]) == {"CAP": 3}
    finally:
        await daemon.stop()
