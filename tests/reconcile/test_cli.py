"""`syncd init` and `syncd reconcile` as a merchant runs them, against a PrestaShop emulator on a
socket and a CSV till folder, on SQLite and PostgreSQL: a dry run writes nothing; init then
reconcile finds no difference; a hand edit is found, explained, repaired, and clean after."""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
import structlog

from syncd.cli import main
from syncd.testing.harness import write_config as write_toml
from tests.prestashop.conftest import KEY, Shop


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`syncd` commands configure logging onto pytest's captured stderr: put it back after."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


def write_config(tmp_path: Path, shop: Shop, backend: str, dsn: str) -> Path:
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
    )
    (tmp_path / "till" / "inbox").mkdir(parents=True)
    return write_toml(
        tmp_path / "syncd.toml",
        {
            "ledger": ledger,
            "log": {"format": "json"},
            "web": {"enabled": False},
            "channels": {
                "webshop": {
                    "hand_edits": "revert",  # tampering is written over by the fix
                    "type": "prestashop",
                    "url": shop.url,
                    "api_key": KEY,
                    "overlap_seconds": 0,
                    "timeout_seconds": 5,
                },
                "till": {
                    "type": "csv_till",
                    "drop_folder": "till/inbox",
                    "stock_file": "till/stock.csv",
                    "stock_min_interval_seconds": 0,
                },
            },
        },
    )


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = main(list(args))
    out = capsys.readouterr().out
    return code, (json.loads(out) if out.strip() else {})


async def _pg_rows(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        total = 0
        for table in ("levels", "documents", "channels", "channel_levels", "outbox", "products"):
            total += await conn.fetchval(f"SELECT count(*) FROM {table}")
        return int(total)
    finally:
        await conn.close()


def _tamper(shop: Shop, sku: str, quantity: int) -> None:
    async def post() -> None:
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{shop.url}/__emulator/quantities", json={sku: quantity}) as response,
        ):
            assert response.status == 200

    asyncio.run(post())


def _writes(shop: Shop) -> list[tuple[str, str]]:
    return [r for r in shop.emulator.requests if r[0] in ("PUT", "PATCH", "POST")]


def test_init_dry_run_then_init_then_reconcile_tamper_fix_clean(
    tmp_path: Path,
    ledger_backend: tuple[str, str],
    threaded_shop: Shop,
    capsys: pytest.CaptureFixture[str],
) -> None:
    backend, dsn = ledger_backend
    config = str(write_config(tmp_path, threaded_shop, backend, dsn))

    # 1. A dry run shows what would change, and writes nothing anywhere.
    code, plan = run(capsys, "init", "--config", config, "--from", "webshop", "--dry-run", "--json")
    assert code == 0 and plan["applied"] is False and plan["dry_run"] is True
    assert {c["sku"]: c["after"] for c in plan["ledger_changes"]} == {  # type: ignore[union-attr]
        "SHIRT-BLUE-42": 3,
        "SHIRT-BLUE-44": 1,
        "CAP": 5,
        "MUG": 4,
    }
    till_changes = plan["channel_changes"]["till"]  # type: ignore[index]
    assert {c["sku"]: (c["shows"], c["will_show"]) for c in till_changes}["CAP"] == (None, 5)
    if backend == "sqlite":
        assert not (tmp_path / "ledger.sqlite3").exists()
    else:
        assert asyncio.run(_pg_rows(dsn)) == 0
    assert not (tmp_path / "till" / "stock.csv").exists()
    assert _writes(threaded_shop) == []

    # 2. Not on a terminal and no --yes: nothing is written either.
    code, _ = run(capsys, "init", "--config", config, "--from", "webshop", "--json")
    assert code == 2
    assert not (tmp_path / "till" / "stock.csv").exists()

    # 3. Confirmed: the ledger is the shop's stock; the till gets its stock file.
    code, done = run(capsys, "init", "--config", config, "--from", "webshop", "--yes", "--json")
    assert code == 0 and done["applied"] is True and done["counted"] == 4
    with open(tmp_path / "till" / "stock.csv", encoding="utf-8") as handle:
        rows = {r["sku"]: int(r["quantity"]) for r in csv.DictReader(handle, delimiter=";")}
    assert rows == {"SHIRT-BLUE-42": 3, "SHIRT-BLUE-44": 1, "CAP": 5, "MUG": 4}

    # 4. Right after onboarding, reconciliation finds nothing.
    code, report = run(capsys, "reconcile", "--config", config, "--json")
    assert code == 0 and report["differences"] == 0
    channels = {c["channel"]: c for c in report["channels"]}  # type: ignore[union-attr]
    assert channels["webshop"]["compared"] == 4 and channels["till"]["compared"] == 4
    assert channels["webshop"]["in_flight"] == 0 and channels["till"]["in_flight"] == 0

    # 5. Edited by hand in the back office: found and explained (and in the CSV report).
    _tamper(threaded_shop, "CAP", 50)
    report_file = tmp_path / "report.csv"
    code, report = run(
        capsys, "reconcile", "--config", config, "--json", "--report", str(report_file)
    )
    assert code == 0 and report["differences"] == 1
    (finding,) = report["channels"][0]["findings"]  # type: ignore[index]
    assert (finding["sku"], finding["kind"], finding["figure"], finding["wanted"]) == (
        "CAP",
        "hand_edit",
        50,
        5,
    )
    assert "edited by hand" in finding["explanation"]
    with open(report_file, encoding="utf-8") as handle:
        assert [r["sku"] for r in csv.DictReader(handle)] == ["CAP"]
    assert threaded_shop.emulator.quantity("CAP") == 50

    # 6. --fix repairs it; 7. the next run is clean.
    code, fixed = run(capsys, "reconcile", "--config", config, "--fix", "--json")
    assert code == 0 and fixed["channels"][0]["fixed"] == 1  # type: ignore[index]
    assert threaded_shop.emulator.quantity("CAP") == 5
    assert _writes(threaded_shop) == [("PUT", "/api/stock_availables/4")]  # CAP, once
    code, clean = run(capsys, "reconcile", "--config", config, "--json", "--channel", "webshop")
    assert code == 0 and clean["differences"] == 0
    assert [c["channel"] for c in clean["channels"]] == ["webshop"]  # type: ignore[union-attr]


def test_unknown_channel_and_contradictory_flags_are_usage_errors(
    tmp_path: Path, threaded_shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path, threaded_shop, "sqlite", ""))
    assert main(["reconcile", "--config", config, "--channel", "nope"]) == 2
    assert "no enabled channel 'nope'" in capsys.readouterr().err
    assert main(["init", "--config", config, "--from", "nope", "--dry-run"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["reconcile", "--config", config, "--fix", "--dry-run"])
    assert exit_info.value.code == 2


def test_init_with_a_till_that_reports_no_stock_says_so_once_and_keeps_streams_apart(
    tmp_path: Path, threaded_shop: Shop, capsys: pytest.CaptureFixture[str]
) -> None:
    """A till has no figures before syncd writes its stock file: not a mapping problem. The
    tables and the outcome go to stdout, notes and progress to stderr."""
    config = str(write_config(tmp_path, threaded_shop, "sqlite", ""))
    assert main(["init", "--config", config, "--from", "webshop", "--dry-run"]) == 0
    captured = capsys.readouterr()
    out, err = captured.out, captured.err
    assert "only in" not in out + err and "missing in" not in out + err
    assert "mapping audit" not in out
    assert err.count("till reports no stock") == 1 and "till reports no stock" not in out
    assert "Ledger set from webshop" in out and "till: 4 figure(s) will change" in out
    assert out.rstrip().endswith("dry run: nothing written")
    assert "Ledger set from" not in err and "dry run" not in err
    # --json: the JSON object alone on stdout, its audit empty too
    code, plan = run(capsys, "init", "--config", config, "--from", "webshop", "--dry-run", "--json")
    assert code == 0 and plan["audit"] == []
