"""`syncd demo --seconds N --json`: the README's main job, checked as a user runs it."""

from __future__ import annotations

import json
import subprocess

from syncd.testing.harness import SYNCD


def test_demo_runs_and_loses_nothing() -> None:
    # As long as README's first command runs it: 12 s missed a Magento item sold out while an
    # order holding it was not shipped (tests/magento/test_connector.py, "units reserved").
    out = subprocess.run(
        [*SYNCD, "demo", "--seconds", "30", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1  # --json: one object on stdout, nothing else
    summary = json.loads(lines[0])
    assert summary["lost"] == 0 and summary["duplicated"] == 0
    assert (
        summary["ledger_matches_model"]
        and summary["shop_matches_ledger"]
        and summary["till_matches_ledger"]
        and summary["magento_matches_ledger"]
        and summary["shopify_matches_ledger"]
        and summary["woocommerce_matches_ledger"]
    )
    assert summary["shopify_orders"] >= 1 and summary["woocommerce_orders"] >= 1
    assert summary["till_sales"] >= 15 and summary["web_orders"] >= 5
    assert summary["last_unit_sold_twice"] >= 1 and summary["conflicts"] >= 1
    assert summary["propagated"] > 0 and summary["latency_ms_p99"] < 5000
