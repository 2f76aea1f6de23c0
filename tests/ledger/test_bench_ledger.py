"""``python -m bench ledger`` runs its comparisons end to end (tiny sizes: the figures themselves
are measured by hand, see README; here only that every mode runs and reports what it says)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> dict[str, object]:
    run = subprocess.run(
        [sys.executable, "-m", "bench", "ledger", "--stores", "sqlite", "--json", "--rounds", "1"]
        + ["--producers", "2", "--per-producer", "10", "--skus", "40", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out: dict[str, object] = json.loads(run.stdout)
    return out


def test_bench_ledger_compares_locations_and_kits_with_one_location() -> None:
    out = _bench("--kits", "0.1", "--locations", "3")
    kits = out["sqlite_kits"]
    assert isinstance(kits, dict)
    assert kits["locations"] == 3 and kits["with_kits"]["kits"] == 4
    assert kits["ratio"] > 0 and kits["ratio_batched"] > 0


def test_bench_ledger_compares_locations_alone() -> None:
    out = _bench("--locations", "2")
    ratio = out["locations_ratio"]
    assert isinstance(ratio, dict) and set(ratio) == {"sqlite", "sqlite_batched"}
