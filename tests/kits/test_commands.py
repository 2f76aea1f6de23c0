"""`syncd kits import | list` and `[kits]` in `syncd check-config`, run as a merchant runs them
(through `syncd.cli.main`), on SQLite and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.config import load_config
from syncd.ledger import open_store
from syncd.stockin.kitfile import read_kit_file
from syncd.testing.harness import write_config


@pytest.fixture
def config(tmp_path: Path, ledger_backend: tuple[str, str]) -> Path:
    backend, dsn = ledger_backend
    ledger = (
        {"backend": "postgres", "dsn": dsn}
        if backend == "postgres"
        else {"backend": "sqlite", "path": "ledger.sqlite3"}
    )
    return write_config(
        tmp_path / "syncd.toml",
        {
            "ledger": ledger,
            "web": {"enabled": False},
            "channels": {"till": {"type": "csv_till", "drop_folder": "in"}},
        },
    )


def _kits(config: Path) -> dict[str, dict[str, int]]:
    async def go() -> dict[str, dict[str, int]]:
        store = await open_store(load_config(config).ledger)
        try:
            return {k.sku: dict(k.components) for k in await store.kit_definitions()}
        finally:
            await store.close()

    return asyncio.run(go())


FRENCH = "Coffret;Composant;Quantité\r\nCOFFRET-THÉ;TASSE;1\r\nCOFFRET-THÉ;THÉ VERT;2\r\n"


def test_import_reads_a_french_cp1252_file_and_defines_its_kits(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "kits.csv"
    file.write_bytes(FRENCH.encode("cp1252"))
    assert main(["kits", "import", "--config", str(config), str(file), "--dry-run"]) == 0
    assert _kits(config) == {}
    capsys.readouterr()
    assert main(["kits", "import", "--config", str(config), str(file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["kits"] == {"COFFRET-THÉ": {"TASSE": 1, "THÉ VERT": 2}}
    assert _kits(config) == {"COFFRET-THÉ": {"TASSE": 1, "THÉ VERT": 2}}
    assert main(["kits", "list", "--config", str(config), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["kits"]
    assert listed[0]["source"] == "file"


def test_import_refuses_the_whole_file_when_a_row_is_bad(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "kits.csv"
    file.write_text("kit,component,qty\nBOX,MUG,1\nBOX,TEA,two\nDUO,BOX,1\n", encoding="utf-8")
    assert main(["kits", "import", "--config", str(config), str(file)]) == 2
    err = capsys.readouterr().err
    assert "row 3" in err and "'qty'" in err and "nothing was imported" in err
    assert _kits(config) == {}
    file.write_text("kit,component,qty\nBOX,MUG,1\nDUO,BOX,1\n", encoding="utf-8")
    assert main(["kits", "import", "--config", str(config), str(file)]) == 2
    assert "kit itself" in capsys.readouterr().err
    assert _kits(config) == {}


def test_kit_file_layouts() -> None:
    utf8 = read_kit_file(b"\xef\xbb\xbfKit;Component;Quantity\nA;X;1\nA;Y;3\n")
    assert utf8.kits == {"A": {"X": 1, "Y": 3}} and utf8.delimiter == ";"
    assert read_kit_file(b"pack,sku,units\nA,X,2\n").kits == {"A": {"X": 2}}
    assert read_kit_file(b"sku;qty\nA;1\n").unreadable
    assert read_kit_file(b"kit;component;quantity\nA;X;0\nA;Y;1.5\n").problems


def test_check_config_reports_kit_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path / "syncd.toml",
        {
            "ledger": {"backend": "sqlite", "path": "l.sqlite3"},
            "web": {"enabled": False},
            "channels": {"till": {"type": "csv_till", "drop_folder": "in"}},
            "kits": {"BOX": {"MUG": 0, "TEA": 1}, "DUO": {"BOX": 1}, "ODD": 3},
        },
    )
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "kits.BOX.MUG" in err and "kits.ODD" in err and "'BOX', which is a kit" in err
    ok = write_config(
        tmp_path / "ok.toml",
        {
            "ledger": {"backend": "sqlite", "path": "l.sqlite3"},
            "web": {"enabled": False},
            "channels": {"till": {"type": "csv_till", "drop_folder": "in"}},
            "kits": {"BOX": {"MUG": 1, "TEA": 2}},
        },
    )
    assert main(["check-config", "--config", str(ok)]) == 0
    assert load_config(ok).kits == {"BOX": {"MUG": 1, "TEA": 2}}
