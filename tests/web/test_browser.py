"""A real headless Chromium on the overview of a running demo: a till sale appears live without
a reload, a conflict is acknowledged, the language switches; the page also works without
JavaScript and fits a phone. Never skipped: without Chromium it fails and says how to install it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from syncd.cli.demo import Demo
from syncd.cli.screenshot import VIEWPORT, launch_options


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[Demo]:
    running = Demo(tmp_path, products=12, seed=3)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(**launch_options())
        try:
            yield chromium
        finally:
            await chromium.close()


def url_of(demo: Demo) -> str:
    assert demo.daemon is not None
    return f"http://127.0.0.1:{demo.daemon.web_port}"


async def open_overview(browser: Browser, demo: Demo) -> Page:
    page = await browser.new_page(viewport=VIEWPORT, locale="en-GB")  # type: ignore[arg-type]
    problems: list[str] = []
    page.on(
        "console",
        # A dropped connection is retried by the script; anything else is a defect.
        lambda m: (
            problems.append(m.text) if m.type == "error" and "net::ERR_" not in m.text else None
        ),
    )
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.problems = problems  # type: ignore[attr-defined]
    await page.goto(url_of(demo) + "/")
    await expect(page.locator("#live-status")).to_have_class("live live-on", timeout=10_000)
    return page


async def test_overview_is_live_acknowledges_and_speaks_french(
    demo: Demo, browser: Browser
) -> None:
    page = await open_overview(browser, demo)
    await expect(page.locator(".card")).to_have_count(4)  # till, PrestaShop, Magento, WooCommerce
    await page.evaluate("window.__notReloaded = true")

    sku = demo.catalog[0].sku
    demo.till_sale({sku: 1})
    receipt = f"4-{10000 + demo.receipt_no}"
    row = page.locator(f'#activity tr[data-doc="{receipt}"]')
    await expect(row).to_be_visible(timeout=15_000)
    await expect(row).to_contain_text(sku)
    await expect(row).to_contain_text("Till sale")
    assert await page.evaluate("window.__notReloaded === true")  # arrived without a reload

    demo.double_sell()  # the last unit sold at the till and online at once
    line = page.locator("#open-conflicts-list li[data-conflict-id]").first
    await expect(line).to_be_visible(timeout=20_000)
    conflict_id = await line.get_attribute("data-conflict-id")
    assert await page.evaluate("window.__notReloaded === true")
    await expect(page.locator("#headline-text + .headline-note")).to_contain_text(
        "Conflicts", timeout=10_000
    )

    await line.get_by_role("button", name="Acknowledge").click()
    await page.wait_for_url(url_of(demo) + "/")
    await expect(
        page.locator(f'#open-conflicts-list [data-conflict-id="{conflict_id}"]')
    ).to_have_count(0)
    await page.goto(url_of(demo) + "/conflicts")
    card = page.locator(f'article[data-conflict-id="{conflict_id}"]')
    await expect(card).to_have_attribute("data-status", "acknowledged")
    await expect(card.locator(".badge")).to_have_text("Acknowledged")

    await page.get_by_role("link", name="Français").click()
    await expect(page.locator("html")).to_have_attribute("lang", "fr")
    await expect(page.locator("h1")).to_have_text("Conflits")
    await expect(card.locator(".badge")).to_have_text("Vu")
    await page.get_by_role("link", name="Vue d’ensemble").click()
    await expect(page.locator(".card dt").first).to_have_text("En attente")
    await expect(page.locator("#live-status")).to_have_text("En direct", timeout=10_000)
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    # No script error and no Content-Security-Policy violation on the way.
    assert page.problems == []  # type: ignore[attr-defined]


async def test_without_javascript_and_on_a_phone(demo: Demo, browser: Browser) -> None:
    context = await browser.new_context(java_script_enabled=False)
    page = await context.new_page()
    await page.goto(url_of(demo) + "/")
    await expect(page.locator(".card")).to_have_count(4)  # till, PrestaShop, Magento, WooCommerce
    await expect(page.locator("svg.chart").first).to_be_attached()
    await context.close()

    phone = await browser.new_page(viewport={"width": 390, "height": 844})
    for path in ("/", "/activity", "/conflicts", "/skus?q=SHIRT", "/unknown"):
        await phone.goto(url_of(demo) + path)
        width = await phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{path} scrolls sideways on a phone ({width} px)"
    # Every form field has a label.
    await phone.goto(url_of(demo) + "/activity")
    unlabelled = await phone.evaluate(
        """[...document.querySelectorAll('input:not([type=hidden]), select')]
             .filter(e => !(e.labels && e.labels.length)).length"""
    )
    assert unlabelled == 0
