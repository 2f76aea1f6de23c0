"""The emulated PrestaShop webservice over HTTP: ``/api/...`` (XML by default, JSON on request)
with PrestaShop's authentication, envelopes, empty bodies and error codes, selected by the version
it announces; and an admin API under ``/__emulator/`` for tests, the demo and the benchmarks."""

from __future__ import annotations

import base64
import secrets
import time
import xml.etree.ElementTree as ET

from aiohttp import web

from syncd.connectors.emulation import (
    Faults,
    add_write_log,
    demo_catalog,
    install_faults,
    serve_forever,
)
from syncd.connectors.prestashop.emulator.rendering import (
    HREF,
    METHODS,
    SINGULAR,
    WsError,
    _blank,
    _filtered_list,
    _objects,
    _parse_display,
    _project,
    _resource_fields,
    _to_xml,
    _xml_value,
    json_object,
    written_object,
)
from syncd.connectors.prestashop.emulator.state import PrestaShopEmulator, StockAvailable

EMULATOR_KEY = web.AppKey("prestashop_emulator", PrestaShopEmulator)
API_KEY = web.AppKey("prestashop_api_key", str)


def create_app(
    emulator: PrestaShopEmulator,
    *,
    api_key: str,
    version: str | None = None,
    faults: Faults | None = None,
    seed: int | None = None,
) -> web.Application:
    if version is not None:
        emulator.version = version
    app = web.Application(client_max_size=8 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app[API_KEY] = api_key
    install_faults(app, faults, seed)
    app.router.add_route("*", "/api", _api_root)
    app.router.add_route("*", "/api/", _api_root)
    app.router.add_route("*", "/api/{resource}", _api)
    app.router.add_route("*", "/api/{resource}/", _api)
    app.router.add_route("*", "/api/{resource}/{id}", _api)
    _admin_routes(app)
    return app


def _wants_json(request: web.Request) -> bool:
    for header in ("Io-Format", "Output-Format"):
        if header in request.headers:
            return request.headers[header].upper() == "JSON"
    fmt = request.query.get("output_format") or request.query.get("io_format") or ""
    return fmt.upper() == "JSON"


def _base_headers(request: web.Request, authenticated: bool) -> dict[str, str]:
    headers = {
        "X-Powered-By": "PrestaShop Webservice",
        "Access-Time": str(int(time.time())),
        "Execution-Time": "0.001",
    }
    if authenticated:
        headers["PSWS-Version"] = request.app[EMULATOR_KEY].version
    return headers


# A refused list parameter (32..39) on PHP 8 trips four warnings in WebserviceRequest after the
# error is recorded: the answer is 500 with the error first, then the warnings as code 3
# (observed on 8.2.0 / PHP 8.2). 1.7 (PHP 7) answers 400 with the error alone.
LIST_ERRORS = frozenset(range(32, 40))
PHP_WARNING = (
    "[PHP Warning #2] Trying to access array offset on value of type bool "
    "(/var/www/classes/webservice/WebserviceRequest.php, line {line})"
)


def _error(request: web.Request, err: WsError, authenticated: bool = True) -> web.Response:
    headers = _base_headers(request, authenticated)
    errors = [(err.code, err.message)]
    status = err.status
    if err.code in LIST_ERRORS and not request.app[EMULATOR_KEY].version.startswith("1."):
        status = 500
        errors += [(3, PHP_WARNING.format(line=line)) for line in range(1333, 1337)]
    if _wants_json(request):
        return web.json_response(
            {"errors": [{"code": code, "message": message} for code, message in errors]},
            status=status,
            headers=headers,
        )
    root = ET.Element("prestashop")
    node = ET.SubElement(root, "errors")
    for code, message in errors:
        error = ET.SubElement(node, "error")
        ET.SubElement(error, "code").text = f"\x00CDATA{code}\x00"
        ET.SubElement(error, "message").text = f"\x00CDATA{message}\x00"
    return web.Response(text=_to_xml(root), status=status, content_type="text/xml", headers=headers)


def _authenticate(request: web.Request) -> WsError | web.Response | None:
    key = ""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Basic "):
        try:
            key = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            key = ""
    if not key:
        key = request.query.get("ws_key", "")
    if not key:
        return web.Response(
            status=401,
            text="401 Unauthorized",
            headers={
                "WWW-Authenticate": 'Basic realm="Welcome to PrestaShop Webservice, please enter the authentication key as the login. No password required."'
            },
        )
    if len(key) != 32:
        return WsError(401, 18, "Invalid authentication key format")
    if not secrets.compare_digest(key, request.app[API_KEY]):
        return WsError(401, 20, "Authentification key is not active")
    return None


async def _api_root(request: web.Request) -> web.Response:
    problem = _authenticate(request)
    if isinstance(problem, web.Response):
        return problem
    if problem is not None:
        return _error(request, problem, authenticated=False)
    headers = _base_headers(request, True)
    if _wants_json(request):
        return web.json_response(
            {"api": {k: {"description": k} for k in SINGULAR}}, headers=headers
        )
    root = ET.Element("prestashop")
    api = ET.SubElement(root, "api", {"shopName": "syncd emulator"})
    for name in SINGULAR:
        ET.SubElement(
            api,
            name,
            {
                HREF: f"{request.url.origin()}/api/{name}",
                "get": "true",
                "put": "true",
            },
        )
    return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)


async def _api(request: web.Request) -> web.Response:
    emulator = request.app[EMULATOR_KEY]
    problem = _authenticate(request)
    if isinstance(problem, web.Response):
        return problem
    if problem is not None:
        return _error(request, problem, authenticated=False)
    method = request.query.get("ps_method", request.method).upper()
    resource = request.match_info["resource"]
    emulator.requests.append((method, request.path))
    try:
        if resource not in SINGULAR:
            names = ", ".join(SINGULAR)
            raise WsError(
                400,
                27,
                f'Resource of type "{resource}" does not exists. Did you mean: "{resource}s"? The full list is: "{names}"',
            )
        if method not in ("GET", "HEAD", "PUT", "PATCH", "POST", "DELETE"):
            raise WsError(405, 23, f"Method {method} is not valid")
        if method == "PATCH" and emulator.version.startswith("1."):
            raise WsError(405, 23, "Method PATCH is not valid")
        if method not in METHODS.get(resource, {"GET", "HEAD"}):
            raise WsError(405, 101, f"Method {method} is not allowed for the resource {resource}")
        if method in ("GET", "HEAD"):
            return _get(request, emulator, resource)
        body = (await request.read()).decode("utf-8", errors="replace")
        if body.startswith("xml="):
            body = body[4:]
        if method == "POST":
            return _post_history(request, emulator, body)
        return _write_stock(request, emulator, body, partial=method == "PATCH")
    except WsError as err:
        return _error(request, err)


def _language(query: dict[str, str]) -> int | None:
    raw = query.get("language", "")
    return int(raw) if raw.isdecimal() else None


def _get(request: web.Request, emulator: PrestaShopEmulator, resource: str) -> web.Response:
    headers = _base_headers(request, True)
    query = dict(request.query)
    language = _language(query)
    origin = str(request.url.origin())
    if "id" in request.match_info:
        objects = _objects(emulator, resource)
        try:
            obj = objects[int(request.match_info["id"])]
        except (KeyError, ValueError):
            # 8.x: an unknown id answers 404 with an empty body (observed on 8.2.0), in JSON
            # and in XML alike.
            return web.Response(status=404, body=b"", headers=headers)
        if isinstance(obj, StockAvailable) and obj.id_shop != 1:
            raise WsError(404, 131, f"This StockAvailable ({obj.id}) does not exists on this shop")
        fields = _resource_fields(emulator, resource, obj)
        display = _parse_display(query.get("display"), set(fields) - {"associations"})
        shown = fields if display in (None, "full") else _project(fields, display)  # type: ignore[arg-type]
        if _wants_json(request):
            if display is None:
                single = json_object(shown, emulator.version, single=True, language=language)
                return web.json_response({SINGULAR[resource]: single}, headers=headers)
            # With `display` the JSON writer lists, even for one id (renderNodeFooter).
            listed = json_object(shown, emulator.version, single=False, language=language)
            return web.json_response({resource: [listed]}, headers=headers)
        root = ET.Element("prestashop")
        node = ET.SubElement(root, SINGULAR[resource])
        for key, value in shown.items():
            _xml_value(node, key, value, origin, language)
        return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)
    rows = _filtered_list(emulator, resource, query)
    allowed = set(rows[0]) if rows else set(_blank(emulator, resource))
    display = _parse_display(query.get("display"), allowed - {"associations"})
    if _wants_json(request):
        if not rows:
            return web.json_response([], headers=headers)
        if display is None:
            return web.json_response(
                {resource: [{"id": int(r["id"])} for r in rows]}, headers=headers
            )
        picked = rows if display == "full" else [_project(r, display) for r in rows]  # type: ignore[arg-type]
        return web.json_response(
            {
                resource: [
                    json_object(r, emulator.version, single=False, language=language)
                    for r in picked
                ]
            },
            headers=headers,
        )
    root = ET.Element("prestashop")
    container = ET.SubElement(root, resource)
    for row in rows:
        if display is None:
            ET.SubElement(
                container,
                SINGULAR[resource],
                {"id": str(row["id"]), HREF: f"{origin}/api/{resource}/{row['id']}"},
            )
            continue
        node = ET.SubElement(container, SINGULAR[resource])
        shown_row = row if display == "full" else _project(row, display)  # type: ignore[arg-type]
        for key, value in shown_row.items():
            _xml_value(node, key, value, origin, language)
    return web.Response(text=_to_xml(root), content_type="text/xml", headers=headers)


def _parse_body(body: str, singular: str) -> dict[str, str]:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as err:
        raise WsError(400, 127, f"XML error : {err}") from err
    node = root.find(singular) if root.tag == "prestashop" else root
    if node is None:
        raise WsError(400, 31, f"the <{singular}> element is missing from the body")
    return {child.tag: (child.text or "").strip() for child in node}


_REQUIRED_STOCK = (
    "id_product",
    "id_product_attribute",
    "quantity",
    "depends_on_stock",
    "out_of_stock",
)


def _write_stock(
    request: web.Request, emulator: PrestaShopEmulator, body: str, *, partial: bool
) -> web.Response:
    values = _parse_body(body, "stock_available")
    if not values.get("id"):
        raise WsError(400, 90, "Id is required when modifying a resource")
    try:
        stock = emulator.stock[int(values["id"])]
    except (KeyError, ValueError) as err:
        raise WsError(404, 92, "Invalid ID") from err
    if "id" in request.match_info and request.match_info["id"] != values["id"]:
        raise WsError(400, 89, "The id in the URL and in the body differ")
    if not partial:
        for name in _REQUIRED_STOCK:
            if name not in values or values[name] == "":
                raise WsError(400, 41, f'parameter "{name}" required')
    if stock.depends_on_stock or values.get("depends_on_stock") == "1":
        raise WsError(500, 133, "You cannot update the available stock when it depends on stock.")
    quantity = stock.quantity
    if "quantity" in values:
        try:
            quantity = int(values["quantity"])
        except ValueError as err:
            raise WsError(
                400, 85, 'Validation error: "Property StockAvailable->quantity is not valid"'
            ) from err
    stock.quantity = quantity
    if not partial:
        # A PUT is a full replace: an optional field left out is written empty. id_shop 0 hides
        # the row from the shop (observed on 8.2.0: 404 [131] afterwards).
        stock.out_of_stock = int(values.get("out_of_stock") or 2)
        stock.id_shop = int(values.get("id_shop") or 0)
        stock.id_shop_group = int(values.get("id_shop_group") or 0)
        stock.location = values.get("location", "")
    if stock.id_product_attribute:
        # A combination's save recomputes its product's total row; a write to the total row
        # itself is stored as sent until then (StockAvailable::postSave; observed on 8.2.0).
        emulator._recompute_sum(stock.id_product)
    if emulator.on_write is not None:
        combo = emulator.combinations.get(stock.id_product_attribute)
        sku = combo.reference if combo else emulator.products[stock.id_product].reference
        emulator.on_write(sku, stock.quantity)
    fields = _resource_fields(emulator, "stock_availables", stock)
    fields["id"] = values["id"]
    return _written(request, emulator, "stock_available", fields, 200)


def _written(
    request: web.Request,
    emulator: PrestaShopEmulator,
    singular: str,
    fields: dict[str, object],
    status: int,
) -> web.Response:
    headers = _base_headers(request, True)
    if _wants_json(request):
        return web.json_response(
            {singular: written_object(fields, emulator.version)}, status=status, headers=headers
        )
    root = ET.Element("prestashop")
    node = ET.SubElement(root, singular)
    for key, value in fields.items():
        _xml_value(node, key, value, "")
    return web.Response(text=_to_xml(root), status=status, content_type="text/xml", headers=headers)


def _post_history(request: web.Request, emulator: PrestaShopEmulator, body: str) -> web.Response:
    values = _parse_body(body, "order_history")
    for name in ("id_order", "id_order_state"):
        if not values.get(name):
            raise WsError(400, 41, f'parameter "{name}" required')
    try:
        emulator.set_order_state(int(values["id_order"]), int(values["id_order_state"]))
    except (KeyError, ValueError) as err:
        raise WsError(400, 85, f"Validation error: {err}") from err
    history = emulator.histories[-1]
    # Answered 201 with the history: id and id_order as sent, id_order_state as the number
    # OrderHistory::changeIdOrderState set (observed on 8.2.0).
    fields: dict[str, object] = {
        "id": str(history["id"]),
        "id_order_state": history["id_order_state"],
        "id_order": values["id_order"],
        "date_add": history["date_add"],
    }
    if _wants_json(request):
        out = written_object(fields, emulator.version)
        out["id_order_state"] = int(history["id_order_state"])
        return web.json_response(
            {"order_history": out}, status=201, headers=_base_headers(request, True)
        )
    return _written(request, emulator, "order_history", fields, 201)


# -- admin API for tests, the demo and benchmarks ------------------------------------------------


def _admin_routes(app: web.Application) -> None:
    async def products(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        data = await request.json()
        pid = emulator.add_product(
            data["reference"],
            int(data.get("quantity", 0)),
            name=data.get("name", ""),
            ean13=data.get("ean13", ""),
            combinations=[
                (c["reference"], int(c.get("quantity", 0)), c.get("ean13", ""))
                for c in data.get("combinations", [])
            ],
        )
        return web.json_response({"id": pid})

    async def orders(request: web.Request) -> web.Response:
        data = await request.json()
        oid = request.app[EMULATOR_KEY].create_order(
            {k: int(v) for k, v in data["lines"].items()}, data.get("state", "PS_OS_PAYMENT")
        )
        return web.json_response({"id": oid})

    async def state(request: web.Request) -> web.Response:
        data = await request.json()
        request.app[EMULATOR_KEY].set_order_state(int(request.match_info["id"]), data["state"])
        return web.json_response({"ok": True})

    async def refund(request: web.Request) -> web.Response:
        data = await request.json()
        request.app[EMULATOR_KEY].refund(
            int(request.match_info["id"]),
            data["sku"],
            int(data["quantity"]),
            bool(data.get("restock", True)),
        )
        return web.json_response({"ok": True})

    async def quantities(request: web.Request) -> web.Response:
        emulator = request.app[EMULATOR_KEY]
        if request.method == "POST":
            for sku, qty in (await request.json()).items():
                emulator.set_quantity(sku, int(qty))
        out = {c.reference: emulator.quantity(c.reference) for c in emulator.combinations.values()}
        out.update(
            {
                p.reference: emulator.quantity(p.reference)
                for p in emulator.products.values()
                if not p.combinations
            }
        )
        return web.json_response(out)

    app.router.add_post("/__emulator/products", products)
    app.router.add_post("/__emulator/orders", orders)
    app.router.add_post("/__emulator/orders/{id}/state", state)
    app.router.add_post("/__emulator/orders/{id}/refund", refund)
    app.router.add_route("*", "/__emulator/quantities", quantities)

    add_write_log(app, EMULATOR_KEY)


def run_standalone(host: str, port: int, products: int) -> None:
    """`syncd emulator prestashop`: serve a shop with the demo catalogue until Ctrl-C."""
    emulator = PrestaShopEmulator()
    emulator.load_catalog(demo_catalog(products))
    key = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(32))
    serve_forever(
        create_app(emulator, api_key=key), host, port, {"api_key": key, "products": products}
    )
