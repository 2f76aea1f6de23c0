"""Propagation latency under load: 50 till sales/s + 10 web orders/s (PrestaShop, Magento and
Shopify by turns) and 1 delivery/s for 60 s, on SQLite and on PostgreSQL.

The daemon runs as its own process (`syncd run`), as in production, and so does each shop
emulator (`syncd emulator …`, on loopback). This process drives the load: till exports dropped by
atomic rename, web orders placed through the emulators' admin API. Latency runs from the rename
(or the order's creation) to the moment each other channel receives the write: the time the
emulator's stock-write handler ran (its write log), or the till's stock file changing on disk. The shops are polled every 0.3 s; files settle 0.2 s (with
``--settle-seconds 0`` the till → shop path measures our own overhead: watcher, parse, commit,
push, with emulators that answer at once).

Deliveries (``delivery``) are booked beside the daemon, by turns: (a) by `syncd receive` run as
its own process with a delivery note, and (b) on the status page, as a merchant does: the SKU
scanned, the quantity typed, the preview, then "book" (plain form posts with the page's CSRF
token). Each delivery adds units to a SKU of its own that nothing else moves, so the first write
of that SKU each channel receives is the delivery's. Its latency runs from the commit (the
movement's ``recorded_at`` in the ledger) to each channel's write, and also from the command's
start (a Python process starting, opening the ledger) or the click on "book".
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from syncd.config import load_config
from syncd.connectors.emulation import demo_catalog
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.ledger.store import Store
from syncd.logs import configure_logging
from syncd.testing.harness import SYNCD, Emulator, free_port

# The command that books a delivery note: ``RECEIVE + ["--config", F, NOTE, "--note-number", N]``.
RECEIVE: list[str] = [*SYNCD, "receive"]

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)


def _field(html: str, name: str) -> str:
    """A hidden field's value in a page (the CSRF token, the preview's digest)."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name} in the page"
    return match.group(1)


def _summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p99_ms": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def _union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Intervals merged where they overlap, in order."""
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


async def _fresh_pg() -> str:
    admin = os.environ.get("SYNCD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute('DROP DATABASE IF EXISTS "syncd_latency" WITH (FORCE)')
        await conn.execute('CREATE DATABASE "syncd_latency"')
    finally:
        await conn.close()
    return admin.rpartition("/")[0] + "/syncd_latency"


class Run:
    def __init__(self, store: str, args: argparse.Namespace, daemons: int = 1) -> None:
        self.store, self.args, self.daemons = store, args, daemons
        self.folder = Path(tempfile.mkdtemp(prefix=f"syncd-latency-{store}-"))
        self.catalog = demo_catalog(args.products)  # the emulators' own catalogue (same seed)
        self.model = {i.sku: (i.quantity + 1) * 20 for i in self.catalog}  # plenty, never 0
        self.writes: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.events: list[tuple[str, str, float]] = []  # source, sku, t0 (wall clock)
        self.receipts = 0
        self.renamed: dict[str, float] = {}  # till file → when it was dropped (wall clock)
        self.rng = random.Random(5)
        self.urls: dict[str, str] = {}
        self.http: aiohttp.ClientSession | None = None
        # SKUs kept for deliveries (one each, never sold by the load), the rest for sales.
        reserved = int(args.seconds * args.delivery_rate) + 2
        self.for_sale = self.catalog[: len(self.catalog) - reserved]
        self.for_delivery = [i.sku for i in self.catalog[len(self.catalog) - reserved :]]
        self.deliveries: list[tuple[str, str, float]] = []  # kind, sku, started (wall clock)
        self.commands: list[asyncio.Task[tuple[int, float]]] = []
        self.pages: list[asyncio.Task[None]] = []
        self.config: Path | None = None
        self.page: aiohttp.ClientSession | None = None  # the merchant's browser
        # the webshops orders come from, by turns (--woocommerce adds a WooCommerce channel)
        # The web orders' channels, by turns.
        self.webs = ["webshop", "magento", "shopify", *(["woo"] if args.woocommerce else [])]

    async def watch_till_file(self, stop: asyncio.Event) -> None:
        path = self.folder / "till" / "stock.csv"
        last: dict[str, str] = {}
        mtime = 0
        while not stop.is_set():
            try:
                stat = path.stat()
                if stat.st_mtime_ns != mtime:
                    mtime = stat.st_mtime_ns
                    now = time.time()
                    lines = path.read_text(encoding="utf-8").splitlines()[1:]
                    rows = dict(line.split(";", 1) for line in lines if ";" in line)
                    for sku, qty in rows.items():
                        if last.get(sku) != qty:
                            self.writes[("till", sku)].append(now)
                    last = rows
            except (OSError, ValueError):
                pass
            await asyncio.sleep(0.005)

    async def admin(self, shop: str, method: str, path: str, body: Any = None) -> Any:
        assert self.http is not None
        async with self.http.request(
            method, f"{self.urls[shop]}/__emulator/{path}", json=body
        ) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    def till_sale(self) -> None:
        sku = self.rng.choice(self.for_sale).sku
        self.receipts += 1
        receipt = f"B-{self.receipts}"
        staging = self.folder / "till" / f".{receipt}"
        staging.write_text(
            HEADER
            + f"01/07/2026 10:02,{receipt},Sale,Shirts,{sku},Shirt,,,1,1,0,1,0,1,0,POS,Shop,Ann,,,,Closed\n",
            encoding="utf-8",
        )
        os.replace(staging, self.folder / "till" / "inbox" / f"{receipt}.csv")
        self.model[sku] -= 1
        self.events.append(("till", sku, time.time()))
        self.renamed[f"{receipt}.csv"] = self.events[-1][2]

    async def web_order(self, number: int) -> None:
        sku = self.rng.choice(self.for_sale).sku
        t0 = time.time()
        shop = self.webs[number % len(self.webs)]
        await self.admin(shop, "POST", "orders", {"lines": {sku: 1}})
        self.model[sku] -= 1
        self.events.append((shop, sku, t0))

    def _log_level(self) -> str:
        if self.args.own_overhead:
            return "debug"  # the daemon's shop_wait events (syncd/connectors/http.py)
        return "info" if self.args.daemon_log else "warning"

    def _own_overhead(self, log_path: Path) -> dict[str, Any]:
        """Till → shop latency minus the time the shop's channel spent waiting on the shop
        while pushing (its HTTP answers and its throttle: the daemon's ``shop_wait`` events,
        logged for push calls only) within each sample's window [sale, write].

        Push calls include the edit check's reads of the shop (hand_edits adopt/report), made
        while it holds the channel's pushes back (syncd/engine/channel.py ``_read_back``): a
        push stalled behind a read waiting for Shopify's throttle was counted as our own time
        (seen: ~1 s of Shopify's "own" p99 on the standard plan, no push wait logged)."""
        waits: dict[str, list[tuple[float, float]]] = defaultdict(list)
        waited: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        ingest: list[float] = []  # a till file dropped → its sales committed (till_file_applied)
        with log_path.open(encoding="utf-8", errors="replace") as lines:
            for line in lines:
                if '"till_file_applied"' in line:
                    try:
                        event = json.loads(line)
                        dropped = self.renamed.get(str(event.get("file")))
                        at = datetime.fromisoformat(str(event["timestamp"]).replace("Z", "+00:00"))
                    except (ValueError, KeyError):
                        continue
                    if dropped is not None:
                        ingest.append(at.timestamp() - dropped)
                    continue
                if '"shop_wait"' not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if event.get("event") != "shop_wait" or event.get("purpose") != "push":
                    continue
                start, seconds = float(event["started"]), float(event["seconds"])
                waits[str(event["channel"])].append((start, start + seconds))
                waited[str(event["channel"])][str(event["what"])] += seconds
        # Where the time goes: the till's part (dropped → committed) is common to every shop.
        out: dict[str, Any] = {"till_file_to_commit": _summary(ingest)} if ingest else {}
        for target in self.webs:
            spans = _union(waits.get(target, []))
            ends = [b for _, b in spans]
            totals, own = [], []
            for source, sku, t0 in self.events:
                if source != "till":
                    continue
                after = [t for t in self.writes.get((target, sku), []) if t >= t0]
                if not after:
                    continue
                end = min(after)
                shop = 0.0
                for a, b in spans[bisect.bisect_left(ends, t0) :]:
                    if a >= end:
                        break
                    shop += max(0.0, min(b, end) - max(a, t0))
                totals.append(end - t0)
                own.append(max(0.0, end - t0 - shop))
            if own:
                out[f"till->{target}"] = {
                    "end_to_end": _summary(totals),
                    "own": _summary(own),
                    "push_wait_seconds": {k: round(v, 3) for k, v in waited[target].items()},
                }
        return out

    async def settled(self, store: Store, deadline: float) -> None:
        """The start-up work done (the first pulls, the first full sync to every channel): the
        outbox empty for 2 s running, so that the load measures propagation, not start-up."""
        await asyncio.sleep(2)
        empty_since: float | None = None
        while True:
            depth = sum(s.depth for s in (await store.outbox_stats()).values())
            now = time.monotonic()
            if depth:
                empty_since = None
            elif empty_since is None:
                empty_since = now
            elif now - empty_since >= 2:
                return
            assert now < deadline, f"the daemon's outbox is not empty after start-up ({depth})"
            await asyncio.sleep(0.1)

    async def delivery(self, number: int) -> None:
        """Book a delivery of a SKU of its own: by the command, or on the page, by turns."""
        sku = self.for_delivery[number]
        quantity = 5
        self.model[sku] += quantity
        if number % 2 == 0:
            assert self.config is not None
            note = self.folder / f"delivery-{number}.csv"
            note.write_text(f"sku;quantity\n{sku};{quantity}\n", encoding="utf-8")
            self.deliveries.append(("command", sku, time.time()))
            self.commands.append(
                asyncio.create_task(self._command(note, f"BL-{number}"), name=f"receive-{number}")
            )
        else:
            self.pages.append(
                asyncio.create_task(self._page(sku, quantity), name=f"page-delivery-{number}")
            )

    async def _page(self, sku: str, quantity: int) -> None:
        """The delivery form: scan, type the quantity, preview; the click on "book" is t0."""
        assert self.page is not None
        page = self.page
        base = self.urls["page"]

        async def form(path: str, data: dict[str, Any]) -> str:
            async with page.post(f"{base}{path}", data=data, allow_redirects=False) as resp:
                assert resp.status == 303, f"POST {path}: {resp.status} {await resp.text()}"
                return resp.headers["Location"]

        async with page.get(f"{base}/stock/receive") as resp:
            token = _field(await resp.text(), "csrf")
        draft = (await form("/stock/receive/scan", {"csrf": token, "code": sku})).split("?")[0]
        await form(f"{draft}/save", {"csrf": token, "code": sku, "qty": str(quantity)})
        async with page.get(f"{base}{draft}/check") as resp:
            digest = _field(await resp.text(), "digest")
        self.deliveries.append(("page", sku, time.time()))
        done = await form(f"{draft}/book", {"csrf": token, "digest": digest})
        assert "outcome=booked" in done, f"{sku}: the page did not book it ({done})"

    async def _command(self, note: Path, number: str) -> tuple[int, float]:
        """The command's exit code and how long it ran."""
        assert self.config is not None
        started = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *RECEIVE,
            "--config",
            str(self.config),
            str(note),
            "--note-number",
            number,
            cwd=self.folder,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        code = await proc.wait()
        return code, time.monotonic() - started

    async def spread(self, store: Store, deadline: float) -> None:
        """Wait until each daemon holds the channels it prefers (the leases in the ledger)."""
        want = {"channel:till": "a:", "channel:webshop": "a:"}
        want |= {f"channel:{w}": "b:" for w in self.webs if w != "webshop"}
        while True:
            held = {lease.job: lease.holder for lease in await store.leases()}
            if all(held.get(job, "").startswith(who) for job, who in want.items()):
                return
            assert time.monotonic() < deadline, f"the jobs were not spread: {held}"
            await asyncio.sleep(0.2)

    async def _commit_times(self, store: Store) -> dict[str, float]:
        """SKU → when its delivery committed (the receipt movement's recorded_at)."""
        out: dict[str, float] = {}
        for _kind, sku, _started in self.deliveries:
            moves = await store.movements(sku=sku, channel="stock", limit=5)
            if moves:
                out[sku] = min(m.recorded_at for m in moves).timestamp()
        return out

    def _delivery_report(self, committed: dict[str, float]) -> dict[str, Any]:
        since_commit: dict[str, list[float]] = defaultdict(list)
        since_start: dict[str, list[float]] = defaultdict(list)
        missing: dict[str, int] = defaultdict(int)
        for kind, sku, started in self.deliveries:
            at = committed.get(sku)
            for target in (*self.webs, "till"):
                writes = [t for t in self.writes.get((target, sku), []) if t >= started]
                if at is None or not writes:
                    missing[f"{kind}->{target}"] += 1
                    continue
                since_commit[f"{kind}->{target}"].append(max(0.0, min(writes) - at))
                since_start[f"{kind}->{target}"].append(min(writes) - started)
        results = [t.result() for t in self.commands if t.done() and not t.cancelled()]
        page_errors = [
            str(t.exception()) for t in self.pages if t.done() and t.exception() is not None
        ]
        out: dict[str, Any] = {
            "deliveries": len(self.commands) + len(self.pages),
            "booked": len(committed),
            "without_a_write": dict(missing),
            "command_failures": sum(1 for code, _ in results if code != 0),
            "command_run": _summary([d for _, d in results]),
            "page_failures": page_errors[:5],
        }
        for path, values in sorted(since_commit.items()):
            out[f"{path} (from commit)"] = _summary(values)
        for path, values in sorted(since_start.items()):
            start = "command start" if path.startswith("command") else "click on book"
            out[f"{path} (from {start})"] = _summary(values)
        return out

    async def execute(self) -> dict[str, Any]:
        dsn = await _fresh_pg() if self.store == "postgres" else ""
        shop = Emulator("prestashop", self.args.products)
        magento = Emulator("magento", self.args.products)
        shopify = Emulator("shopify", self.args.products)
        woo = Emulator("woocommerce", self.args.products) if self.args.woocommerce else None
        shop_info, magento_info, shopify_info = shop.info, magento.info, shopify.info
        port = free_port()
        self.urls = {
            "webshop": shop_info["url"],
            "magento": magento_info["url"],
            "shopify": shopify_info["url"],
            "page": f"http://127.0.0.1:{port}",
        }
        woo_channel = ""
        if woo is not None:
            self.urls["woo"] = woo.url
            woo_channel = f"""[channels.woo]
type = "woocommerce"
url = "{woo.url}"
consumer_key = "{woo.info["consumer_key"]}"
consumer_secret = "{woo.info["consumer_secret"]}"
poll_seconds = 0.3
overlap_seconds = 2
"""
        self.http = aiohttp.ClientSession()
        for web in self.webs:
            # Shopify's emulator sets figures at /__emulator/inventory.
            route = "inventory" if web == "shopify" else "quantities"
            await self.admin(web, "POST", route, self.model)
        await self.admin("shopify", "POST", "throttle", {"plan": self.args.shopify_plan})
        (self.folder / "till" / "inbox").mkdir(parents=True)
        ledger = (
            f'backend = "postgres"\ndsn = "{dsn}"'
            if dsn
            else 'backend = "sqlite"\npath = "ledger.sqlite3"'
        )
        config = self.config = self.folder / "syncd.toml"
        config.write_text(
            f"""[ledger]
{ledger}
[log]
level = "{self._log_level()}"
format = "json"
[web]
enabled = true
port = {port}
[channels.till]
type = "csv_till"
drop_folder = "till/inbox"
stock_file = "till/stock.csv"
settle_seconds = {self.args.settle_seconds}
stock_min_interval_seconds = 0.2
date_format = "%d/%m/%Y %H:%M"
[channels.webshop]
type = "prestashop"
url = "{shop_info["url"]}"
api_key = "{shop_info["api_key"]}"
poll_seconds = 0.3
overlap_seconds = 2
[channels.magento]
type = "magento"
url = "{magento_info["url"]}"
access_token = "{magento_info["access_token"]}"
poll_seconds = 0.3
overlap_seconds = 2
[channels.shopify]
type = "shopify"
url = "{shopify_info["url"]}"
access_token = "{shopify_info["access_token"]}"
location_id = "{shopify_info["location_id"]}"
poll_seconds = {self.args.shopify_poll_seconds}
overlap_seconds = 2
{woo_channel}""",
            encoding="utf-8",
        )
        configs = [config]
        if self.daemons == 2:
            # Issue 20: two daemons on the one PostgreSQL, the jobs spread: the first prefers
            # the till and PrestaShop, the second the other shops, so a till sale reaches most
            # shops through the other daemon (woken by PostgreSQL's NOTIFY). The second has its
            # own status page port; both share the folders (one machine).
            text = config.read_text(encoding="utf-8")
            first, _, rest = text.partition("[web]")
            others = [w for w in self.webs if w != "webshop"]
            config.write_text(
                f'{first}[cluster]\nname = "a"\nprefer = ["till", "webshop"]\n[web]{rest}',
                encoding="utf-8",
            )
            second = self.folder / "syncd-b.toml"
            second.write_text(
                f'{first}[cluster]\nname = "b"\nprefer = {json.dumps(others)}\n[web]'
                + rest.replace(f"port = {port}\n", f"port = {free_port()}\n", 1),
                encoding="utf-8",
            )
            configs.append(second)
        store = await open_store(load_config(config).ledger)
        await store.upsert_products([Product(i.sku, i.name) for i in self.catalog])
        await store.apply_document(
            Document(
                "init", "opening", DocumentKind.STOCK_COUNT, dict(self.model), datetime.now(UTC)
            )
        )
        await store.close()
        keep_log = self.args.daemon_log or self.args.own_overhead
        log_path = self.folder / "daemon.log" if keep_log else Path(os.devnull)
        daemons = []
        for n, path in enumerate(configs):
            if n and keep_log:
                log_path = self.folder / f"daemon-{n + 1}.log"
            with open(log_path, "wb") as log:  # the child keeps its own descriptor
                daemons.append(
                    subprocess.Popen(
                        [*SYNCD, "run", "--config", str(path)], stderr=log, cwd=self.folder
                    )
                )
        stop = asyncio.Event()
        watcher = asyncio.create_task(self.watch_till_file(stop))
        try:
            deadline = time.monotonic() + 180
            while not (self.folder / "till" / "stock.csv").exists():
                assert time.monotonic() < deadline, "the first full sync did not finish"
                await asyncio.sleep(0.2)
            ledger = await open_store(load_config(config).ledger, migrate=False)
            try:
                await self.settled(ledger, deadline)
                if self.daemons == 2:
                    await self.spread(ledger, deadline)
            finally:
                await ledger.close()
            # An IP address's cookies are kept only by an "unsafe" jar (the page's session).
            self.page = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
            for web in self.webs:
                await self.admin(web, "POST", "writes")
            self.writes.clear()
            started = time.monotonic()
            till_due = web_due = delivery_due = 0
            while (elapsed := time.monotonic() - started) < self.args.seconds:
                while till_due <= elapsed * self.args.till_rate:
                    self.till_sale()
                    till_due += 1
                while web_due <= elapsed * self.args.web_rate:
                    await self.web_order(web_due)
                    web_due += 1
                while (
                    self.args.delivery_rate
                    and delivery_due <= elapsed * self.args.delivery_rate
                    and delivery_due < len(self.for_delivery)
                ):
                    await self.delivery(delivery_due)
                    delivery_due += 1
                await asyncio.sleep(0.005)
            await asyncio.gather(*self.commands, *self.pages, return_exceptions=True)
            await asyncio.sleep(self.args.settle)
            for target in self.webs:
                for when, sku, _qty in await self.admin(target, "GET", "writes"):
                    self.writes[(target, sku)].append(when)
            shop_figures = await self.admin("webshop", "GET", "quantities")
            magento_figures = await self.admin("magento", "GET", "quantities")
            shopify_figures = await self.admin("shopify", "GET", "inventory")
            woo_figures = await self.admin("woo", "GET", "quantities") if woo else {}
        finally:
            for daemon in daemons:
                daemon.terminate()
            code = max(abs(daemon.wait(60)) for daemon in daemons)
            stop.set()
            await watcher
            await self.http.close()
            if self.page is not None:
                await self.page.close()
            for emulator in (shop, magento, shopify, *([woo] if woo else [])):
                emulator.stop()
        store = await open_store(load_config(config).ledger, migrate=False)
        levels = await store.levels()
        committed = await self._commit_times(store)
        await store.close()
        paths: dict[str, list[float]] = defaultdict(list)
        missing: dict[str, int] = defaultdict(int)
        for source, sku, t0 in self.events:
            for target in ("till", *self.webs):
                if target == source:
                    continue
                after = [t for t in self.writes.get((target, sku), []) if t >= t0]
                if after:
                    paths[f"{source}->{target}"].append(min(after) - t0)
                else:
                    missing[f"{source}->{target}"] += 1
        out: dict[str, Any] = {
            "daemons": self.daemons,
            "daemon_exit_code": code,
            "till_sales": self.receipts,
            "web_orders": len(self.events) - self.receipts,
            "ledger_matches_model": all(levels.get(s) == q for s, q in self.model.items()),
            "ledger_mismatches": {
                s: {"ledger": levels.get(s), "model": q}
                for s, q in list(self.model.items())
                if levels.get(s) != q
            },
            "folder": str(self.folder),
            "shop_matches_ledger": all(shop_figures[s] == max(0, levels[s]) for s in self.model),
            "magento_matches_ledger": all(
                magento_figures[s]["salable"] == max(0, levels[s]) for s in self.model
            ),
            "shopify_matches_ledger": all(
                shopify_figures[s] == max(0, levels[s]) for s in self.model
            ),
            "events_without_a_write": dict(missing),
        }
        if woo is not None:
            out["woocommerce_matches_ledger"] = all(
                woo_figures[s] == max(0, levels[s]) for s in self.model
            )
        for path, values in sorted(paths.items()):
            out[path] = _summary(values)
        if self.args.own_overhead:
            out["own_overhead"] = self._own_overhead(self.folder / "daemon.log")
        if self.deliveries:
            out["delivery"] = self._delivery_report(committed)
        print(f"{self.store}: {out}", file=sys.stderr, flush=True)
        if self.args.daemon_log:
            print(f"{self.store}: daemon log in {self.folder / 'daemon.log'}", file=sys.stderr)
        return out


async def run(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {
        "seconds": args.seconds,
        "till_per_second": args.till_rate,
        "web_per_second": args.web_rate,
        "shop_poll_seconds": 0.3,
        "shopify_poll_seconds": args.shopify_poll_seconds,
        "shopify_plan": args.shopify_plan,
        "settle_seconds": args.settle_seconds,
        "deliveries_per_second": args.delivery_rate,
    }
    for store in args.stores.split(","):
        result[store] = await Run(store, args).execute()
    if args.daemons == 2:
        # The same load with two daemons sharing the PostgreSQL ledger (issue 20), compared
        # with the one-daemon run above: till → shop p99, two daemons ÷ one.
        one = result.get("postgres") or await Run("postgres", args).execute()
        result["postgres"] = one
        two = result["postgres_two_daemons"] = await Run("postgres", args, daemons=2).execute()
        result["two_daemons_p99_ratio"] = {
            path: round(two[path]["p99_ms"] / one[path]["p99_ms"], 3)
            for path in sorted(one)
            if path.startswith("till->")
            and one[path].get("p99_ms")
            and two.get(path, {}).get("p99_ms")
        }
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench latency", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--till-rate", type=float, default=50)
    parser.add_argument("--web-rate", type=float, default=10)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument(
        "--settle", type=float, default=10, help="seconds to let the last writes land"
    )
    parser.add_argument("--stores", "--ledger", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--daemon-log",
        action="store_true",
        help="keep the daemon's log (level info) as daemon.log in the run's folder",
    )
    parser.add_argument(
        "--own-overhead",
        action="store_true",
        help="also report till → shop latency minus the push's waits on the shop (its HTTP "
        "answers, its throttle), from the daemon's debug shop_wait events (kept in daemon.log)",
    )
    parser.add_argument(
        "--delivery-rate",
        type=float,
        default=1,
        help="deliveries per second, booked by turns by a command and as the page does",
    )
    parser.add_argument(
        "--daemons",
        type=int,
        choices=(1, 2),
        default=1,
        help="2: also run with two daemons on PostgreSQL, the jobs spread between them, and "
        "compare till → shop p99 with one daemon's (two_daemons_p99_ratio)",
    )
    parser.add_argument(
        "--woocommerce",
        action="store_true",
        help="a WooCommerce channel too (its emulator): web orders by turns from three shops",
    )
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=0.2,
        help="the till's settle time; 0 measures our own overhead on the till → shop path",
    )
    parser.add_argument(
        "--shopify-plan",
        default="standard",
        choices=("standard", "advanced", "plus"),
        help="the emulated shop's plan: its API throttle restores 100, 200 or 1000 points/s",
    )
    parser.add_argument(
        "--shopify-poll-seconds",
        type=float,
        default=1.0,
        help="Shopify's pull interval (each read of orders is charged to its throttle)",
    )
    args = parser.parse_args(argv)
    configure_logging("error")
    result = asyncio.run(run(args))
    print(json.dumps(result) if args.json else result)
    return 0
