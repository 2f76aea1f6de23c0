"""The short reliability campaign (the long one is `python -m bench soak`): SIGKILLs, network
faults, shop error modes, PostgreSQL restarts and an unreadable till folder, and afterwards
every document applied exactly once and every channel showing what it should."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from bench.reliability.campaign import Campaign, Options, run_campaign

SECONDS = float(os.environ.get("SYNCD_CAMPAIGN_SECONDS", "40"))


@pytest.mark.timeout(400)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_short_campaign_loses_and_duplicates_nothing(store: str) -> None:
    result = await run_campaign(Options(seed=20261123, seconds=SECONDS, store=store))
    replay = f"replay: python -m bench soak --seed {result['seed']} --store {store}"

    def why(*keys: str) -> str:
        """The replay command and the named figures, in full (pytest shortens a dict)."""
        return replay + "\n" + json.dumps({k: result.get(k) for k in keys}, indent=1, default=str)

    assert result["lost"] == 0 and result["duplicated"] == 0, why("lost", "duplicated", "wrong")
    assert result["ledger_matches_model"], why("wrong", "folder")
    # Every channel shows what it should within seconds of the last fault, by the daemon's own
    # pushes and read-backs, not by a reconcile run afterwards.
    assert not result["reconcile_needed"], why("unconverged", "convergence_seconds")
    assert 0 <= result["convergence_seconds"] <= 30, why("convergence_seconds", "unconverged")
    assert result["final_exit_code"] == 0, why("final_exit_code", "crashes")
    assert result["secret_leaks"] == [], why("secret_leaks")
    assert result["pages_checked_for_secrets"] >= 10, why("pages_checked_for_secrets")
    assert result["alerts_settled"] and result["alert_mails"] > 0, why(
        "alerts_settled", "alert_mails"
    )
    assert result["alerts_lost"] == 0, why("alerts_lost", "alert_mails")
    assert result["alerts_sent_twice"] == 0, why("alerts_sent_twice", "alert_mails")
    # Every fault handled where it happens: none crashed a loop.
    assert result["loop_crashes"] == 0, why("loop_crashes", "crashes")
    assert result["kills"] >= 3 and result["faults_injected"] >= 20, result
    assert result["bad_rows_rejected"] >= result["bad_rows"] > 0, result


def test_an_unconverged_sku_s_timeline_holds_our_writes_and_the_shops_orders_in_order(
    tmp_path: Path,
) -> None:
    """unconverged.json's "shops": what reached the shops for the SKU (our writes, the
    generator's orders and cancellations), oldest first, at the daemon log's UTC times."""
    campaign = Campaign(Options(woocommerce=True, workdir=tmp_path))
    campaign.record.web_log = [
        (100.0, "prestashop", 7, "order", {"SKU-A": 1, "SKU-B": 1}),
        (103.0, "prestashop", 7, "cancel", {"SKU-A": 1, "SKU-B": 1}),
        (104.0, "woocommerce", 9, "order", {"SKU-B": 2}),
    ]
    writes: dict[str, list[list[Any]]] = {
        "prestashop": [[101.5, "SKU-A", 142], [102.0, "SKU-B", 10]],
        "woocommerce": [[99.0, "SKU-A", 141]],
    }
    assert campaign._timeline("SKU-A", writes) == [
        ["1970-01-01T00:01:39+00:00", "woo", "written", 141],
        ["1970-01-01T00:01:40+00:00", "webshop", "order 7", 1],
        ["1970-01-01T00:01:41.500000+00:00", "webshop", "written", 142],
        ["1970-01-01T00:01:43+00:00", "webshop", "cancel 7", 1],
    ]
