"""The cluster on the status page and in /metrics (issue 20), in a real headless Chromium: the
demo's daemon runs every job, a second daemon on the same ledger (its real presence loop,
:meth:`syncd.engine.cluster.Cluster.presence`) is shown as a standby, times in the shop's zone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import aiohttp
from playwright.async_api import Browser, expect

from syncd.cli.demo import Demo
from syncd.config import ClusterSettings
from syncd.engine.cluster import Cluster
from syncd.i18n import Translator
from syncd.ledger.leases import PRESENCE
from tests.web.test_browser import browser, demo, open_overview, url_of  # noqa: F401

STANDBY = "till-2:4242:1700000000"


@contextlib.asynccontextmanager
async def standby(demo: Demo) -> AsyncIterator[Cluster]:  # noqa: F811
    """A second daemon's cluster on the demo's ledger: present, running no job."""
    assert demo.daemon is not None and demo.daemon.store is not None
    stopping = asyncio.Event()
    other = Cluster(demo.daemon.store, ClusterSettings(lease_seconds=30), stopping, name=STANDBY)
    task = asyncio.create_task(other.presence())
    try:
        yield other
    finally:
        stopping.set()
        await task
        await other.release_all()  # as a daemon's graceful stop does


async def test_the_page_and_metrics_show_who_runs_each_job_and_the_standby(
    demo: Demo,  # noqa: F811
    browser: Browser,  # noqa: F811
) -> None:
    assert demo.daemon is not None and demo.daemon.store is not None
    async with standby(demo):
        page = await open_overview(browser, demo)
        section = page.locator("#cluster")
        await expect(section).to_be_visible(timeout=10_000)
        spare = section.locator(f'tr[data-daemon="{STANDBY}"]')
        await expect(spare).to_have_attribute("data-standby", "true")
        await expect(spare).to_contain_text("standby")
        active = section.locator('tr[data-standby="false"]')
        await expect(active).to_have_count(1)
        await expect(active).to_contain_text("channel:webshop")
        await expect(active).to_contain_text("alerts")
        # Since when: the oldest of its jobs' leases, in the shop's time zone.
        leases = [x for x in await demo.daemon.store.leases() if not x.job.startswith(PRESENCE)]
        holder = leases[0].holder
        since = min(x.since for x in leases if x.holder == holder)
        zone = ZoneInfo(demo.daemon.settings.web.timezone)
        shown = Translator("en", zone).when(since, since)
        await expect(active.locator("time")).to_have_text(shown)
        await expect(active.locator("time")).to_have_attribute("datetime", since.isoformat())

        await page.get_by_role("link", name="Français").click()
        await expect(page.locator("#cluster-title")).to_have_text("Démons")
        await expect(spare).to_contain_text("en réserve")
        assert page.problems == []  # type: ignore[attr-defined]

        async with (
            aiohttp.ClientSession() as http,
            http.get(url_of(demo) + "/metrics") as resp,
        ):
            metrics = await resp.text()
        assert f'syncd_job_held{{daemon="{holder}",job="channel:webshop"}} 1.0' in metrics
        assert f'syncd_daemon_present{{daemon="{STANDBY}",standby="1"}} 1.0' in metrics
        assert f'syncd_daemon_present{{daemon="{holder}",standby="0"}} 1.0' in metrics
        async with (
            aiohttp.ClientSession() as http,
            http.get(url_of(demo) + "/healthz") as resp,
        ):
            health = await resp.json()
        assert {d["daemon"]: d["standby"] for d in health["daemons"]} == {
            holder: False,
            STANDBY: True,
        }
    # Gone (its presence released at its stop): the page no longer shows it.
    await page.reload()
    await expect(page.locator("#cluster")).to_have_count(0)
