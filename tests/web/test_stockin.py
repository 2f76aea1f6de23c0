"""The stock-in forms through aiohttp's test client, over a real daemon on both ledgers: a
delivery scanned, previewed and booked once; a count that keeps the sales made while counting;
an adjustment with its reason; voiding from the activity list; CSRF and the password."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from syncd.cli.run import ServedDaemon
from syncd.domain import STOCK_CHANNEL
from syncd.exceptions import RetriableError
from syncd.ledger import Product
from syncd.ledger.store import Store
from syncd.testing import FakeChannel, FakeConnector
from tests.conftest import DaemonStarter
from tests.web.conftest import PASSWORD, ClientFactory, sale, settings_for, until

Client = TestClient[Any, Any]
SHIRT_BARCODE = "4006381333931"


@pytest.fixture(params=["sqlite", "postgres"])
def ledger(request: pytest.FixtureRequest) -> tuple[str, str]:
    if request.param == "postgres":
        return ("postgres", request.getfixturevalue("pg_dsn"))
    return ("sqlite", "")


def store_of(daemon: ServedDaemon) -> Store:
    assert daemon.store is not None
    return daemon.store


async def with_barcode(daemon: ServedDaemon) -> None:
    await store_of(daemon).upsert_products([Product("SHIRT-44", "Blue shirt 44", SHIRT_BARCODE)])


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no field {name} in the page"
    return match.group(1)


async def page(client: Client, path: str, status: int = 200) -> str:
    resp = await client.get(path)
    text = await resp.text()
    assert resp.status == status, text
    return text


async def post(
    client: Client, path: str, data: dict[str, Any], token: str, status: int = 303
) -> Any:
    resp = await client.post(path, data={"csrf": token, **data}, allow_redirects=False)
    assert resp.status == status, await resp.text()
    return resp


async def scan(client: Client, action: str, code: str, token: str) -> str:
    """One scan as the plain form posts it; the page it redirects to."""
    resp = await post(client, action, {"code": code}, token)
    location = resp.headers["Location"]
    return location.split("?")[0]


def seller(daemon: ServedDaemon, channel: str) -> FakeConnector:
    connector = daemon.runners[channel].connector
    assert isinstance(connector, FakeConnector)
    return connector


# -- delivery -------------------------------------------------------------------------------------


async def test_a_delivery_is_scanned_previewed_and_booked_once(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    await with_barcode(daemon)
    store = store_of(daemon)
    client = await make_client()
    html = await page(client, "/stock/receive")
    token = csrf_of(html)
    assert 'id="scan-code"' in html and "autofocus" in html

    draft_url = await scan(client, "/stock/receive/scan", SHIRT_BARCODE, token)
    assert re.fullmatch(r"/stock/receive/[0-9a-f]{16}", draft_url)
    for code in (SHIRT_BARCODE, "CAP", "NOPE-123"):
        assert await scan(client, f"{draft_url}/scan", code, token) == draft_url
    html = await page(client, f"{draft_url}?last=NOPE-123&outcome=unknown")
    assert "Unknown code “NOPE-123”" in html
    lines = dict(re.findall(r'data-code="([^"]+)" data-status="(\w+)"', html))
    assert lines == {SHIRT_BARCODE: "ok", "CAP": "ok", "NOPE-123": "unknown"}
    assert re.search(r'name="qty" type="number"[^>]*value="2" data-code="4006381333931"', html)

    # An unknown code is not bookable: the preview says so and offers no button.
    html = await page(client, f"{draft_url}/check")
    assert "not a known product" in html and 'id="book-button"' not in html

    # Remove it, set CAP to 3 and name the supplier: one form, all at once.
    codes = [SHIRT_BARCODE, "CAP", "NOPE-123"]
    await post(
        client,
        f"{draft_url}/save",
        {"code": codes, "qty": ["2", "3", "1"], "remove": "NOPE-123", "supplier": "Acme"},
        token,
    )
    bad = await post(
        client,
        f"{draft_url}/save",
        {"code": [SHIRT_BARCODE, "CAP"], "qty": ["2", "lots"], "delivery_note": "BL-7"},
        token,
        status=400,
    )
    assert "Line 2 (CAP): “lots” is not a quantity" in await bad.text()
    resp = await post(
        client,
        f"{draft_url}/save",
        {
            "code": [SHIRT_BARCODE, "CAP"],
            "qty": ["2", "3"],
            "delivery_note": "BL-7",
            "then": "check",
        },
        token,
    )
    assert resp.headers["Location"] == f"{draft_url}/check"

    # The draft lives in the ledger: a new page (a reload, a restart) finds it as it was.
    draft = await store.draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None and draft.kind == "goods_receipt"
    assert [(c, q) for c, q, _at in draft.lines] == [(SHIRT_BARCODE, 2), ("CAP", 3)]
    assert draft.meta["supplier"] == "Acme" and draft.meta["delivery_note"] == "BL-7"

    html = await page(client, f"{draft_url}/check")
    rows = re.findall(
        r'<tr data-sku="([^"]+)"><th scope="row">[^<]+</th><td>([^<]*)</td>'
        r'<td class="num">([+-]\d+)</td><td class="num before">(\d+)</td>'
        r'<td class="num after">(\d+)</td>',
        html,
    )
    assert rows == [("CAP", "Cap", "+3", "5", "8"), ("SHIRT-44", "Blue shirt 44", "+2", "1", "3")]
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 1, "CAP": 5}  # not yet
    digest = field(html, "digest")

    channels["webshop"].fail_push = RetriableError("HTTP 503", channel="webshop")
    resp = await post(client, f"{draft_url}/book", {"digest": digest}, token)
    assert resp.headers["Location"] == f"{draft_url}?outcome=booked"
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 3, "CAP": 8}
    # In the outbox, in the same transaction, for a shop that cannot take it yet.
    for sku, figure in {"SHIRT-44": 3, "CAP": 8}.items():
        detail = await store.sku_detail(sku)
        assert detail is not None
        assert {c.channel: c.queued for c in detail.channels}["webshop"] == figure
    channels["webshop"].fail_push = None
    doc_id = f"receipt:page:{draft_url.rsplit('/', 1)[1]}"
    stored = await store.stored_document(STOCK_CHANNEL, doc_id)
    assert stored is not None and stored.kind.value == "goods_receipt"
    assert dict(stored.meta) == {"origin": "page", "supplier": "Acme", "delivery_note": "BL-7"}
    # Pushed to every channel like a sale.
    await until(lambda: channels["webshop"].figures == {"SHIRT-44": 3, "CAP": 8})
    await until(lambda: channels["till"].figures == {"SHIRT-44": 3, "CAP": 8})

    # The same form again (double click, back button, resubmit): booked once.
    moves = len(await store.movements(limit=1000))
    await post(client, f"{draft_url}/book", {"digest": digest}, token)
    assert await store.levels(["SHIRT-44", "CAP"]) == {"SHIRT-44": 3, "CAP": 8}
    assert len(await store.movements(limit=1000)) == moves
    html = await page(client, draft_url)
    assert f"as {doc_id}" in html and 'id="scan-code"' not in html
    await post(client, f"{draft_url}/scan", {"code": "CAP"}, token)  # no scan after booking
    draft = await store.draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None and draft.state == "booked" and draft.doc_id == doc_id
    assert [(c, q) for c, q, _at in draft.lines] == [(SHIRT_BARCODE, 2), ("CAP", 3)]


async def test_a_preview_older_than_the_draft_books_nothing(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    token = csrf_of(await page(client, "/stock/receive"))
    draft_url = await scan(client, "/stock/receive/scan", "CAP", token)
    digest = field(await page(client, f"{draft_url}/check"), "digest")
    await scan(client, f"{draft_url}/scan", "CAP", token)  # scanned after the preview
    resp = await post(client, f"{draft_url}/book", {"digest": digest}, token)
    assert resp.headers["Location"] == f"{draft_url}/check?changed=1"
    assert await store_of(daemon).levels(["CAP"]) == {"CAP": 5}
    html = await page(client, f"{draft_url}/check?changed=1")
    assert "changed since this preview" in html and "+2" in html


async def test_a_draft_survives_a_restart_and_a_scan_sent_twice_counts_once(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger: tuple[str, str],
    start_daemon: DaemonStarter,
    make_client: ClientFactory,
    daemon: ServedDaemon,
) -> None:
    client = await make_client()
    html = await page(client, "/stock/receive")
    token = csrf_of(html)
    draft_url = await scan(client, "/stock/receive/scan", "CAP", token)
    html = await page(client, draft_url)
    scan_id = field(html, "scan_id")
    for _ in range(2):  # the same scan form sent twice (a retry, a resubmit)
        await post(client, f"{draft_url}/scan", {"code": "SHIRT-44", "scan_id": scan_id}, token)
    await daemon.stop()

    again = await start_daemon(settings_for(tmp_path, ledger))
    draft = await store_of(again).draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None and draft.state == "open"
    assert [(c, q) for c, q, _at in draft.lines] == [("CAP", 1), ("SHIRT-44", 1)]
    listing = await store_of(again).drafts(kind="goods_receipt")
    assert [d.id for d in listing] == [draft.id]


# -- count ----------------------------------------------------------------------------------------


async def test_a_count_keeps_the_sales_made_while_counting(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    store = store_of(daemon)
    client = await make_client()
    token = csrf_of(await page(client, "/stock/count"))
    resp = await post(client, "/stock/count/start", {"scope": "all"}, token)
    draft_url = resp.headers["Location"]
    for _ in range(4):  # 4 caps on the shelf (the ledger says 5: one is missing)
        await scan(client, f"{draft_url}/scan", "CAP", token)

    # While counting, the till sells 2 caps: they leave the shelf after they were counted.
    seller(daemon, "till").sell(sale("till", "4-3001", {"CAP": 2}))

    async def sold() -> bool:
        return (await store.levels(["CAP"]))["CAP"] == 3

    await until(sold)
    html = await page(client, f"{draft_url}/check")
    row = re.search(r'<tr data-sku="CAP".*?</tr>', html, re.S)
    assert row, html
    cells = dict(re.findall(r'<td class="num (\w+)[^"]*">([+-]?\d+)</td>', row[0]))
    # counted 4 when the ledger said 5 → −1; on hand now 3 → after 2 (the 2 sold stay sold)
    assert cells == {"counted": "4", "then": "5", "diff": "-1", "before": "3", "after": "2"}

    await post(client, f"{draft_url}/book", {"digest": field(html, "digest")}, token)
    assert await store.levels(["CAP"]) == {"CAP": 2}
    doc_id = f"count:page:{draft_url.rsplit('/', 1)[1]}"
    stored = await store.stored_document(STOCK_CHANNEL, doc_id)
    assert stored is not None and stored.meta["origin"] == "page" and stored.basis == {"CAP": 5}
    await until(lambda: channels["webshop"].figures.get("CAP") == 2)
    # Closing again books nothing.
    await post(client, f"{draft_url}/book", {"digest": field(html, "digest")}, token)
    assert await store.levels(["CAP"]) == {"CAP": 2}


async def test_a_count_of_a_prefix_counts_what_was_not_scanned_as_zero(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    await store.upsert_products(
        [Product("SHIRT-40", "Blue shirt 40"), Product("SHIRT-42", "Blue shirt 42")]
    )
    await store.apply_document(sale("till", "4-3002", {"SHIRT-40": -4}))  # a refund: 4 in stock
    client = await make_client()
    token = csrf_of(await page(client, "/stock/count"))
    bad = await post(client, "/stock/count/start", {"scope": "prefix", "prefix": ""}, token, 400)
    assert "start of the product codes" in await bad.text()
    resp = await post(client, "/stock/count/start", {"scope": "prefix", "prefix": "SHIRT-"}, token)
    draft_url = resp.headers["Location"]
    assert "starts with SHIRT-" in await page(client, draft_url)

    await scan(client, f"{draft_url}/scan", "SHIRT-44", token)
    outside = await post(client, f"{draft_url}/scan", {"code": "CAP"}, token)
    assert outside.headers["Location"].endswith("last=CAP&outcome=outside")
    draft = await store.draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None and [c for c, _q, _at in draft.lines] == ["SHIRT-44"]
    # A line set to 0 stays: "none on the shelf" is a count.
    await post(client, f"{draft_url}/save", {"code": "SHIRT-44", "qty": "0"}, token)

    html = await page(client, f"{draft_url}/check")
    assert "not scanned: counted as 0" in html
    await post(client, f"{draft_url}/book", {"digest": field(html, "digest")}, token)
    levels = await store.levels(["SHIRT-40", "SHIRT-42", "SHIRT-44", "CAP"])
    assert levels == {"SHIRT-40": 0, "SHIRT-42": 0, "SHIRT-44": 0, "CAP": 5}


async def test_a_count_of_listed_products_and_a_discarded_one(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    client = await make_client()
    token = csrf_of(await page(client, "/stock/count"))
    bad = await post(
        client, "/stock/count/start", {"scope": "skus", "skus": "CAP\nNOPE"}, token, 400
    )
    assert "Not a known product: NOPE" in await bad.text()
    resp = await post(
        client, "/stock/count/start", {"scope": "skus", "skus": "CAP, SHIRT-44"}, token
    )
    draft_url = resp.headers["Location"]
    await scan(client, f"{draft_url}/scan", "CAP", token)
    assert "Counting 2 products: CAP, SHIRT-44" in await page(client, draft_url)
    resp = await post(client, f"{draft_url}/discard", {}, token)
    assert resp.headers["Location"].startswith("/stock/count?discarded=")
    draft = await store.draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None and draft.state == "discarded"
    assert await store.levels(["CAP", "SHIRT-44"]) == {"CAP": 5, "SHIRT-44": 1}
    assert await store.drafts(kind="stock_count") == []


# -- adjustment and void --------------------------------------------------------------------------


async def test_an_adjustment_with_its_reason_is_booked_once(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    store = store_of(daemon)
    client = await make_client()
    html = await page(client, "/stock/adjust")
    token, form_token = csrf_of(html), field(html, "token")
    assert 'value="breakage"' in html and 'value="supplier_return"' in html

    bad = await post(
        client,
        "/stock/adjust",
        {"token": form_token, "sku": "NOPE", "delta": "0", "reason": "lost"},
        token,
        400,
    )
    text = await bad.text()
    for expected in ("“NOPE” is not a known product", "not 0", "Choose a reason"):
        assert expected in text
    data = {"token": form_token, "sku": "CAP", "delta": "-2", "reason": "breakage", "note": "box"}
    resp = await post(client, "/stock/adjust", data, token)
    assert resp.headers["Location"] == f"/stock/adjust?done={form_token}"
    assert await store.levels(["CAP"]) == {"CAP": 3}
    again = await post(client, "/stock/adjust", data, token)  # resubmitted: booked once
    assert again.headers["Location"] == f"/stock/adjust?done={form_token}&again=1"
    assert await store.levels(["CAP"]) == {"CAP": 3}
    html = await page(client, again.headers["Location"])
    assert "already sent" in html and "Booked: CAP -2 (Breakage). In stock now: 3." in html
    assert field(html, "token") != form_token  # the next adjustment gets a new one

    moves = [m for m in await store.movements(sku="CAP") if m.channel == STOCK_CHANNEL]
    assert [(m.delta, m.reason.value) for m in moves] == [(-2, "breakage")]
    stored = await store.stored_document(STOCK_CHANNEL, f"adjust:page:{form_token}")
    assert stored is not None
    assert dict(stored.meta) == {"origin": "page", "reason": "breakage", "note": "box"}
    await until(lambda: channels["webshop"].figures.get("CAP") == 3)
    expired = await post(client, "/stock/adjust", {**data, "token": "x"}, token, 400)
    assert "expired" in await expired.text()


async def test_void_from_the_activity_list(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    store = store_of(daemon)
    client = await make_client()
    token = csrf_of(await page(client, "/stock/adjust"))
    draft_url = await scan(client, "/stock/receive/scan", "CAP", token)
    await post(client, f"{draft_url}/save", {"code": "CAP", "qty": "4", "supplier": "Acme"}, token)
    digest = field(await page(client, f"{draft_url}/check"), "digest")
    await post(client, f"{draft_url}/book", {"digest": digest}, token)
    seller(daemon, "till").sell(sale("till", "4-4001", {"CAP": 1}))
    seller(daemon, "webshop").sell(sale("webshop", "WEB-1", {"SHIRT-44": 1}))

    async def applied() -> bool:
        return await store.levels(["CAP", "SHIRT-44"]) == {"CAP": 8, "SHIRT-44": 0}

    await until(applied)
    doc_id = f"receipt:page:{draft_url.rsplit('/', 1)[1]}"

    # The activity list names each stock document, with where it came from and a Void link;
    # a web order has none.
    html = await page(client, "/activity")
    row = re.search(rf'<tr [^>]*data-doc="{re.escape(doc_id)}".*?</tr>', html, re.S)
    assert row, html
    assert "Delivery" in row[0] and "from this page · Acme" in row[0]
    void_link = f"/stock/void?channel=stock&amp;doc={doc_id.replace(':', '%3A')}"
    assert void_link in row[0]
    web_row = re.search(r'<tr [^>]*data-doc="WEB-1".*?</tr>', html, re.S)
    assert web_row and "Web order" in web_row[0] and "Void" not in web_row[0]
    assert "/stock/void?channel=till&amp;doc=4-4001" in html
    assert await page(client, "/activity?channel=stock")

    # The confirmation page says what voiding undoes; then it is voided, once.
    confirm = await page(client, void_link.replace("&amp;", "&"))
    assert 'id="void-button"' in confirm
    assert re.search(
        r'<td class="num">-4</td><td class="num">8</td><td class="num after">4', confirm
    )
    resp = await post(client, "/stock/void", {"channel": "stock", "doc": doc_id}, token)
    assert resp.headers["Location"].endswith("&done=1")
    assert await store.levels(["CAP"]) == {"CAP": 4}
    await post(client, "/stock/void", {"channel": "stock", "doc": doc_id}, token)
    assert await store.levels(["CAP"]) == {"CAP": 4}
    assert "Voided" in await page(client, resp.headers["Location"])
    stored = await store.stored_document(STOCK_CHANNEL, doc_id)
    assert stored is not None and stored.cancelled and stored.meta["voided_by"] == "page"

    # A till receipt too; a web order is refused (cancel it in the shop).
    await post(client, "/stock/void", {"channel": "till", "doc": "4-4001"}, token)
    assert await store.levels(["CAP"]) == {"CAP": 5}
    web = await post(client, "/stock/void", {"channel": "webshop", "doc": "WEB-1"}, token, 409)
    assert "cancel it in the shop" in await web.text()
    assert "cancel it in the shop" in await page(client, "/stock/void?channel=webshop&doc=WEB-1")
    assert await store.levels(["SHIRT-44"]) == {"SHIRT-44": 0}
    await page(client, "/stock/void?channel=till&doc=nope", 404)
    await until(lambda: channels["webshop"].figures.get("CAP") == 5)
    html = await page(client, "/activity")
    assert "badge-warn" in html and "Voided" in html


# -- access ---------------------------------------------------------------------------------------


async def test_every_form_needs_the_csrf_token(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    client = await make_client()
    token = csrf_of(await page(client, "/stock/receive"))
    draft_url = await scan(client, "/stock/receive/scan", "CAP", token)
    digest = field(await page(client, f"{draft_url}/check"), "digest")
    form_token = field(await page(client, "/stock/adjust"), "token")
    attempts = [
        ("/stock/receive/scan", {"code": "CAP"}),
        (f"{draft_url}/scan", {"code": "CAP"}),
        (f"{draft_url}/save", {"code": "CAP", "qty": "9"}),
        (f"{draft_url}/book", {"digest": digest}),
        (f"{draft_url}/discard", {}),
        ("/stock/count/start", {"scope": "all"}),
        ("/stock/adjust", {"token": form_token, "sku": "CAP", "delta": "5", "reason": "gift"}),
        ("/stock/void", {"channel": "init", "doc": "opening"}),
    ]
    for path, data in attempts:
        for headers, extra in (
            ({}, {}),
            ({}, {"csrf": "0" * 64}),
            ({"Origin": "http://evil"}, {"csrf": token}),
        ):
            resp = await client.post(
                path, data={**data, **extra}, headers=headers, allow_redirects=False
            )
            assert resp.status == 403, (path, headers, extra)
    assert await store.levels(["CAP", "SHIRT-44"]) == {"CAP": 5, "SHIRT-44": 1}
    assert len(await store.drafts()) == 1
    draft = await store.draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None and draft.state == "open" and draft.lines[0][:2] == ("CAP", 1)


async def test_an_exposed_page_asks_for_the_password_first(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    store = store_of(daemon)
    client = await make_client(host="0.0.0.0", password=PASSWORD)
    for path in ("/stock/receive", "/stock/count", "/stock/adjust", "/stock/void?channel=a&doc=b"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"].startswith("/login?next=/stock/")
    login = await page(client, "/login")
    token = csrf_of(login)
    for path, data in (
        ("/stock/receive/scan", {"code": "CAP"}),
        ("/stock/adjust", {"token": "a" * 20, "sku": "CAP", "delta": "5", "reason": "gift"}),
        ("/stock/void", {"channel": "init", "doc": "opening"}),
    ):
        resp = await client.post(path, data={**data, "csrf": token}, allow_redirects=False)
        assert resp.status == 302 and resp.headers["Location"] == "/login?next=/", path
    assert await store.levels(["CAP"]) == {"CAP": 5}
    assert await store.drafts() == []

    await client.post("/login", data={"password": PASSWORD, "csrf": token})
    token = csrf_of(await page(client, "/stock/adjust"))
    form_token = field(await page(client, "/stock/adjust"), "token")
    data = {"token": form_token, "sku": "CAP", "delta": "5", "reason": "gift"}
    await post(client, "/stock/adjust", data, token)
    assert await store.levels(["CAP"]) == {"CAP": 10}


async def test_the_forms_speak_french(make_client: ClientFactory, daemon: ServedDaemon) -> None:
    client = await make_client()
    await client.get("/lang/fr?next=/", allow_redirects=False)
    assert "<h1>Réception</h1>" in await page(client, "/stock/receive")
    assert "<h1>Inventaire</h1>" in await page(client, "/stock/count")
    html = await page(client, "/stock/adjust")
    assert "Casse" in html and "Retour fournisseur" in html
    nav = await page(client, "/")
    assert 'href="/stock/receive">Réception</a>' in nav


async def test_scans_sent_at_once_all_count(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    token = csrf_of(await page(client, "/stock/receive"))
    draft_url = await scan(client, "/stock/receive/scan", "CAP", token)
    codes = ["CAP", "SHIRT-44"] * 10
    await asyncio.gather(*(scan(client, f"{draft_url}/scan", code, token) for code in codes))
    draft = await store_of(daemon).draft(draft_url.rsplit("/", 1)[1])
    assert draft is not None
    assert [(c, q) for c, q, _at in draft.lines] == [("CAP", 11), ("SHIRT-44", 10)]
