"""A Magento 2.4 REST emulator for what syncd uses (shared/reference/connector-apis.md §2 and
its "Observed on real shops" section): the HTTP side. The shop itself (stock rules, orders,
credit memos, searchCriteria) is ``emulator_state.py``. The real `pymagento` client drives it
in the tests, and tests/magento/test_parity.py holds its answers' shapes to the real shop's.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from syncd.connectors.emulation import (
    Faults,
    add_write_log,
    demo_catalog,
    install_faults,
    serve_forever,
)
from syncd.connectors.magento.emulator_state import (
    DEFAULT_SOURCE,
    DEFAULT_STOCK,
    ORDER_FIELDS,
    MagentoEmulator,
    OrderHead,
    creditmemo_json,
    order_json,
    search,
)

__all__ = ["DEFAULT_SOURCE", "MagentoEmulator", "create_app", "expire_tokens", "run_standalone"]

# -- the HTTP app -------------------------------------------------------------------------------

EMULATOR_KEY = web.AppKey("magento_emulator", MagentoEmulator)
CONFIG_KEY = web.AppKey("magento_config", dict)


def _error(status: int, message: str, parameters: Any = None) -> web.Response:
    body: dict[str, Any] = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    return web.json_response(body, status=status)


def create_app(
    emulator: MagentoEmulator,
    *,
    username: str = "admin",
    password: str = "admin123",
    token_ttl_seconds: float = 3600,
    integration_token: str | None = None,
    input_limit: bool = False,
    faults: Faults | None = None,
    seed: int | None = None,
) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app[CONFIG_KEY] = {
        "username": username,
        "password": password,
        "ttl": token_ttl_seconds,
        "integration_token": integration_token,
        "input_limit": input_limit,
        "tokens": {},
        "refused": 0,  # requests answered 401
    }
    install_faults(app, faults, seed)
    app.router.add_post("/rest/V1/integration/admin/token", _token)
    app.router.add_post("/rest/{store}/V1/integration/admin/token", _token)
    app.router.add_route("*", "/rest/V1/{path:.*}", _api)
    app.router.add_route("*", "/rest/{store}/V1/{path:.*}", _api)
    _admin_routes(app)
    return app


async def _token(request: web.Request) -> web.Response:
    config = request.app[CONFIG_KEY]
    try:
        data = await request.json()
    except (ValueError, json.JSONDecodeError):
        return _error(400, "Request body is invalid JSON")
    if data.get("username") != config["username"] or data.get("password") != config["password"]:
        return _error(
            401,
            "The account sign-in was incorrect or your account is disabled temporarily. Please wait and try again later.",
        )
    # A JWT as 2.4.7 issues (header.payload.signature, `exp` in seconds since the epoch); the
    # signature is random: nothing here verifies it but this emulator.
    now = time.time()
    header = {"kid": "1", "alg": "HS256"}
    payload = {"uid": 1, "utypid": 2, "iat": int(now), "exp": int(now + config["ttl"])}
    token = ".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
        for part in (header, payload)
    )
    token += "." + secrets.token_urlsafe(32)
    config["tokens"][token] = time.monotonic() + config["ttl"]
    return web.json_response(token)


def _authorized(request: web.Request) -> bool:
    config = request.app[CONFIG_KEY]
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return False
    token = header[7:]
    if config["integration_token"] and secrets.compare_digest(token, config["integration_token"]):
        return True
    expiry = config["tokens"].get(token)
    return expiry is not None and expiry > time.monotonic()


def expire_tokens(app: web.Application) -> None:
    """Every admin token expires now (tests of refresh)."""
    for token in app[CONFIG_KEY]["tokens"]:
        app[CONFIG_KEY]["tokens"][token] = 0.0


NO_ENTITY = "The entity that was requested doesn't exist. Verify the entity and try again."
NO_PRODUCT = "The product that was requested doesn't exist. Verify the product and try again."
# get-product-salable-quantity for a SKU that is no product: 500, this text/plain (observed)
APPLICATION_ERROR = "An error has happened during application run. See exception log for details.\n"
NO_SOURCE_ITEMS = "Can't check requested quantity for products without Source Items support."


async def _json_body(request: web.Request) -> Any:
    return await request.json() if request.can_read_body else None


async def _api(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    path = request.match_info["path"]
    emulator.requests.append((request.method, "/V1/" + path))
    if not _authorized(request):
        request.app[CONFIG_KEY]["refused"] += 1
        return _error(
            401,
            "The consumer isn't authorized to access %resources.",
            {"resources": "Magento_Sales::actions_view"},
        )
    try:
        for method, pattern, handler in ROUTES:
            if request.method == method and (m := re.fullmatch(pattern, path)):
                response: web.Response = await handler(
                    request, emulator, *(unquote(g) for g in m.groups())
                )
                return response
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return _error(400, "Invalid request: %1", [str(err)])
    return _error(404, "Request does not match any route.")


Handler = Callable[..., Awaitable[web.Response]]  # (request, emulator, *path groups)


async def _orders(request: web.Request, emu: MagentoEmulator) -> web.Response:
    # Filters and sorts read an order's own fields; only the page is rendered whole.
    heads = [
        OrderHead(o, {f: getattr(o, f) for f in ORDER_FIELDS})
        for o in emu.orders.values()  # ids only grow: already in id order
    ]
    return web.json_response(search(heads, dict(request.query), lambda h: order_json(h.order)))


async def _order(request: web.Request, emu: MagentoEmulator, oid: str) -> web.Response:
    order = emu.orders.get(int(oid))
    return web.json_response(order_json(order)) if order else _error(404, NO_ENTITY)


async def _order_action(
    request: web.Request, emu: MagentoEmulator, oid: str, action: str
) -> web.Response:
    """POST orders/{id}/cancel answers true or false; order/{id}/ship and invoice the new
    document's id as a JSON string (observed)."""
    if int(oid) not in emu.orders:
        return _error(404, NO_ENTITY)
    if action == "cancel":
        return web.json_response(emu.cancel(int(oid)))
    if action == "invoice":
        return web.json_response(str(emu.invoice(int(oid))))
    order = emu.orders[int(oid)]
    by_id = {i.item_id: i for i in order.items}
    body = (await _json_body(request)) or {}
    wanted = body.get("items")  # [{order_item_id, qty}]
    lines = {by_id[int(e["order_item_id"])].sku: int(e["qty"]) for e in wanted} if wanted else None
    extension = (body.get("arguments") or {}).get("extension_attributes") or {}
    source = str(extension.get("source_code") or DEFAULT_SOURCE)
    if source not in emu.sources:
        return _error(400, "Source item not found.")
    done = emu.ship(int(oid), lines, source)
    return web.json_response(str(done))


async def _refund(request: web.Request, emu: MagentoEmulator, oid: str) -> web.Response:
    """POST order/{id}/refund: {"items":[{order_item_id, qty}], "arguments":
    {"extension_attributes": {"return_to_stock_items": [ids]}}}; the credit memo's id."""
    order = emu.orders.get(int(oid))
    if order is None:
        return _error(404, NO_ENTITY)
    body = await _json_body(request) or {}
    by_id = {i.item_id: i for i in order.items}
    refund = []
    for entry in body.get("items") or []:
        line = by_id.get(int(entry["order_item_id"]))
        qty = int(entry.get("qty", 0))
        if line is None or not order.ships(line):  # a configurable's child line (observed)
            return _error(
                400,
                "Creditmemo Document Validation Error(s):\nThe creditmemo contains incorrect product items.",
            )
        if qty <= 0 or qty > line.qty_ordered - line.qty_canceled - line.qty_refunded:
            return _error(400, 'We found an invalid quantity to refund item "%1".', [line.name])
        refund.append((line, qty))
    arguments = body.get("arguments") or {}
    if "return_to_stock_items" in arguments:
        return _error(400, '"ReturnToStockItems" is not supported')  # observed
    back = (arguments.get("extension_attributes") or {}).get("return_to_stock_items") or []
    memo = emu.refund(int(oid), refund, [int(b) for b in back])
    return web.json_response(str(memo))  # the credit memo's id as a JSON string (observed)


async def _creditmemos(request: web.Request, emu: MagentoEmulator) -> web.Response:
    rows = [
        {"entity_id": m.entity_id, "order_id": m.order_id, "created_at": m.created_at, "memo": m}
        for m in emu.creditmemos.values()
    ]
    return web.json_response(
        search(rows, dict(request.query), lambda r: creditmemo_json(r["memo"]))
    )


async def _creditmemo(request: web.Request, emu: MagentoEmulator, mid: str) -> web.Response:
    memo = emu.creditmemos.get(int(mid))
    return web.json_response(creditmemo_json(memo)) if memo else _error(404, NO_ENTITY)


async def _products(request: web.Request, emu: MagentoEmulator) -> web.Response:
    rows = [
        {"id": p["id"], "sku": p["sku"], "name": p["name"], "type_id": p["type_id"]}
        for p in emu.products.values()
    ]
    return web.json_response(search(rows, dict(request.query)))


async def _product(request: web.Request, emu: MagentoEmulator, sku: str) -> web.Response:
    product = emu.products.get(sku)
    if product is None:
        return _error(404, NO_PRODUCT)
    answer = {
        "id": product["id"],
        "sku": sku,
        "name": product["name"],
        "type_id": product["type_id"],
        "extension_attributes": {"stock_item": emu.stock_items.get(sku)},
    }
    if product["type_id"] == "bundle":
        answer["extension_attributes"] = {
            "bundle_product_options": product["bundle_product_options"]
        }
    fields = request.query.get("fields")  # Magento's field filter: `fields=sku,type_id`
    if fields:
        answer = {k: v for k, v in answer.items() if k in fields.split(",")}
    return web.json_response(answer)


async def _stock_item(request: web.Request, emu: MagentoEmulator, sku: str) -> web.Response:
    if sku not in emu.stock_items:
        return _error(404, 'Product with SKU "%1" does not exist', [sku])
    return web.json_response(emu.stock_items[sku])


async def _put_stock_item(
    request: web.Request, emu: MagentoEmulator, sku: str, _item_id: str
) -> web.Response:
    if sku not in emu.stock_items:
        return _error(404, NO_PRODUCT)
    body = ((await _json_body(request)) or {}).get("stockItem", {})
    item = emu.stock_items[sku]
    if "qty" in body:
        item["qty"] = float(body["qty"])
        item["qty"] = int(item["qty"]) if float(item["qty"]).is_integer() else item["qty"]
        if emu.msi:  # with MSI the legacy API writes the default source
            emu.source_items[(sku, DEFAULT_SOURCE)]["quantity"] = item["qty"]
            emu.reindex(sku)
    if "is_in_stock" in body:
        item["is_in_stock"] = bool(body["is_in_stock"])
    if emu.on_write is not None:
        emu.on_write(sku, int(item["qty"]))
    return web.json_response(item["item_id"])


def _msi_only(emu: MagentoEmulator) -> web.Response | None:
    return None if emu.msi else _error(404, "Request does not match any route.")


async def _sources(request: web.Request, emu: MagentoEmulator) -> web.Response:
    rows = [
        {"source_code": s, "name": "Default Source" if s == DEFAULT_SOURCE else s, "enabled": True}
        for s in sorted(emu.sources)
    ]
    return _msi_only(emu) or web.json_response(search(rows, dict(request.query)))


def _stock_json(emu: MagentoEmulator, stock: int) -> dict[str, Any]:
    channels = [{"type": "website", "code": "base"}] if stock == 1 else []
    return {
        "stock_id": stock,
        "name": emu.stocks[stock],
        "extension_attributes": {"sales_channels": channels},
    }


async def _stocks(request: web.Request, emu: MagentoEmulator) -> web.Response:
    rows = [_stock_json(emu, i) for i in sorted(emu.stocks)]
    return _msi_only(emu) or web.json_response(search(rows, dict(request.query)))


async def _stock(request: web.Request, emu: MagentoEmulator, stock: str) -> web.Response:
    if int(stock) not in emu.stocks:
        return _error(404, 'Stock with id "%value" does not exist.', {"value": int(stock)})
    return web.json_response(_stock_json(emu, int(stock)))


async def _export_salable(
    request: web.Request, emu: MagentoEmulator, kind: str, code: str
) -> web.Response:
    """export-stock-salable-qty/website/base: products searched, each with Magento's salable
    (PreciseExportStockProcessor): a product without source items of its own has qty 0 and
    is_salable true; one not assigned to the stock is left out; no product, no row."""
    refused = _msi_only(emu)
    if refused:
        return refused
    rows = []
    for product in emu.products.values():
        sku = product["sku"]
        if product["type_id"] != "simple":
            rows.append({"sku": sku, "qty": 0, "is_salable": True})
        elif emu.assigned(sku):
            figure = emu.salable(sku)
            rows.append({"sku": sku, "qty": figure, "is_salable": figure > 0})
    return web.json_response(search(rows, dict(request.query)))


async def _stock_links(request: web.Request, emu: MagentoEmulator) -> web.Response:
    rows = [
        {"stock_id": stock, "source_code": source, "priority": n}
        for stock, sources in sorted(emu.stock_sources.items())
        for n, source in enumerate(sources, start=1)
    ]
    return _msi_only(emu) or web.json_response(search(rows, dict(request.query)))


async def _add_source(request: web.Request, emu: MagentoEmulator) -> web.Response:
    """POST inventory/sources {"source": {"source_code", "name", "enabled", ...}}: [] (observed
    answer of SourceRepository::save through REST: nothing)."""
    source = ((await _json_body(request)) or {}).get("source") or {}
    code = str(source.get("source_code") or "")
    if not code:
        return _error(400, "Validation Failed")
    emu.sources.add(code)
    return _msi_only(emu) or web.json_response([])


async def _add_stock_links(request: web.Request, emu: MagentoEmulator) -> web.Response:
    """POST inventory/stock-source-links {"links": [{"stock_id", "source_code", "priority"}]}.
    No link may name the Default Source or the Default Stock (InventoryCatalog's
    AssignToDefaultStockDefaultSourceValidator; observed on 2.4.7-p3)."""
    links = ((await _json_body(request)) or {}).get("links") or []
    if any(
        int(link["stock_id"]) == DEFAULT_STOCK or link["source_code"] == DEFAULT_SOURCE
        for link in links
    ):
        refused = "Can not save link related to Default Source or Default Stock"
        return web.json_response(
            {"message": "Validation Failed", "errors": [{"message": refused, "parameters": []}]},
            status=400,
        )
    for link in links:
        emu.add_source(str(link["source_code"]), stock=int(link["stock_id"]))
    return _msi_only(emu) or web.json_response([])


async def _shipments(request: web.Request, emu: MagentoEmulator) -> web.Response:
    """GET shipments: each with the source it shipped from (InventoryShipping's
    GetListShipmentRepositoryPlugin puts ``extension_attributes.source_code`` on getList)."""
    return web.json_response(search(list(emu.shipments), dict(request.query)))


async def _source_items(request: web.Request, emu: MagentoEmulator) -> web.Response:
    rows = list(emu.source_items.values())
    return _msi_only(emu) or web.json_response(search(rows, dict(request.query)))


async def _write_source_items(request: web.Request, emu: MagentoEmulator) -> web.Response:
    refused = _msi_only(emu)
    if refused:
        return refused
    items = ((await _json_body(request)) or {}).get("sourceItems", [])
    if request.app[CONFIG_KEY]["input_limit"] and len(items) > 20:
        return _error(
            400, "The number of items in the array is above the allowed maximum of %1.", [20]
        )
    for entry in items:  # validated before anything else (observed)
        try:
            float(entry["status"])
        except (KeyError, TypeError, ValueError):
            return web.json_response(
                {
                    "message": 'Validation Failed: "status" should be numeric.',
                    "errors": [
                        {
                            "message": '"%field" should be numeric.',
                            "parameters": {"field": "status"},
                        }
                    ],
                },
                status=400,
            )
    if any(entry.get("source_code") not in emu.sources for entry in items):
        return _error(400, "Could not save Source Item")  # observed, for an unknown source
    for entry in items:
        # A SKU that is no product is stored all the same (observed: 200 [] and the row)
        sku, source = str(entry.get("sku")), str(entry.get("source_code"))
        emu.source_items[(sku, source)] = {
            "sku": sku,
            "source_code": source,
            "quantity": entry.get("quantity", 0),
            "status": int(entry.get("status", 0)),
        }
        emu.reindex(sku)
        if emu.on_write is not None:
            emu.on_write(sku, int(entry.get("quantity", 0)))
    return web.json_response([])


async def _salable(
    request: web.Request, emu: MagentoEmulator, sku: str, stock: str
) -> web.Response:
    """The order of checks is Magento's (observed): no product → 500 with a line of text
    (also for a source item without a product); a product without source items (configurable,
    bundle) → 400; then an unknown stock → 400."""
    product = emu.products.get(sku)
    if product is None or sku in emu.failing_salable:
        return web.Response(text=APPLICATION_ERROR, status=500, content_type="text/plain")
    if product["type_id"] != "simple":
        return _error(400, NO_SOURCE_ITEMS)
    if int(stock) not in emu.stocks:
        return _error(400, "Could not receive Stock Item data")
    return web.json_response(emu.salable(sku))


ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", r"orders", _orders),
    ("GET", r"orders/(\d+)", _order),
    ("POST", r"orders/(\d+)/(cancel)", _order_action),
    ("POST", r"order/(\d+)/(ship|invoice)", _order_action),
    ("POST", r"order/(\d+)/refund", _refund),
    ("GET", r"creditmemos", _creditmemos),
    ("GET", r"creditmemo/(\d+)", _creditmemo),
    ("GET", r"products/?", _products),
    ("GET", r"products/([^/]+)", _product),
    ("GET", r"stockItems/([^/]+)", _stock_item),
    ("PUT", r"products/([^/]+)/stockItems/(\d+)", _put_stock_item),
    ("GET", r"inventory/sources", _sources),
    ("GET", r"inventory/stocks", _stocks),
    ("GET", r"inventory/stocks/(\d+)", _stock),
    ("GET", r"inventory/stock-source-links", _stock_links),
    ("GET", r"inventory/source-items", _source_items),
    ("POST", r"inventory/source-items", _write_source_items),
    ("POST", r"inventory/sources", _add_source),
    ("POST", r"inventory/stock-source-links", _add_stock_links),
    ("GET", r"shipments", _shipments),
    ("GET", r"inventory/get-product-salable-quantity/([^/]+)/(\d+)", _salable),
    ("GET", r"inventory/export-stock-salable-qty/(website)/(base)", _export_salable),
]


def _admin_routes(app: web.Application) -> None:
    async def products(request: web.Request) -> web.Response:
        data = await request.json()
        request.app[EMULATOR_KEY].add_product(
            data["sku"],
            int(data.get("quantity", 0)),
            name=data.get("name", ""),
            parent=data.get("parent"),
        )
        return web.json_response({"ok": True})

    async def orders(request: web.Request) -> web.Response:
        data = await request.json()
        oid = request.app[EMULATOR_KEY].place_order(
            {k: int(v) for k, v in data["lines"].items()},
            configurable=bool(data.get("configurable")),
        )
        return web.json_response({"id": oid})

    async def action(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        oid, what = int(request.match_info["id"]), request.match_info["action"]
        if what == "ship":
            data = await request.json() if request.can_read_body else {}
            emulator.ship(oid, source=str(data.get("source") or DEFAULT_SOURCE))
        elif what == "cancel":
            emulator.cancel(oid)
        elif what == "invoice":
            emulator.invoice(oid)
        elif what == "refund":
            data = await request.json()
            emulator.credit_memo(
                oid,
                {k: int(v) for k, v in data["lines"].items()},
                bool(data.get("return_to_stock", True)),
                name_parent=bool(data.get("name_parent", False)),
            )
        else:
            raise web.HTTPNotFound()
        return web.json_response({"ok": True})

    async def quantities(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        if request.method == "POST":
            for sku, qty in (await request.json()).items():
                emulator.set_source_quantity(sku, int(qty))
        skus = [s for s, p in emulator.products.items() if p["type_id"] == "simple"]
        return web.json_response(
            {
                s: {"source": emulator.source_quantity(s), "salable": emulator.salable(s)}
                for s in skus
            }
        )

    app.router.add_post("/__emulator/products", products)
    app.router.add_post("/__emulator/orders", orders)
    app.router.add_post("/__emulator/orders/{id}/{action}", action)
    app.router.add_route("*", "/__emulator/quantities", quantities)

    async def expire(request: web.Request) -> web.Response:
        """Every admin token expires now: the next call gets 401 and must log in again."""
        expire_tokens(request.app)
        return web.json_response({"ok": True})

    app.router.add_post("/__emulator/expire-tokens", expire)

    add_write_log(app, EMULATOR_KEY)


def run_standalone(host: str, port: int, products: int) -> None:
    """`syncd emulator magento`: serve a shop with the demo catalogue until Ctrl-C."""
    emulator = MagentoEmulator()
    emulator.load_catalog(demo_catalog(products))
    password = secrets.token_urlsafe(12)
    token = secrets.token_hex(16)
    app = create_app(emulator, password=password, integration_token=token)
    info = {"username": "admin", "password": password, "access_token": token, "products": products}
    serve_forever(app, host, port, info)
