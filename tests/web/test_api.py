"""The status page's app through aiohttp's test client, over a real daemon and ledger: pages, the
JSON API, /healthz, /metrics, /ws, access and CSRF."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from syncd.cli.run import ServedDaemon
from syncd.config import Secret, WebSettings, parse_config
from syncd.domain import Rejection
from syncd.exceptions import ConfigError
from syncd.testing import FakeChannel, FakeConnector
from syncd.web import create_app
from tests.web.conftest import PASSWORD, ClientFactory, sale, settled, until

Client = TestClient[Any, Any]


def seller(daemon: ServedDaemon, channel: str) -> FakeConnector:
    connector = daemon.runners[channel].connector
    assert isinstance(connector, FakeConnector)
    return connector


async def oversell(daemon: ServedDaemon) -> int:
    """The last shirt sold at the till and online: one open conflict; returns its id."""
    seller(daemon, "till").sell(sale("till", "4-1001", {"SHIRT-44": 1}))
    seller(daemon, "webshop").sell(sale("webshop", "XKBKNABJK", {"SHIRT-44": 1}))
    assert daemon.store is not None
    store = daemon.store

    async def found() -> bool:
        return bool(await store.conflicts())

    await until(found)
    return (await store.conflicts())[0].id


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def json_of(client: Client, path: str, status: int = 200) -> Any:
    resp = await client.get(path)
    assert resp.status == status, await resp.text()
    return await resp.json()


# -- pages and API ------------------------------------------------------------------------------


async def test_overview_says_in_plain_words_that_everything_is_in_sync(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    await settled(daemon)
    body = await json_of(client, "/api/overview")
    assert body["headline"] == {
        "level": "ok",
        "code": "ok",
        "text": "Everything is in sync.",
        "note": "",
    }
    assert [c["name"] for c in body["channels"]] == ["till", "webshop"]
    assert {c["state"] for c in body["channels"]} == {"in_sync"}
    page = await client.get("/")
    html = await page.text()
    assert page.status == 200 and "Everything is in sync." in html
    assert '<html lang="en">' in html and 'role="img"' in html  # inline SVG charts


async def test_a_sale_is_measured_and_shown_everywhere(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    client = await make_client()
    seller(daemon, "till").sell(sale("till", "4-2001", {"CAP": 2}))
    await until(lambda: channels["webshop"].figures["CAP"] == 3)
    await until(lambda: daemon.runners["webshop"].status.pushed > 0)
    await asyncio.sleep(0.3)  # the page's event consumer records the latency

    overview = await json_of(client, "/api/overview")
    assert overview["latency"]["samples"] >= 1
    assert 0 <= overview["latency"]["p50_seconds"] <= overview["latency"]["p99_seconds"] < 5

    moves = (await json_of(client, "/api/activity?channel=till"))["movements"]
    assert moves[0]["doc_id"] == "4-2001" and moves[0]["delta"] == -2
    assert moves[0]["reason_label"] == "Till sale"
    shirts = (await json_of(client, "/api/activity?sku=SHIRT-44"))["movements"]
    assert shirts and {m["sku"] for m in shirts} == {"SHIRT-44"}
    assert (await json_of(client, "/api/activity?channel=nowhere", 400))["error"].startswith(
        "unknown channel 'nowhere'; known channels: till, webshop"
    )
    assert "limit" in (await json_of(client, "/api/activity?limit=many", 400))["error"]

    cap = await json_of(client, "/api/skus/CAP")
    assert cap["on_hand"] == 3 and cap["name"] == "Cap"
    webshop = next(c for c in cap["channels"] if c["channel"] == "webshop")
    assert webshop["wanted"] == 3 and webshop["shown"] == 3 and webshop["source"] == "pushed"
    assert cap["movements"][0]["doc_id"] == "4-2001"
    assert (await json_of(client, "/api/skus?q=ca"))["skus"] == [
        {"sku": "CAP", "name": "Cap", "on_hand": 3}
    ]
    assert (await json_of(client, "/api/skus?q=blue shirt"))["skus"][0]["sku"] == "SHIRT-44"
    await json_of(client, "/api/skus/NOPE", 404)

    charts = await json_of(client, "/api/charts")
    assert charts["latency"]["webshop"] and charts["sales_per_hour"]["till"][0][1] == 2
    sku_page = await client.get("/skus/CAP")
    assert "4-2001" in await sku_page.text()
    search = await client.get("/skus?q=cap", allow_redirects=False)
    assert search.status == 302 and search.headers["Location"] == "/skus/CAP"


async def test_conflicts_come_open_first_with_their_documents_and_what_to_do(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    conflict_id = await oversell(daemon)
    body = await json_of(client, "/api/conflicts")
    (conflict,) = body["conflicts"]
    assert conflict["id"] == conflict_id and conflict["status"] == "open"
    assert conflict["kind_label"] == "Oversold" and conflict["shortfall"] == 1
    assert [d["reference"] for d in conflict["documents"]] == ["4-1001", "XKBKNABJK"]
    assert "SHIRT-44" in conflict["todo"]
    overview = await json_of(client, "/api/overview")
    assert overview["open_conflicts"] == 1 and overview["headline"]["level"] == "warn"
    html = await (await client.get("/conflicts")).text()
    assert "XKBKNABJK" in html and 'data-action="acknowledge"' in html


async def test_unknown_skus_and_rejected_rows_are_listed_with_their_reason(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    seller(daemon, "till").sell(sale("till", "4-3001", {"3700000000017": 1}))
    assert daemon.store is not None
    await daemon.store.apply_batch(
        [],
        channel="till",
        rejections=[Rejection("till", "receipts-0412.csv", 7, "Quantity", "two", "not a number")],
    )
    store = daemon.store

    async def pending() -> bool:
        return bool(await store.pending_lines())

    await until(pending)
    body = await json_of(client, "/api/unknown")
    assert body["unknown_skus"] == [
        {"identifier": "3700000000017", "channel": "till", "documents": 1, "quantity": 1}
    ]
    (row,) = body["rejected_rows"]
    assert (row["source"], row["row"], row["column"], row["reason"]) == (
        "receipts-0412.csv",
        7,
        "Quantity",
        "not a number",
    )
    html = await (await client.get("/unknown")).text()
    assert "3700000000017" in html and "not a number" in html


async def test_french_from_the_browser_the_config_or_the_merchants_choice(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    await settled(daemon)
    client = await make_client()
    fr = {"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    html = await (await client.get("/", headers=fr)).text()
    assert '<html lang="fr">' in html and "Tout est synchronisé." in html
    english = await client.get("/lang/en?next=/activity", allow_redirects=False)
    assert english.status == 303 and english.headers["Location"] == "/activity"
    html = await (await client.get("/", headers=fr)).text()
    assert "Everything is in sync." in html  # the merchant's choice wins over the browser
    evil = await client.get("/lang/fr?next=//evil.example/", allow_redirects=False)
    assert evil.headers["Location"] == "/"

    configured = await make_client(language="fr")
    body = await json_of(configured, "/api/overview")
    assert body["headline"]["text"] == "Tout est synchronisé."


# -- health and metrics -------------------------------------------------------------------------


async def test_healthz_flips_to_503_when_a_channel_stalls_and_back(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    client = await make_client()
    await settled(daemon)
    healthy = await client.get("/healthz")
    assert healthy.status == 200 and (await healthy.json())["healthy"] is True
    # The daemon alone holds every job (issue 20: several daemons may share the ledger).
    jobs = {j["job"]: j for j in (await healthy.json())["jobs"]}
    assert {f"channel:{name}" for name in channels} <= set(jobs)
    assert all(j["running"] and j["epoch"] >= 1 for j in jobs.values())

    channels["webshop"].push_delay = 3.5  # the shop hangs: nothing fails, nothing arrives
    seller(daemon, "till").sell(sale("till", "4-4001", {"CAP": 1}))

    async def stalled() -> bool:
        return (await client.get("/healthz")).status == 503

    await until(stalled, timeout=10)
    body = await (await client.get("/healthz")).json()
    assert body["healthy"] is False
    assert any(r.startswith("channel webshop lags") for r in body["reasons"])
    overview = await json_of(client, "/api/overview")
    assert overview["headline"]["level"] == "bad"
    assert overview["headline"]["text"].startswith("The webshop has not been updated for")

    channels["webshop"].push_delay = 0

    async def recovered() -> bool:
        return (await client.get("/healthz")).status == 200

    await until(recovered, timeout=15)


async def test_metrics_parse_with_prometheus_client(
    make_client: ClientFactory, daemon: ServedDaemon, channels: dict[str, FakeChannel]
) -> None:
    client = await make_client()
    seller(daemon, "till").sell(sale("till", "4-5001", {"CAP": 1}))
    await until(lambda: channels["webshop"].figures["CAP"] == 4)
    await asyncio.sleep(0.3)
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await resp.text())
        for s in family.samples
    }
    assert samples[("syncd_movements_total", (("channel", "till"),))] == 1
    assert samples[("syncd_pushes_total", (("channel", "webshop"),))] >= 1
    assert samples[("syncd_errors_total", (("channel", "webshop"), ("kind", "channel")))] == 0
    assert ("syncd_lag_seconds", (("channel", "webshop"),)) in samples
    assert ("syncd_outbox_depth", (("channel", "till"),)) in samples
    assert samples[("syncd_channel_state", (("channel", "till"), ("state", "in_sync")))] == 1
    assert samples[("syncd_propagation_seconds_count", (("channel", "webshop"),))] >= 1
    assert samples[("syncd_open_conflicts", ())] == 0


# -- live feed ----------------------------------------------------------------------------------


async def test_ws_sends_every_event_as_json(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    async with client.ws_connect("/ws") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["event"] == "hello" and hello["channels"] == ["till", "webshop"]
        seller(daemon, "till").sell(sale("till", "4-6001", {"CAP": 1}))
        seen: list[dict[str, Any]] = []
        while not any(e["event"] == "document_applied" for e in seen):
            seen.append(await ws.receive_json(timeout=5))
        applied = next(e for e in seen if e["event"] == "document_applied")
        assert applied["channel"] == "till" and applied["doc_id"] == "4-6001"


# -- access and CSRF ----------------------------------------------------------------------------


@pytest.mark.usefixtures("fake_connector")  # channel "till" is of type "fake"
def test_an_exposed_page_refuses_to_start_without_a_password(tmp_path: Any) -> None:
    data = {
        "ledger": {"path": str(tmp_path / "l.sqlite3")},
        "web": {"host": "0.0.0.0"},
        "channels": {"till": {"type": "fake"}},
    }
    with pytest.raises(ConfigError) as err:
        parse_config(data, file="syncd.toml")
    assert "web.password" in str(err.value.issues[0])
    data["web"] = {"timezone": "Mars/Olympus"}
    with pytest.raises(ConfigError) as err:
        parse_config(data, file="syncd.toml")
    assert "web.timezone" in str(err.value.issues[0])


async def test_create_app_itself_refuses_an_exposed_host_without_password(
    daemon: ServedDaemon,
) -> None:
    with pytest.raises(ConfigError, match="without a password"):
        create_app(daemon, settings=WebSettings(host="0.0.0.0"))
    with pytest.raises(ConfigError, match="time zone"):
        create_app(daemon, settings=WebSettings(timezone="Mars/Olympus"))
    create_app(daemon, settings=WebSettings(host="0.0.0.0", password=Secret("x" * 12)))


async def test_exposed_page_needs_login_and_never_shows_a_secret(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client(host="0.0.0.0", password=PASSWORD)
    page = await client.get("/", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"] == "/login?next=/"
    for path in ("/api/overview", "/api/conflicts", "/metrics", "/ws", "/partials/overview"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status in (401, 302), path
        if path.startswith(("/api", "/metrics", "/ws")):
            assert resp.status == 401 and "Basic" in resp.headers["WWW-Authenticate"]
    assert (await client.get("/healthz")).status == 200  # probes need no password
    assert (await client.get("/static/style.css")).status == 200

    login_page = await client.get("/login?next=/activity")
    token = csrf_of(await login_page.text())
    no_csrf = await client.post("/login", data={"password": PASSWORD}, allow_redirects=False)
    assert no_csrf.status == 403
    wrong = await client.post(
        "/login", data={"password": "guess", "csrf": token}, allow_redirects=False
    )
    assert wrong.status == 401 and "Wrong password." in await wrong.text()
    assert (await client.get("/api/overview")).status == 401

    forged = client.session.cookie_jar.filter_cookies(client.make_url("/"))["syncd_session"]
    ok = await client.post(
        "/login",
        data={"password": PASSWORD, "csrf": token, "next": "/activity"},
        allow_redirects=False,
    )
    assert ok.status == 303 and ok.headers["Location"] == "/activity"
    assert ok.cookies["syncd_session"].value != forged.value  # a new session on login
    assert ok.cookies["syncd_session"]["httponly"]
    assert (await client.get("/api/overview")).status == 200

    # A tampered cookie is nobody's session.
    good = ok.cookies["syncd_session"].value
    client.session.cookie_jar.clear()
    for value, status in ((good, 200), (good[:-2] + "00", 401), (good.replace(".", "x.", 1), 401)):
        resp = await client.get("/api/overview", headers={"Cookie": f"syncd_session={value}"})
        assert resp.status == status

    # HTTP Basic for scripts and `syncd tail`.
    import base64

    basic = "Basic " + base64.b64encode(f"syncd:{PASSWORD}".encode()).decode()
    assert (await client.get("/metrics", headers={"Authorization": basic})).status == 200
    bad = "Basic " + base64.b64encode(b"syncd:nope").decode()
    assert (await client.get("/metrics", headers={"Authorization": bad})).status == 401

    # Nothing secret anywhere: the password, API keys, credentials inside an error's URL.
    runner = daemon.runners["webshop"]
    runner.status.last_error = (
        f"push: cannot connect to https://admin:hunter2pass@shop.example/api?ws_key=KEY9876543 "
        f"({PASSWORD})"
    )
    authed = {"Authorization": basic}
    texts = []
    for path in ("/", "/api/overview", "/conflicts", "/api/charts", "/healthz", "/metrics"):
        texts.append(await (await client.get(path, headers=authed)).text())
    everything = "\n".join(texts)
    for secret in (PASSWORD, "hunter2pass", "KEY9876543"):
        assert secret not in everything
    assert "https://&lt;redacted&gt;@shop.example/api?ws_key=&lt;redacted&gt;" in texts[0]
    assert "the channel could not be reached" in texts[0]


async def test_state_changes_need_the_csrf_token(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    conflict_id = await oversell(daemon)
    assert daemon.store is not None
    html = await (await client.get("/conflicts")).text()
    token = csrf_of(html)

    missing = await client.post(f"/conflicts/{conflict_id}/acknowledge", data={})
    wrong = await client.post(f"/conflicts/{conflict_id}/acknowledge", data={"csrf": "0" * 64})
    other_site = await client.post(
        f"/conflicts/{conflict_id}/acknowledge",
        data={"csrf": token},
        headers={"Origin": "http://evil.example"},
    )
    api_without = await client.post(f"/api/conflicts/{conflict_id}/acknowledge")
    for resp in (missing, wrong, other_site, api_without):
        assert resp.status == 403
    assert (await daemon.store.conflicts())[0].status.value == "open"

    # Another visitor's token is worth nothing in this session.
    stranger = await make_client()
    stolen = csrf_of(await (await stranger.get("/conflicts")).text())
    assert (
        await client.post(f"/conflicts/{conflict_id}/acknowledge", data={"csrf": stolen})
    ).status == 403

    done = await client.post(
        f"/conflicts/{conflict_id}/acknowledge",
        data={"csrf": token, "next": "/conflicts"},
        allow_redirects=False,
    )
    assert done.status == 303 and done.headers["Location"] == "/conflicts"
    assert (await daemon.store.conflicts())[0].status.value == "acknowledged"

    api_token = (await json_of(client, "/api/session"))["csrf_token"]
    resolved = await client.post(
        f"/api/conflicts/{conflict_id}/resolve", headers={"X-CSRF-Token": api_token}
    )
    assert resolved.status == 200 and (await resolved.json())["status"] == "resolved"
    missing_one = await client.post(
        "/api/conflicts/999999/resolve", headers={"X-CSRF-Token": api_token}
    )
    assert missing_one.status == 404


async def test_every_page_counts_in_words_in_both_languages_without_plural_brackets(
    make_client: ClientFactory, daemon: ServedDaemon
) -> None:
    client = await make_client()
    await oversell(daemon)
    paths = (
        "/",
        "/conflicts",
        "/activity",
        "/skus?q=nothing-like-it",
        "/skus/SHIRT-44",
        "/unknown",
    )
    expected = {
        "en": ("Oversold", "Short by: 1 unit", "1 product oversold", "units"),
        "fr": ("Survente", "Manque : 1 unité", "1 produit en survente", "unités"),
    }
    for lang, (kind, short, note, plural) in expected.items():
        await client.get(f"/lang/{lang}?next=/", allow_redirects=False)
        pages = {path: await (await client.get(path)).text() for path in paths}
        for path, html in pages.items():
            assert f'<html lang="{lang}">' in html, (lang, path)
            assert "(s)" not in html, (lang, path)
        assert kind in pages["/conflicts"] and short in pages["/conflicts"], lang
        assert note in pages["/"], lang
        exposure = re.search(r'id="exposure">(\d+) (\w+)<', pages["/"])
        assert exposure, lang
        units = int(exposure[1])
        # French says "0 unité" and "1 unité": only 2 and more take the plural.
        assert (exposure[2] == plural) == (units > 1 if lang == "fr" else units != 1), exposure[0]
