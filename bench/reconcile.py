"""`python -m bench reconcile`: reconcile 100,000 SKUs against each shop emulator, as a merchant
runs it: `syncd init --yes`, a few figures edited by hand, `syncd reconcile` (finds them),
`syncd reconcile --fix` (repairs them), `syncd reconcile` again (clean).

Each emulator runs as its own process (`syncd emulator <shop>`), each `syncd` command as another;
per command the wall time and the command's peak RSS (from wait4) are reported. Budget per
reconciliation: 60 s and 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from syncd.testing.harness import SYNCD, Emulator

BUDGET_SECONDS = 60.0
BUDGET_RSS_MB = 300.0


def _channel_table(shop: str, info: dict[str, Any]) -> str:
    if shop == "prestashop":
        return f'type = "prestashop"\nurl = "{info["url"]}"\napi_key = "{info["api_key"]}"\n'
    return f'type = "magento"\nurl = "{info["url"]}"\naccess_token = "{info["access_token"]}"\n'


def _command(*args: str) -> tuple[dict[str, Any], float, float]:
    """Run one `syncd` command; (its JSON, wall seconds, peak RSS MiB from wait4)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen([*SYNCD, *args], stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"syncd {' '.join(args)} failed: {err.read().decode()[-2000:]}")
        text = out.read()
    return (json.loads(text) if text.strip() else {}), seconds, usage.ru_maxrss / 1024


def _tamper(config: Path, shop: str, figures: dict[str, int]) -> None:
    """Edit figures "by hand": written through the shop's own API, not by syncd's ledger."""
    import asyncio

    from syncd.config import load_config
    from syncd.connectors import connector_class
    from syncd.connectors.base import PushItem
    from syncd.logs import configure_logging

    configure_logging("warning")
    channel = load_config(config).channel(shop)

    async def edit() -> None:
        connector = connector_class(shop)(shop, channel.options)
        await connector.open()
        try:
            await connector.check()
            results = await connector.push([PushItem(s, q, None) for s, q in figures.items()])
            assert all(r.status.value == "written" for r in results), results[:3]
        finally:
            await connector.close()

    asyncio.run(edit())


def bench_shop(shop: str, skus: int, edits: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix=f"syncd-bench-reconcile-{shop}-"))
    emulator = Emulator(shop, skus)
    info = emulator.info
    try:
        config = folder / "syncd.toml"
        config.write_text(
            f'[ledger]\nbackend = "sqlite"\npath = "{folder / "ledger.sqlite3"}"\n'
            '[log]\nformat = "json"\nlevel = "warning"\n[web]\nenabled = false\n'
            f"[channels.{shop}]\n{_channel_table(shop, info)}",
            encoding="utf-8",
        )
        out: dict[str, Any] = {"skus": skus, "edited_by_hand": edits}
        init, seconds, rss = _command(
            "init", "--config", str(config), "--from", shop, "--yes", "--json"
        )
        out["init"] = {"seconds": round(seconds, 1), "peak_rss_mb": round(rss, 1)}
        out["init"]["counted"] = init.get("counted")
        print(f"{shop} init: {out['init']}", file=sys.stderr)
        rng = random.Random(9)
        current = _current(config, shop)
        chosen = rng.sample(sorted(current), edits)
        _tamper(config, shop, {sku: current[sku] + 7 for sku in chosen})
        for step, flags in (("reconcile", ()), ("fix", ("--fix",)), ("again", ())):
            report, seconds, rss = _command("reconcile", "--config", str(config), "--json", *flags)
            channel = report["channels"][0]
            out[step] = {
                "seconds": round(seconds, 1),
                "peak_rss_mb": round(rss, 1),
                "compared": channel["compared"],
                "differences": channel["differences"],
                "fixed": channel["fixed"],
                "skus_per_second": round(channel["compared"] / max(seconds, 1e-9)),
                "within_budget": seconds <= BUDGET_SECONDS and rss <= BUDGET_RSS_MB,
            }
            print(f"{shop} {step}: {out[step]}", file=sys.stderr)
        out["ok"] = (
            out["reconcile"]["differences"] == edits
            and out["fix"]["fixed"] == edits
            and out["again"]["differences"] == 0
            and all(out[s]["within_budget"] for s in ("reconcile", "fix", "again"))
        )
        return out
    finally:
        emulator.stop()


def _current(config: Path, shop: str) -> dict[str, int]:
    """The ledger's figures after init (what the shop shows): from `syncd status`'s ledger."""
    import asyncio

    from syncd.config import load_config
    from syncd.ledger import open_store

    async def read() -> dict[str, int]:
        store = await open_store(load_config(config).ledger, migrate=False)
        try:
            return await store.levels()
        finally:
            await store.close()

    return asyncio.run(read())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench reconcile", description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skus", type=int, default=100_000)
    parser.add_argument("--edits", type=int, default=100, help="figures edited by hand")
    parser.add_argument(
        "--shop", choices=("prestashop", "magento", "both"), default="both", help="emulators"
    )
    args = parser.parse_args(argv)
    shops = ["prestashop", "magento"] if args.shop == "both" else [args.shop]
    result = {shop: bench_shop(shop, args.skus, args.edits) for shop in shops}
    result["budget"] = {"seconds": BUDGET_SECONDS, "peak_rss_mb": BUDGET_RSS_MB}
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0 if all(r["ok"] for k, r in result.items() if k != "budget") else 1
