"""One driver for a WooCommerce shop, the real one or the emulator: the PyPI `woocommerce`
client (it signs OAuth 1.0a itself over HTTP), so every scenario runs on both the same way."""

from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass, field
from typing import Any

from woocommerce import API

from syncd.config import parse_config
from syncd.connectors.woocommerce.connector import WooCommerceConnector

KEY = "ck_" + "5" * 40
SECRET = "cs_" + "6" * 40


@dataclass
class WooShop:
    url: str
    key: str
    secret: str
    real: bool = False
    env: dict[str, str] = field(default_factory=dict)  # the real shop's env file
    prefix: str = field(default_factory=lambda: "T" + uuid.uuid4().hex[:6].upper())

    def __post_init__(self) -> None:
        self.api = API(
            url=self.url,
            consumer_key=self.key,
            consumer_secret=self.secret,
            version="wc/v3",
            timeout=60,
        )

    def call(self, method: str, path: str, data: Any = None, **params: Any) -> Any:
        if method in ("get", "delete"):
            answer = getattr(self.api, method)(path, params=params)
        else:
            answer = getattr(self.api, method)(path, data, params=params)
        assert answer.status_code < 300, (method, path, answer.status_code, answer.text[:500])
        return answer.json()

    def sku(self, name: str) -> str:
        """A SKU of this test run (the real shop keeps what earlier runs created)."""
        return f"{self.prefix}-{name}"

    def product(self, name: str, quantity: int | None, *, manage: bool = True) -> int:
        data: dict[str, Any] = {
            "name": name,
            "sku": self.sku(name),
            "regular_price": "10",
            "manage_stock": manage,
        }
        if manage:
            data["stock_quantity"] = quantity
        return int(self.call("post", "products", data)["id"])

    def variable(self, name: str, sizes: dict[str, int]) -> tuple[int, dict[str, int]]:
        parent = self.call(
            "post",
            "products",
            {
                "name": name,
                "sku": self.sku(name),
                "type": "variable",
                "attributes": [
                    {"name": "Size", "options": list(sizes), "variation": True, "visible": True}
                ],
            },
        )
        ids = {}
        for size, qty in sizes.items():
            v = self.call(
                "post",
                f"products/{parent['id']}/variations",
                {
                    "sku": self.sku(f"{name}-{size}"),
                    "regular_price": "10",
                    "manage_stock": True,
                    "stock_quantity": qty,
                    "attributes": [{"name": "Size", "option": size}],
                },
            )
            ids[size] = int(v["id"])
        return int(parent["id"]), ids

    def order(
        self, lines: list[tuple[int, int, int]], status: str = "processing", **extra: Any
    ) -> dict[str, Any]:
        items = [{"product_id": p, "variation_id": v, "quantity": q} for p, v, q in lines]
        return dict(self.call("post", "orders", {"status": status, "line_items": items, **extra}))

    def set_status(self, order_id: int, status: str) -> dict[str, Any]:
        return dict(self.call("put", f"orders/{order_id}", {"status": status}))

    def refund(self, order: dict[str, Any], quantity: int, *, restock: bool) -> None:
        item = order["line_items"][0]
        self.call(
            "post",
            f"orders/{order['id']}/refunds",
            {
                "amount": "1.00",
                "api_refund": False,
                "api_restock": restock,
                "line_items": [{"id": item["id"], "quantity": quantity, "refund_total": 1}],
            },
        )

    def stock(self, product_id: int) -> int | None:
        q = self.call("get", f"products/{product_id}")["stock_quantity"]
        return None if q is None else int(q)

    def variation_stock(self, parent: int, variation: int) -> int:
        return int(self.call("get", f"products/{parent}/variations/{variation}")["stock_quantity"])

    def run_queue(self) -> None:
        """Deliver queued webhooks now (the real shop's Action Scheduler; the emulator's queue)."""
        if self.real:
            subprocess.run(
                [
                    "php",
                    self.env["REALWC_WP_TOOL"],
                    self.env["REALWC_SITE"],
                    self.env["REALWC_URL"],
                    "run-queue",
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
        else:
            import requests

            requests.post(f"{self.url}/__emulator/webhooks/deliver", timeout=30)


def connector_for(shop: WooShop, name: str = "woo", **extra: Any) -> WooCommerceConnector:
    table = {
        "type": "woocommerce",
        "url": shop.url,
        "consumer_key": shop.key,
        "consumer_secret": shop.secret,
        "overlap_seconds": 2,
        "timeout_seconds": 30,
        **extra,
    }
    settings = parse_config({"channels": {name: table}}, file="test.toml")
    return WooCommerceConnector(name, settings.channel(name).options)
