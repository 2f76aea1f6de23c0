"""The ledger's pure parts load no network or database driver: the planner is importable alone."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"aiohttp", "asyncpg"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=True, timeout=60
    )


def _imported(statement: str) -> set[str]:
    """Every module in sys.modules after ``statement`` (importlib.import_module, which the
    package uses for its names, is not listed by -X importtime)."""
    done = _run("-c", f"{statement}; import sys; print('\\n'.join(sys.modules))")
    return set(done.stdout.split())


def test_importing_the_planner_loads_neither_aiohttp_nor_asyncpg() -> None:
    done = _run("-X", "importtime", "-c", "import syncd.ledger.planner")
    # "import time: self [us] | cumulative | imported package", one line per module loaded.
    listed = {
        line.rsplit("|", 1)[1].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }
    assert "syncd.ledger.planner" in listed  # the listing is read at all
    assert not {m for m in listed if m.split(".")[0] in HEAVY}
    loaded = _imported("import syncd.ledger.planner")
    assert "syncd.ledger.planner" in loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
    assert not {m for m in loaded if m == "syncd.config" or m.startswith("syncd.connectors")}


def test_the_ledger_package_offers_its_names_on_first_use() -> None:
    loaded = _imported(
        "from syncd.ledger import ApplyStatus, Store, open_store; import syncd.ledger as ledger; "
        "assert ledger.open_store is open_store and ApplyStatus.APPLIED and Store"
    )
    assert {"syncd.ledger.backends", "syncd.ledger.store"} <= loaded
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
