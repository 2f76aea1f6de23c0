"""The status page with locations: stock per location on the overview and the product page, the
oversell conflict saying where, and a location to choose on the delivery and adjustment forms."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest

from syncd.cli.run import ServedDaemon
from syncd.ledger.store import Store
from syncd.testing import FakeChannel
from tests.conftest import DaemonStarter
from tests.web.conftest import DEFAULTS, ClientFactory, sale, settings_for
from tests.web.test_stockin import csrf_of, field, page, post, scan


@pytest.fixture
async def daemon(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger: tuple[str, str],
    start_daemon: DaemonStarter,
) -> ServedDaemon:
    tables: dict[str, Any] = copy.deepcopy(DEFAULTS["channels"])
    tables["till"]["locations"] = ["A"]
    tables["webshop"]["locations"] = ["A", "B"]
    locations = {"A": {"kind": "store"}, "B": {"kind": "warehouse"}}
    return await start_daemon(settings_for(tmp_path, ledger, channels=tables, locations=locations))


def store_of(daemon: ServedDaemon) -> Store:
    assert daemon.store is not None
    return daemon.store


async def at(store: Store, sku: str) -> dict[str, int]:
    return {r.location: r.on_hand for r in await store.location_stock([sku]) if r.on_hand}


async def test_stock_per_location_is_shown_and_chosen_on_the_forms(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    client = await make_client()
    # The opening count (syncd's own document naming no location) is at the first location.
    assert await at(store, "CAP") == {"A": 5}

    # An adjustment at B, chosen on the form.
    html = await page(client, "/stock/adjust")
    assert '<select id="adjust-location" name="location">' in html
    token, form_token = csrf_of(html), field(html, "token")
    bad = {"token": form_token, "sku": "CAP", "delta": "3", "reason": "correction"}
    resp = await post(client, "/stock/adjust", {**bad, "location": "Z"}, token, 400)
    assert "“Z” is not a configured location." in await resp.text()
    await post(client, "/stock/adjust", {**bad, "location": "B"}, token)
    assert await at(store, "CAP") == {"A": 5, "B": 3}

    # A delivery at B: scanned, the location chosen, previewed with it, booked there.
    html = await page(client, "/stock/receive")
    token = csrf_of(html)
    draft_url = await scan(client, "/stock/receive/scan", "CAP", token)
    html = await page(client, draft_url)
    assert '<select id="location" name="location">' in html
    await post(
        client,
        f"{draft_url}/save",
        {"code": ["CAP"], "qty": ["2"], "location": "B", "then": "check"},
        token,
    )
    html = await page(client, f"{draft_url}/check")
    assert "Location: <strong>B</strong>" in html
    before_after = re.search(r'class="num before">(\d+)</td><td class="num after">(\d+)<', html)
    assert before_after and before_after.groups() == ("3", "5")  # B's figures
    await post(client, f"{draft_url}/book", {"digest": field(html, "digest")}, token)
    assert await at(store, "CAP") == {"A": 5, "B": 5}

    # The overview and the product page show stock per location.
    html = await page(client, "/")
    assert "Stock per location" in html
    row = re.search(r'<tr data-location="B">.*?</tr>', html, re.S)
    assert row and "warehouse" in row.group(0) and '<td class="num">5</td>' in row.group(0)
    html = await page(client, "/skus/CAP")
    figures = re.findall(
        r'<tr data-location="(\w+)">\s*<th scope="row">\w+</th>\s*'
        r'<td class="num">(-?\d+)</td>',
        html,
    )
    assert figures == [("A", "5"), ("B", "5")]
    assert (await store.sku_detail("CAP")) is not None

    # The last SHIRT-44 (at A) sold twice at the till: the conflict says where.
    await store.apply_batch(
        [sale("till", "t1", {"SHIRT-44": 1}), sale("till", "t2", {"SHIRT-44": 1})]
    )
    html = await page(client, "/conflicts")
    assert re.search(r"SHIRT-44</a>[^\n]* at A</h3>", html)
    french = await (await client.get("/conflicts", headers={"Accept-Language": "fr"})).text()
    assert re.search(r"SHIRT-44</a>[^\n]* à A</h3>", french)


async def test_a_transfer_is_sent_and_received_from_the_page(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    client = await make_client()
    html = await page(client, "/stock/transfer")
    token, form_token = csrf_of(html), field(html, "token")
    assert "Nothing on its way." in html
    same = {"token": form_token, "source": "A", "destination": "A", "sku": "CAP", "quantity": "2"}
    resp = await post(client, "/stock/transfer", same, token, 400)
    assert "Choose two different locations." in await resp.text()
    data = {**same, "destination": "B"}
    resp = await post(client, "/stock/transfer", data, token)
    doc_id = f"transfer:page:{form_token}"
    assert unquote(resp.headers["Location"]) == f"/stock/transfer?done={doc_id}"
    await post(client, "/stock/transfer", data, token)  # sent twice: booked once
    assert await at(store, "CAP") == {"A": 3, "transit:B": 2}
    html = await page(client, "/stock/transfer")
    assert f'data-transfer="{doc_id}"' in html and "Arrived at B" in html
    (transfer,) = await store.transfers()
    assert transfer.in_transit == {"CAP": 2}

    await post(client, "/stock/transfer/receive", {"transfer": doc_id}, token)
    await post(client, "/stock/transfer/receive", {"transfer": doc_id}, token)  # twice: once
    assert await at(store, "CAP") == {"A": 3, "B": 2}
    assert await store.transfers() == []
    html = await page(client, "/stock/transfer")
    assert "Nothing on its way." in html
    activity = await page(client, "/activity")
    assert "Sent to another location" in activity and "Received from another location" in activity
