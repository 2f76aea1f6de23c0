"""The short reliability campaign with a Shopify channel beside PrestaShop and Magento (issue 19):
SIGKILLs, network faults through a proxy in front of every shop, 500/503/429 answers, Shopify's
throttle and its webhooks late and twice, PostgreSQL restarts; every till row and web order,
Shopify's and their cancellations with restock included, applied exactly once, and every channel
showing what it should without a reconciliation."""

from __future__ import annotations

import json
import os

import pytest

from bench.reliability.campaign import Options, run_campaign

SECONDS = float(os.environ.get("SYNCD_CAMPAIGN_SECONDS", "30"))


@pytest.mark.timeout(400)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_a_campaign_with_shopify_loses_and_duplicates_nothing(store: str) -> None:
    result = await run_campaign(Options(seed=20261127, seconds=SECONDS, store=store, shopify=True))
    why = (
        f"replay: python -m bench soak --shopify --seed {result['seed']} --store {store}\n"
        + json.dumps({k: result.get(k) for k in ("wrong", "unconverged", "faults")}, default=str)
    )
    assert result["lost"] == 0 and result["duplicated"] == 0, why
    assert result["ledger_matches_model"], why
    assert not result["reconcile_needed"], why
    assert result["mismatched_after_convergence"].get("shopify") == 0, why
    assert result["final_exit_code"] == 0 and result["loop_crashes"] == 0, why
    assert result["secret_leaks"] == [], why
    assert result["kills"] >= 2 and result["faults_injected"] >= 10, why
    assert result["web_orders_by_shop"].get("shopify", 0) >= 5, result["web_orders_by_shop"]
