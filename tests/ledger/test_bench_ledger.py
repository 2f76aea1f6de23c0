"""``python -m bench ledger`` runs its comparisons end to end (tiny sizes: the figures themselves
are measured by hand, see README; here only that every mode runs and reports what it says)."""

from __future__ import annotations

import json
import os
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


def test_bench_ledger_pairs_the_closed_loop_with_pgbench_round_by_round(pg_admin_dsn: str) -> None:
    # Each round: the closed loop on a fresh database and pgbench on another, from a settled
    # server, the order alternated; the ratio is the median of the rounds' own ratios.
    run = subprocess.run(
        [sys.executable, "-m", "bench", "ledger", "--stores", "sqlite,postgres", "--json"]
        + ["--rounds", "2", "--producers", "2", "--per-producer", "10", "--skus", "40"]
        + ["--levels", "10", "--pgbench-seconds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={
            **os.environ,
            "SYNCD_TEST_DSN": pg_admin_dsn,
            "SYNCD_BENCH_DB": f"syncd_bench_t{os.getpid()}",
        },
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert len(out["sqlite"]["documents_per_second_rounds"]) == 2
    pg, bench = out["postgres"], out["pgbench"]
    assert len(pg["documents_per_second_rounds"]) == 2 and len(bench["tps_rounds"]) == 2
    ratios = [
        round(d / t, 3)
        for d, t in zip(pg["documents_per_second_rounds"], bench["tps_rounds"], strict=True)
    ]
    assert pg["ratio_to_pgbench_rounds"] == ratios
    assert pg["ratio_to_pgbench"] == round(sorted(ratios)[0] / 2 + sorted(ratios)[1] / 2, 2)
