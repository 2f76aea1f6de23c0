"""`syncd transfer`, and `--location` on deliveries, counts and adjustments, run as a merchant
runs them (through `syncd.cli.main`), on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from syncd.cli import main
from syncd.config import load_config
from syncd.ledger import Product, open_store
from syncd.ledger.store import Store
from syncd.testing.harness import write_config

T = TypeVar("T")


@pytest.fixture
def config(tmp_path: Path, ledger_backend: tuple[str, str]) -> Path:
    backend, dsn = ledger_backend
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": "ledger.sqlite3"}
    )
    path = write_config(
        tmp_path / "syncd.toml",
        {
            "ledger": ledger,
            "web": {"enabled": False},
            "locations": {"A": {"kind": "store"}, "B": {"kind": "store"}},
            "channels": {
                "till_a": {"type": "csv_till", "drop_folder": "a", "locations": ["A"]},
                "till_b": {"type": "csv_till", "drop_folder": "b", "locations": ["B"]},
            },
        },
    )

    async def products(store: Store) -> None:
        await store.upsert_products([Product("MUG", "Mug", "4000000000003"), Product("CAP")])

    ledger_do(path, products)
    return path


def ledger_do(config: Path, work: Callable[[Store], Awaitable[T]]) -> T:
    async def go() -> T:
        store = await open_store(load_config(config).ledger)
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(go())


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def stock(config: Path, sku: str) -> dict[str, int]:
    async def read(store: Store) -> dict[str, int]:
        return {r.location: r.on_hand for r in await store.location_stock([sku]) if r.on_hand}

    return ledger_do(config, read)


def test_a_transfer_is_sent_then_received(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    c = str(config)
    code, out, err = run(
        capsys, "adjust", "--config", c, "MUG", "+5", "--reason", "correction", "--location", "A"
    )
    assert code == 0, err
    assert stock(config, "MUG") == {"A": 5}

    code, out, err = run(capsys, "transfer", "--config", c, "--from", "A", "--to", "B", "MUG", "3")
    assert code == 0, err
    assert "A → B" in out and "5 → 2" in out
    assert "--receive transfer:" in err  # says how to book the arrival
    transfer_id = err.split("--receive ")[1].split()[0]
    assert stock(config, "MUG") == {"A": 2, "transit:B": 3}

    code, out, err = run(capsys, "transfer", "--config", c, "--receive", transfer_id, "--json")
    assert code == 0, err
    booked = json.loads(out)
    assert booked["status"] == "applied" and booked["location"] == "B"
    assert stock(config, "MUG") == {"A": 2, "B": 3}
    # Booked again: nothing changes.
    code, out, _ = run(capsys, "transfer", "--config", c, "--receive", transfer_id, "--json")
    assert code == 0 and json.loads(out)["status"] == "unchanged"
    assert stock(config, "MUG") == {"A": 2, "B": 3}

    # Voiding a transfer that arrived: its arrival first.
    code, _, err = run(capsys, "void", "--config", c, "stock", transfer_id)
    assert code == 1 and "void its arrival" in err
    assert run(capsys, "void", "--config", c, "stock", f"{transfer_id}/in")[0] == 0
    assert stock(config, "MUG") == {"A": 2, "transit:B": 3}
    assert run(capsys, "void", "--config", c, "stock", transfer_id)[0] == 0
    assert stock(config, "MUG") == {"A": 5}


def test_a_partial_arrival_leaves_the_rest_in_transit(
    config: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    c = str(config)
    run(capsys, "adjust", "--config", c, "CAP", "+4", "--reason", "correction", "--location", "B")
    run(capsys, "adjust", "--config", c, "MUG", "+4", "--reason", "correction", "--location", "B")
    lines = tmp_path / "van.csv"
    lines.write_text("sku;quantity\nCAP;4\n4000000000003;2\n", encoding="utf-8")
    code, out, err = run(
        capsys,
        "transfer",
        "--config",
        c,
        "--from",
        "B",
        "--to",
        "A",
        "--file",
        str(lines),
        "--json",
    )
    assert code == 0, err
    transfer_id = json.loads(out)["doc_id"]
    assert stock(config, "CAP") == {"transit:A": 4}
    assert stock(config, "MUG") == {"B": 2, "transit:A": 2}
    # The same file again books nothing more.
    code, out, _ = run(
        capsys,
        "transfer",
        "--config",
        c,
        "--from",
        "B",
        "--to",
        "A",
        "--file",
        str(lines),
        "--json",
    )
    assert code == 0 and json.loads(out)["status"] == "unchanged"
    assert stock(config, "CAP") == {"transit:A": 4}
    code, out, err = run(capsys, "transfer", "--config", c, "--receive", transfer_id, "CAP", "3")
    assert code == 0, err
    assert stock(config, "CAP") == {"A": 3, "transit:A": 1}
    assert stock(config, "MUG") == {"B": 2, "transit:A": 2}  # not received yet


def test_transfer_mistakes_are_refused_and_book_nothing(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    c = str(config)
    code, _, err = run(capsys, "transfer", "--config", c, "--from", "A", "--to", "Z", "MUG", "1")
    assert code == 2 and "--location 'Z' is not a configured location (A, B)" in err
    code, _, err = run(capsys, "transfer", "--config", c, "--from", "A", "--to", "A", "MUG", "1")
    assert code == 1 and "not A → itself" in err
    code, _, err = run(capsys, "transfer", "--config", c, "--from", "A", "--to", "B", "MUG")
    assert code == 2 and "SKU N" in err
    code, _, err = run(capsys, "transfer", "--config", c, "--receive", "transfer:nope")
    assert code == 1 and "no transfer 'transfer:nope'" in err
    code, _, err = run(
        capsys, "adjust", "--config", c, "MUG", "+1", "--reason", "correction", "--location", "Q"
    )
    assert code == 2 and "not a configured location" in err
    assert stock(config, "MUG") == {}
