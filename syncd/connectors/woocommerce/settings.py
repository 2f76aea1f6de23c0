"""WooCommerce channel settings: the `[channels.<name>]` table of `type = "woocommerce"`, checked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from syncd.settings import ConfigIssue, Secret, TableReader

# What identifies a product or variation across channels: its SKU, or its GTIN/UPC/EAN/ISBN
# (`global_unique_id`, WooCommerce 9.2+; both are on products, variations and order lines).
SKU_FIELDS = ("sku", "global_unique_id")
START_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True, slots=True)
class WooCommerceSettings:
    url: str  # the site's home URL; the API is at <url>/wp-json/wc/v3/
    consumer_key: Secret
    consumer_secret: Secret
    sku_field: str = "sku"
    page_size: int = 100
    overlap_seconds: int = 300
    timezone: str = "Europe/Paris"  # the shop's; start_from is read in it
    start_from: str = ""  # first pull: orders modified since (shop-local time)
    timeout_seconds: float = 15.0
    concurrency: int = 4
    admin_order_url: str = ""

    @property
    def https(self) -> bool:
        return urlsplit(self.url).scheme.lower() == "https"


def parse_settings(
    table: Mapping[str, Any], *, file: str, prefix: str
) -> tuple[WooCommerceSettings | None, list[ConfigIssue]]:
    """The settings, or None with every problem found (each names its key and a fix)."""
    issues: list[ConfigIssue] = []
    r = TableReader(table, file=file, prefix=prefix, issues=issues)
    url = r.url("url", required=True, credentials_key="consumer_secret_file")
    key = r.secret("consumer_key", required=True)
    secret = r.secret("consumer_secret", required=True)
    if key is not None and not key.reveal().startswith("ck_"):
        r.problem(
            "consumer_key",
            "a WooCommerce consumer key starts with ck_",
            "copy it from WooCommerce > Settings > Advanced > REST API",
        )
    if secret is not None and not secret.reveal().startswith("cs_"):
        r.problem(
            "consumer_secret",
            "a WooCommerce consumer secret starts with cs_",
            "copy it from WooCommerce > Settings > Advanced > REST API",
        )
    tz = r.string("timezone", "Europe/Paris")
    try:
        ZoneInfo(tz)
    except (KeyError, ValueError, OSError):  # OSError: "Europe", a folder, with tzdata
        r.problem("timezone", f"unknown time zone {tz!r}", 'timezone = "Europe/Paris"')
    start_from = r.string("start_from", "")
    if start_from:
        try:
            datetime.strptime(start_from, START_FORMAT)  # noqa: DTZ007 - a shop-local wall time
        except ValueError:
            r.problem(
                "start_from",
                f"{start_from!r} is not YYYY-MM-DD HH:MM:SS",
                'start_from = "2026-01-01 00:00:00"',
            )
    admin_url = r.string("admin_order_url", "")
    if admin_url and "{id}" not in admin_url:
        r.problem(
            "admin_order_url",
            "must contain {id}",
            'admin_order_url = "https://shop/wp-admin/admin.php?page=wc-orders&action=edit&id={id}"',
        )
    settings = WooCommerceSettings(
        url=url.rstrip("/"),
        consumer_key=key or Secret(""),
        consumer_secret=secret or Secret(""),
        sku_field=r.string("sku_field", "sku", choices=SKU_FIELDS),
        # WooCommerce answers 400 rest_invalid_param above 100 a page (per_page maximum 100)
        page_size=r.integer("page_size", 100, minimum=1, maximum=100),
        overlap_seconds=r.integer("overlap_seconds", 300, minimum=0, maximum=86_400),
        timezone=tz,
        start_from=start_from,
        timeout_seconds=r.number("timeout_seconds", 15.0, minimum=1, maximum=300),
        concurrency=r.integer("concurrency", 4, minimum=1, maximum=32),
        admin_order_url=admin_url,
    )
    r.reject_unknown()
    return (settings if url and key and secret else None), issues
