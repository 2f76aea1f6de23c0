"""The controls that held when issue 22 was filed, kept as regression tests against a running
daemon: CSRF on every state-changing route, static files without traversal, security headers
on every status code, body limits, and no secret in any page, API answer, metric or log line."""

from __future__ import annotations

import asyncio
import base64
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from yarl import URL

from syncd.exceptions import RetriableError
from syncd.testing import FakeChannel
from tests.security.conftest import HOOK_SECRET, PASSWORD, Site, SiteFactory, oversell, until
from tests.security.test_web import csrf_of, login_form, session_cookie

AUTH = {"Authorization": "Basic " + base64.b64encode(f"syncd:{PASSWORD}".encode()).decode()}
HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
# Every POST route and how the matrix below reaches it: a new one must be added here.
POST_ROUTES = {
    "/login",
    "/logout",
    r"/conflicts/{id}/{action}",
    r"/api/conflicts/{id}/{action}",
    "/hooks/{type}/{channel}",  # its own secret instead of CSRF: test_web.py
    # stock in (issue 16): test_stock_forms_need_the_token_of_this_session below
    "/stock/receive/scan",
    "/stock/count/start",
    "/stock/{flow}/{id}/scan",
    "/stock/{flow}/{id}/save",
    "/stock/{flow}/{id}/book",
    "/stock/{flow}/{id}/discard",
    "/stock/adjust",
    "/stock/void",
    # locations (issue 17): the same test
    "/stock/transfer",
    "/stock/transfer/receive",
}


def post_templates(site: Site) -> set[str]:
    app = site.daemon.web_app()
    found = set()
    for route in app.router.routes():
        if route.method not in ("GET", "HEAD") and route.resource is not None:
            info = route.resource.get_info()
            found.add(str(info.get("path") or info.get("formatter")).replace(r":\d+", ""))
    return found


# -- CSRF -----------------------------------------------------------------------------------------


async def test_the_state_changing_routes_are_the_ones_the_matrix_covers(
    start_site: SiteFactory,
) -> None:
    site = await start_site()
    assert post_templates(site) == POST_ROUTES


async def _token(site: Site, http: aiohttp.ClientSession) -> str:
    async with http.get(site.url("/conflicts")) as page:
        return csrf_of(await page.text())


@pytest.mark.parametrize("form", [True, False], ids=["page", "api"])
async def test_conflict_actions_need_the_token_of_this_session(
    start_site: SiteFactory, form: bool
) -> None:
    site = await start_site()
    conflict = await oversell(site)
    http = site.session()
    assert (await login_form(site, http, PASSWORD)).status == 303
    token = await _token(site, http)
    stranger = site.session()
    assert (await login_form(site, stranger, PASSWORD)).status == 303
    foreign = await _token(site, stranger)
    path = (
        f"/conflicts/{conflict}/acknowledge" if form else f"/api/conflicts/{conflict}/acknowledge"
    )
    assert site.daemon.store is not None
    for given in (None, "", "0" * 64, foreign, token[:-1]):
        if form:
            data = {} if given is None else {"csrf": given}
            resp = await http.post(site.url(path), data=data, allow_redirects=False)
        else:
            headers = {} if given is None else {"X-CSRF-Token": given}
            resp = await http.post(site.url(path), headers=headers, allow_redirects=False)
        assert resp.status == 403, given
        assert (await site.daemon.store.conflicts())[0].status.value == "open"
    if form:
        resp = await http.post(site.url(path), data={"csrf": token}, allow_redirects=False)
        assert resp.status == 303
    else:
        resp = await http.post(site.url(path), headers={"X-CSRF-Token": token})
        assert resp.status == 200
    assert (await site.daemon.store.conflicts())[0].status.value == "acknowledged"


async def test_stock_forms_need_the_token_of_this_session(start_site: SiteFactory) -> None:
    site = await start_site()
    store = site.daemon.store
    assert store is not None
    http = site.session()
    assert (await login_form(site, http, PASSWORD)).status == 303
    token = await _token(site, http)
    stranger = site.session()
    assert (await login_form(site, stranger, PASSWORD)).status == 303
    foreign = await _token(site, stranger)
    resp = await http.post(
        site.url("/stock/receive/scan"), data={"csrf": token, "code": "CAP"}, allow_redirects=False
    )
    assert resp.status == 303
    draft = resp.headers["Location"].split("?")[0]
    async with http.get(site.url("/stock/adjust")) as page:
        form_token = re.search(r'name="token" value="(\w+)"', await page.text())
    assert form_token
    forms = {
        "/stock/receive/scan": {"code": "CAP"},
        "/stock/count/start": {"scope": "all"},
        f"{draft}/scan": {"code": "CAP"},
        f"{draft}/save": {"code": "CAP", "qty": "9"},
        f"{draft}/book": {"digest": "x"},
        f"{draft}/discard": {},
        "/stock/adjust": {"token": form_token[1], "sku": "CAP", "delta": "5", "reason": "gift"},
        "/stock/void": {"channel": "init", "doc": "opening"},
        "/stock/transfer": {"token": form_token[1], "sku": "CAP", "quantity": "1"},
        "/stock/transfer/receive": {"transfer": "transfer:x"},
    }
    for path, data in forms.items():
        for given in (None, "", "0" * 64, foreign, token[:-1]):
            sent = data if given is None else {**data, "csrf": given}
            async with http.post(site.url(path), data=sent, allow_redirects=False) as resp:
                assert resp.status == 403, (path, given)
    assert await store.levels(["CAP", "SHIRT-44"]) == {"CAP": 5, "SHIRT-44": 1}
    (only,) = await store.drafts()
    assert only.state == "open" and [ln[:2] for ln in only.lines] == [("CAP", 1)]
    data = {**forms["/stock/adjust"], "csrf": token}
    async with http.post(site.url("/stock/adjust"), data=data, allow_redirects=False) as resp:
        assert resp.status == 303
    assert await store.levels(["CAP"]) == {"CAP": 10}


async def test_login_and_logout_need_the_token(start_site: SiteFactory) -> None:
    site = await start_site()
    http = site.session()
    async with http.get(site.url("/login")) as page:
        token = csrf_of(await page.text())
    for given in (None, "0" * 64, token[:-1]):
        data = {"password": PASSWORD} | ({} if given is None else {"csrf": given})
        async with http.post(site.url("/login"), data=data, allow_redirects=False) as resp:
            assert resp.status == 403
        async with http.get(site.url("/api/overview")) as resp:
            assert resp.status == 401  # not logged in
    assert (await login_form(site, http, PASSWORD)).status == 303
    token = await _token(site, http)
    for given in (None, "0" * 64):
        data = {} if given is None else {"csrf": given}
        async with http.post(site.url("/logout"), data=data, allow_redirects=False) as resp:
            assert resp.status == 403
        async with http.get(site.url("/api/overview")) as resp:
            assert resp.status == 200  # still logged in
    async with http.post(site.url("/logout"), data={"csrf": token}, allow_redirects=False) as resp:
        assert resp.status == 303
    async with http.get(site.url("/api/overview")) as resp:
        assert resp.status == 401


# -- static files ---------------------------------------------------------------------------------

TRAVERSALS = (
    "/static/../auth.py",
    "/static/%2e%2e/auth.py",
    "/static/%2E%2E/app.py",
    "/static/..%2fauth.py",
    "/static/..%2Fapp.py",
    "/static/%2e%2e%2fapp.py",
    "/static/..%5capp.py",
    "/static/..\\app.py",
    "/static/%252e%252e/app.py",
    "/static/....//app.py",
    "/static//etc/passwd",
    "/static/%2Fetc%2Fpasswd",
    "/static/style.css/../../app.py",
    "/static/../templates/base.html",
    "/static/../../config.py",
    "/static/..%00/app.py",
)


async def test_static_files_never_leave_their_folder(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    http = site.session()
    for path in TRAVERSALS:
        async with http.get(URL(site.url("/") + path.lstrip("/"), encoded=True)) as resp:
            body = await resp.text(errors="replace")
            assert resp.status in (400, 403, 404), (path, resp.status)
            for leak in ("import ", "root:", "{% ", "def "):
                assert leak not in body, path
    async with http.get(site.url("/static/style.css")) as resp:
        assert resp.status == 200


# -- headers on every status ----------------------------------------------------------------------


async def _boom(_request: web.Request) -> web.Response:
    raise RuntimeError("an internal detail that stays inside")


def add_boom(app: web.Application) -> None:
    app.router.add_get("/boom", _boom)


async def test_every_status_code_carries_the_security_headers(start_site: SiteFactory) -> None:
    site = await start_site(routes=[add_boom])
    http = site.session()
    cases: list[tuple[int, str, str, dict[str, str], Any]] = [
        (200, "GET", "/login", {}, None),
        (302, "GET", "/", {}, None),
        (401, "GET", "/api/overview", {}, None),
        (403, "POST", "/conflicts/1/acknowledge", AUTH, None),
        (404, "GET", "/no-such-page", AUTH, None),
        (405, "GET", "/logout", AUTH, None),
        (413, "POST", "/login", {}, {"password": "x" * 100_000}),
        (421, "GET", "/login", {"Host": "evil.example"}, None),
        (500, "GET", "/boom", AUTH, None),
    ]
    for status, method, path, headers, data in cases:
        async with http.request(
            method, site.url(path), headers=headers, data=data, allow_redirects=False
        ) as resp:
            body = await resp.text()
            assert resp.status == status, (path, resp.status)
            for name, part in HEADERS.items():
                assert part in resp.headers.get(name, ""), (status, name)
            assert resp.headers.get("Server") == "syncd", status
            assert "internal detail" not in body and "Traceback" not in body


# -- body limits ----------------------------------------------------------------------------------


async def test_bodies_are_bounded(start_site: SiteFactory) -> None:
    site = await start_site()
    http = site.session()
    big = "x" * (200 * 1024)
    async with http.get(site.url("/login")) as page:
        token = csrf_of(await page.text())
    async with http.post(site.url("/login"), data={"csrf": token, "password": big}) as resp:
        assert resp.status == 413
    hook = {"X-Syncd-Secret": HOOK_SECRET}
    async with http.post(site.url("/hooks/fake/webshop"), data=big, headers=hook) as resp:
        assert resp.status == 413
    async with http.post(
        site.url("/conflicts/1/resolve"), data={"csrf": token, "x": big}, headers=AUTH
    ) as resp:
        assert resp.status == 413


# -- secrets --------------------------------------------------------------------------------------

URL_PASSWORD = "hunter2pass"


async def test_no_secret_in_any_page_answer_metric_or_log_line(
    start_site: SiteFactory, channels: dict[str, FakeChannel]
) -> None:
    site = await start_site()
    channels["webshop"].fail_pull = RetriableError(
        f"GET https://admin:{URL_PASSWORD}@shop.example/api/orders?ws_key={HOOK_SECRET} "
        f"failed ({PASSWORD})"
    )
    site.seller("webshop").nudge()
    await until(lambda: site.daemon.runners["webshop"].status.last_error)
    http = site.session()
    assert (await login_form(site, http, "a wrong one")).status == 401
    assert (await login_form(site, http, PASSWORD)).status == 303
    async with http.post(site.url("/hooks/fake/webshop"), headers={"X-Syncd-Secret": "no"}):
        pass
    texts = []
    for path in (
        "/",
        "/conflicts",
        "/activity",
        "/skus?q=CAP",
        "/skus/CAP",
        "/unknown",
        "/stock/receive",
        "/stock/count",
        "/stock/adjust",
        "/partials/overview",
        "/api/overview",
        "/api/conflicts",
        "/api/activity",
        "/api/charts",
        "/api/unknown",
        "/api/skus/CAP",
        "/api/session",
        "/healthz",
        "/metrics",
    ):
        async with http.get(site.url(path)) as resp:
            assert resp.status in (200, 503), path
            texts.append(await resp.text())
    async with http.ws_connect(site.url("/ws")) as ws:
        texts.append(str(await ws.receive_json(timeout=5)))
        site.seller("webshop").nudge()
        with_timeout = asyncio.wait_for(ws.receive_json(), 3)
        try:
            texts.append(str(await with_timeout))
        except TimeoutError:
            pass
    cookie = session_cookie(http)
    await site.daemon.stop()
    texts.append(site.logs.getvalue())
    everything = "\n".join(texts)
    assert "pull_failed" in everything  # the log was captured
    for secret in (PASSWORD, HOOK_SECRET, URL_PASSWORD, cookie):
        assert secret not in everything, secret
