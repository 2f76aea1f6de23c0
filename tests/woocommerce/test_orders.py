"""An order's document from its REST answer alone (syncd/connectors/woocommerce/orders.py):
``_reduced_stock`` wins, a line WooCommerce does not count is booked by the status, checkout
drafts are never stock, lines without a SKU wait under their ids, a broken order is refused."""

from __future__ import annotations

from typing import Any

import pytest

from syncd.connectors.woocommerce.orders import order_document
from syncd.exceptions import ParseError


def order(status: str, *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": 42,
        "number": "42",
        "status": status,
        "date_created_gmt": "2026-11-26T10:00:00",
        "date_modified_gmt": "2026-11-26T10:05:00",
        "line_items": list(lines),
        **extra,
    }


def line(sku: str, qty: int, reduced: int | None = None, **extra: Any) -> dict[str, Any]:
    meta = [] if reduced is None else [{"id": 1, "key": "_reduced_stock", "value": str(reduced)}]
    return {
        "product_id": 7,
        "variation_id": 0,
        "sku": sku,
        "quantity": qty,
        "meta_data": meta,
        **extra,
    }


@pytest.mark.parametrize(
    ("status", "reduced", "units"),
    [
        ("processing", 3, 3),
        ("processing", 2, 2),  # a refund gave one back
        ("refunded", 2, 2),  # the refunded status gives nothing back by itself
        ("cancelled", None, 0),  # given back: the meta is gone
        ("pending", None, 0),
        ("failed", None, 0),
        ("on-hold", None, 3),  # a product WooCommerce does not count: booked by the status
        ("completed", None, 3),
        ("refunded", None, 0),
    ],
)
def test_units_in_effect(status: str, reduced: int | None, units: int) -> None:
    doc = order_document(order(status, line("MUG", 3, reduced)), channel="woo")
    assert doc is not None and dict(doc.lines) == {"MUG": units}
    assert doc.cancelled is (status in ("cancelled", "failed"))
    assert doc.occurred_at.isoformat() == "2026-11-26T10:00:00+00:00"


def test_same_skus_add_up_and_lines_without_one_wait_under_their_ids() -> None:
    doc = order_document(
        order(
            "processing",
            line("MUG", 1, 1),
            line("MUG", 2, 2),
            line("", 1, 1, product_id=9, variation_id=12, name="Tee S"),
        ),
        channel="woo",
        admin_order_url="https://shop/wp-admin/admin.php?page=wc-orders&action=edit&id={id}",
    )
    assert doc is not None
    assert dict(doc.lines) == {"MUG": 3, "woocommerce:9:12": 1}
    assert doc.url.endswith("id=42") and doc.reference == "42"


def test_global_unique_id_as_the_sku() -> None:
    doc = order_document(
        order("processing", line("MUG", 1, 1, global_unique_id="2000000000015")),
        channel="woo",
        sku_field="global_unique_id",
    )
    assert doc is not None and dict(doc.lines) == {"2000000000015": 1}


def test_a_checkout_draft_is_never_stock() -> None:
    assert order_document(order("checkout-draft", line("MUG", 1)), channel="woo") is None


@pytest.mark.parametrize(
    "broken",
    [
        {"id": ""},
        {"line_items": "nope"},
        {"date_modified_gmt": "yesterday"},
        {"line_items": [line("MUG", 1, None) | {"quantity": "1.5"}]},
    ],
)
def test_a_broken_order_is_refused_with_a_reason(broken: dict[str, Any]) -> None:
    with pytest.raises(ParseError):
        order_document(order("processing", line("MUG", 1)) | broken, channel="woo")


def test_a_newer_modification_is_a_newer_version() -> None:
    a = order_document(order("processing", line("MUG", 1, 1)), channel="woo")
    b = order_document(
        order("cancelled", line("MUG", 1), date_modified_gmt="2026-11-26T10:06:00"), channel="woo"
    )
    assert a is not None and b is not None and b.version > a.version
