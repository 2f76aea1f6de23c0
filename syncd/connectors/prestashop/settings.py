"""PrestaShop channel settings: the `[channels.<name>]` table of `type = "prestashop"`, checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from syncd.connectors.prestashop.skus import parse_mapping, pattern_problem
from syncd.connectors.prestashop.wire import PS_TIME
from syncd.settings import ConfigIssue, Secret, TableReader


@dataclass(frozen=True, slots=True)
class PrestaShopSettings:
    url: str
    api_key: Secret
    id_shop: int | None = None
    sku_field: str = "reference"  # reference | ean13
    concurrency: int = 4
    overlap_seconds: int = 300
    page_size: int = 100
    version: str = "auto"  # auto | 1.7 | 8
    admin_order_url: str = ""
    timezone: str = "Europe/Paris"
    timeout_seconds: float = 15.0
    start_from: str = ""  # first pull: orders updated since (PrestaShop local time)
    combination_sku: str = ""  # pattern for combinations without a SKU of their own
    skus: Mapping[tuple[int, int], str] = field(default_factory=dict)  # (product, combination)


def parse_settings(
    table: Mapping[str, Any], *, file: str, prefix: str
) -> tuple[PrestaShopSettings | None, list[ConfigIssue]]:
    """The settings, or None with every problem found (each names its key and a fix)."""
    issues: list[ConfigIssue] = []
    r = TableReader(table, file=file, prefix=prefix, issues=issues)
    url = r.url("url", required=True)
    key = r.secret("api_key", required=True)
    if key is not None and len(key.reveal()) != 32:
        r.problem(
            "api_key",
            "a PrestaShop webservice key is exactly 32 characters",
            "copy the key from Advanced Parameters > Webservice",
        )
    id_shop_raw = table.get("id_shop")
    id_shop = r.integer("id_shop", 0, minimum=1) if id_shop_raw is not None else None
    tz = r.string("timezone", "Europe/Paris")
    try:
        ZoneInfo(tz)
    except (KeyError, ValueError, OSError):  # OSError: "Europe", a folder, with tzdata
        r.problem("timezone", f"unknown time zone {tz!r}", 'timezone = "Europe/Paris"')
    admin_url = r.string("admin_order_url", "")
    if admin_url and "{id}" not in admin_url:
        r.problem(
            "admin_order_url",
            "must contain {id}",
            'admin_order_url = "https://shop/admin123/index.php?controller=AdminOrders&id_order={id}&vieworder"',
        )
    start_from = r.string("start_from", "")
    if start_from:
        try:
            datetime.strptime(start_from, PS_TIME)  # noqa: DTZ007 - a shop-local wall time
        except ValueError:
            r.problem(
                "start_from",
                f"{start_from!r} is not YYYY-MM-DD HH:MM:SS",
                'start_from = "2026-01-01 00:00:00"',
            )
    pattern = r.string("combination_sku", "")
    if pattern and (why := pattern_problem(pattern)):
        r.problem("combination_sku", why, 'combination_sku = "{reference}-{id_product_attribute}"')
    mapping, bad = parse_mapping(r.string_map("skus"))
    for entry in bad:
        r.problem(
            "skus",
            f"{entry!r} is not ID_PRODUCT:ID_PRODUCT_ATTRIBUTE = SKU",
            'skus = { "12:34" = "TEE-S-BLUE" }',
        )
    settings = PrestaShopSettings(
        url=url,
        api_key=key or Secret(""),
        id_shop=id_shop,
        sku_field=r.string("sku_field", "reference", choices=("reference", "ean13")),
        concurrency=r.integer("concurrency", 4, minimum=1, maximum=32),
        overlap_seconds=r.integer("overlap_seconds", 300, minimum=0, maximum=86_400),
        page_size=r.integer("page_size", 100, minimum=1, maximum=1000),
        version=r.string("version", "auto", choices=("auto", "1.7", "8")),
        admin_order_url=admin_url,
        timezone=tz,
        timeout_seconds=r.number("timeout_seconds", 15.0, minimum=1, maximum=300),
        start_from=start_from,
        combination_sku=pattern,
        skus=mapping,
    )
    r.reject_unknown()
    return (settings if url and key else None), issues
