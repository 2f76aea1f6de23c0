"""The real PrestaShop 8.2.0 of ../shared/real-shops, driven as a customer and a merchant would:
orders placed through carts and orders, states changed through order_histories, raw webservice
calls, and the MariaDB socket for what the webservice cannot do. Standard library only (also
used by ``python -m bench prestashop --real``)."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

# The demo data: customer 2 with address 2, carrier 2, currency 1, language 1 (README).
CUSTOMER = {"id_customer": 2, "id_address": 2, "id_carrier": 2, "id_currency": 1, "id_lang": 1}
CANCELLED = 6  # PS_OS_CANCELED of a fresh 8.2.0 install (tests read it through the connector too)


@dataclass
class Answer:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class RealPrestaShop:
    url: str
    key: str
    shop_dir: str
    db_socket: str
    cart_total: str

    @classmethod
    def from_env(cls, env: dict[str, str]) -> RealPrestaShop:
        return cls(
            env["REALPS_URL"],
            env["REALPS_KEY"],
            env["REALPS_SHOP"],
            env["REALPS_DB_SOCKET"],
            env["REALPS_CARTTOTAL"],
        )

    # -- the webservice --------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: str | None = None,
        *,
        json_output: bool = True,
    ) -> Answer:
        query = dict(params or {})
        if json_output:
            query["output_format"] = "JSON"
        url = f"{self.url}/api/{path}" + ("?" + urllib.parse.urlencode(query) if query else "")
        auth = "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()
        request = urllib.request.Request(
            url,
            data=body.encode() if body is not None else None,
            method=method,
            headers={"Authorization": auth, "Content-Type": "text/xml"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:  # noqa: S310 - loopback
                return Answer(resp.status, resp.read(), dict(resp.headers))
        except urllib.error.HTTPError as err:
            return Answer(err.code, err.read(), dict(err.headers))

    def ok(
        self, method: str, path: str, params: dict[str, str] | None = None, body: str | None = None
    ) -> Any:
        answer = self.call(method, path, params, body)
        assert answer.status in (200, 201), (method, path, answer.status, answer.body[:300])
        return answer.json()

    # -- stock rows ------------------------------------------------------------------------------

    def stock_row(self, id_product: int, id_product_attribute: int = 0) -> tuple[int, int]:
        """(stock_available id, quantity) of a product's (combination's) row."""
        data = self.ok(
            "GET",
            "stock_availables",
            {
                "filter[id_product]": f"[{id_product}]",
                "filter[id_product_attribute]": f"[{id_product_attribute}]",
                "display": "[id,quantity]",
            },
        )
        [row] = data["stock_availables"]
        return int(row["id"]), int(row["quantity"])

    def quantity(self, id_product: int, id_product_attribute: int = 0) -> int:
        return self.stock_row(id_product, id_product_attribute)[1]

    def set_quantity(self, id_product: int, id_product_attribute: int, quantity: int) -> None:
        """A merchant's edit in the back office (PATCH)."""
        row, _ = self.stock_row(id_product, id_product_attribute)
        self.ok(
            "PATCH",
            f"stock_availables/{row}",
            body=f"<prestashop><stock_available><id>{row}</id><quantity>{quantity}</quantity>"
            "</stock_available></prestashop>",
        )

    def references(self, id_product: int) -> str:
        data = self.ok("GET", f"products/{id_product}", {"display": "[id,reference]"})
        return str(data["products"][0]["reference"])

    # -- orders, as a customer and the merchant ----------------------------------------------------

    def place_order(self, lines: list[tuple[int, int, int]]) -> int:
        """A customer's order of (product, combination, quantity) lines, paid by check: stock
        moves as for a real customer. The amount must be the cart's total (else "Payment
        error", which moves no stock)."""
        c = CUSTOMER
        rows = "".join(
            f"<cart_row><id_product>{p}</id_product><id_product_attribute>{a}</id_product_attribute>"
            f"<id_address_delivery>{c['id_address']}</id_address_delivery><quantity>{q}</quantity></cart_row>"
            for p, a, q in lines
        )
        cart = self.ok(
            "POST",
            "carts",
            body=f"<prestashop><cart><id_currency>{c['id_currency']}</id_currency>"
            f"<id_lang>{c['id_lang']}</id_lang><id_customer>{c['id_customer']}</id_customer>"
            f"<id_address_delivery>{c['id_address']}</id_address_delivery>"
            f"<id_address_invoice>{c['id_address']}</id_address_invoice>"
            f"<id_carrier>{c['id_carrier']}</id_carrier>"
            f"<associations><cart_rows>{rows}</cart_rows></associations></cart></prestashop>",
        )
        cart_id = int(cart["cart"]["id"])
        total = subprocess.run(
            ["php", self.cart_total, self.shop_dir, str(cart_id)],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        order = self.ok(
            "POST",
            "orders",
            body=f"<prestashop><order><id_address_delivery>{c['id_address']}</id_address_delivery>"
            f"<id_address_invoice>{c['id_address']}</id_address_invoice><id_cart>{cart_id}</id_cart>"
            f"<id_currency>{c['id_currency']}</id_currency><id_lang>{c['id_lang']}</id_lang>"
            f"<id_customer>{c['id_customer']}</id_customer><id_carrier>{c['id_carrier']}</id_carrier>"
            "<module>ps_checkpayment</module><payment>Payment by check</payment>"
            f"<total_paid>{total}</total_paid><total_paid_real>{total}</total_paid_real>"
            f"<total_products>{total}</total_products><total_products_wt>{total}</total_products_wt>"
            "<conversion_rate>1</conversion_rate></order></prestashop>",
        )
        return int(order["order"]["id"])

    def set_state(self, order_id: int, state: int) -> None:
        """The merchant changes an order's state (6 = cancelled: PrestaShop restocks)."""
        self.ok(
            "POST",
            "order_histories",
            body=f"<prestashop><order_history><id_order>{order_id}</id_order>"
            f"<id_order_state>{state}</id_order_state></order_history></prestashop>",
        )

    # -- the database, for what the webservice cannot do -----------------------------------------

    def sql(self, query: str) -> str:
        return subprocess.run(
            [
                "mariadb",
                "--no-defaults",
                "-S",
                self.db_socket,
                "-uroot",
                "-N",
                "prestashop",
                "-e",
                query,
            ],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout
