"""The plain-text mail, read line by line: every step, heading and document on a line of its own."""

from __future__ import annotations

import pytest

from syncd.alerts.items import DocumentView, Entry, MailView, OversellView, ReorderEntry
from syncd.alerts.render import render
from syncd.alerts.settings import AlertSettings
from syncd.i18n import LANGUAGES, translations


def _view() -> MailView:
    """Every section, with and without its optional parts (name, kit, link, last error)."""
    linked = DocumentView("webshop", "web_order", "XKB1", 1, "10:03", "https://shop/o/1", True)
    plain = DocumentView("webshop", "web_order", "XKB2", 1, "10:04", "", True)
    till = DocumentView("till", "till_receipt", "T1", 1, "10:02", "", False)
    view = MailView("alert", "2026-03-14 10:06:00")
    view.oversells.append(
        OversellView(
            7, "SHIRT", "Shirt", 1, -1, (till, linked, plain), (linked, plain), ("BOX",), "store"
        )
    )
    view.oversells.append(OversellView(8, "MUG", "", 1, -1, (till,), ()))
    view.down.append(
        Entry("down", None, "web", "", "10:00", {"since": "09:00", "last_error": "401"})
    )
    view.down.append(Entry("down", None, "mag", "", "10:00", {"since": "09:00"}))
    view.reorder.append(ReorderEntry("A", "Apple", 1, 2, False, 5, 0.5, 2.0, True))
    view.reorder.append(ReorderEntry("B", "", 1, None, False, 5, 0.5, None, False))
    return view


def test_the_oversell_section_reads_line_by_line() -> None:
    text = render(_view(), AlertSettings(language="en")).text
    lines = text.splitlines()
    start = lines.index("=== Oversold: the last unit was sold twice ===")
    assert lines[start : start + 25] == [
        "=== Oversold: the last unit was sold twice ===",
        "Product: SHIRT — Shirt at store",
        "Sold as part of kit BOX: its component SHIRT ran out",
        "",
        "Short by: 1 unit (ledger stock: -1)",
        "Documents that took the last units, in order:",
        "  1. 10:02 — till — till receipt T1 — 1 unit",
        "  2. 10:03 — webshop — web order XKB1 — 1 unit ← order to handle",
        "     https://shop/o/1",
        "  3. 10:04 — webshop — web order XKB2 — 1 unit ← order to handle",
        "What to do:",
        "  - Contact the customer of order XKB1 (webshop): https://shop/o/1",
        "  - Contact the customer of order XKB2 (webshop).",
        "  - Then cancel and refund the order, or back-order it if a delivery is coming.",
        "  - If the product is in fact still on the shelf, recount it and enter the stock count:"
        " the conflict resolves itself.",
        "  - Once handled: syncd conflicts ack 7 --config FILE (or on the status page).",
        "",
        "=== Oversold: the last unit was sold twice ===",
        "Product: MUG",
        "",
        "Short by: 1 unit (ledger stock: -1)",
        "Documents that took the last units, in order:",
        "  1. 10:02 — till — till receipt T1 — 1 unit",
        "What to do:",
        "  - No web order is involved: recount the shelf and enter the stock count.",
    ]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_each_step_starts_its_own_line_in_every_language(lang: str) -> None:
    t = translations(lang)  # the raw messages: only their fixed opening words are compared
    lines = render(_view(), AlertSettings(language=lang)).text.splitlines()
    starts = [
        t.ngettext("Short by: %(num)d unit", "Short by: %(num)d units", 1).split("%")[0],
        t.gettext("What to do:"),
        t.gettext("Sold as part of kit %(kits)s: its component %(sku)s ran out").split("%")[0],
        t.gettext("Then cancel and refund the order, or back-order it if a delivery is coming."),
        t.gettext("No web order is involved: recount the shelf and enter the stock count."),
    ]
    for start in starts:
        holding = [line for line in lines if start in line]
        assert holding, (lang, start)
        assert all(line.lstrip(" -").startswith(start) for line in holding), (lang, holding)
    # One item per line: 5 + 2 steps, two channels down, two products to reorder.
    items = [line for line in lines if line.startswith("  - ")]
    assert len(items) == 5 + 2 + 2 + 2, (lang, items)
    assert sum(line.startswith("  - mag") for line in lines) == 1
    assert sum(line.startswith("  - B") for line in lines) == 1
