"""A seeded, replayable reliability campaign.

The daemon runs as a subprocess (`syncd run`) with a CSV till folder and both shop emulators as
their own processes, reached through fault proxies. A traffic generator sells at the till (atomic
renames, files written in place, duplicate drops, bad rows), places and cancels web orders on
both shops, and keeps its own record of every document. A fault schedule derived from the seed
kills the daemon with SIGKILL at random moments (mid-file, mid-push, between a commit and its
push) and restarts it, breaks the shop connections (latency, resets, black holes, slow and
truncated answers), turns on the emulators' error modes (500, 503, 429 with Retry-After, expired
Magento tokens), terminates PostgreSQL backends and restarts PostgreSQL, and takes the till folder
away for a moment.

When the traffic and the faults stop, the campaign measures how long the channels take to show
what they should, then stops the daemon and checks the invariants: every till row and web order
applied exactly once (movements per channel and SKU against the generator's record), the ledger
equal to the model, and every channel showing exactly what it should.

Used by tests/reliability/test_campaign.py (short) and `python -m bench soak` (long).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from syncd.config import load_config
from syncd.connectors.emulation import demo_catalog
from syncd.domain import Document, DocumentKind
from syncd.exceptions import LedgerError
from syncd.ledger import Product, open_store
from syncd.testing import pg
from syncd.testing.harness import SYNCD, DaemonProcess, Emulator, free_port, write_config
from syncd.testing.smtp import PASSWORD, USER, SmtpServer

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)
# The channel each shop emulator is configured as.
CHANNELS = {
    "prestashop": "webshop",
    "magento": "magento",
    "shopify": "shopify",
    "woocommerce": "woo",
}
# Recognisable secrets: the campaign proves none of them ever leaves the daemon.
WEBHOOK_SECRET = "WEBHOOK-SECRET-7f3a9c41d2"


@dataclass
class Options:
    seed: int = 1
    seconds: float = 60.0
    store: str = "sqlite"  # sqlite | postgres
    products: int = 40
    till_rate: float = 6.0  # receipts a second
    web_rate: float = 2.0  # web orders a second (both shops)
    kill_every: tuple[float, float] = (3.0, 9.0)
    proxy_rate: float = 0.04  # share of answer chunks that get a network fault
    converge_timeout: float = 45.0
    workdir: Path | None = None
    keep: bool = False
    faults: bool = True  # False: a month of traffic at speed, no faults (memory and growth)
    # The shops' hand_edits, as a merchant runs them ("adopt"): under these faults no write of
    # ours, answered or not, may ever be taken for a back-office edit (the model would differ).
    hand_edits: str = "adopt"
    # A Shopify channel too (its emulator behind a fault proxy, its webhooks late and twice):
    # `python -m bench soak --shopify`. Off by default: the seeds' campaigns stay as they were.
    shopify: bool = False
    woocommerce: bool = False  # a third webshop: WooCommerce (its emulator, behind a proxy)
    daemons: int = 1  # several on one PostgreSQL: bench/reliability/cluster.py


@dataclass
class Record:
    """The generator's own account of what happened, to compare the ledger with."""

    model: dict[str, int] = field(default_factory=dict)
    expected: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    till_receipts: int = 0
    till_rows: int = 0
    bad_rows: int = 0
    duplicate_files: int = 0
    web_orders: int = 0
    cancels: int = 0
    orders: list[tuple[str, int, dict[str, int]]] = field(default_factory=list)
    orders_by_shop: Counter[str] = field(default_factory=Counter)
    # (wall-clock time, shop, order id, "order" | "cancel", lines): read beside the shops'
    # write logs and the daemon's when a run does not converge (unconverged.json).
    web_log: list[tuple[float, str, int, str, dict[str, int]]] = field(default_factory=list)

    def take(self, channel: str, lines: dict[str, int], sign: int = -1) -> None:
        for sku, qty in lines.items():
            self.model[sku] += sign * qty
            self.expected[(channel, sku)] += sign * qty


class PgCluster:
    """A PostgreSQL of the campaign's own, so it can be restarted without touching anyone
    else's; falls back to the shared server (no restarts) when no binaries are installed."""

    def __init__(self) -> None:
        self.data: str | None = None
        self.dsn = ""
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.pg_ctl = pg.find_binary("pg_ctl")
        self.initdb = pg.find_binary("initdb")

    @property
    def restartable(self) -> bool:
        return self.data is not None

    async def start(self) -> str:
        if self.pg_ctl and self.initdb:
            self.data = tempfile.mkdtemp(prefix="syncd-campaign-pg-")
            if self.prefix:
                shutil.chown(self.data, "postgres", "postgres")
            self.port = free_port()
            subprocess.run(
                [*self.prefix, self.initdb, "-D", self.data, "-U", "postgres", "--auth=trust"],
                check=True,
                capture_output=True,
            )
            self._ctl("start")
            self.dsn = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
            return self.dsn
        admin = pg.admin_dsn()
        name = f"syncd_campaign_{os.getpid()}"
        conn = await asyncpg.connect(admin)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.dsn = pg.with_database(admin, name)
        return self.dsn

    def _ctl(self, action: str, mode: str = "fast") -> None:
        assert self.pg_ctl and self.data
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [
                *self.prefix,
                self.pg_ctl,
                "-D",
                self.data,
                "-l",
                f"{self.data}/log",
                "-m",
                mode,
                "-o",
                options,
                "-w",
                action,
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )

    async def restart(self, mode: str) -> None:
        await asyncio.to_thread(self._ctl, "restart", mode)

    async def terminate_backends(self) -> int:
        conn = await asyncpg.connect(self.dsn)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        return len(rows)

    def stop(self) -> None:
        if self.data is None:
            return
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._ctl("stop", "immediate")
        shutil.rmtree(self.data, ignore_errors=True)


class Campaign:
    def __init__(self, options: Options) -> None:
        self.o = options
        self.rng = random.Random(options.seed)
        self.folder = options.workdir or Path(tempfile.mkdtemp(prefix="syncd-campaign-"))
        self.inbox = self.folder / "till" / "inbox"
        self.record = Record()
        self.faults: Counter[str] = Counter()
        self.emulators: dict[str, Emulator] = {}
        self.info: dict[str, dict[str, Any]] = {}
        self.process = DaemonProcess(self.folder / "syncd.toml", cwd=self.folder)
        self.exit_codes: Counter[int] = Counter()
        self.pg: PgCluster | None = None
        self.http: aiohttp.ClientSession | None = None
        self.proxies: dict[str, Any] = {}
        self.stop_traffic = asyncio.Event()
        self.till_away = False
        self.pending_drops: list[tuple[str, bytes]] = []
        self.files: list[bytes] = []
        self.web_port = free_port()
        self.rss: list[tuple[int, int]] = []  # (daemon run, kB)
        self.crashes: list[str] = []
        self.unconverged: list[str] = []
        self.reconciled: int | None = None  # exit code of the repairing reconcile, if needed
        self.pages_checked = 0
        self.shops = [
            "prestashop",
            "magento",
            *(["shopify"] if options.shopify else []),
            *(["woocommerce"] if options.woocommerce else []),
        ]

    # -- set-up -------------------------------------------------------------------------------

    def _emulator(self, kind: str) -> None:
        self.emulators[kind] = Emulator(kind, self.o.products, quiet=True)
        self.info[kind] = self.emulators[kind].info

    async def admin(self, kind: str, method: str, path: str, body: Any = None) -> Any:
        assert self.http is not None
        url = f"{self.info[kind]['url']}/__emulator/{path}"
        async with self.http.request(method, url, json=body) as resp:
            if resp.status != 200:
                raise RuntimeError(f"{kind} admin {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    async def set_up(self) -> None:
        from bench.reliability.proxy import FaultProxy

        # aiosmtpd's own AUTH code touches its deprecated Session.login_data on every login.
        warnings.filterwarnings("ignore", message="Session.login_data is deprecated")
        self.smtp = SmtpServer(free_port(), auth=True)
        self.smtp.start()

        self._emulator("prestashop")
        self._emulator("magento")
        if self.o.woocommerce:
            self._emulator("woocommerce")
        self.http = aiohttp.ClientSession()
        catalog = demo_catalog(self.o.products)
        self.record.model = {i.sku: 150 + self.rng.randrange(100) for i in catalog}
        for kind in self.shops:
            if kind == "shopify":
                self._emulator("shopify")
                await self.admin("shopify", "POST", "inventory", self.record.model)
                await self.admin(
                    "shopify",
                    "POST",
                    "webhooks",
                    {
                        "address": f"http://127.0.0.1:{self.web_port}/hooks/shopify/shopify",
                        "delay_seconds": 0.3,
                        "duplicate": True,
                    },
                )
            else:
                await self.admin(kind, "POST", "quantities", self.record.model)
        for kind in self.shops:
            port = int(self.info[kind]["url"].rsplit(":", 1)[1].split("/")[0])
            proxy = FaultProxy("127.0.0.1", port, random.Random(self.rng.random()))
            await proxy.start()
            self.proxies[kind] = proxy
            await self.admin(kind, "POST", "writes")  # each write syncd makes, with its time
        dsn = ""
        if self.o.store == "postgres":
            self.pg = PgCluster()
            dsn = await self.pg.start()
        self.config = self._write_config(dsn)
        store = await open_store(load_config(self.config).ledger)
        try:
            await store.upsert_products([Product(i.sku, i.name) for i in catalog])
            await store.apply_document(
                Document(
                    "init",
                    "opening",
                    DocumentKind.STOCK_COUNT,
                    dict(self.record.model),
                    datetime.now(UTC),
                )
            )
        finally:
            await store.close()

    def _write_config(self, dsn: str) -> Path:
        ledger: dict[str, Any] = (
            {"backend": "postgres", "dsn": dsn, "pool_size": 4}
            if dsn
            else {"backend": "sqlite", "path": "ledger.sqlite3"}
        )
        ps, mg = self.info["prestashop"], self.info["magento"]
        (self.folder / "smtp.password").write_text(PASSWORD, encoding="utf-8")
        shop = {
            "poll_seconds": 0.5,
            "overlap_seconds": 2,
            "timeout_seconds": 3,
            "hand_edits": self.o.hand_edits,
        }
        config = write_config(
            self.folder / "syncd.toml",
            {
                "ledger": ledger,
                "log": {"level": "info", "format": "json"},
                "sync": {
                    "grace_seconds": 3,
                    "outbox_poll_seconds": 1,
                    "retry_max_seconds": 2,
                    "degraded_after_failures": 3,
                },
                "web": {"enabled": True, "port": self.web_port},
                "alerts": {
                    "to": ["merchant@example.com"],
                    "from": "syncd@example.com",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": self.smtp.port,
                    "smtp_security": "none",
                    "smtp_username": USER,
                    "smtp_password_file": "smtp.password",
                    "language": "fr",
                    "group_window_seconds": 2,
                    "max_mails_per_hour": 3600,
                    "digest_time": "",
                    "poll_seconds": 0.5,
                    "retry_max_seconds": 2,
                    "timeout_seconds": 3,
                },
                "channels": {
                    "till": {
                        "type": "csv_till",
                        "drop_folder": "till/inbox",
                        "stock_file": "till/stock.csv",
                        "settle_seconds": 0.3,
                        "poll_seconds": 1,
                        "stock_min_interval_seconds": 0.2,
                        "date_format": "%d/%m/%Y %H:%M",
                    },
                    "webshop": {
                        "type": "prestashop",
                        "url": f"http://127.0.0.1:{self.proxies['prestashop'].port}",
                        "api_key": ps["api_key"],
                        **shop,
                        "webhook_secret": WEBHOOK_SECRET,
                    },
                    "magento": {
                        "type": "magento",
                        "url": f"http://127.0.0.1:{self.proxies['magento'].port}",
                        "username": "admin",
                        "password": mg["password"],
                        **shop,
                    },
                    **({"shopify": self._shopify_channel(shop)} if self.o.shopify else {}),
                    **(
                        {
                            "woo": {
                                "type": "woocommerce",
                                "url": f"http://127.0.0.1:{self.proxies['woocommerce'].port}",
                                "consumer_key": self.info["woocommerce"]["consumer_key"],
                                "consumer_secret": self.info["woocommerce"]["consumer_secret"],
                                **shop,
                            }
                        }
                        if self.o.woocommerce
                        else {}
                    ),
                },
            },
        )
        self.inbox.mkdir(parents=True, exist_ok=True)
        return config

    def _shopify_channel(self, shop: dict[str, Any]) -> dict[str, Any]:
        info = self.info["shopify"]
        return {
            "type": "shopify",
            "url": f"http://127.0.0.1:{self.proxies['shopify'].port}",
            "access_token": info["access_token"],
            "location_id": info["location_id"],
            "webhook_secret": info["client_secret"],
            **shop,
        }

    @property
    def smtp_password(self) -> str:
        return PASSWORD

    @property
    def secrets(self) -> list[str]:
        return (
            [
                self.info["prestashop"]["api_key"],
                self.info["magento"]["password"],
                WEBHOOK_SECRET,
                self.smtp_password,
            ]
            + (
                [self.info["shopify"]["access_token"], self.info["shopify"]["client_secret"]]
                if self.o.shopify
                else []
            )
            + ([self.info["woocommerce"]["consumer_secret"]] if self.o.woocommerce else [])
        )

    # -- the daemon ---------------------------------------------------------------------------

    @property
    def daemon(self) -> subprocess.Popen[bytes] | None:
        return self.process.proc

    @property
    def daemon_starts(self) -> int:
        return self.process.starts

    def start_daemon(self) -> None:
        self.process.start()

    def stop_daemon(self, sig: int) -> int:
        try:
            code = self.process.stop(sig, 60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            assert self.daemon is not None
            code = self.daemon.wait(10)
            self.faults["stop_timeouts"] += 1
        self.exit_codes[code] += 1
        return code

    async def killer(self) -> None:
        lo, hi = self.o.kill_every
        while not self.stop_traffic.is_set():
            await _sleep_or(self.stop_traffic, self.rng.uniform(lo, hi))
            if self.stop_traffic.is_set():
                return
            # The first three stops are kills: a short campaign must kill at least that often
            # (with 15 % graceful stops drawn from the first, a 40 s run sometimes had two).
            graceful = self.faults["kill_9"] >= 3 and self.rng.random() < 0.15
            await asyncio.to_thread(self.stop_daemon, signal.SIGTERM if graceful else 9)
            self.faults["sigterm" if graceful else "kill_9"] += 1
            await asyncio.sleep(self.rng.uniform(0.0, 0.5))
            self.start_daemon()

    # -- traffic ------------------------------------------------------------------------------

    def _receipt(self, receipt: str, lines: dict[str, int], bad: bool) -> bytes:
        rows = [
            f"01/07/2026 10:02,{receipt},Sale,Shirts,{sku},Shirt,,,{qty},1,0,1,0,1,0,POS,Shop,Ann,,,,Closed\n"
            for sku, qty in lines.items()
        ]
        if bad:  # a row a till really writes now and then: the quantity is not a number
            rows.append(
                f"01/07/2026 10:02,{receipt}-x,Sale,Shirts,{next(iter(lines))},Shirt,,,deux,1,0,1,0,1,0,POS,Shop,Ann,,,,Closed\n"
            )
        return (HEADER + "".join(rows)).encode()

    async def till_sale(self) -> None:
        rec = self.record
        rec.till_receipts += 1
        skus = self.rng.sample(sorted(rec.model), self.rng.randint(1, 3))
        lines = {sku: self.rng.randint(1, 2) for sku in skus}
        bad = self.rng.random() < 0.05
        data = self._receipt(f"R{self.o.seed}-{rec.till_receipts}", lines, bad)
        rec.take("till", lines)
        rec.till_rows += len(lines)
        rec.bad_rows += bad
        self.files.append(data)
        await self.drop(f"r{rec.till_receipts}.csv", data)
        if self.rng.random() < 0.05 and self.files:  # the till exports one file again
            rec.duplicate_files += 1
            await self.drop(f"again{rec.till_receipts}.csv", self.rng.choice(self.files))

    async def drop(self, name: str, data: bytes) -> None:
        if self.till_away:
            self.pending_drops.append((name, data))  # the till keeps it until the folder is back
            return
        if self.rng.random() < 0.15:  # written in place, in two goes, like a slow till
            path = self.inbox / name
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                await asyncio.sleep(self.rng.uniform(0.05, 0.6))
                handle.write(data[len(data) // 2 :])
            return
        staging = self.folder / "till" / f".{name}"
        staging.write_bytes(data)
        os.replace(staging, self.inbox / name)

    async def web_order(self) -> None:
        rec = self.record
        if self.o.woocommerce:
            kind = self.rng.choice(self.shops)
        elif self.o.shopify and self.rng.random() < 1 / 3:
            kind = "shopify"
        else:  # the draws of the campaigns before Shopify and WooCommerce: same seed, same run
            kind = "prestashop" if self.rng.random() < 0.5 else "magento"
        channel = CHANNELS[kind]
        if rec.orders and self.rng.random() < 0.15:
            index = self.rng.randrange(len(rec.orders))
            ckind, oid, lines = rec.orders.pop(index)
            cchannel = CHANNELS[ckind]
            if ckind == "shopify":  # cancelled with restock
                await self.admin(ckind, "POST", f"orders/{oid}/cancel", {"restock": True})
            elif ckind == "woocommerce":
                await self.admin(ckind, "POST", f"orders/{oid}/status", {"status": "cancelled"})
            elif ckind == "prestashop":
                await self.admin(ckind, "POST", f"orders/{oid}/state", {"state": "PS_OS_CANCELED"})
            else:
                await self.admin(ckind, "POST", f"orders/{oid}/cancel")
            rec.take(cchannel, lines, sign=+1)
            rec.cancels += 1
            rec.web_log.append((time.time(), ckind, oid, "cancel", lines))
            return
        skus = self.rng.sample(sorted(rec.model), self.rng.randint(1, 2))
        lines = dict.fromkeys(skus, 1)
        answer = await self.admin(kind, "POST", "orders", {"lines": lines})
        rec.take(channel, lines)
        rec.web_orders += 1
        rec.orders_by_shop[kind] += 1
        rec.orders.append((kind, int(answer["id"]), lines))
        rec.web_log.append((time.time(), kind, int(answer["id"]), "order", lines))

    async def traffic(self) -> None:
        started = time.monotonic()
        till_due = web_due = 0.0
        while (elapsed := time.monotonic() - started) < self.o.seconds:
            while till_due <= elapsed * self.o.till_rate:
                await self.till_sale()
                till_due += 1
            while web_due <= elapsed * self.o.web_rate:
                await self.web_order()
                web_due += 1
            await asyncio.sleep(0.02)

    # -- faults -------------------------------------------------------------------------------

    async def shop_faults(self) -> None:
        for proxy in self.proxies.values():
            proxy.rate = self.o.proxy_rate
        modes: list[dict[str, Any]] = [
            {"error_rate": 0.3, "error_status": 500},
            {"error_rate": 0.3, "error_status": 503},
            {"rate_limit_rate": 0.3, "retry_after": 1},
            {"down": True},
        ]
        while not self.stop_traffic.is_set():
            await _sleep_or(self.stop_traffic, self.rng.uniform(1.0, 4.0))
            if self.stop_traffic.is_set():
                break
            kind = self.rng.choice(self.shops)
            if kind == "magento" and self.rng.random() < 0.25:
                await self.admin(kind, "POST", "expire-tokens")
                self.faults["token_expired"] += 1
                continue
            mode = self.rng.choice(modes)
            await self.admin(kind, "POST", "faults", mode)
            self.faults[f"emulator_{next(iter(mode))}"] += 1
            await _sleep_or(self.stop_traffic, self.rng.uniform(0.5, 2.5))
            await self.admin(kind, "POST", "faults", _no_faults())

    async def sample_rss(self) -> None:
        """The daemon's resident memory every second (kB), for the growth check."""
        while not self.stop_traffic.is_set():
            if self.daemon is not None and self.daemon.poll() is None:
                with contextlib.suppress(OSError, ValueError):
                    status = Path(f"/proc/{self.daemon.pid}/status").read_text()
                    kb = next((ln for ln in status.splitlines() if ln.startswith("VmRSS:")), "")
                    if kb:  # a process being reaped has none
                        self.rss.append((self.daemon_starts, int(kb.split()[1])))
            await _sleep_or(self.stop_traffic, 1.0)

    def rss_summary(self) -> dict[str, Any]:
        """RSS of the last daemon run: after a warm-up fifth, the first and last tenths."""
        last = [kb for start, kb in self.rss if start == self.daemon_starts]
        if len(last) < 20:
            return {"samples": len(last)}
        body = last[len(last) // 5 :]
        tenth = max(1, len(body) // 10)
        first = sum(body[:tenth]) / tenth / 1024
        end = sum(body[-tenth:]) / tenth / 1024
        return {
            "samples": len(last),
            "rss_mb_after_warmup": round(first, 1),
            "rss_mb_at_end": round(end, 1),
            "rss_growth_percent": round((end - first) / first * 100, 1),
            "rss_mb_max": round(max(last) / 1024, 1),
        }

    async def smtp_faults(self) -> None:
        """The merchant's mail server goes away now and then."""
        while not self.stop_traffic.is_set():
            await _sleep_or(self.stop_traffic, self.rng.uniform(4.0, 12.0))
            if self.stop_traffic.is_set():
                return
            await asyncio.to_thread(self.smtp.stop)
            self.faults["smtp_down"] += 1
            await _sleep_or(self.stop_traffic, self.rng.uniform(1.0, 5.0))
            await asyncio.to_thread(self.smtp.start)

    async def alerts_settled(self, timeout: float = 60.0) -> bool:
        """Every alert item mailed and every mail accepted by the SMTP server."""
        store = await open_store(load_config(self.config).ledger, migrate=False)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                counts = await store.alert_counts()
                if counts.pending_items == 0 and counts.unsent_mails == 0:
                    return True
                await asyncio.sleep(0.5)
            return False
        finally:
            await store.close()

    async def verify_alerts(self) -> dict[str, Any]:
        """Mails marked sent in the ledger against what the SMTP server received."""
        store = await open_store(load_config(self.config).ledger, migrate=False)
        try:
            mails = await store.alert_mails(limit=1_000_000)
        finally:
            await store.close()
        received = Counter(
            str(m["Message-ID"]).split(".", 1)[0].removeprefix("<syncd-")
            for m in self.smtp.inbox.messages
        )
        sent = {str(m.id) for m in mails if m.sent_at is not None}
        return {
            "alert_mails": len(mails),
            "alert_mails_received": sum(received.values()),
            "alerts_lost": len({str(m.id) for m in mails} - set(received)),
            "alerts_unsent": len(mails) - len(sent),
            # Sent again after a kill between the server's 250 and the commit: same Message-ID.
            "alerts_sent_twice": sum(n - 1 for n in received.values() if n > 1),
        }

    async def ledger_faults(self) -> None:
        if self.pg is None:
            return
        while not self.stop_traffic.is_set():
            await _sleep_or(self.stop_traffic, self.rng.uniform(3.0, 8.0))
            if self.stop_traffic.is_set():
                return
            if self.pg.restartable and self.rng.random() < 0.35:
                mode = self.rng.choice(["fast", "immediate"])
                await self.pg.restart(mode)
                self.faults[f"postgres_restart_{mode}"] += 1
            else:
                with contextlib.suppress(OSError, asyncpg.PostgresError):
                    self.faults[
                        "postgres_backends_terminated"
                    ] += await self.pg.terminate_backends()

    async def folder_faults(self) -> None:
        away = self.folder / "till" / "inbox.away"
        while not self.stop_traffic.is_set():
            await _sleep_or(self.stop_traffic, self.rng.uniform(5.0, 15.0))
            if self.stop_traffic.is_set():
                return
            self.till_away = True
            os.replace(self.inbox, away)
            self.faults["till_folder_unavailable"] += 1
            await asyncio.sleep(self.rng.uniform(0.3, 2.0))
            os.replace(away, self.inbox)
            self.till_away = False
            await self.flush_drops()

    async def flush_drops(self) -> None:
        drops, self.pending_drops = self.pending_drops, []
        for name, data in drops:
            await self.drop(name, data)

    async def end_faults(self) -> None:
        for proxy in self.proxies.values():
            proxy.rate = 0.0
        for kind in self.shops:
            await self.admin(kind, "POST", "faults", _no_faults())

    # -- checks -------------------------------------------------------------------------------

    async def shown(self) -> dict[str, dict[str, int]]:
        ps = await self.admin("prestashop", "GET", "quantities")
        mg = await self.admin("magento", "GET", "quantities")
        till: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = (self.folder / "till" / "stock.csv").read_text(encoding="utf-8")
            till = {ln.split(";")[0]: int(ln.split(";")[1]) for ln in text.splitlines()[1:]}
        shown: dict[str, dict[str, int]] = {}
        if self.o.shopify:
            sf = await self.admin("shopify", "GET", "inventory")
            shown["shopify"] = {s: max(0, int(sf[s])) if s in sf else -1 for s in self.record.model}
        return shown | {
            # A quantity below 0 (orders taken out of stock) sells nothing, as 0 does.
            "webshop": {s: max(0, int(ps[s])) if s in ps else -1 for s in self.record.model},
            # Salable below 0 (unshipped orders beyond the source) sells nothing, as 0 does.
            "magento": {
                s: max(0, int(mg[s]["salable"])) if s in mg else -1 for s in self.record.model
            },
            "till": {s: till.get(s, -1) for s in self.record.model},
            **({"woo": await self._woo_shown()} if self.o.woocommerce else {}),
        }

    async def _woo_shown(self) -> dict[str, int]:
        wc = await self.admin("woocommerce", "GET", "quantities")
        # below 0 (REST orders are not checked against stock) it sells nothing, as at 0
        return {s: max(0, int(wc[s])) if wc.get(s) is not None else -1 for s in self.record.model}

    def mismatches(self, shown: dict[str, dict[str, int]]) -> dict[str, int]:
        want = {s: max(0, q) for s, q in self.record.model.items()}
        return {
            channel: sum(1 for s, q in want.items() if figures.get(s) != q)
            for channel, figures in shown.items()
        }

    async def converge(self) -> tuple[float, dict[str, int]]:
        """Seconds until every channel shows what it should and the ledger equals the model.

        The ledger is compared too: once a busy month has sold SKUs below zero, every channel
        shows 0 whatever the ledger holds, and "the channels agree" alone would pass while the
        daemon is still catching up."""
        started = time.monotonic()
        last: dict[str, int] = {}
        store = await open_store(load_config(self.config).ledger, migrate=False)
        try:
            while time.monotonic() - started < self.o.converge_timeout:
                shown = await self.shown()
                last = self.mismatches(shown)
                last["ledger"] = 1  # not known: not converged
                with contextlib.suppress(LedgerError):
                    levels = await store.levels()
                    last["ledger"] = sum(
                        1 for sku, q in self.record.model.items() if levels.get(sku) != q
                    )
                if not any(last.values()):
                    return time.monotonic() - started, last
                await asyncio.sleep(0.25)
            with contextlib.suppress(LedgerError):
                await self._keep_evidence(store, shown)
        finally:
            await store.close()
        self._note_unconverged(shown)
        # What the daemon's scheduled reconcile would do within the hour, done now: the
        # campaign then proves the channels are repaired, and reports that it was needed.
        out = await asyncio.to_thread(
            subprocess.run,
            [*SYNCD, "reconcile", "--config", str(self.config), "--fix", "--json"],
            capture_output=True,
            cwd=self.folder,
            timeout=120,
        )
        self.reconciled = out.returncode
        started = time.monotonic()
        while time.monotonic() - started < 30:
            last = self.mismatches(await self.shown())
            if not any(last.values()):
                return self.o.converge_timeout + time.monotonic() - started, last
            await asyncio.sleep(0.25)
        return -1.0, last

    async def _keep_evidence(self, store: Any, shown: dict[str, dict[str, int]]) -> None:
        """Not converged: what the ledger holds about the SKUs still wrong, kept beside the
        daemon's log as unconverged.json (a PostgreSQL campaign's database is gone after the
        run): each SKU's level, movements, and per channel the figure shown, believed, queued,
        and what our writes may show."""
        want = {s: max(0, q) for s, q in self.record.model.items()}
        skus = sorted(
            {s for figures in shown.values() for s, q in want.items() if figures.get(s) != q}
        )
        if not skus:
            return
        channels = sorted(shown)
        queued: dict[str, dict[str, int]] = {}
        for channel in channels:
            queued[channel] = {i.sku: i.wanted for i in await store.take_outbox(channel, 10_000)}
        evidence: dict[str, Any] = {}
        levels = await store.levels()
        writes = {kind: await self.admin(kind, "GET", "writes") for kind in self.shops}
        for sku in skus:
            evidence[sku] = {
                "model": self.record.model.get(sku),
                "level": levels.get(sku),
                "channels": {
                    channel: {
                        "shows": shown[channel].get(sku),
                        "believed": (await store.believed_figures(channel, [sku])).get(sku),
                        "ours": sorted((await store.written_figures(channel, [sku])).get(sku, ())),
                        "queued": queued[channel].get(sku),
                    }
                    for channel in channels
                },
                "movements": [
                    [m.id, m.channel, m.delta, m.doc_id, m.doc_version, str(m.recorded_at)]
                    for m in await store.movements(sku=sku, limit=10_000)
                ],
                "shops": self._timeline(sku, writes),
            }
        (self.folder / "unconverged.json").write_text(json.dumps(evidence, indent=1))

    def _timeline(self, sku: str, writes: dict[str, list[list[Any]]]) -> list[list[Any]]:
        """What reached the shops for a SKU, oldest first, at wall-clock times (UTC, as in the
        daemon's log and the movements): each figure syncd wrote to a shop, each web order and
        cancellation the generator made there (the shop moved its own figure by its lines)."""
        events: list[tuple[float, str, str, int]] = [
            (float(t), CHANNELS[kind], "written", int(qty))
            for kind, rows in writes.items()
            for t, written_sku, qty in rows
            if written_sku == sku
        ]
        events += [
            (t, CHANNELS[kind], f"{action} {oid}", lines[sku])
            for t, kind, oid, action, lines in self.record.web_log
            if sku in lines
        ]
        return [
            [datetime.fromtimestamp(t, UTC).isoformat(), channel, what, units]
            for t, channel, what, units in sorted(events)
        ]

    def _note_unconverged(self, shown: dict[str, dict[str, int]]) -> None:
        want = {s: max(0, q) for s, q in self.record.model.items()}
        self.unconverged = [
            f"{channel}/{sku}: shows {figures.get(sku)}, should show {q}"
            for channel, figures in shown.items()
            for sku, q in want.items()
            if figures.get(sku) != q
        ][:5]

    async def verify_ledger(self) -> dict[str, Any]:
        store = await open_store(load_config(self.config).ledger, migrate=False)
        try:
            levels = await store.levels()
            actual: dict[tuple[str, str], int] = defaultdict(int)
            for m in await store.movements(limit=100_000_000):  # newest first: read them all
                if m.channel != "init":
                    actual[(m.channel, m.sku)] += m.delta
            rejections = await store.rejections(limit=100000)
            outbox_depth = sum(s.depth for s in (await store.outbox_stats()).values())
            # What a month of retention would leave (time compressed: "a day later").
            pruned = await store.prune(datetime.now(UTC) + timedelta(days=1))
        finally:
            await store.close()
        lost = duplicated = 0
        wrong: list[str] = []
        for key in set(actual) | set(self.record.expected):
            diff = actual.get(key, 0) - self.record.expected.get(key, 0)
            if diff > 0:
                lost += diff  # fewer units taken out than sold: a document (part) lost
            elif diff < 0:
                duplicated -= diff
            if diff:
                wrong.append(
                    f"{key[0]}/{key[1]}: ledger {actual.get(key, 0)}, model {self.record.expected.get(key, 0)}"
                )
        rejected_rows = sum(1 for r in rejections if r.channel == "till" and r.row is not None)
        return {
            "ledger_matches_model": all(levels.get(s) == q for s, q in self.record.model.items()),
            "lost": lost,
            "duplicated": duplicated,
            "wrong": sorted(wrong)[:10],
            "bad_rows_rejected": rejected_rows,
            "outbox_rows_left": outbox_depth,
            "pruned_after_retention": pruned,
        }

    def log_events(self) -> Counter[str]:
        """Events of the daemon's JSON log (every run), by name; "<not json>" for other lines."""
        counts: Counter[str] = Counter()
        with open(self.folder / "daemon.log", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                try:
                    event = json.loads(line)
                except ValueError:
                    counts["<not json>"] += 1
                    continue
                counts[str(event.get("event"))] += 1
                if event.get("event") == "loop_crashed":
                    self.crashes.append(f"{event.get('loop')}: {event.get('error')}")
        return counts

    def leaked_secrets(self) -> list[str]:
        text = (self.folder / "daemon.log").read_text(encoding="utf-8", errors="replace")
        return [f"daemon.log holds secret #{i}" for i, s in enumerate(self.secrets) if s in text]

    async def leaked_on_pages(self) -> list[str]:
        assert self.http is not None
        found = []
        paths = (
            "/",
            "/conflicts",
            "/activity",
            "/unknown",
            "/skus?q=SHIRT",
            "/healthz",
            "/metrics",
            "/api/overview",
            "/api/charts",
            "/api/conflicts",
            "/api/activity",
            "/api/unknown",
            "/api/skus?q=SHIRT",
        )
        for path in paths:
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with self.http.get(f"http://127.0.0.1:{self.web_port}{path}") as resp:
                    body = await resp.text()
                    self.pages_checked += resp.status == 200
                    found += [
                        f"{path} shows secret #{i}" for i, s in enumerate(self.secrets) if s in body
                    ]
        return found

    # -- the whole ---------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        started = time.monotonic()
        try:
            await self.set_up()
            self.start_daemon()
            await self._wait_first_sync()
            tasks = [asyncio.create_task(self.sample_rss())]
            if self.o.faults:
                tasks += [
                    asyncio.create_task(self.smtp_faults()),
                    asyncio.create_task(self.killer()),
                    asyncio.create_task(self.shop_faults()),
                    asyncio.create_task(self.ledger_faults()),
                    asyncio.create_task(self.folder_faults()),
                ]
            try:
                await self.traffic()
            finally:
                self.stop_traffic.set()
                await asyncio.gather(*tasks)
            await self.end_faults()
            if self.smtp.controller is None:
                await asyncio.to_thread(self.smtp.start)
            await self.flush_drops()
            assert self.daemon is not None
            if self.daemon.poll() is not None:
                self.start_daemon()
            convergence, mismatched = await self.converge()
            leaks = await self.leaked_on_pages()
            alerts_settled = await self.alerts_settled()
            final_exit = await asyncio.to_thread(self.stop_daemon, signal.SIGTERM)
            alerts = await self.verify_alerts()
            ledger = await self.verify_ledger()
            leaks += self.leaked_secrets()
            events = self.log_events()
            rec = self.record
            proxy_faults: Counter[str] = Counter()
            for proxy in self.proxies.values():
                proxy_faults.update({f"network_{k}": v for k, v in proxy.injected.items()})
            faults = self.faults + proxy_faults
            return {
                "seed": self.o.seed,
                "store": self.o.store,
                "seconds": round(time.monotonic() - started, 1),
                "kills": faults["kill_9"],
                "sigterms": faults["sigterm"],
                "faults_injected": sum(faults.values()),
                "faults": dict(sorted(faults.items())),
                "till_receipts": rec.till_receipts,
                "till_rows": rec.till_rows,
                "bad_rows": rec.bad_rows,
                "duplicate_files": rec.duplicate_files,
                "web_orders": rec.web_orders,
                "cancels": rec.cancels,
                "web_orders_by_shop": dict(rec.orders_by_shop),
                "documents": rec.till_receipts + rec.web_orders,
                "convergence_seconds": round(convergence, 2),
                "mismatched_after_convergence": mismatched,
                "unconverged": self.unconverged,
                "reconcile_needed": self.reconciled is not None,
                "final_exit_code": final_exit,
                "secret_leaks": leaks,
                "pages_checked_for_secrets": self.pages_checked,
                "loop_crashes": events["loop_crashed"],
                "crashes": self.crashes[:5],
                "memory": self.rss_summary(),
                "daemon_starts": self.daemon_starts,
                **ledger,
                "alerts_settled": alerts_settled,
                **alerts,
                "folder": str(self.folder),
            }
        finally:
            await self.tear_down()

    async def _wait_first_sync(self) -> None:
        deadline = time.monotonic() + 120
        while not (self.folder / "till" / "stock.csv").exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the first full sync did not finish; see {self.folder}")
            await asyncio.sleep(0.2)

    async def tear_down(self) -> None:
        self.process.kill()
        for proxy in self.proxies.values():
            await proxy.close()
        if getattr(self, "smtp", None) is not None:
            self.smtp.stop()
        if self.http is not None:
            await self.http.close()
        for emulator in self.emulators.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                emulator.stop()
        if self.pg is not None:
            self.pg.stop()
        if not self.o.keep and self.o.workdir is None:
            shutil.rmtree(self.folder, ignore_errors=True)


def _no_faults() -> dict[str, Any]:
    return {"error_rate": 0.0, "rate_limit_rate": 0.0, "down": False, "stall_rate": 0.0}


async def _sleep_or(event: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), seconds)


async def run_campaign(options: Options) -> dict[str, Any]:
    return await Campaign(options).run()
