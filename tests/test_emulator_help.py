"""`syncd emulator --help` explains its options and lists every `/__emulator/…` route the
emulators serve; a tester following it places an order (in the emulator, over HTTP)."""

from __future__ import annotations

import re

import aiohttp
import pytest
from aiohttp import web

from syncd.cli import EMULATOR_EPILOG, main
from syncd.connectors.emulation import demo_catalog, start_server
from syncd.connectors.magento.emulator import MagentoEmulator
from syncd.connectors.magento.emulator import create_app as magento_app
from syncd.connectors.prestashop.emulator import PrestaShopEmulator
from syncd.connectors.prestashop.emulator.routes import create_app as prestashop_app
from syncd.connectors.shopify.emulator import ShopifyEmulator
from syncd.connectors.shopify.emulator import create_app as shopify_app


def admin_paths(app: web.Application) -> set[str]:
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    return {
        re.sub(r"\{(\w+)\}", lambda m: m[1].upper(), p)
        for p in paths
        if p.startswith("/__emulator/")
    }


def test_every_option_is_explained(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["emulator", "--help"])
    out = capsys.readouterr().out
    for option, words in (
        ("--host HOST", "address to listen on"),
        ("--port P", "any free one"),
        ("--products N", "demo catalogue"),
    ):
        lines = [line for line in out.splitlines() if line.strip().startswith(option)]
        assert any(words in line for line in lines), (option, lines)
    assert "{prestashop,magento,shopify,woocommerce}" in out and "the shop to emulate" in out
    assert "/__emulator/orders" in out


def test_the_help_lists_every_admin_route_of_every_emulator() -> None:
    apps = (
        prestashop_app(PrestaShopEmulator(), api_key="K" * 32),
        magento_app(MagentoEmulator()),
        shopify_app(ShopifyEmulator()),
    )
    routes = set().union(*(admin_paths(app) for app in apps))
    assert "/__emulator/orders" in routes and len(routes) >= 8
    missing = sorted(r for r in routes if r not in EMULATOR_EPILOG)
    assert missing == [], f"routes the help does not list: {missing}"


async def test_an_order_placed_as_the_help_says_lowers_the_stock() -> None:
    emulator = PrestaShopEmulator()
    emulator.load_catalog(demo_catalog(4))
    before = emulator.quantity("SHIRT-0000-38")
    runner, port = await start_server(prestashop_app(emulator, api_key="K" * 32))
    try:
        body = re.search(r"prestashop: (\{\"lines\".*\})", EMULATOR_EPILOG)
        assert body is not None
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                f"http://127.0.0.1:{port}/__emulator/orders", data=body[1].encode()
            ) as answer,
        ):
            assert answer.status == 200, await answer.text()
    finally:
        await runner.cleanup()
    assert emulator.quantity("SHIRT-0000-38") == before - 2


def test_the_readme_lists_every_command() -> None:
    """README's command list, against the parser itself (subcommands of subcommands too)."""
    import argparse
    from pathlib import Path

    from syncd.cli import build_parser

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    listed = readme.split("## Commands", 1)[1].split("```", 2)[1]

    def commands(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
        found: list[str] = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    found.append(f"{prefix} {name}".strip())
                    found.extend(commands(sub, f"{prefix} {name}"))
        return found

    everything = commands(build_parser(), "syncd")
    assert "syncd conflicts resolve" in everything and "syncd test-alert" in everything
    missing = [c for c in everything if c not in listed and f"{c}|" not in listed]
    assert missing == [], f"README's command list lacks {missing}"
