"""The several-daemons campaign, short (the long one: `python -m bench soak --daemons 3`): three
daemons on one PostgreSQL, the active one killed (-9) and paused (SIGSTOP past its lease), under
the single daemon's faults (PostgreSQL restarts and terminated backends among them); nothing
lost, duplicated, mailed twice or written under a stale lease, and every takeover within 10 s."""

from __future__ import annotations

import json
import os

import pytest

from bench.reliability.campaign import Options
from bench.reliability.cluster import run_cluster_campaign
from bench.soak import cluster_ok

SECONDS = float(os.environ.get("SYNCD_CLUSTER_CAMPAIGN_SECONDS", "35"))


@pytest.mark.timeout(400)
async def test_three_daemons_lose_duplicate_and_write_stale_nothing() -> None:
    result = await run_cluster_campaign(
        Options(seed=20261127, seconds=SECONDS, store="postgres", daemons=3)
    )
    shown = {
        k: result.get(k)
        for k in (
            "lost",
            "duplicated",
            "mailed_twice",
            "stale_writes_accepted",
            "stale_writes",
            "stale_writes_refused",
            "takeovers",
            "takeovers_missed",
            "takeover_seconds_p50",
            "takeover_seconds_p99",
            "wrong",
            "unconverged",
            "crashes",
            "faults",
            "folder",
        )
    }
    why = "replay: python -m bench soak --daemons 3 --seed 20261127\n" + json.dumps(
        shown, indent=1, default=str
    )
    assert result["lost"] == 0 and result["duplicated"] == 0, why
    assert result["mailed_twice"] == 0, why
    assert result["stale_writes_accepted"] == 0, why
    assert cluster_ok(result), why
    # Both faults of the active daemon happened, and the standbys took over each time.
    assert result["kills"] >= 1 and result["sigstops"] >= 1, why
    assert result["takeovers"] >= 2 and not result["takeovers_missed"], why
    # Within 10 s, the goal (a PostgreSQL restart of the campaign falling in a takeover
    # adds its downtime: nobody can take a lease while the database is down).
    assert result["takeover_seconds_p99"] is not None and result["takeover_seconds_p99"] < 10, why
    assert result["alert_mails"] > 0 and result["alerts_lost"] == 0, why
    assert result["final_exit_code"] == 0, why
