"""The test harness (syncd/testing): its boundaries, its TOML writer, fakes registered per test."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

from syncd.connectors import connector_class
from syncd.testing import FakeChannel, FakeConnector, registered
from syncd.testing.harness import toml_of

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth (lazy imports inside functions too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _offenders(folder: str, prefix: str, *, skip: str | None = None) -> list[str]:
    offenders = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        relative = path.relative_to(ROOT).as_posix()
        if skip and relative.startswith(skip):
            continue
        bad = sorted(m for m in _imports(path) if m == prefix or m.startswith(prefix + "."))
        if bad:
            offenders.append(f"{relative}: {', '.join(bad)}")
    return offenders


def test_bench_imports_nothing_from_tests() -> None:
    assert _offenders("bench", "tests") == []


def test_the_daemon_never_imports_the_test_harness() -> None:
    assert _offenders("syncd", "syncd.testing", skip="syncd/testing/") == []


def test_the_harness_imports_nothing_from_tests_or_bench() -> None:
    assert _offenders("syncd/testing", "tests") == []
    assert _offenders("syncd/testing", "bench") == []


def test_the_toml_writer_reads_back_as_written() -> None:
    data = {
        "ledger": {"backend": "sqlite", "path": 'C:\\shop\\"ledger".sqlite3'},
        "sync": {"grace_seconds": 1.5, "outbox_poll_seconds": 1, "enabled": False},
        "alerts": {"to": ["a@example.com", "b@example.com"], "digest_time": ""},
        "channels": {
            "till": {"type": "csv_till", "buffers": {"SHIRT-44": 2, "é": 1}},
            "webshop": {"type": "prestashop", "admin_order_url": "https://x/?id={id}&v"},
        },
    }
    assert tomllib.loads(toml_of(data)) == data


def test_a_registered_fake_has_state_of_its_own_and_is_gone_after() -> None:
    FakeConnector.channels["leak"] = FakeChannel()  # what a module-level registration shared
    try:
        with registered(FakeConnector) as fake:
            assert connector_class("fake") is fake
            assert issubclass(fake, FakeConnector) and fake.channels == {}
            fake.channels["till"] = FakeChannel(figures={"CAP": 1})
            assert "till" not in FakeConnector.channels
        with pytest.raises(KeyError):
            connector_class("fake")
        with registered(FakeConnector) as again:
            assert again.channels == {}
    finally:
        FakeConnector.channels.clear()
