"""The short reliability campaign (the long one is `python -m bench soak`): SIGKILLs, network
faults, shop error modes, PostgreSQL restarts and an unreadable till folder, and afterwards
every document applied exactly once and every channel showing what it should."""

from __future__ import annotations

import os

import pytest

from tests.reliability.campaign import Options, run_campaign

SECONDS = float(os.environ.get("SYNCD_CAMPAIGN_SECONDS", "40"))


@pytest.mark.timeout(400)
@pytest.mark.parametrize("store", ["sqlite", "postgres"])
async def test_short_campaign_loses_and_duplicates_nothing(store: str) -> None:
    result = await run_campaign(Options(seed=20261123, seconds=SECONDS, store=store))
    replay = f"replay: python -m bench soak --seed {result['seed']} --store {store}"
    assert result["lost"] == 0 and result["duplicated"] == 0, (replay, result)
    assert result["ledger_matches_model"], (replay, result)
    assert result["convergence_seconds"] >= 0, (replay, result["mismatched_after_convergence"])
    # Known open bug (issue 10): now and then one shop SKU stays off by one unit until the
    # scheduled reconcile repairs it; the campaign then runs that reconcile and reports it.
    if not result["reconcile_needed"]:
        assert result["convergence_seconds"] <= 30, (replay, result)
    assert result["final_exit_code"] == 0, result
    assert result["secret_leaks"] == [] and result["pages_checked_for_secrets"] >= 10, result
    assert result["alerts_settled"] and result["alert_mails"] > 0, (replay, result)
    assert result["alerts_lost"] == 0 and result["alerts_sent_twice"] == 0, (replay, result)
    assert result["loop_crashes"] == 0, (replay, result)  # every fault handled, none crashed a loop
    assert result["kills"] >= 3 and result["faults_injected"] >= 20, result
    assert result["bad_rows_rejected"] >= result["bad_rows"] > 0, result
