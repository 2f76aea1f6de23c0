"""A delivery booked in a real headless Chromium, driven like a USB barcode scanner (a code typed
in a few milliseconds, then Enter), on both ledgers: with the page's script (scans sent without
reloading, none lost however fast) and without it (a plain form post per scan)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from syncd.cli.run import ServedDaemon
from syncd.cli.screenshot import VIEWPORT, launch_options
from syncd.domain import STOCK_CHANNEL
from syncd.ledger import Product
from syncd.ledger.store import Store
from syncd.testing import FakeChannel
from tests.web.conftest import ClientFactory, until

SHIRT = "4006381333931"  # the blue shirt's barcode
SCAN_DELAY_MS = 3  # between two characters: a scanner types a 13-digit code in ~40 ms


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_dsn"))
    return ("sqlite", "")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(**launch_options())
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def base_url(make_client: ClientFactory, daemon: ServedDaemon) -> str:
    assert daemon.store is not None
    await daemon.store.upsert_products([Product("SHIRT-44", "Blue shirt 44", SHIRT)])
    client = await make_client()
    return str(client.make_url("")).rstrip("/")


def store_of(daemon: ServedDaemon) -> Store:
    assert daemon.store is not None
    return daemon.store


async def new_page(browser: Browser, **options: Any) -> Page:
    context = await browser.new_context(viewport=VIEWPORT, locale="en-GB", **options)  # type: ignore[arg-type]
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda err: problems.append(str(err)))
    page.problems = problems  # type: ignore[attr-defined]
    return page


async def scan(page: Page, code: str) -> None:
    """What a USB scanner does: types the code, fast, then Enter."""
    await page.keyboard.type(code + "\n", delay=SCAN_DELAY_MS)


def line(page: Page, code: str) -> Any:
    return page.locator(f'#draft-lines tr[data-code="{code}"]')


async def test_a_delivery_scanned_in_chromium_is_booked_once(
    browser: Browser, base_url: str, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    store = store_of(daemon)
    page = await new_page(browser)
    await page.goto(base_url + "/stock/receive")
    await expect(page.locator("#scan-code")).to_be_focused()
    await page.evaluate("window.__notReloaded = true")

    # Two scans of the shirt and one of the cap, 200 ms apart, like a person at the scanner.
    for code in (SHIRT, SHIRT, "CAP"):
        await scan(page, code)
        await page.wait_for_timeout(200)
    await expect(line(page, SHIRT).locator("input.qty")).to_have_value("2")
    await expect(line(page, "CAP").locator("input.qty")).to_have_value("1")
    await expect(line(page, SHIRT)).to_contain_text("Blue shirt 44")
    await expect(page).to_have_url(re.compile(r"/stock/receive/[0-9a-f]{16}\?"))
    draft_id = page.url.split("/stock/receive/")[1].split("?")[0]

    # A burst faster than the page can answer: queued, sent one after the other, none lost.
    for _ in range(5):
        await scan(page, "CAP")
    await expect(line(page, "CAP").locator("input.qty")).to_have_value("6", timeout=10_000)
    await expect(page.locator("#scan-code")).to_be_focused()
    assert await page.evaluate("window.__notReloaded === true")  # no reload for any scan

    # An unknown code shows at once as unknown, and it cannot be booked until removed.
    await scan(page, "NOPE-77")
    await expect(line(page, "NOPE-77")).to_have_attribute("data-status", "unknown")
    await expect(page.locator(".scan-bad")).to_contain_text("Unknown code “NOPE-77”")
    await expect(page.locator(".problems")).to_contain_text("not a known product")
    await line(page, "NOPE-77").get_by_role("button", name="Remove").click()
    await expect(line(page, "NOPE-77")).to_have_count(0)

    # Quantities are editable; supplier and delivery note too; then the preview.
    await line(page, "CAP").locator("input.qty").fill("3")
    await page.get_by_label("Supplier").fill("Acme")
    await page.get_by_label("Delivery note number").fill("BL-7")
    await page.get_by_role("button", name="Preview").click()
    await expect(page).to_have_url(f"{base_url}/stock/receive/{draft_id}/check")
    preview = page.locator("#preview tbody tr")
    await expect(preview).to_have_count(2)
    await expect(page.locator('#preview tr[data-sku="CAP"]')).to_contain_text("+3")
    await expect(page.locator('#preview tr[data-sku="CAP"] .before')).to_have_text("5")
    await expect(page.locator('#preview tr[data-sku="CAP"] .after')).to_have_text("8")
    await expect(page.locator('#preview tr[data-sku="SHIRT-44"] .after')).to_have_text("3")
    await expect(page.locator("#preview-supplier")).to_have_text("Acme")
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 1, "CAP": 5}
    form = await page.evaluate(
        """() => Object.fromEntries(new FormData(document.querySelector('form.actions')))"""
    )

    await page.get_by_role("button", name="Book the delivery").click()
    await expect(page.locator("#booked")).to_contain_text(f"receipt:page:{draft_id}")
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 3, "CAP": 8}
    stored = await store.stored_document(STOCK_CHANNEL, f"receipt:page:{draft_id}")
    assert stored is not None
    assert dict(stored.meta) == {"origin": "page", "supplier": "Acme", "delivery_note": "BL-7"}
    # The new figures go out to every channel.
    await until(lambda: channels["webshop"].figures == {"SHIRT-44": 3, "CAP": 8})
    await until(lambda: channels["till"].figures == {"SHIRT-44": 3, "CAP": 8})

    # The back button and the same form sent again: booked once.
    moves = len(await store.movements(limit=1000))
    await page.go_back()
    await page.evaluate(
        """([action, fields]) => {
             const form = document.createElement('form');
             form.method = 'post';
             form.action = action;
             for (const [name, value] of Object.entries(fields)) {
               const input = document.createElement('input');
               input.type = 'hidden'; input.name = name; input.value = value;
               form.appendChild(input);
             }
             document.body.appendChild(form);
             form.submit();
           }""",
        [f"/stock/receive/{draft_id}/book", form],
    )
    await expect(page.locator("#booked")).to_be_visible()
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 3, "CAP": 8}
    assert len(await store.movements(limit=1000)) == moves

    # Voided from the activity list, after a confirmation.
    await page.goto(base_url + "/activity")
    row = page.locator(f'#activity tr[data-doc="receipt:page:{draft_id}"]').first
    await expect(row).to_contain_text("Delivery")
    await expect(row).to_contain_text("from this page · Acme · BL-7")
    await row.get_by_role("link", name="Void…").click()
    await expect(page.locator('#void-preview tr[data-sku="CAP"] .after')).to_have_text("5")
    assert await store.levels(["CAP"]) == {"CAP": 8}  # not before the confirmation
    await page.get_by_role("button", name="Void it").click()
    await expect(page.locator("#voided")).to_contain_text("Voided")
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 1, "CAP": 5}
    await until(lambda: channels["webshop"].figures == {"SHIRT-44": 1, "CAP": 5})
    assert page.problems == []  # type: ignore[attr-defined]


async def test_scanning_without_javascript(
    browser: Browser, base_url: str, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    page = await new_page(browser, java_script_enabled=False)
    await page.goto(base_url + "/stock/receive")
    for n, code in enumerate((SHIRT, SHIRT, "CAP"), start=1):
        await expect(page.locator("#scan-code")).to_be_focused()  # after every page load
        async with page.expect_navigation():
            await scan(page, code)
        await expect(page.locator("#draft-lines tbody tr")).to_have_count(1 if n < 3 else 2)
    await expect(line(page, SHIRT).locator("input.qty")).to_have_value("2")
    await expect(page.locator(".scan-ok")).to_contain_text("+1 CAP")
    await page.get_by_role("button", name="Preview").click()
    await page.get_by_role("button", name="Book the delivery").click()
    await expect(page.locator("#booked")).to_be_visible()
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 3, "CAP": 6}

    # A count started, scanned and reviewed the same way.
    await page.goto(base_url + "/stock/count")
    await page.get_by_label("These products only").check()
    await page.get_by_label("Product codes or barcodes, one a line").fill("CAP\nSHIRT-44")
    await page.get_by_role("button", name="Start counting").click()
    await expect(page.locator("#scan-code")).to_be_focused()
    async with page.expect_navigation():
        await scan(page, "CAP")
    await page.get_by_role("button", name="Review the differences").click()
    await expect(page.locator('#review tr[data-sku="SHIRT-44"]')).to_contain_text("counted as 0")
    await page.get_by_role("button", name="Close the count and book it").click()
    await expect(page.locator("#booked")).to_be_visible()
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 0, "CAP": 1}
