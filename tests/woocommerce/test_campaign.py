"""The short reliability campaign with a WooCommerce channel beside PrestaShop and Magento
(SIGKILLs, network faults, 500/503/429 on every shop, PostgreSQL restarts): every till row and
web order, WooCommerce's and their cancellations included, applied exactly once, and every
channel showing what it should."""

from __future__ import annotations

import json
import os

import pytest

from bench.reliability.campaign import Options, run_campaign

SECONDS = float(os.environ.get("SYNCD_CAMPAIGN_SECONDS", "30"))


@pytest.mark.timeout(400)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_a_campaign_with_woocommerce_loses_and_duplicates_nothing(store: str) -> None:
    result = await run_campaign(
        Options(seed=20261126, seconds=SECONDS, store=store, woocommerce=True)
    )
    why = (
        f"replay: python -m bench soak --woocommerce --seed {result['seed']} --store {store}\n"
        + json.dumps({k: result.get(k) for k in ("wrong", "unconverged", "faults")}, default=str)
    )
    assert result["lost"] == 0 and result["duplicated"] == 0, why
    assert result["ledger_matches_model"], why
    assert not result["reconcile_needed"], why
    assert result["mismatched_after_convergence"].get("woo") == 0, why
    assert result["final_exit_code"] == 0 and result["loop_crashes"] == 0, why
    assert result["secret_leaks"] == [], why
    assert result["kills"] >= 2 and result["faults_injected"] >= 10, why
    assert result["web_orders_by_shop"].get("woocommerce", 0) >= 5, result["web_orders_by_shop"]
