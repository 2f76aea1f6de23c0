"""A connection that drops after the shop took a request: aiohttp sends a GET once more, byte for
byte, so with the same OAuth nonce, which WooCommerce refuses (401 "nonce has already been
used"). The connector signs anew once instead of stopping the channel as if its key were wrong.
Found by the reliability campaign (issue 18): one such refusal left a WooCommerce channel
degraded for a minute.

On the emulator only: the real WooCommerce checks the signature against its own home URL
(``check_oauth_signature``: ``get_home_url()``), so no relay on another port can stand in front
of it; that it refuses a request sent twice is shown on it in test_connector.py
(test_authentication_errors_are_woocommerce_s)."""

from __future__ import annotations

import asyncio
import contextlib
import re

from yarl import URL

from tests.woocommerce.shop import WooShop, connector_for
from tests.woocommerce.test_stock_rules import run

REQUEST_LINE = re.compile(rb"^(GET|POST|PUT|DELETE) (\S+) HTTP/1\.1\r$", re.MULTILINE)


class DropOneAnswer:
    """A TCP relay to the shop that, once armed, lets the next request through, waits for the
    first bytes of the shop's answer (the shop has taken the request) and closes the client's
    connection instead of passing them on."""

    def __init__(self, url: str) -> None:
        self.target = URL(url)
        self.armed = False
        self.requests: list[bytes] = []  # request targets, in the order they reached the shop
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        host, port = self.target.host or "127.0.0.1", self.target.port or 80
        up_r, up_w = await asyncio.open_connection(host, port)

        async def upstream() -> None:
            while chunk := await client_r.read(65536):
                self.requests += [m.group(2) for m in REQUEST_LINE.finditer(chunk)]
                up_w.write(chunk)
                await up_w.drain()

        async def downstream() -> None:
            while chunk := await up_r.read(65536):
                if self.armed:
                    self.armed = False
                    return  # the answer is dropped with the connection
                client_w.write(chunk)
                await client_w.drain()

        tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*tasks, return_exceptions=True)
            client_w.transport.abort()
            up_w.transport.abort()


def _nonce(target: bytes) -> bytes:
    found = re.search(rb"oauth_nonce=([^&]+)", target)
    assert found, target
    return found.group(1)


async def test_a_request_sent_twice_by_the_transport_is_signed_anew(emulated: WooShop) -> None:
    woo = emulated
    await run(woo.product, "REPLAY", 7)
    sku = woo.sku("REPLAY")
    relay = DropOneAnswer(woo.url)
    through = WooShop(await relay.start(), woo.key, woo.secret, real=woo.real)
    c = connector_for(through)
    await c.open()
    try:
        assert await c.read_figures([sku]) == {sku: 7}  # a connection kept alive, used once
        relay.requests.clear()
        relay.armed = True
        assert await c.read_figures([sku]) == {sku: 7}
        # ours, aiohttp's copy of it (refused: the same nonce), ours signed anew
        assert len(relay.requests) == 3, relay.requests
        first, copy, again = relay.requests
        assert copy == first and _nonce(again) != _nonce(first)
    finally:
        await c.close()
        await relay.close()
