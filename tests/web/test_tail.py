"""`syncd tail`: the `websockets` client of the daemon's `/ws` feed."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import subprocess

import pytest

from syncd.cli.run import ServedDaemon
from syncd.cli.tail import TailError, describe, feed_url, tail
from syncd.testing import FakeConnector
from syncd.testing.harness import SYNCD
from tests.web.conftest import PASSWORD, ClientFactory, sale, until


def test_feed_url_never_carries_a_password() -> None:
    assert feed_url("http://127.0.0.1:8080") == "ws://127.0.0.1:8080/ws"
    assert feed_url("https://me:pw@shop.example/status/") == "wss://shop.example/ws"
    assert feed_url("127.0.0.1:9") == "ws://127.0.0.1:9/ws"
    with pytest.raises(TailError, match="not an http"):
        feed_url("ftp://x")
    line = describe(
        {
            "event": "stock_pushed",
            "at": "2026-11-23T10:02:00+00:00",
            "channel": "webshop",
            "sku": "SHIRT-44",
            "quantity": 0,
        }
    )
    assert "stock_pushed" in line and "webshop" in line and "sku=SHIRT-44" in line


async def test_tail_prints_the_daemons_events_as_json_lines(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client(host="0.0.0.0", password=PASSWORD)
    url = str(client.make_url("/"))
    with pytest.raises(TailError, match="HTTP 401"):
        await tail(url, as_json=True, out=io.StringIO(), limit=1)

    out = io.StringIO()
    follower = asyncio.create_task(tail(url, as_json=True, password=PASSWORD, out=out))
    await until(lambda: '"hello"' in out.getvalue())
    connector = daemon.runners["till"].connector
    assert isinstance(connector, FakeConnector)
    connector.sell(sale("till", "4-7001", {"CAP": 1}))
    await until(lambda: "4-7001" in out.getvalue())
    follower.cancel()
    await asyncio.gather(follower, return_exceptions=True)
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[0]["event"] == "hello"
    assert any(e["event"] == "document_applied" and e["doc_id"] == "4-7001" for e in events)


def test_tail_command_says_when_nothing_listens() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    done = subprocess.run(
        [*SYNCD, "tail", "--url", f"http://127.0.0.1:{port}", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and done.stdout == ""
    assert f"cannot reach ws://127.0.0.1:{port}/ws" in done.stderr
