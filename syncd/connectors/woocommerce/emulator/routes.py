"""The HTTP side of the WooCommerce emulator: ``/wp-json/wc/v3/…`` as WooCommerce 11.0.1 answers
it (checked against the real one by tests/woocommerce/test_parity.py), its authentication
(``includes/class-wc-rest-authentication.php``), paging headers, batch answers, webhook
deliveries, and the ``/__emulator/…`` admin API for tests, the demo and the benchmarks."""

from __future__ import annotations

import json
import math
import operator
import secrets
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from syncd.connectors.emulation import (
    CatalogItem,
    Faults,
    add_write_log,
    demo_catalog,
    install_faults,
    serve_forever,
)
from syncd.connectors.woocommerce.emulator.auth import (
    EMULATOR_KEY,
    OPTIONS_KEY,
    Options,
    authenticate,
    denied,
    error,
)
from syncd.connectors.woocommerce.emulator.state import (
    GMT,
    PARIS,
    ShopError,
    Webhook,
    WooCommerceEmulator,
    order_json,
    product_json,
)
from syncd.connectors.woocommerce.emulator.webhooks import (
    SESSION_KEY,
    deliver_due,
    queue,
    start_deliveries,
    stop_deliveries,
)


def _base(request: web.Request) -> str:
    return f"http://{request.host}"


def _fields(rows: Any, request: web.Request) -> Any:
    """WordPress' ``_fields``: only the top-level fields asked for."""
    wanted = request.query.get("_fields")
    if not wanted:
        return rows
    names = {n.strip().split(".")[0] for n in wanted.split(",") if n.strip()}
    if isinstance(rows, list):
        return [{k: v for k, v in r.items() if k in names} for r in rows]
    return {k: v for k, v in rows.items() if k in names}


def _paged(request: web.Request, rows: list[dict[str, Any]]) -> web.Response:
    """A page of a list, with X-WP-Total, X-WP-TotalPages and Link (prev/next repeat the
    request's own parameters, OAuth ones included, as WordPress does)."""
    try:
        per_page = int(request.query.get("per_page", "10"))
        page = int(request.query.get("page", "1"))
    except ValueError:
        return error(400, "rest_invalid_param", "Invalid parameter(s): per_page")
    if not 1 <= per_page <= 100:
        return error(
            400,
            "rest_invalid_param",
            "Invalid parameter(s): per_page",
            params={"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
        )
    if page < 1:
        return error(400, "rest_invalid_param", "Invalid parameter(s): page")
    total = len(rows)
    pages = math.ceil(total / per_page)
    chunk = rows[(page - 1) * per_page : page * per_page]
    if not chunk and page > 1:
        total = pages = 0  # past the last page WooCommerce counts nothing (observed, HPOS)
    query = [(k, v) for k, v in request.query.items() if k != "page"]
    url = f"{_base(request)}{request.path}"
    links = []
    if page > 1:
        links.append(
            f'<{url}?{urlencode([*query, ("page", str(min(page, pages + 1) - 1))])}>; rel="prev"'
        )
    if page < pages:
        links.append(f'<{url}?{urlencode([*query, ("page", str(page + 1))])}>; rel="next"')
    headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
    if links:
        headers["Link"] = ", ".join(links)
    return web.json_response(_fields(chunk, request), headers=headers)


# WC_REST_Controller::check_batch_limit (filter woocommerce_rest_batch_items_limit, default 100)
BATCH_LIMIT = 100

# -- the API ------------------------------------------------------------------------------------


Route = Callable[[web.Request, WooCommerceEmulator], Awaitable[web.Response]]


def _api(kind: str, route: Route) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        emulator.requests.append((request.method, request.path))
        request.app[OPTIONS_KEY].base = _base(request)
        auth = authenticate(request)
        if isinstance(auth, web.Response):
            request.app[OPTIONS_KEY].refused += 1
            return auth
        if not auth:
            request.app[OPTIONS_KEY].refused += 1
            return denied(request, kind)
        try:
            return await route(request, emulator)
        except ShopError as err:
            return web.json_response(err.body(), status=err.status)

    return handler


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (ValueError, json.JSONDecodeError) as err:
        raise ShopError(400, "rest_invalid_json", "Invalid JSON body passed.") from err
    return data if isinstance(data, dict) else {}


async def list_orders(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    q = request.query
    statuses = {s for s in q.get("status", "any").split(",") if s}
    rows = list(emulator.orders.values())
    if "any" in statuses:
        rows = [o for o in rows if o["status"] not in ("trash", "checkout-draft")]
    else:
        rows = [o for o in rows if o["status"] in statuses]
    gmt = q.get("dates_are_gmt") in ("true", "1")
    for name, column, keep in (
        ("modified_after", "date_modified_gmt", operator.gt),
        ("modified_before", "date_modified_gmt", operator.lt),
        ("after", "date_created_gmt", operator.gt),
        ("before", "date_created_gmt", operator.lt),
    ):
        if name in q:
            limit = q[name][:19]
            if not gmt:  # a shop-local time: Europe/Paris
                limit = (
                    datetime.strptime(limit, GMT)
                    .replace(tzinfo=PARIS)
                    .astimezone(UTC)
                    .strftime(GMT)
                )
            rows = [o for o in rows if keep(o[column], limit)]
    orderby = {"modified": "date_modified_gmt", "id": "id", "date": "date_created_gmt"}.get(
        q.get("orderby", "date"), "date_created_gmt"
    )
    reverse = q.get("order", "desc") == "desc"
    rows.sort(key=lambda o: (o[orderby], o["id"]), reverse=reverse)
    base = _base(request)
    return _paged(request, [order_json(o, base) for o in rows])


async def get_order(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    order = emulator.order(int(request.match_info["id"]))
    return web.json_response(_fields(order_json(order, _base(request)), request))


async def create_order(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    data = await _body(request)
    lines = [
        (
            int(i.get("product_id") or 0),
            int(i.get("variation_id") or 0),
            int(i.get("quantity") or 1),
        )
        for i in data.get("line_items") or []
    ]
    order = emulator.create_order(
        lines, status=str(data.get("status") or "pending"), set_paid=bool(data.get("set_paid"))
    )
    return web.json_response(order_json(order, _base(request)), status=201)


async def update_order(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    order = emulator.order(int(request.match_info["id"]))
    data = await _body(request)
    if data.get("set_paid"):
        emulator.pay(order)
    if "status" in data:
        emulator.set_status(order, str(data["status"]))
    return web.json_response(order_json(order, _base(request)))


async def delete_order(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    oid = int(request.match_info["id"])
    order = emulator.order(oid)
    answer = order_json(order, _base(request))
    if request.query.get("force") in ("true", "1"):
        emulator.delete(oid)
    else:
        emulator.trash(order)
    return web.json_response(answer)


async def create_refund(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    order = emulator.order(int(request.match_info["id"]))
    data = await _body(request)
    if data.get("api_refund", True) not in (False, "false", 0, "0"):
        # No gateway here (as on the real test shop: the order has no payment method).
        raise ShopError(
            500,
            "woocommerce_rest_cannot_create_order_refund",
            "The payment gateway for this order does not exist.",
        )
    lines = {int(i["id"]): int(i.get("quantity") or 0) for i in data.get("line_items") or []}
    restock = data.get("api_restock", True) not in (False, "false", 0, "0")
    refund = emulator.refund(order, lines, restock=restock, amount=str(data.get("amount", "0")))
    return web.json_response(refund, status=201)


def _sku_filter(request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``sku`` / ``global_unique_id``: comma lists (and the whole string too); products and
    variations at once (WC_REST_Products_Controller::prepare_objects_query)."""
    for name in ("sku", "global_unique_id"):
        wanted = request.query.get(name)
        if wanted:
            values = set(wanted.split(",")) | {wanted}
            return [p for p in rows if p[name] and p[name] in values]
    return None


async def list_products(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    rows = list(emulator.products.values())
    found = _sku_filter(request, rows)
    if found is None:
        rows = [p for p in rows if p["type"] != "variation"]
    else:
        rows = found
    if request.query.get("orderby") == "id":
        rows.sort(key=lambda p: p["id"], reverse=request.query.get("order", "desc") == "desc")
    else:  # date, newest first by default
        rows.sort(
            key=lambda p: (p["date_created_gmt"], p["id"]),
            reverse=request.query.get("order", "desc") == "desc",
        )
    base = _base(request)
    return _paged(request, [product_json(p, base) for p in rows])


def _product(emulator: WooCommerceEmulator, pid: int, *, variation_of: int = 0) -> dict[str, Any]:
    product = emulator.products.get(pid)
    if variation_of:
        if product is None or product["parent_id"] != variation_of:
            raise ShopError(404, "woocommerce_rest_product_variation_invalid_id", "Invalid ID.")
        return product
    if product is None:
        raise ShopError(400, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    if product["type"] == "variation":
        raise ShopError(
            404,
            "woocommerce_rest_invalid_product_id",
            "To manipulate product variations you should use the "
            "/products/&lt;product_id&gt;/variations/&lt;id&gt; endpoint.",
        )
    return product


def _apply(emulator: WooCommerceEmulator, product: dict[str, Any], data: Mapping[str, Any]) -> None:
    if "manage_stock" in data:
        product["manage_stock"] = bool(data["manage_stock"])
        if not product["manage_stock"]:
            product["stock_quantity"] = None
        elif product["stock_quantity"] is None:
            product["stock_quantity"] = 0
    if "sku" in data:
        product["sku"] = str(data["sku"])
    if "stock_quantity" in data and data["stock_quantity"] is not None:
        emulator.set_stock(product, int(data["stock_quantity"]))
    else:
        emulator.touch(product)


async def get_product(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    product = emulator.products.get(int(request.match_info["id"]))
    if product is None:
        raise ShopError(404, "woocommerce_rest_product_invalid_id", "Invalid ID.")
    return web.json_response(_fields(product_json(product, _base(request)), request))


async def create_product(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    data = await _body(request)
    manage = bool(data.get("manage_stock", False))
    if data.get("type") == "variable":
        pid = emulator.add_product(
            str(data.get("sku") or ""), name=str(data.get("name") or ""), variations={}
        )
    else:
        pid = emulator.add_product(
            str(data.get("sku") or ""),
            int(data.get("stock_quantity") or 0) if manage else None,
            name=str(data.get("name") or ""),
            manage_stock=manage,
        )
    return web.json_response(product_json(emulator.products[pid], _base(request)), status=201)


async def update_product(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    product = _product(emulator, int(request.match_info["id"]))
    _apply(emulator, product, await _body(request))
    return web.json_response(product_json(product, _base(request)))


async def batch_products(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    return await _batch(request, emulator, variation_of=0)


async def list_variations(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    parent = _product(emulator, int(request.match_info["id"]))
    rows = [emulator.products[v] for v in parent["variations"] if v in emulator.products]
    rows.sort(key=lambda p: p["id"], reverse=request.query.get("order", "desc") == "desc")
    base = _base(request)
    return _paged(request, [product_json(p, base) for p in rows])


async def create_variation(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    parent = _product(emulator, int(request.match_info["id"]))
    data = await _body(request)
    manage = data.get("manage_stock", False)
    vid = emulator.add_variation(
        parent["id"],
        str(data.get("sku") or ""),
        int(data.get("stock_quantity") or 0) if manage is True else None,
        manage_stock=manage if manage in (True, "parent") else False,
    )
    return web.json_response(product_json(emulator.products[vid], _base(request)), status=201)


async def get_variation(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    parent = _product(emulator, int(request.match_info["id"]))
    variation = _product(emulator, int(request.match_info["vid"]), variation_of=parent["id"])
    return web.json_response(_fields(product_json(variation, _base(request)), request))


async def update_variation(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    parent = _product(emulator, int(request.match_info["id"]))
    variation = _product(emulator, int(request.match_info["vid"]), variation_of=parent["id"])
    _apply(emulator, variation, await _body(request))
    return web.json_response(product_json(variation, _base(request)))


async def batch_variations(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    parent = _product(emulator, int(request.match_info["id"]))
    return await _batch(request, emulator, variation_of=parent["id"])


async def _batch(
    request: web.Request, emulator: WooCommerceEmulator, *, variation_of: int
) -> web.Response:
    """WC_REST_Controller::batch_items: at most 100 objects, each answered or refused alone."""
    data = await _body(request)
    updates = data.get("update") or []
    total = sum(len(data.get(k) or []) for k in ("create", "update", "delete"))
    if total > BATCH_LIMIT:
        raise ShopError(
            413,
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {BATCH_LIMIT} items for this request.",
        )
    base = _base(request)
    answers: list[dict[str, Any]] = []
    for entry in updates:
        pid = int(entry.get("id") or 0) if isinstance(entry, dict) else 0
        try:
            product = _product(emulator, pid, variation_of=variation_of)
            _apply(emulator, product, entry)
            answers.append(product_json(product, base))
        except ShopError as err:
            answers.append({"id": pid, "error": err.body()})
    return web.json_response({"update": answers})


async def create_webhook(request: web.Request, emulator: WooCommerceEmulator) -> web.Response:
    data = await _body(request)
    hook = Webhook(
        id=len(emulator.webhooks) + 1,
        topic=str(data.get("topic") or ""),
        delivery_url=str(data.get("delivery_url") or ""),
        secret=str(data.get("secret") or ""),
        status=str(data.get("status") or "active"),
    )
    emulator.webhooks[hook.id] = hook
    # WC_Webhook::deliver_ping after the save: the answer is not checked by REST creation
    session = request.app[SESSION_KEY]
    try:
        async with session.post(
            hook.delivery_url,
            data=f"webhook_id={hook.id}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=aiohttp.ClientTimeout(total=5),
        ):
            pass
    except (aiohttp.ClientError, TimeoutError):
        pass
    return web.json_response(
        {
            "id": hook.id,
            "name": str(data.get("name") or ""),
            "status": hook.status,
            "topic": hook.topic,
            "resource": hook.topic.split(".")[0],
            "event": hook.topic.split(".")[-1],
            "hooks": [],
            "delivery_url": hook.delivery_url,
            "secret": hook.secret,
        },
        status=201,
    )


# -- the app ------------------------------------------------------------------------------------


def create_app(
    emulator: WooCommerceEmulator,
    *,
    consumer_key: str = "ck_" + "0" * 40,
    consumer_secret: str = "cs_" + "0" * 40,
    https: bool = False,
    webhook_delay: float | None = 0.0,
    faults: Faults | None = None,
    seed: int | None = None,
) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app[OPTIONS_KEY] = Options(consumer_key, consumer_secret, https, webhook_delay)
    emulator.on_event = lambda topic, rid: queue(app, topic, rid)
    install_faults(app, faults, seed)
    api = "/wp-json/wc/v3"
    r = app.router
    r.add_get(f"{api}/orders", _api("list", list_orders))
    r.add_post(f"{api}/orders", _api("create", create_order))
    r.add_get(f"{api}/orders/{{id:\\d+}}", _api("view", get_order))
    r.add_route("PUT", f"{api}/orders/{{id:\\d+}}", _api("edit", update_order))
    r.add_post(f"{api}/orders/{{id:\\d+}}", _api("edit", update_order))
    r.add_delete(f"{api}/orders/{{id:\\d+}}", _api("delete", delete_order))
    r.add_post(f"{api}/orders/{{id:\\d+}}/refunds", _api("create", create_refund))
    r.add_get(f"{api}/products", _api("list", list_products))
    r.add_post(f"{api}/products", _api("create", create_product))
    r.add_post(f"{api}/products/batch", _api("batch", batch_products))
    r.add_get(f"{api}/products/{{id:\\d+}}", _api("view", get_product))
    r.add_route("PUT", f"{api}/products/{{id:\\d+}}", _api("edit", update_product))
    r.add_post(f"{api}/products/{{id:\\d+}}", _api("edit", update_product))
    r.add_get(f"{api}/products/{{id:\\d+}}/variations", _api("list", list_variations))
    r.add_post(f"{api}/products/{{id:\\d+}}/variations", _api("create", create_variation))
    r.add_post(f"{api}/products/{{id:\\d+}}/variations/batch", _api("batch", batch_variations))
    one = f"{api}/products/{{id:\\d+}}/variations/{{vid:\\d+}}"
    r.add_get(one, _api("view", get_variation))
    r.add_route("PUT", one, _api("edit", update_variation))
    r.add_post(one, _api("edit", update_variation))
    r.add_post(f"{api}/webhooks", _api("create", create_webhook))
    _admin_routes(app)
    app.on_startup.append(start_deliveries)
    app.on_cleanup.append(stop_deliveries)
    return app


def _admin_routes(app: web.Application) -> None:
    async def products(request: web.Request) -> web.Response:
        data = await request.json()
        emulator = request.app[EMULATOR_KEY]
        pid = emulator.add_product(
            str(data["sku"]),
            data.get("quantity", 0),
            name=str(data.get("name") or ""),
            manage_stock=bool(data.get("manage_stock", True)),
            variations=data.get("variations"),
        )
        return web.json_response({"id": pid})

    async def orders(request: web.Request) -> web.Response:
        """{"lines": {SKU: qty}, "status": "processing"}: an order placed as a customer would."""
        data = await request.json()
        emulator = request.app[EMULATOR_KEY]
        lines = []
        for sku, qty in data["lines"].items():
            product = emulator.by_sku(sku)
            if product is None:
                return web.json_response({"error": f"no SKU {sku}"}, status=404)
            if product["type"] == "variation":
                lines.append((product["parent_id"], product["id"], int(qty)))
            else:
                lines.append((product["id"], 0, int(qty)))
        order = emulator.create_order(lines, status=str(data.get("status") or "processing"))
        return web.json_response({"id": order["id"]})

    async def order_status(request: web.Request) -> web.Response:
        """{"status": "cancelled"}: the merchant moves an order (stock rules apply)."""
        emulator = request.app[EMULATOR_KEY]
        order = emulator.order(int(request.match_info["id"]))
        emulator.set_status(order, str((await request.json())["status"]))
        return web.json_response({"id": order["id"], "status": order["status"]})

    async def quantities(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        if request.method == "POST":
            for sku, qty in (await request.json()).items():
                product = emulator.by_sku(sku)
                if product is not None:
                    emulator.set_stock(product, int(qty), record=False)
        return web.json_response(
            {p["sku"]: p["stock_quantity"] for p in emulator.products.values() if p["sku"]}
        )

    async def webhooks(request: web.Request) -> web.Response:
        """POST {"delay": seconds | null}: how late deliveries go (null: held)."""
        options: Options = request.app[OPTIONS_KEY]
        if request.method == "POST":
            data = await request.json()
            if "delay" in data:
                options.webhook_delay = None if data["delay"] is None else float(data["delay"])
        return web.json_response(
            {"delay": options.webhook_delay, "queued": len(request.app[EMULATOR_KEY].queue)}
        )

    async def deliver_now(request: web.Request) -> web.Response:
        return web.json_response({"delivered": await deliver_due(request.app, everything=True)})

    app.router.add_post("/__emulator/products", products)
    app.router.add_post("/__emulator/orders", orders)
    app.router.add_post("/__emulator/orders/{id}/status", order_status)
    app.router.add_route("*", "/__emulator/quantities", quantities)
    app.router.add_route("*", "/__emulator/webhooks", webhooks)
    app.router.add_post("/__emulator/webhooks/deliver", deliver_now)
    add_write_log(app, EMULATOR_KEY)


def run_standalone(host: str, port: int, products: int) -> None:
    """`syncd emulator woocommerce`: serve a shop with the demo catalogue until Ctrl-C."""
    emulator = WooCommerceEmulator()
    load_catalog(emulator, products)
    key = "ck_" + secrets.token_hex(20)
    secret = "cs_" + secrets.token_hex(20)
    app = create_app(emulator, consumer_key=key, consumer_secret=secret)
    info = {"consumer_key": key, "consumer_secret": secret, "products": products}
    serve_forever(app, host, port, info)


def load_catalog(emulator: WooCommerceEmulator, count: int) -> None:
    """The shared demo catalogue: each shirt a variable product, its sizes variations."""
    add_catalog(emulator, demo_catalog(count))


def add_catalog(emulator: WooCommerceEmulator, items: Sequence[CatalogItem]) -> None:
    """Catalogue items as variable products (one per parent) and their variations."""
    parents: dict[str, int] = {}
    for item in items:
        if item.parent not in parents:
            parents[item.parent] = emulator.add_product(
                item.parent, name=item.name.rsplit(",", 1)[0], variations={}
            )
        vid = emulator.add_variation(parents[item.parent], item.sku, item.quantity)
        emulator.products[vid]["global_unique_id"] = item.ean13
        emulator.products[vid]["name"] = item.name
