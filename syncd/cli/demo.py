"""`syncd demo`: the embedded default end to end, with nothing to install.

A SQLite ledger in a temporary folder, emulated PrestaShop, Magento, Shopify and WooCommerce shops, a CSV till drop folder, the
daemon, and generated traffic: till sales (export files dropped by atomic rename), web orders,
cancellations, and now and then the last unit of a SKU sold at the till and online at once.
With ``--seconds N`` it stops, lets things settle, and checks every generated document against
the ledger and every channel against the ledger: ``lost`` and ``duplicated`` must both be 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from syncd.cli.run import ServedDaemon
from syncd.config import load_config
from syncd.connectors.emulation import CatalogItem, demo_catalog, start_server
from syncd.connectors.magento.emulator import MagentoEmulator
from syncd.connectors.magento.emulator import create_app as create_magento_app
from syncd.connectors.prestashop.emulator import PrestaShopEmulator, create_app
from syncd.connectors.shopify.emulator import ShopifyEmulator
from syncd.connectors.shopify.emulator import create_app as create_shopify_app
from syncd.connectors.woocommerce.emulator import WooCommerceEmulator, add_catalog
from syncd.connectors.woocommerce.emulator import create_app as create_woo_app
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.logs import configure_logging

DEMO_KEY = "DEMO0DEMO0DEMO0DEMO0DEMO0DEMO012"  # the emulator's key; not a secret
DEMO_MAGENTO_TOKEN = "demo-integration-token"  # likewise
DEMO_SHOPIFY_TOKEN = "shpat_demo0demo0demo0demo0demo0demo0"  # likewise
DEMO_WOO_KEY = "ck_" + "d" * 40  # likewise
DEMO_WOO_SECRET = "cs_" + "d" * 40  # likewise
LOYVERSE_HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


@dataclass
class Traffic:
    """What the generator did: the truth the ledger is checked against."""

    till_receipts: dict[str, dict[str, int]] = field(default_factory=dict)
    web_orders: dict[int, dict[str, int]] = field(default_factory=dict)
    magento_orders: dict[int, dict[str, int]] = field(default_factory=dict)
    magento_shipped: set[int] = field(default_factory=set)
    shopify_orders: dict[int, dict[str, int]] = field(default_factory=dict)
    shopify_cancelled: set[int] = field(default_factory=set)
    woo_orders: dict[int, dict[str, int]] = field(default_factory=dict)
    cancelled: set[int] = field(default_factory=set)
    double_sells: int = 0
    pending: list[tuple[str, str, float, str]] = field(
        default_factory=list
    )  # target, sku, t0, source
    latencies: list[float] = field(default_factory=list)
    by_path: dict[str, list[float]] = field(default_factory=dict)  # "till->webshop" → seconds


def demo_config(
    folder: Path,
    shop_url: str,
    magento_url: str,
    web_port: int,
    ledger_dsn: str = "",
    shopify_url: str = "",
    woo_url: str = "",
) -> str:
    ledger = (
        f'backend = "postgres"\ndsn = "{ledger_dsn}"'
        if ledger_dsn
        else 'backend = "sqlite"\npath = "ledger.sqlite3"'
    )
    return (
        f"""# Written by `syncd demo`: the embedded default with emulated shops.
[ledger]
{ledger}

[log]
level = "warning"

[sync]
grace_seconds = 5
outbox_poll_seconds = 1

[web]
host = "127.0.0.1"
port = {web_port}

[channels.till]
type = "csv_till"
drop_folder = "till/inbox"
stock_file = "till/stock.csv"
settle_seconds = 0.2
poll_seconds = 1
stock_min_interval_seconds = 0.2
date_format = "%d/%m/%Y %H:%M"

[channels.webshop]
type = "prestashop"
url = "{shop_url}"
api_key = "{DEMO_KEY}"
poll_seconds = 0.3
overlap_seconds = 2

[channels.magento]
type = "magento"
url = "{magento_url}"
access_token = "{DEMO_MAGENTO_TOKEN}"
mode = "msi"
poll_seconds = 0.3
overlap_seconds = 2
"""
        + (
            f"""
[channels.shopify]
type = "shopify"
url = "{shopify_url}"
access_token = "{DEMO_SHOPIFY_TOKEN}"
location_id = "gid://shopify/Location/1"
poll_seconds = 0.3
overlap_seconds = 2
"""
            if shopify_url
            else ""
        )
        + (
            f"""
[channels.woo]
type = "woocommerce"
url = "{woo_url}"
consumer_key = "{DEMO_WOO_KEY}"
consumer_secret = "{DEMO_WOO_SECRET}"
poll_seconds = 0.3
overlap_seconds = 2
"""
            if woo_url
            else ""
        )
    )


def _till_file(receipt: str, lines: dict[str, int]) -> bytes:
    # The till's wall clock, in the zone its channel is configured with (Europe/Paris).
    now = datetime.now(ZoneInfo("Europe/Paris")).strftime("%d/%m/%Y %H:%M")
    rows = [
        f"{now},{receipt},Sale,Shirts,{sku},Shirt,,,{qty},20.00,0.00,20.00,8.00,12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
        for sku, qty in lines.items()
    ]
    return (LOYVERSE_HEADER + "".join(rows)).encode()


class Demo:
    def __init__(
        self, folder: Path, products: int, seed: int, ledger_dsn: str = "", shopify: bool = False
    ) -> None:
        self.folder = folder
        self.ledger_dsn = ledger_dsn
        self.rng = random.Random(seed)
        self.catalog: list[CatalogItem] = demo_catalog(products, seed=seed)
        self.shop = PrestaShopEmulator(version="8.1.0")
        self.shop.load_catalog(self.catalog)
        self.magento = MagentoEmulator(msi=True)
        self.magento.load_catalog(self.catalog)
        self.shopify: ShopifyEmulator | None = None
        if shopify:
            self.shopify = ShopifyEmulator(access_token=DEMO_SHOPIFY_TOKEN)
            for item in self.catalog:
                self.shopify.state.add_variant(
                    item.sku, item.quantity, barcode=item.ean13, title=item.name
                )
        self._shopify_runner: web.AppRunner | None = None
        self.shopify_url = ""
        self.woo = WooCommerceEmulator()
        add_catalog(self.woo, self.catalog)
        self._woo_runner: web.AppRunner | None = None
        self.woo_url = ""
        self.traffic = Traffic()
        self.daemon: ServedDaemon | None = None
        self._runner: web.AppRunner | None = None
        self._magento_runner: web.AppRunner | None = None
        self.shop_url = ""
        self.magento_url = ""
        self.receipt_no = 0
        self.model: dict[str, int] = {i.sku: i.quantity for i in self.catalog}  # what should be
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def start(self) -> None:
        self._runner, port = await start_server(create_app(self.shop, api_key=DEMO_KEY))
        self.shop_url = f"http://127.0.0.1:{port}"
        magento_app = create_magento_app(self.magento, integration_token=DEMO_MAGENTO_TOKEN)
        self._magento_runner, port = await start_server(magento_app)
        self.magento_url = f"http://127.0.0.1:{port}"
        if self.shopify is not None:
            self._shopify_runner, port = await start_server(create_shopify_app(self.shopify))
            self.shopify_url = f"http://127.0.0.1:{port}"
        woo_app = create_woo_app(
            self.woo, consumer_key=DEMO_WOO_KEY, consumer_secret=DEMO_WOO_SECRET
        )
        self._woo_runner, port = await start_server(woo_app)
        self.woo_url = f"http://127.0.0.1:{port}"
        config = self.folder / "syncd.toml"
        config.write_text(
            demo_config(
                self.folder,
                self.shop_url,
                self.magento_url,
                0,
                self.ledger_dsn,
                shopify_url=self.shopify_url,
                woo_url=self.woo_url,
            ),
            encoding="utf-8",
        )
        (self.folder / "till" / "inbox").mkdir(parents=True, exist_ok=True)
        settings = load_config(config)
        await self._onboard(settings)
        self.daemon = ServedDaemon(settings)
        await self.daemon.start()
        self.events = self.daemon.events.subscribe()

    async def _onboard(self, settings: Any) -> None:
        """What `syncd init --from webshop` does: the shop's figures become the ledger's."""
        store = await open_store(settings.ledger)
        try:
            await store.upsert_products([Product(i.sku, i.name, i.ean13) for i in self.catalog])
            counted = {i.sku: i.quantity for i in self.catalog}
            await store.apply_document(
                Document(
                    "init", "opening-count", DocumentKind.STOCK_COUNT, counted, datetime.now(UTC)
                )
            )
        finally:
            await store.close()

    async def stop(self) -> None:
        if self.daemon is not None:
            await self.daemon.stop()
        for runner in (
            self._runner,
            self._magento_runner,
            self._shopify_runner,
            self._woo_runner,
        ):
            if runner is not None:
                await runner.cleanup()

    # -- traffic -------------------------------------------------------------------------------

    def _in_stock(self) -> list[str]:
        return [sku for sku, qty in self.model.items() if qty > 0]

    def _pending(self, sku: str, now: float, source: str) -> None:
        """Every other channel is to receive this SKU's new figure."""
        targets = ["till", "webshop", "magento", "woo"] + (["shopify"] if self.shopify else [])
        for target in targets:
            if target != source:
                self.traffic.pending.append((target, sku, now, source))

    def till_sale(self, lines: dict[str, int] | None = None) -> None:
        if lines is None:
            choices = self._in_stock()
            if not choices:
                return
            lines = {self.rng.choice(choices): 1}
        self.receipt_no += 1
        receipt = f"4-{10000 + self.receipt_no}"
        inbox = self.folder / "till" / "inbox"
        staging = self.folder / "till" / f".{receipt}.partial"
        staging.write_bytes(_till_file(receipt, lines))
        os.replace(staging, inbox / f"receipts-{receipt}.csv")  # atomic: the file is complete
        now = time.monotonic()
        self.traffic.till_receipts[receipt] = dict(lines)
        for sku, qty in lines.items():
            self.model[sku] -= qty
            self._pending(sku, now, "till")

    def web_order(self, lines: dict[str, int] | None = None) -> None:
        if lines is None:
            choices = [s for s in self._in_stock() if self.shop.quantity(s) > 0]
            if not choices:
                return
            lines = {self.rng.choice(choices): 1}
        order = self.shop.create_order(lines)
        self.traffic.web_orders[order] = dict(lines)
        now = time.monotonic()
        for sku, qty in lines.items():
            self.model[sku] -= qty
            self._pending(sku, now, "webshop")

    def magento_order(self) -> None:
        choices = [s for s in self._in_stock() if self.magento.salable(s) > 0]
        if not choices:
            return
        lines = {self.rng.choice(choices): 1}
        order = self.magento.place_order(lines, configurable=self.rng.random() < 0.5)
        self.traffic.magento_orders[order] = lines
        now = time.monotonic()
        for sku, qty in lines.items():
            self.model[sku] -= qty
            self._pending(sku, now, "magento")

    def shopify_order(self) -> None:
        if self.shopify is None:
            return
        state = self.shopify.state
        choices = [s for s in self._in_stock() if state.available(s) > 0]
        if not choices:
            return
        lines = {self.rng.choice(choices): 1}
        order = state.place_order(lines)
        self.traffic.shopify_orders[order.id] = lines
        now = time.monotonic()
        for sku, qty in lines.items():
            self.model[sku] -= qty
            self._pending(sku, now, "shopify")

    def shopify_cancel(self) -> None:
        """A Shopify order cancelled with restock: its units are for sale again."""
        if self.shopify is None:
            return
        done = self.traffic.shopify_cancelled
        open_orders = [o for o in self.traffic.shopify_orders if o not in done]
        if not open_orders:
            return
        order = self.rng.choice(open_orders)
        self.shopify.state.cancel(order, restock=True)
        done.add(order)
        now = time.monotonic()
        for sku, qty in self.traffic.shopify_orders[order].items():
            self.model[sku] += qty
            self._pending(sku, now, "shopify")

    def woo_order(self) -> None:
        """A WooCommerce customer pays for a shirt (status processing: the shop takes stock)."""
        choices = [s for s in self._in_stock() if (self.woo.quantity(s) or 0) > 0]
        if not choices:
            return
        sku = self.rng.choice(choices)
        variation = self.woo.by_sku(sku)
        assert variation is not None
        order = self.woo.create_order(
            [(variation["parent_id"], variation["id"], 1)], status="processing"
        )
        self.traffic.woo_orders[order["id"]] = {sku: 1}
        now = time.monotonic()
        self.model[sku] -= 1
        self._pending(sku, now, "woo")

    def magento_ship(self) -> None:
        waiting = [o for o in self.traffic.magento_orders if o not in self.traffic.magento_shipped]
        if waiting:
            order = self.rng.choice(waiting)
            self.magento.ship(order)
            self.traffic.magento_shipped.add(order)

    def cancel(self) -> None:
        open_orders = [o for o in self.traffic.web_orders if o not in self.traffic.cancelled]
        if not open_orders:
            return
        order = self.rng.choice(open_orders)
        self.shop.set_order_state(order, "PS_OS_CANCELED")
        self.traffic.cancelled.add(order)
        now = time.monotonic()
        for sku, qty in self.traffic.web_orders[order].items():
            self.model[sku] += qty
            self._pending(sku, now, "webshop")

    def double_sell(self) -> None:
        """The blue shirt in size 44 leaves the shop at 10:02 while a web customer pays for it."""
        candidates = self._in_stock()
        if not candidates:
            return
        sku = self.rng.choice(candidates)
        if self.model[sku] > 1:  # the till sells down to the last unit first
            self.till_sale({sku: self.model[sku] - 1})
        self.till_sale({sku: 1})
        self.web_order({sku: 1})
        self.traffic.double_sells += 1

    def observe(self) -> None:
        """Match push events to the sales that caused them (propagation latency)."""
        assert self.daemon is not None
        while not self.events.empty():
            event = self.events.get_nowait()
            if event["event"] == "stock_pushed":
                done = time.monotonic()
                keep = []
                for pending in self.traffic.pending:
                    target, sku, t0, source = pending
                    if target == event["channel"] and sku == event["sku"]:
                        self.traffic.latencies.append(done - t0)
                        self.traffic.by_path.setdefault(f"{source}->{target}", []).append(done - t0)
                    else:
                        keep.append(pending)
                self.traffic.pending = keep

    async def run_traffic(self, seconds: float | None) -> None:
        started = time.monotonic()
        tick = 0
        while seconds is None or time.monotonic() - started < seconds:
            tick += 1
            self.till_sale()
            if tick % 3 == 0:
                self.web_order()
            if tick % 4 == 0:
                self.magento_order()
            if tick % 5 == 0:
                self.shopify_order()
                self.woo_order()
            if tick % 13 == 0:
                self.shopify_cancel()
            if tick % 9 == 0:
                self.magento_ship()
            if tick % 11 == 0:
                self.cancel()
            if tick % 20 == 0:
                self.double_sell()
            for _ in range(5):
                self.observe()
                await asyncio.sleep(0.1)

    async def run_load(self, seconds: float, till_per_second: float, web_per_second: float) -> None:
        """Steady load for the latency benchmark: till files and web orders at fixed rates."""
        started = time.monotonic()
        till_due = web_due = 0.0
        magento_turn = False
        while (elapsed := time.monotonic() - started) < seconds:
            while till_due <= elapsed * till_per_second:
                self.till_sale()
                till_due += 1
            while web_due <= elapsed * web_per_second:
                if magento_turn:
                    self.magento_order()
                else:
                    self.web_order()
                magento_turn = not magento_turn
                web_due += 1
            self.observe()
            await asyncio.sleep(0.005)

    async def settle(self, limit: float = 20.0) -> bool:
        assert self.daemon is not None and self.daemon.store is not None
        deadline = time.monotonic() + limit
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            self.observe()
            stats = await self.daemon.store.outbox_stats()
            inbox_busy = any((self.folder / "till" / "inbox").glob("*.csv"))
            if not stats and not inbox_busy:
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since > 1.5:
                    return True
            else:
                quiet_since = None
            await asyncio.sleep(0.1)
        return False

    # -- verification --------------------------------------------------------------------------

    async def verify(self) -> dict[str, Any]:
        assert self.daemon is not None and self.daemon.store is not None
        store = self.daemon.store
        lost = duplicated = 0
        for receipt, lines in self.traffic.till_receipts.items():
            stored = await store.document_lines("till", receipt)
            for sku, qty in lines.items():
                applied = stored.get(sku, (0, 0))[1]
                lost += max(0, qty - applied)
                duplicated += max(0, applied - qty)
        for order, lines in self.traffic.web_orders.items():
            stored = await store.document_lines("webshop", str(order))
            effective = 0 if order in self.traffic.cancelled else 1
            for sku, qty in lines.items():
                applied = stored.get(sku, (0, 0))[1]
                lost += max(0, qty * effective - applied) if effective else max(0, applied)
                duplicated += max(0, applied - qty * effective) if effective else 0
        for channel, orders in (
            ("magento", self.traffic.magento_orders),
            ("woo", self.traffic.woo_orders),
        ):
            lost, duplicated = await self._count(store, channel, orders, lost, duplicated)
        for order, lines in self.traffic.shopify_orders.items():
            stored = await store.document_lines("shopify", str(order))
            kept = 0 if order in self.traffic.shopify_cancelled else 1
            for sku, qty in lines.items():
                applied = stored.get(sku, (0, 0))[1]
                lost += max(0, qty * kept - applied)
                duplicated += max(0, applied - qty * kept)
        # The ledger equals the model: opening stock minus what the generator sold for good.
        expected = self.model
        levels = await store.levels()
        ledger_mismatches = sorted(s for s in expected if levels.get(s, 0) != expected[s])
        movements, _ = await store.movement_totals()
        shop_mismatches = sorted(
            s for s in expected if self.shop.quantity(s) != max(0, levels.get(s, 0))
        )
        woo_mismatches = sorted(
            s for s in expected if self.woo.quantity(s) != max(0, levels.get(s, 0))
        )
        return await self._summary(
            store,
            levels,
            movements,
            ledger_mismatches,
            shop_mismatches,
            woo_mismatches,
            lost,
            duplicated,
        )

    @staticmethod
    async def _count(
        store: Any, channel: str, orders: dict[int, dict[str, int]], lost: int, duplicated: int
    ) -> tuple[int, int]:
        for order, lines in orders.items():
            stored = await store.document_lines(channel, str(order))
            for sku, qty in lines.items():
                applied = stored.get(sku, (0, 0))[1]
                lost += max(0, qty - applied)
                duplicated += max(0, applied - qty)
        return lost, duplicated

    async def _summary(
        self,
        store: Any,
        levels: dict[str, int],
        movements: int,
        ledger_mismatches: list[str],
        shop_mismatches: list[str],
        woo_mismatches: list[str],
        lost: int,
        duplicated: int,
    ) -> dict[str, Any]:
        expected = self.model
        magento_mismatches = sorted(
            s for s in expected if self.magento.salable(s) != max(0, levels.get(s, 0))
        )
        shopify_mismatches = (
            sorted(
                s for s in expected if self.shopify.state.available(s) != max(0, levels.get(s, 0))
            )
            if self.shopify is not None
            else []
        )
        till_file = (
            (self.folder / "till" / "stock.csv").read_text(encoding="utf-8").splitlines()[1:]
        )
        till_figures = {
            line.split(";")[0]: int(line.split(";")[1]) for line in till_file if ";" in line
        }
        till_mismatches = sorted(
            s for s in expected if till_figures.get(s) != max(0, levels.get(s, 0))
        )
        conflicts = await store.conflicts()
        latencies = sorted(self.traffic.latencies)

        def pct(q: float) -> float | None:
            if not latencies:
                return None
            return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1)

        return {
            "till_sales": len(self.traffic.till_receipts),
            "web_orders": len(self.traffic.web_orders),
            "magento_orders": len(self.traffic.magento_orders),
            "magento_shipped": len(self.traffic.magento_shipped),
            "shopify_orders": len(self.traffic.shopify_orders),
            "shopify_cancellations": len(self.traffic.shopify_cancelled),
            "woocommerce_orders": len(self.traffic.woo_orders),
            "cancellations": len(self.traffic.cancelled),
            "last_unit_sold_twice": self.traffic.double_sells,
            "movements": movements,
            "propagated": len(latencies),
            "latency_ms_p50": round(statistics.median(latencies) * 1000, 1) if latencies else None,
            "latency_ms_p99": pct(0.99),
            "conflicts": sum(1 for c in conflicts if c.kind.value == "oversell"),
            "lost": lost,
            "duplicated": duplicated,
            "ledger_matches_model": not ledger_mismatches,
            "shop_matches_ledger": not shop_mismatches,
            "magento_matches_ledger": not magento_mismatches,
            "shopify_matches_ledger": not shopify_mismatches,
            "woocommerce_matches_ledger": not woo_mismatches,
            "till_matches_ledger": not till_mismatches,
            "mismatched_skus": (
                ledger_mismatches
                + shop_mismatches
                + magento_mismatches
                + shopify_mismatches
                + woo_mismatches
                + till_mismatches
            )[:10],
        }


async def run_demo(seconds: float | None, as_json: bool, products: int = 40, seed: int = 7) -> int:
    configure_logging("warning", "json" if as_json else "auto")
    folder = Path(tempfile.mkdtemp(prefix="syncd-demo-"))
    demo = Demo(folder, products, seed, shopify=True)
    out = sys.stderr
    try:
        await demo.start()
        assert demo.daemon is not None
        print(
            f"syncd demo running in {folder}\n"
            f"  config:        {folder / 'syncd.toml'}\n"
            f"  ledger:        {folder / 'ledger.sqlite3'} (SQLite)\n"
            f"  till drop:     {folder / 'till' / 'inbox'}  (drop a receipts CSV here)\n"
            f"  till stock:    {folder / 'till' / 'stock.csv'}\n"
            f"  PrestaShop:    {demo.shop_url}/api  (key {DEMO_KEY})\n"
            f"  Magento:       {demo.magento_url}/rest/V1  (token {DEMO_MAGENTO_TOKEN})\n"
            f"  Shopify:       {demo.shopify_url}/admin/api/2026-10/graphql.json  "
            f"(token {DEMO_SHOPIFY_TOKEN})\n"
            f"  WooCommerce:   {demo.woo_url}/wp-json/wc/v3  (key {DEMO_WOO_KEY})\n"
            f"  status page:   http://127.0.0.1:{demo.daemon.web_port}/\n"
            f"  health:        http://127.0.0.1:{demo.daemon.web_port}/healthz\n"
            f"  status:        syncd status --config {folder / 'syncd.toml'}\n"
            + ("  Ctrl-C stops it.\n" if seconds is None else f"  stopping after {seconds:g} s.\n"),
            file=out,
            flush=True,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(2, stop.set)
            loop.add_signal_handler(15, stop.set)
        traffic = asyncio.create_task(demo.run_traffic(seconds))
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({traffic, stopper}, return_when=asyncio.FIRST_COMPLETED)
        traffic.cancel()
        stopper.cancel()
        await asyncio.gather(traffic, stopper, return_exceptions=True)
        settled = await demo.settle()
        summary = await demo.verify()
        summary["settled"] = settled
        summary["folder"] = str(folder)
    finally:
        await demo.stop()
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    else:
        print("\nsummary:", file=out)
        for key, value in summary.items():
            print(f"  {key:22s} {value}", file=out)
    ok = (
        summary["lost"] == 0
        and summary["duplicated"] == 0
        and summary["settled"]
        and summary["ledger_matches_model"]
        and summary["shop_matches_ledger"]
        and summary["magento_matches_ledger"]
        and summary["shopify_matches_ledger"]
        and summary["woocommerce_matches_ledger"]
        and summary["till_matches_ledger"]
    )
    return 0 if ok else 1
