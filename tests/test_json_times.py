"""One convention for times in JSON (README "JSON output"): ISO 8601 in UTC, "+00:00", in every
`--json` output and the JSON API, whatever zone a channel gave the time in."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from syncd.cli import main
from syncd.cli.status import render_status
from syncd.domain import Document, DocumentKind, utcnow
from syncd.ledger import ChannelInfo, Product
from syncd.ledger.sqlstore import SqlStore
from syncd.testing.harness import write_config

PARIS = ZoneInfo("Europe/Paris")
ISO_TIME = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$")


def times_in(value: Any) -> list[str]:
    """Every string in a JSON value that is a date and time."""
    if isinstance(value, str):
        return [value] if ISO_TIME.match(value) else []
    if isinstance(value, dict):
        return [t for v in value.values() for t in times_in(v)]
    if isinstance(value, list):
        return [t for v in value for t in times_in(v)]
    return []


def assert_utc(name: str, out: str, at_least: int = 1) -> None:
    found = times_in(json.loads(out))
    assert len(found) >= at_least, (name, out)
    wrong = [t for t in found if not t.endswith("+00:00")]
    assert wrong == [], f"{name}: times not in UTC (+00:00): {wrong}"


async def run_syncd(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    out = capsys.readouterr().out
    assert code == 0, (argv, out)
    return out


async def test_every_json_output_gives_times_in_utc(
    store: SqlStore,
    ledger_backend: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the tables unwrapped
    await store.register_channels(
        [ChannelInfo("till", "fake", push=True), ChannelInfo("web", "fake", push=True)]
    )
    await store.upsert_products([Product("MUG", "Mug")])
    # Shops give their own clock: a web order at 12:00 in Paris (+01:00), a till receipt in UTC.
    noon = datetime.now(PARIS).replace(microsecond=0) - timedelta(minutes=5)
    apply = store.apply_document
    await apply(Document("init", "opening", DocumentKind.STOCK_COUNT, {"MUG": 1}, utcnow()))
    await apply(Document("till", "t1", DocumentKind.TILL_RECEIPT, {"MUG": 1}, utcnow()))
    await apply(Document("web", "w1", DocumentKind.WEB_ORDER, {"MUG": 1}, noon, version=1))
    backend, dsn = ledger_backend
    config = write_config(
        tmp_path,
        {
            "ledger": (
                {"backend": "sqlite", "path": str(tmp_path / "ledger.sqlite3")}
                if backend == "sqlite"
                else {"backend": "postgres", "dsn": dsn}
            ),
            "web": {"timezone": "Europe/Paris", "enabled": False},
            "stock": {"reorder_points": {"MUG": 3}},
            "channels": {
                "till": {"type": "csv_till", "drop_folder": "in", "stock_file": "stock.csv"}
            },
        },
    )
    out = await run_syncd(capsys, "conflicts", "list", "--config", str(config), "--json")
    [conflict] = json.loads(out)["conflicts"]
    assert len(conflict["documents"]) == 2  # the web order's time among them
    assert_utc("conflicts list", out, at_least=4)
    web = next(d for d in conflict["documents"] if d["channel"] == "web")
    assert datetime.fromisoformat(web["occurred_at"]) == noon  # the same moment, said in UTC
    status = await run_syncd(capsys, "status", "--config", str(config), "--json")
    assert_utc("status", status)
    # and the same report read by a person: the shop's clock, the zone named
    report = json.loads(status)
    report["channels"][0]["last_pull"] = "2026-03-14T11:00:00+00:00"
    render_status(report, "Europe/Paris")
    table = capsys.readouterr().out
    assert "times in Europe/Paris" in table and "2026-03-14 12:00:00" in table
    assert "11:00" not in table
    assert_utc("day", await run_syncd(capsys, "day", "--config", str(config), "--json"), 3)
    assert_utc("reorder", await run_syncd(capsys, "reorder", "--config", str(config), "--json"))


def test_till_parse_shows_the_shop_clock_and_gives_utc_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A receipt made at 12:00 in Paris (winter, UTC+1) is shown at 12:00 with its zone named."""
    path = tmp_path / "ventes.csv"
    path.write_text(
        "Ticket;Date;Code;Désignation;Quantité\r\nT1;14/03/2026 12:00;MUG;Mug;1\r\n",
        encoding="utf-8",
    )
    assert main(["till", "parse", str(path)]) == 0
    out = capsys.readouterr().out
    assert "times in Europe/Paris" in out
    assert "  receipt T1  2026-03-14 12:00 Europe/Paris  sold: MUG +1" in out
    assert main(["till", "parse", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert json.loads(out)["documents"][0]["occurred_at"] == "2026-03-14T11:00:00+00:00"
    assert_utc("till parse", out)
