"""A Shopify emulator for what syncd uses of the GraphQL Admin API (`syncd emulator shopify`).

``POST /admin/api/<version>/graphql.json`` with ``X-Shopify-Access-Token``: every document is
validated against Shopify's published schema of that version, costed and charged to a leaky
bucket (``gql.py``), then run against the shop (``state.py``). Webhooks are delivered signed
(``X-Shopify-Hmac-Sha256``: base64 HMAC-SHA256 of the raw body with the app's client secret,
shopify.dev/docs/apps/build/webhooks/verify-deliveries), and can be made late, doubled, out of
order or held until asked for. Bulk operations (``bulkOperationRunQuery``) run the query over
everything and serve its result as JSONL, nested connections' nodes on their own lines with
``__parentId`` (shopify.dev/docs/api/usage/bulk-operations/queries).

The admin routes under ``/__emulator/`` stand for what happens in the shop: orders, edits,
refunds, cancellations, hand edits, fault knobs, webhook delivery modes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import random
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from graphql import GraphQLError, execute_sync

from syncd.connectors.emulation import (
    Faults,
    add_write_log,
    demo_catalog,
    install_faults,
    serve_forever,
)
from syncd.connectors.shopify.emulator.gql import (
    API_VERSION,
    MAX_QUERY_COST,
    MUTATION_COST,
    SCHEMAS,
    Bucket,
    Prepared,
    admin_schema,
    bucket_for,
    idempotency_key,
    prepare,
)
from syncd.connectors.shopify.emulator.state import (
    ConnectionArgumentError,
    InputTooLarge,
    ShopState,
    connection,
    gid,
    gid_number,
    iso,
)

__all__ = ["ShopState", "ShopifyEmulator", "create_app", "run_standalone"]

TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/cancelled",
    "refunds/create",
    "inventory_levels/update",
)


@dataclass
class WebhookMode:
    """How deliveries misbehave (Shopify: "webhooks can arrive late, more than once, or out of
    order"; shopify.dev/docs/apps/build/webhooks/best-practices)."""

    delay_seconds: float = 0.0
    duplicate: bool = False  # every delivery sent twice, with the same webhook id
    shuffle: bool = False  # a held batch is sent in random order
    hold: bool = False  # kept until POST /__emulator/webhooks/deliver


@dataclass
class Delivery:
    address: str
    topic: str
    body: bytes
    webhook_id: str


@dataclass
class BulkOperation:
    id: int
    query: str
    status: str = "CREATED"
    lines: list[str] = field(default_factory=list)
    created_at: str = ""
    completed_at: str | None = None
    error: str | None = None


class ShopifyEmulator:
    """The shop, its app credentials, its bucket, its webhooks and bulk operations."""

    def __init__(
        self,
        *,
        access_token: str = "shpat_emulator",
        client_secret: str = "emulator-client-secret",
        plan: str = "standard",
        domain: str = "syncd-emulator.myshopify.com",
        seed: int | None = None,
    ) -> None:
        self.state = ShopState()
        self.access_token = access_token
        self.client_secret = client_secret
        self.domain = domain
        self.plan = plan
        self.bucket: Bucket = bucket_for(plan)
        self.subscriptions: list[tuple[str, str]] = []  # (topic, address)
        self.mode = WebhookMode()
        self.held: list[Delivery] = []
        self.delivered: list[Delivery] = []
        self.bulk: dict[int, BulkOperation] = {}
        self._bulk_ids = itertools.count(1)
        self._rng = random.Random(seed)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self.requests = 0
        self.throttled = 0
        self.state.on_event = self._queue_webhook

    # -- webhooks ------------------------------------------------------------------------------

    def subscribe(self, address: str, topics: tuple[str, ...] = TOPICS) -> None:
        for topic in topics:
            if topic not in TOPICS:
                raise ValueError(f"unknown topic {topic!r}")
            self.subscriptions.append((topic, address))

    def sign(self, body: bytes) -> str:
        digest = hmac.new(self.client_secret.encode(), body, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def _queue_webhook(self, topic: str, payload: dict[str, Any]) -> None:
        for wanted, address in self.subscriptions:
            if wanted != topic:
                continue
            body = json.dumps(payload, separators=(",", ":")).encode()
            delivery = Delivery(address, topic, body, str(uuid.uuid4()))
            if self.mode.hold:
                self.held.append(delivery)
            else:
                self._spawn(self._deliver_later(delivery, self.mode.delay_seconds))

    def release(self) -> int:
        """Deliver what was held (in random order when ``shuffle``); how many."""
        held, self.held = self.held, []
        if self.mode.shuffle:
            self._rng.shuffle(held)
        for delivery in held:
            self._spawn(self._deliver_later(delivery, self.mode.delay_seconds))
        return len(held)

    def _spawn(self, coro: Any) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no loop (a test driving the state directly): kept for later
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver_later(self, delivery: Delivery, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        for _ in range(2 if self.mode.duplicate else 1):
            await self.deliver(delivery)

    async def deliver(self, delivery: Delivery) -> int:
        """POST one webhook as Shopify does; its HTTP status (0 when unreachable)."""
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": delivery.topic,
            "X-Shopify-Hmac-Sha256": self.sign(delivery.body),
            "X-Shopify-Shop-Domain": self.domain,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": delivery.webhook_id,
            "X-Shopify-Triggered-At": iso(self.state.now()),
        }
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        self.delivered.append(delivery)
        try:
            async with self._session.post(
                delivery.address,
                data=delivery.body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as resp:
                return resp.status
        except (aiohttp.ClientError, TimeoutError):
            return 0

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._session is not None:
            await self._session.close()

    # -- GraphQL -------------------------------------------------------------------------------

    def root(self, bulk_base: str) -> dict[str, Any]:
        """The query and mutation root fields syncd uses (and a few a client checks with)."""
        state = self.state

        def orders(info: Any, **args: Any) -> dict[str, Any]:
            found = state.search_orders(args.get("query"))
            if args.get("sortKey") in ("UPDATED_AT", None):
                found.sort(key=lambda o: (o.updated_at, o.id))
            return connection([state.order_node(o) for o in found], args, info)

        def product_variants(info: Any, **args: Any) -> dict[str, Any]:
            found = state.search_variants(args.get("query"))
            return connection([state.variant_node(v) for v in found], args, info)

        def location(_info: Any, id: str | None = None) -> dict[str, Any] | None:  # noqa: A002
            number = gid_number(id, "Location") if id else state.location_id
            return state.location_node(number) if number is not None else None

        def current_bulk(_info: Any, type: str = "QUERY") -> dict[str, Any] | None:  # noqa: A002
            if type != "QUERY" or not self.bulk:
                return None
            return self._bulk_node(self.bulk[max(self.bulk)], bulk_base)

        def set_quantities(info: Any, input: dict[str, Any]) -> dict[str, Any]:  # noqa: A002
            # From 2026-04 the call must carry @idempotent(key:) (checked at run time, not by
            # the schema: shopify.dev/changelog/making-idempotency-mandatory-for-inventory-
            # adjustments-and-refund-mutations). How Shopify words the refusal is not
            # documented: a GraphQL error here.
            key = idempotency_key(info)
            if key is None:
                raise GraphQLError(
                    "inventorySetQuantities requires the @idempotent(key:) directive "
                    "(API 2026-04 and later)"
                )
            return state.set_quantities(input, key)

        def run_bulk(_info: Any, query: str) -> dict[str, Any]:
            return self._run_bulk(query, bulk_base)

        return {
            "shop": {
                "__typename": "Shop",
                "id": gid("Shop", 1),
                "name": "syncd emulator",
                "myshopifyDomain": self.domain,
            },
            "orders": orders,
            "productVariants": product_variants,
            "location": location,
            "currentBulkOperation": current_bulk,
            "inventorySetQuantities": set_quantities,
            "bulkOperationRunQuery": run_bulk,
        }

    def answer(
        self,
        version: str,
        query: str,
        variables: dict[str, Any] | None,
        name: str | None,
        base: str,
    ) -> dict[str, Any]:
        """The JSON answer to one GraphQL request (HTTP 200, as Shopify answers throttling and
        query errors too)."""
        self.requests += 1
        schema = admin_schema(version)
        prepared = prepare(schema, query, variables, name)
        if not isinstance(prepared, Prepared):
            return {"errors": prepared}
        bucket = self.bucket
        bucket.refill()
        cost = {"requestedQueryCost": prepared.cost}
        if prepared.cost > MAX_QUERY_COST:
            return {
                "errors": [
                    {
                        "message": f"Query cost is {prepared.cost}, which exceeds the single "
                        f"query max cost limit ({MAX_QUERY_COST}).",
                        "extensions": {"code": "MAX_COST_EXCEEDED", "cost": prepared.cost},
                    }
                ],
                "extensions": {"cost": {**cost, "throttleStatus": bucket.status()}},
            }
        if prepared.cost > bucket.available:
            self.throttled += 1
            return {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {**cost, "actualQueryCost": None, "throttleStatus": bucket.status()}
                },
            }
        bucket.available -= prepared.cost
        try:
            result = execute_sync(
                schema,
                prepared.document,
                root_value=self.root(base),
                variable_values=variables,
                operation_name=name,
                context_value={"bulk": False},
            )
        except InputTooLarge as err:
            return {
                "errors": [{"message": str(err), "extensions": {"code": "MAX_INPUT_SIZE_EXCEEDED"}}]
            }
        # Charged the requested cost up front, the bucket gets back what the answer did not use.
        actual = min(prepared.cost, actual_cost(result.data, prepared.is_mutation))
        bucket.available += prepared.cost - actual
        body: dict[str, Any] = {}
        if result.errors:
            body["errors"] = [_error(e) for e in result.errors]
        body["data"] = result.data
        body["extensions"] = {
            "cost": {**cost, "actualQueryCost": actual, "throttleStatus": bucket.status()}
        }
        return body

    # -- bulk operations -----------------------------------------------------------------------

    def _bulk_node(self, op: BulkOperation, base: str) -> dict[str, Any]:
        done = op.status == "COMPLETED"
        return {
            "__typename": "BulkOperation",
            "id": gid("BulkOperation", op.id),
            "status": op.status,
            "errorCode": op.error,
            "createdAt": op.created_at,
            "completedAt": op.completed_at,
            "objectCount": str(len(op.lines)),
            "rootObjectCount": str(sum(1 for line in op.lines if '"__parentId"' not in line)),
            "fileSize": str(sum(len(line) + 1 for line in op.lines)) if done else None,
            "url": f"{base}/__emulator/bulk/{op.id}.jsonl" if done and op.lines else None,
            "partialDataUrl": None,
            "query": op.query,
            "type": "QUERY",
        }

    def _run_bulk(self, query: str, base: str) -> dict[str, Any]:
        running = [o for o in self.bulk.values() if o.status in ("CREATED", "RUNNING")]
        if running:
            return {
                "bulkOperation": None,
                "userErrors": [
                    {
                        "field": ["query"],
                        "message": "A bulk query operation for this app and shop is already "
                        f"in progress: {gid('BulkOperation', running[0].id)}.",
                        "code": "OPERATION_IN_PROGRESS",
                    }
                ],
            }
        schema = admin_schema(API_VERSION)
        prepared = prepare(schema, query, None, None)
        if not isinstance(prepared, Prepared) or prepared.is_mutation:
            message = prepared[0]["message"] if isinstance(prepared, list) else "not a query"
            return {
                "bulkOperation": None,
                "userErrors": [{"field": ["query"], "message": f"Invalid bulk query: {message}"}],
            }
        op = BulkOperation(next(self._bulk_ids), query, created_at=iso(self.state.now()))
        self.bulk[op.id] = op
        self._spawn(self._bulk_job(op, prepared))
        if not self._tasks:  # no event loop: run it now
            self._bulk_now(op, prepared)
        return {"bulkOperation": self._bulk_node(op, base), "userErrors": []}

    async def _bulk_job(self, op: BulkOperation, prepared: Prepared) -> None:
        op.status = "RUNNING"
        await asyncio.sleep(0.05)  # it runs in the background: the client polls
        self._bulk_now(op, prepared)

    def _bulk_now(self, op: BulkOperation, prepared: Prepared) -> None:
        result = execute_sync(
            admin_schema(API_VERSION),
            prepared.document,
            root_value=self.root(""),
            context_value={"bulk": True},
        )
        if result.errors or result.data is None:
            op.status, op.error = "FAILED", "INTERNAL_SERVER_ERROR"
            return
        lines: list[str] = []
        for value in result.data.values():
            _flatten(value, None, lines)
        op.lines = lines
        op.status = "COMPLETED"
        op.completed_at = iso(self.state.now())


def actual_cost(data: Any, mutation: bool) -> int:
    """What an answer cost: 1 per object returned, 2 more per connection, 10 per mutation."""

    def walk(value: Any) -> int:
        if isinstance(value, list):
            return sum(walk(v) for v in value)
        if not isinstance(value, dict):
            return 0
        nodes = _nodes(value)
        if nodes is not None:
            return 2 + sum(walk(n) for n in nodes)
        return 1 + sum(walk(v) for k, v in value.items() if k != "pageInfo")

    if not isinstance(data, dict):
        return 0
    if mutation:
        return sum(MUTATION_COST + walk(v) - 1 for v in data.values())
    return sum(walk(v) for v in data.values())


def _nodes(value: Any) -> list[Any] | None:
    """The nodes of a connection's answer, or None when ``value`` is not one."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("edges"), list):
        return [e.get("node") for e in value["edges"] if isinstance(e, dict)]
    if isinstance(value.get("nodes"), list):
        return list(value["nodes"])
    return None


def _flatten(value: Any, parent: str | None, lines: list[str]) -> None:
    """A connection's nodes as JSONL lines, each nested connection's nodes after their parent
    with ``__parentId`` (the bulk operation result format)."""
    for node in _nodes(value) or []:
        if not isinstance(node, dict):
            continue
        own = {}
        nested = []
        for key, child in node.items():
            if _nodes(child) is not None:
                nested.append(child)
            else:
                own[key] = child
        if parent is not None:
            own["__parentId"] = parent
        lines.append(json.dumps(own, separators=(",", ":")))
        for child in nested:
            _flatten(child, str(node.get("id")), lines)


def _error(err: Any) -> dict[str, Any]:
    formatted: dict[str, Any] = err.formatted
    original = getattr(err, "original_error", None)
    if isinstance(original, ConnectionArgumentError):
        formatted.setdefault("extensions", {})["code"] = "BAD_REQUEST"
    return formatted


# -- the HTTP app -------------------------------------------------------------------------------

EMULATOR_KEY = web.AppKey("shopify_emulator", ShopifyEmulator)
STATE_KEY = web.AppKey("shopify_state", ShopState)  # /__emulator/writes: the shop's write log


def create_app(
    emulator: ShopifyEmulator, *, faults: Faults | None = None, seed: int | None = None
) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024)
    app[EMULATOR_KEY] = emulator
    app[STATE_KEY] = emulator.state
    install_faults(app, faults, seed)

    async def graphql(request: web.Request) -> web.Response:
        token = request.headers.get("X-Shopify-Access-Token", "")
        if not hmac.compare_digest(token.encode(), emulator.access_token.encode()):
            # What Shopify answers a wrong or missing token with.
            return web.json_response(
                {
                    "errors": "[API] Invalid API key or access token (unrecognized login or "
                    "wrong password)"
                },
                status=401,
            )
        version = request.match_info["version"]
        if version not in SCHEMAS:
            return web.json_response({"errors": "Not Found"}, status=404)
        try:
            body = await request.json()
        except ValueError:
            return web.json_response(
                {"errors": {"query": "Required parameter missing or invalid"}}, status=400
            )
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            return web.json_response(
                {"errors": {"query": "Required parameter missing or invalid"}}, status=400
            )
        variables = body.get("variables") if isinstance(body.get("variables"), dict) else None
        name = body.get("operationName") if isinstance(body.get("operationName"), str) else None
        base = f"{request.scheme}://{request.host}"
        return web.json_response(emulator.answer(version, body["query"], variables, name, base))

    async def bulk_file(request: web.Request) -> web.Response:
        op = emulator.bulk.get(int(request.match_info["id"]))
        if op is None or op.status != "COMPLETED":
            raise web.HTTPNotFound()
        return web.Response(
            body=("\n".join(op.lines) + "\n").encode(), content_type="application/jsonl"
        )

    async def products(request: web.Request) -> web.Response:
        data = await request.json()
        variant = emulator.state.add_variant(
            data["sku"],
            int(data.get("available", 0)),
            barcode=data.get("barcode", ""),
            title=data.get("title", ""),
            tracked=bool(data.get("tracked", True)),
            elsewhere={int(k): int(v) for k, v in (data.get("elsewhere") or {}).items()},
        )
        return web.json_response({"variant_id": variant.id, "inventory_item_id": variant.item_id})

    async def orders(request: web.Request) -> web.Response:
        data = await request.json()
        try:
            order = emulator.state.place_order(
                {k: int(v) for k, v in data["lines"].items()},
                test=bool(data.get("test")),
                location_id=int(data["location_id"]) if data.get("location_id") else None,
            )
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=422)
        return web.json_response({"id": order.id})

    async def action(request: web.Request) -> web.Response:
        state = emulator.state
        oid, what = int(request.match_info["id"]), request.match_info["action"]
        data = await request.json() if request.can_read_body else {}
        if oid not in state.orders:
            raise web.HTTPNotFound()
        try:
            if what == "cancel":
                state.cancel(oid, restock=bool(data.get("restock", True)))
            elif what == "refund":
                state.refund(
                    oid,
                    {
                        k: (int(v["quantity"]), str(v.get("restockType", "RETURN")))
                        for k, v in data["lines"].items()
                    },
                )
            elif what == "edit":
                state.edit_order(
                    oid, data["sku"], int(data["quantity"]), restock=bool(data.get("restock", True))
                )
            else:
                raise web.HTTPNotFound()
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=422)
        return web.json_response({"ok": True})

    async def inventory(request: web.Request) -> web.Response:
        state = emulator.state
        if request.method == "POST":
            for sku, figure in (await request.json()).items():
                state.set_available(sku, int(figure))
        return web.json_response({v.sku: state.available(v.sku) for v in state.variants.values()})

    async def webhooks(request: web.Request) -> web.Response:
        data = await request.json()
        if "address" in data:
            emulator.subscribe(data["address"], tuple(data.get("topics") or TOPICS))
        for key in ("delay_seconds", "duplicate", "shuffle", "hold"):
            if key in data:
                current = getattr(emulator.mode, key)
                setattr(emulator.mode, key, type(current)(data[key]))
        return web.json_response(
            {"subscriptions": emulator.subscriptions, "held": len(emulator.held)}
        )

    async def deliver(request: web.Request) -> web.Response:
        return web.json_response({"released": emulator.release()})

    async def throttle(request: web.Request) -> web.Response:
        if request.method == "POST":
            data = await request.json()
            if "plan" in data:
                emulator.bucket = bucket_for(str(data["plan"]))
                emulator.plan = str(data["plan"])
            if "available" in data:
                emulator.bucket.refill()
                emulator.bucket.available = float(data["available"])
        emulator.bucket.refill()
        return web.json_response(
            {
                "plan": emulator.plan,
                **emulator.bucket.status(),
                "requests": emulator.requests,
                "throttled": emulator.throttled,
            }
        )

    async def on_cleanup(_app: web.Application) -> None:
        await emulator.close()

    app.router.add_post("/admin/api/{version}/graphql.json", graphql)
    app.router.add_get("/__emulator/bulk/{id:\\d+}.jsonl", bulk_file)
    app.router.add_post("/__emulator/products", products)
    app.router.add_post("/__emulator/orders", orders)
    app.router.add_post("/__emulator/orders/{id:\\d+}/{action}", action)
    app.router.add_route("*", "/__emulator/inventory", inventory)
    app.router.add_post("/__emulator/webhooks", webhooks)
    app.router.add_post("/__emulator/webhooks/deliver", deliver)
    app.router.add_route("*", "/__emulator/throttle", throttle)
    app.on_cleanup.append(on_cleanup)
    add_write_log(app, STATE_KEY)
    return app


def run_standalone(host: str, port: int, products: int) -> None:
    """`syncd emulator shopify`: serve a shop with the demo catalogue until Ctrl-C."""
    emulator = ShopifyEmulator(
        access_token=f"shpat_{secrets.token_hex(16)}", client_secret=secrets.token_hex(16)
    )
    for item in demo_catalog(products):
        emulator.state.add_variant(item.sku, item.quantity, barcode=item.ean13, title=item.name)
    app = create_app(emulator)
    info = {
        "access_token": emulator.access_token,
        "client_secret": emulator.client_secret,
        "api_version": API_VERSION,
        "location_id": gid("Location", emulator.state.location_id),
        "products": products,
    }
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(app, host, port, info)
