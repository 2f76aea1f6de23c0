"""The short reliability campaign (the long one is `python -m bench soak`): SIGKILLs, network
faults, shop error modes, PostgreSQL restarts and an unreadable till folder, and afterwards
every document applied exactly once and every channel showing what it should."""

from __future__ import annotations

import json
import os

import pytest

from bench.reliability.campaign import Options, run_campaign

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
