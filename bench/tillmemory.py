"""Memory of `syncd run` around a till file: idle RSS, then the peak RSS (VmHWM) while a file of
N rows is applied, or while a file over max_file_mb is quarantined unread (``--huge-mb``).

The figures size the unit's MemoryMax= (systemd/syncd.service) against max_file_mb.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from syncd.config import load_config
from syncd.domain import Document, DocumentKind
from syncd.ledger import Product, open_store
from syncd.testing.harness import SYNCD

HEADER = (
    "Date,Receipt number,Receipt type,Category,SKU,Item,Variant,Modifiers applied,Quantity,"
    "Gross sales,Discounts,Net sales,Cost of goods,Gross profit,Taxes,POS,Store,Cashier name,"
    "Customer name,Customer contacts,Comment,Status\n"
)
SKUS = 5000


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name == key:
            return int(value.split()[0])
    raise KeyError(key)


def _write_export(path: Path, rows: int) -> int:
    """One receipt per row (the worst case: as many documents as rows)."""
    with open(path, "w", encoding="utf-8") as out:
        out.write(HEADER)
        for i in range(rows):
            out.write(
                f"7/28/26 1:33 PM,4-{i},Sale,Shirts,SKU-{i % SKUS},Shirt,,,1,20.00,0.00,20.00,"
                "8.00,12.00,0.00,POS 1,Shop,Ann,,,,Closed\n"
            )
    return path.stat().st_size


async def _onboard(config: Path) -> None:
    store = await open_store(load_config(config).ledger)
    try:
        await store.upsert_products([Product(f"SKU-{i}") for i in range(SKUS)])
        await store.apply_document(
            Document(
                "init",
                "opening",
                DocumentKind.STOCK_COUNT,
                {f"SKU-{i}": 1000 for i in range(SKUS)},
                datetime.now(UTC),
            )
        )
    finally:
        await store.close()


def run(rows: int, huge_mb: int, max_file_mb: float) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="syncd-tillmem-") as tmp_name:
        tmp = Path(tmp_name)
        inbox = tmp / "inbox"
        inbox.mkdir()
        config = tmp / "syncd.toml"
        config.write_text(
            f"""[ledger]
backend = "sqlite"
path = "ledger.sqlite3"
[log]
format = "json"
[web]
enabled = true
port = 0
[channels.till]
type = "csv_till"
drop_folder = "inbox"
stock_file = "stock.csv"
settle_seconds = 0.2
poll_seconds = 0.5
max_file_mb = {max_file_mb}
""",
            encoding="utf-8",
        )
        asyncio.run(_onboard(config))
        staging = tmp / ".export"
        if huge_mb:
            with open(staging, "wb") as out:  # sparse: the size is what counts
                out.write(HEADER.encode())
                out.truncate(huge_mb * 1024 * 1024)
            size = huge_mb * 1024 * 1024
        else:
            size = _write_export(staging, rows)
        with open(tmp / "daemon.log", "wb") as log:
            proc = subprocess.Popen([*SYNCD, "run", "--config", str(config)], stderr=log, cwd=tmp)
            try:
                time.sleep(8)  # started, first stock file written, settled
                idle = _status_kb(proc.pid, "VmRSS")
                peak_idle = _status_kb(proc.pid, "VmHWM")
                started = time.monotonic()
                os.replace(staging, inbox / "export.csv")
                while (inbox / "export.csv").exists():
                    assert proc.poll() is None, "the daemon died"
                    time.sleep(0.2)
                seconds = time.monotonic() - started
                peak = _status_kb(proc.pid, "VmHWM")
                after = _status_kb(proc.pid, "VmRSS")
                where = "done" if (inbox / "done" / "export.csv").exists() else "rejected"
            finally:
                proc.terminate()
                proc.wait(30)
    return {
        "rows": 0 if huge_mb else rows,
        "file_mb": round(size / 1e6, 1),
        "max_file_mb": max_file_mb,
        "went_to": where,
        "seconds": round(seconds, 1),
        "idle_rss_mb": round(idle / 1024, 1),
        "peak_rss_before_mb": round(peak_idle / 1024, 1),
        "peak_rss_mb": round(peak / 1024, 1),
        "rss_after_mb": round(after / 1024, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench tillmemory", description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--huge-mb", type=int, default=0, help="a sparse file of this size")
    parser.add_argument("--max-file-mb", type=float, default=50.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.rows, args.huge_mb, args.max_file_mb)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>20}: {value}")
    return 0
