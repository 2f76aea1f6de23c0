"""The WooCommerce emulator's webhook deliveries, as ``WC_Webhook::deliver`` makes them (signed
``X-WC-Webhook-Signature``, the resource as it is at delivery time) from a queue that holds one
pending delivery per webhook and resource (Action Scheduler's): late by ``webhook_delay``
seconds, merged, or held until ``/__emulator/webhooks/deliver`` (``webhook_delay`` None)."""

from __future__ import annotations

import asyncio
import math
import secrets
from typing import Any

import aiohttp
from aiohttp import web

from syncd.connectors.woocommerce.emulator.auth import EMULATOR_KEY, OPTIONS_KEY, Options
from syncd.connectors.woocommerce.emulator.state import (
    Delivery,
    dumps,
    order_json,
    product_json,
    signature,
)

SESSION_KEY = web.AppKey("woocommerce_session", aiohttp.ClientSession)
WORKER_KEY = web.AppKey("woocommerce_deliveries", asyncio.Task)


def queue(app: web.Application, topic: str, resource_id: int) -> None:
    """One pending delivery per webhook and resource: later changes merge into it (Action
    Scheduler's woocommerce_deliver_webhook_async is not queued again while one is pending)."""
    emulator = app[EMULATOR_KEY]
    options: Options = app[OPTIONS_KEY]
    loop_time = asyncio.get_event_loop().time()
    delay = options.webhook_delay
    for hook in emulator.webhooks.values():
        if hook.status != "active" or hook.topic != topic:
            continue
        if any(d.webhook.id == hook.id and d.resource_id == resource_id for d in emulator.queue):
            continue
        due = math.inf if delay is None else loop_time + delay
        emulator.queue.append(Delivery(hook, resource_id, topic, due))


async def deliver(app: web.Application, delivery: Delivery) -> int:
    """POST one delivery as WC_Webhook::deliver does; its HTTP status (0: unreachable)."""
    emulator = app[EMULATOR_KEY]
    base = app[OPTIONS_KEY].base
    resource, event = delivery.topic.split(".", 1)
    if resource == "order":
        order = emulator.orders.get(delivery.resource_id)
        payload: dict[str, Any] = (
            order_json(order, base) if order is not None else {"id": delivery.resource_id}
        )
    else:
        product = emulator.products.get(delivery.resource_id)
        payload = (
            product_json(product, base) if product is not None else {"id": delivery.resource_id}
        )
    body = dumps(payload)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "WooCommerce/11.0.1 Hookshot (WordPress/7.0.4)",
        "X-WC-Webhook-Source": base + "/",
        "X-WC-Webhook-Topic": delivery.topic,
        "X-WC-Webhook-Resource": resource,
        "X-WC-Webhook-Event": event,
        "X-WC-Webhook-Signature": signature(delivery.webhook.secret, body),
        "X-WC-Webhook-ID": str(delivery.webhook.id),
        "X-WC-Webhook-Delivery-ID": secrets.token_hex(16),
    }
    try:
        async with app[SESSION_KEY].post(
            delivery.webhook.delivery_url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=5),
        ) as response:
            return response.status
    except (aiohttp.ClientError, TimeoutError):
        return 0


async def deliver_due(app: web.Application, *, everything: bool = False) -> int:
    emulator = app[EMULATOR_KEY]
    now = asyncio.get_event_loop().time()
    due = [d for d in emulator.queue if everything or d.due <= now]
    emulator.queue = [d for d in emulator.queue if d not in due]
    for delivery in due:
        await deliver(app, delivery)
    return len(due)


async def _delivery_loop(app: web.Application) -> None:
    while True:
        await asyncio.sleep(0.05)
        if app[EMULATOR_KEY].queue:
            await deliver_due(app)


async def start_deliveries(app: web.Application) -> None:
    app[SESSION_KEY] = aiohttp.ClientSession()
    app[WORKER_KEY] = asyncio.get_event_loop().create_task(
        _delivery_loop(app), name="woocommerce-emulator-deliveries"
    )


async def stop_deliveries(app: web.Application) -> None:
    app[WORKER_KEY].cancel()
    try:
        await app[WORKER_KEY]
    except asyncio.CancelledError:
        pass
    await app[SESSION_KEY].close()
