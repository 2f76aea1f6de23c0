"""Attacks from the shop's network on a running daemon's web endpoints (issue 22, items 3, 4, 7,
9, 11): each one must fail. Item 10 (a password in a shop URL) is in test_web_config.py; the
controls that already held are in test_web_controls.py."""

from __future__ import annotations

import asyncio
import base64
import re
import subprocess
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import aiohttp
import pytest

from syncd.config import Secret, WebSettings
from syncd.exceptions import ConfigError, RetriableError
from syncd.testing import FakeChannel
from syncd.web import create_app
from syncd.web.auth import is_loopback
from tests.security.conftest import (
    HOOK_SECRET,
    PASSWORD,
    Site,
    SiteFactory,
    oversell,
    sale,
    until,
)

EVIL = "evil.example"


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"syncd:{password}".encode()).decode()


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


async def login_form(
    site: Site, http: aiohttp.ClientSession, password: str, *, headers: dict[str, str] | None = None
) -> aiohttp.ClientResponse:
    """The login form as a browser posts it: the page first (session and token), then the form."""
    async with http.get(site.url("/login"), headers=headers) as page:
        token = csrf_of(await page.text())
    resp = await http.post(
        site.url("/login"),
        data={"password": password, "csrf": token, "next": "/"},
        headers=headers,
        allow_redirects=False,
    )
    await resp.read()
    return resp


def session_cookie(http: aiohttp.ClientSession) -> str:
    for cookie in http.cookie_jar:
        if cookie.key == "syncd_session":
            return cookie.value
    raise AssertionError("no session cookie")


# -- 3: DNS rebinding and cross-site WebSocket ----------------------------------------------------


async def test_a_rebound_host_name_reads_nothing_and_changes_nothing(
    start_site: SiteFactory,
) -> None:
    """A page on evil.example whose name now resolves to 127.0.0.1 reads the API, fetches the
    CSRF token and resolves a conflict: every request carries ``Host: evil.example:<port>``."""
    site = await start_site(password=None)
    conflict = await oversell(site)
    http = site.session()
    for host in (
        f"{EVIL}:{site.port}",
        EVIL,
        f"127.{EVIL}:{site.port}",
        f"localhost.{EVIL}:{site.port}",
        f"127.0.0.1.nip.io:{site.port}",
        "127.0.0.1:1",  # a name of ours, another port: another service's page
    ):
        for path in ("/", "/api/overview", "/api/session", "/metrics", "/healthz", "/login"):
            async with http.get(site.url(path), headers={"Host": host}) as resp:
                body = await resp.text()
                assert resp.status == 421, (host, path, resp.status)
                assert len(body) < 200 and "<html" not in body and "csrf" not in body
        with pytest.raises(aiohttp.WSServerHandshakeError):
            async with http.ws_connect(site.url("/ws"), headers={"Host": host}) as ws:
                pytest.fail(f"/ws answered for Host {host}: {await ws.receive()}")
    # Even holding a valid token (here: read the honest way), a rebound POST changes nothing.
    async with http.get(site.url("/api/session")) as resp:
        token = (await resp.json())["csrf_token"]
    rebound = {"Host": f"{EVIL}:{site.port}", "X-CSRF-Token": token}
    async with http.post(site.url(f"/api/conflicts/{conflict}/resolve"), headers=rebound) as resp:
        assert resp.status == 421
    assert site.daemon.store is not None
    assert (await site.daemon.store.conflicts())[0].status.value == "open"
    for host in (site.host, f"localhost:{site.port}", f"[::1]:{site.port}"):
        async with http.get(site.url("/api/overview"), headers={"Host": host}) as resp:
            assert resp.status == 200, host


async def raw_status(port: int, request: bytes) -> int:
    """The status line's code for bytes sent as they are (no client fixes them up)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    return int(line.split()[1])


async def test_a_request_line_or_a_missing_host_does_not_get_around_the_check(
    start_site: SiteFactory,
) -> None:
    site = await start_site(password=None)
    for request in (
        b"GET /api/overview HTTP/1.0\r\n\r\n",
        f"GET http://{EVIL}/api/overview HTTP/1.1\r\nHost: {site.host}\r\n\r\n".encode(),
        f"GET http://{site.host}/api/overview HTTP/1.1\r\nHost: {EVIL}\r\n\r\n".encode(),
    ):
        assert await raw_status(site.port, request) == 421, request
    for request in (  # two Host headers: aiohttp refuses the request itself
        f"GET /api/overview HTTP/1.1\r\nHost: {site.host}\r\nHost: {EVIL}\r\n\r\n".encode(),
    ):
        assert await raw_status(site.port, request) == 400
    ok = f"GET http://{site.host}/api/overview HTTP/1.1\r\nHost: {site.host}\r\n\r\n"
    assert await raw_status(site.port, ok.encode()) == 200


async def test_allowed_hosts_admit_the_reverse_proxy_name_and_nothing_else(
    start_site: SiteFactory,
) -> None:
    site = await start_site(password=None, web={"allowed_hosts": ["status.shop.example"]})
    http = site.session()
    for host, status in (
        ("status.shop.example", 200),
        ("STATUS.shop.example:443", 200),
        ("other.shop.example", 421),
        (f"{EVIL}:{site.port}", 421),
    ):
        async with http.get(site.url("/api/overview"), headers={"Host": host}) as resp:
            assert resp.status == status, host


async def test_a_cross_site_websocket_gets_no_feed(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    http = site.session()
    for origin in (
        f"http://{EVIL}",
        f"http://{EVIL}:{site.port}",
        "null",
        f"https://127.0.0.1.{EVIL}",
    ):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with http.ws_connect(site.url("/ws"), origin=origin) as ws:
                pytest.fail(f"/ws streamed to Origin {origin}: {await ws.receive()}")
        assert refused.value.status == 403, origin
    # The page's own script and `syncd tail` (no Origin) still get the feed.
    for headers in ({"Origin": f"http://{site.host}"}, {}):
        async with http.ws_connect(site.url("/ws"), headers=headers) as ws:
            assert (await ws.receive_json(timeout=5))["event"] == "hello"


async def test_a_post_from_another_origin_is_refused_even_with_the_token(
    start_site: SiteFactory,
) -> None:
    site = await start_site(password=None)
    conflict = await oversell(site)
    http = site.session()
    async with http.get(site.url("/api/session")) as resp:
        token = (await resp.json())["csrf_token"]
    for origin in (f"http://{EVIL}", "null", f"http://127.0.0.1.{EVIL}:{site.port}"):
        headers = {"X-CSRF-Token": token, "Origin": origin}
        async with http.post(
            site.url(f"/api/conflicts/{conflict}/resolve"), headers=headers
        ) as resp:
            assert resp.status == 403, origin
    assert site.daemon.store is not None
    assert (await site.daemon.store.conflicts())[0].status.value == "open"
    headers = {"X-CSRF-Token": token, "Origin": f"http://{site.host}"}
    async with http.post(site.url(f"/api/conflicts/{conflict}/resolve"), headers=headers) as resp:
        assert resp.status == 200


# -- 4: password guessing -------------------------------------------------------------------------


async def burst(
    site: Site, attempts: int, seconds: float, *, form: bool, client: str | None = None
) -> dict[int, int]:
    """``attempts`` wrong passwords at once from one client; statuses answered within
    ``seconds`` (a 401 is a password that was checked)."""
    http = site.session()
    headers = {"X-Forwarded-For": client} if client else {}
    token = ""
    if form:
        async with http.get(site.url("/login"), headers=headers) as page:
            token = csrf_of(await page.text())

    async def guess(n: int) -> int:
        if form:
            data = {"password": f"guess-{n:04d}", "csrf": token}
            async with http.post(
                site.url("/login"), data=data, headers=headers, allow_redirects=False
            ) as resp:
                return resp.status
        auth = {**headers, "Authorization": basic(f"guess-{n:04d}")}
        async with http.get(site.url("/api/overview"), headers=auth) as resp:
            return resp.status

    tasks = [asyncio.ensure_future(guess(n)) for n in range(attempts)]
    done, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    counts: dict[int, int] = {}
    for task in done:
        status = task.result()
        counts[status] = counts.get(status, 0) + 1
    return counts


@pytest.mark.parametrize("form", [False, True], ids=["basic", "form"])
async def test_guessing_from_one_client_is_slowed_down(start_site: SiteFactory, form: bool) -> None:
    site = await start_site()
    answered = await burst(site, 60, 3.0, form=form)
    assert answered.get(401, 0) <= 8, answered  # 5 free, then 1 s, 2 s, 4 s… apart
    assert answered.get(200, 0) == answered.get(303, 0) == 0


async def test_the_merchant_is_never_locked_out(start_site: SiteFactory) -> None:
    """While one address guesses, the merchant logs in from another at once; at the guessing
    address itself the right password is still accepted, after the delay."""
    site = await start_site(web={"trusted_proxies": ["127.0.0.1"]})
    attack = asyncio.ensure_future(burst(site, 60, 4.0, form=False, client="10.0.0.66"))
    await asyncio.sleep(0.5)
    merchant = site.session()
    resp = await login_form(site, merchant, PASSWORD, headers={"X-Forwarded-For": "10.0.0.7"})
    assert resp.status == 303 and not attack.done()
    await attack

    shared = site.session()
    headers = {"X-Forwarded-For": "10.0.0.99"}
    for n in range(6):  # five free failures and a delayed one
        assert (await login_form(site, shared, f"nope-{n}", headers=headers)).status == 401
    assert (await login_form(site, shared, PASSWORD, headers=headers)).status == 303


async def test_a_distributed_guess_meets_the_global_budget(start_site: SiteFactory) -> None:
    site = await start_site(web={"trusted_proxies": ["127.0.0.1"]})
    merchant = site.session()
    merchant_at = {"X-Forwarded-For": "10.0.0.7"}
    assert (await login_form(site, merchant, PASSWORD, headers=merchant_at)).status == 303
    http = site.session()
    for n in range(104):  # 26 addresses, 4 failures each: none of them is slowed down alone
        auth = {"X-Forwarded-For": f"10.0.1.{n // 4}", "Authorization": basic(f"g{n}")}
        async with http.get(site.url("/metrics"), headers=auth) as resp:
            assert resp.status == 401
    # 20 more addresses, 3 guesses each at once: the first of each is checked, then one line.
    fresh = [
        asyncio.ensure_future(burst(site, 3, 2.5, form=False, client=f"10.0.2.{n}"))
        for n in range(20)
    ]
    await asyncio.sleep(0.3)
    scraper = {**merchant_at, "Authorization": basic(PASSWORD)}
    async with http.get(site.url("/metrics"), headers=scraper) as resp:
        assert resp.status == 200  # a known address is not held up by the others' failures
    newcomer = site.session()  # the merchant on a machine never used before: at once too
    newcomer_at = {"X-Forwarded-For": "10.0.3.1"}
    resp = await asyncio.wait_for(login_form(site, newcomer, PASSWORD, headers=newcomer_at), 2)
    assert resp.status == 303
    checked = sum(counts.get(401, 0) for counts in await asyncio.gather(*fresh))
    assert checked <= 20 + 3, checked


async def test_failures_are_logged_in_aggregate_without_the_passwords(
    start_site: SiteFactory,
) -> None:
    site = await start_site()
    http = site.session()
    for n in range(3):
        assert (await login_form(site, http, f"tried-pw-{n}")).status == 401
        async with http.get(
            site.url("/metrics"), headers={"Authorization": basic(f"tried-pw-b{n}")}
        ) as resp:
            assert resp.status == 401
    await site.daemon.stop()  # the window's count is written at the latest when the page stops
    events = site.events("login_failures")
    assert len(events) == 1 and events[0]["failures"] == 6 and events[0]["clients"] == 1
    assert not site.events("login_failed")
    assert "tried-pw" not in site.logs.getvalue()


# -- 7: open redirect -----------------------------------------------------------------------------

EVIL_NEXT = (
    "/%09/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "%09//evil.example",
    "//evil.example",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",
    "%2F%2Fevil.example",
    "/%252F%252Fevil.example",
    "https://evil.example/",
    "HTTPS:evil.example",
    "javascript:alert(1)",
    " //evil.example",
    "/%00/evil.example",
    "/%E2%80%A8/evil.example",
    "/%0d%0aSet-Cookie:%20x=1",
)


def stays_on_site(location: str, base: str) -> bool:
    """Where a browser goes for this Location (the WHATWG parser drops tabs and newlines,
    trims controls and spaces, and reads a backslash as a slash), and what it decodes to."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in location):
        return False
    seen = location
    for _ in range(3):
        if seen.startswith("//") or "\\" in seen or ":" in seen.split("/", 1)[0]:
            return False
        seen = unquote(seen)
    browser = re.sub(r"[\t\n\r]", "", location).strip("\x00 ").replace("\\", "/")
    target = urlsplit(urljoin(base, browser))
    return target.netloc == urlsplit(base).netloc and location.startswith("/")


async def test_every_redirect_stays_on_the_site(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    conflict = await oversell(site)
    http = site.session()
    base = site.url("/")
    for value in EVIL_NEXT:
        async with http.get(
            site.url(f"/lang/en?next={quote(value, safe='%/')}"), allow_redirects=False
        ) as resp:
            assert resp.status == 303
            assert stays_on_site(resp.headers["Location"], base), (value, resp.headers["Location"])
    async with http.get(site.url("/conflicts")) as page:
        token = csrf_of(await page.text())
    for value in ("/%09/evil.example", "//evil.example"):
        async with http.post(
            site.url(f"/conflicts/{conflict}/acknowledge"),
            data={"csrf": token, "next": unquote(value)},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303 and stays_on_site(resp.headers["Location"], base)
    async with http.get(
        site.url("/lang/en?next=/activity%3Fchannel%3Dtill"), allow_redirects=False
    ) as resp:
        assert resp.headers["Location"] == "/activity?channel=till"  # a local page still works


async def test_the_login_form_redirects_only_to_the_site(start_site: SiteFactory) -> None:
    site = await start_site()
    for value in ("/\t/evil.example", "/\\evil.example", "//evil.example", "https://evil.example"):
        http = site.session()
        async with http.get(site.url("/login")) as page:
            token = csrf_of(await page.text())
        async with http.post(
            site.url("/login"),
            data={"password": PASSWORD, "csrf": token, "next": value},
            allow_redirects=False,
        ) as resp:
            assert resp.status == 303
            assert stays_on_site(resp.headers["Location"], site.url("/")), resp.headers["Location"]


# -- 9: webhooks ----------------------------------------------------------------------------------


async def test_a_webhook_flood_makes_a_few_pulls(
    start_site: SiteFactory, channels: dict[str, FakeChannel]
) -> None:
    site = await start_site(password=None)
    await until(lambda: site.daemon.runners["webshop"].status.pull_generation >= 1)
    before = channels["webshop"].pulls
    http = site.session()
    hook = site.url("/hooks/fake/webshop")
    statuses: list[int] = []

    async def send(n: int) -> None:
        for _ in range(n):
            async with http.post(hook, headers={"X-Syncd-Secret": HOOK_SECRET}) as resp:
                statuses.append(resp.status)

    started = asyncio.get_running_loop().time()
    await asyncio.gather(*(send(25) for _ in range(12)))
    # A sale the shop reports with a webhook inside the floor is pulled after it, not lost.
    channels["webshop"].documents.append(sale("webshop", "LATE-1", {"CAP": 1}))
    async with http.post(hook, headers={"X-Syncd-Secret": HOOK_SECRET}) as resp:
        assert resp.status == 202
    elapsed = asyncio.get_running_loop().time() - started
    assert site.daemon.store is not None
    store = site.daemon.store

    async def late_pulled() -> bool:
        return (await store.levels(["CAP"]))["CAP"] == 4

    await until(late_pulled)
    await asyncio.sleep(1.2)
    assert set(statuses) == {202} and len(statuses) == 300
    pulls = channels["webshop"].pulls - before
    assert pulls <= elapsed / 1.0 + 3, (pulls, elapsed)


async def test_refused_webhooks_are_logged_in_aggregate(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    http = site.session()
    for n in range(100):
        async with http.post(
            site.url("/hooks/fake/webshop"), headers={"X-Syncd-Secret": f"wrong-{n}"}
        ) as resp:
            assert resp.status == 401
    await site.daemon.stop()
    events = site.events("webhook_refused")
    assert 1 <= len(events) <= 2 and sum(e["refused"] for e in events) == 100
    assert "wrong-1" not in site.logs.getvalue()


async def test_the_webhook_does_not_tell_which_channels_exist(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    http = site.session()
    answers = set()
    for path, secret in (
        ("/hooks/fake/webshop", "wrong"),
        ("/hooks/fake/webshop", ""),
        ("/hooks/fake/no-such-channel", "wrong"),
        ("/hooks/prestashop/webshop", HOOK_SECRET),
        ("/hooks/fake/till", HOOK_SECRET),  # a channel without a webhook secret
    ):
        async with http.post(site.url(path), headers={"X-Syncd-Secret": secret}) as resp:
            answers.add((resp.status, await resp.text()))
    assert len(answers) == 1, answers


# -- 11: sessions, /healthz, Server, loopback, Secure ---------------------------------------------


async def test_logout_revokes_the_session(start_site: SiteFactory) -> None:
    site = await start_site()
    http = site.session()
    assert (await login_form(site, http, PASSWORD)).status == 303
    stolen = session_cookie(http)
    async with http.get(site.url("/conflicts")) as page:
        token = csrf_of(await page.text())
    async with http.post(site.url("/logout"), data={"csrf": token}, allow_redirects=False) as resp:
        assert resp.status == 303
    thief = site.session()
    async with thief.get(
        site.url("/api/overview"), headers={"Cookie": f"syncd_session={stolen}"}
    ) as resp:
        assert resp.status == 401


async def test_a_new_password_revokes_every_session(start_site: SiteFactory) -> None:
    site = await start_site()
    http = site.session()
    assert (await login_form(site, http, PASSWORD)).status == 303
    old = session_cookie(http)
    assert site.password_file is not None
    site.password_file.write_text("a brand new passphrase\n", encoding="utf-8")
    await site.daemon.reload()
    other = site.session()
    async with other.get(
        site.url("/api/overview"), headers={"Cookie": f"syncd_session={old}"}
    ) as resp:
        assert resp.status == 401
    assert (await login_form(site, site.session(), PASSWORD)).status == 401
    assert (await login_form(site, site.session(), "a brand new passphrase")).status == 303


async def test_healthz_tells_strangers_only_the_status(
    start_site: SiteFactory, channels: dict[str, FakeChannel]
) -> None:
    site = await start_site(web={"trusted_proxies": ["127.0.0.1"]})
    channels["webshop"].fail_pull = RetriableError("shop.example said: internal detail Z9Q")
    site.seller("webshop").nudge()
    http = site.session()
    authed = {"Authorization": basic(PASSWORD)}

    async def failing() -> bool:
        async with http.get(site.url("/healthz"), headers=authed) as resp:
            return "Z9Q" in await resp.text()

    await until(failing)
    # A stranger named by the proxy, and a proxy that names no one: the status only.
    for headers in ({"X-Forwarded-For": "192.0.2.50"}, {}):
        async with http.get(site.url("/healthz"), headers=headers) as resp:
            assert resp.status == 503 and await resp.json() == {"healthy": False}
    for headers in ({"X-Forwarded-For": "192.0.2.50", **authed}, {"X-Forwarded-For": "127.0.0.1"}):
        async with http.get(site.url("/healthz"), headers=headers) as resp:
            assert resp.status == 503 and "Z9Q" in await resp.text()


async def test_scripts_with_the_password_are_not_slowed_down(start_site: SiteFactory) -> None:
    site = await start_site()
    http = site.session()
    authed = {"Authorization": basic(PASSWORD)}

    async def fetch() -> int:
        async with http.get(site.url("/api/overview"), headers=authed) as resp:
            return resp.status

    assert await asyncio.wait_for(asyncio.gather(*(fetch() for _ in range(30))), 5) == [200] * 30
    assert site.password_file is not None
    site.password_file.write_text("a brand new passphrase\n", encoding="utf-8")
    await site.daemon.reload()
    assert await fetch() == 401  # a header accepted before is not remembered past the change


async def test_no_server_header_names_the_software(start_site: SiteFactory) -> None:
    site = await start_site()
    http = site.session()
    for path, headers in (
        ("/login", {}),
        ("/api/overview", {}),
        ("/no-such-page", {}),
        ("/login", {"Host": EVIL}),
    ):
        async with http.get(site.url(path), headers=headers) as resp:
            assert "aiohttp" not in resp.headers.get("Server", "").lower(), path
            assert "python" not in resp.headers.get("Server", "").lower(), path


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("::ffff:127.0.0.1", True),
        ("127.evil.example", False),
        ("127.0.0.1.evil.example", False),
        ("localhost.evil.example", False),
        ("0.0.0.0", False),
        ("192.0.2.1", False),
        ("", False),
    ],
)
def test_loopback_is_an_address_not_a_prefix(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


async def test_a_lookalike_loopback_host_needs_a_password(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    with pytest.raises(ConfigError, match="without a password"):
        create_app(site.daemon, settings=WebSettings(host="127.evil.example"))
    create_app(
        site.daemon, settings=WebSettings(host="127.evil.example", password=Secret("x" * 12))
    )


async def test_the_cookie_is_secure_behind_a_tls_proxy_and_only_a_trusted_one(
    start_site: SiteFactory,
) -> None:
    trusted = await start_site(web={"trusted_proxies": ["127.0.0.1"]})
    http = trusted.session()
    async with http.get(trusted.url("/login"), headers={"X-Forwarded-Proto": "https"}) as resp:
        assert "secure" in resp.headers["Set-Cookie"].lower()
    async with http.get(trusted.url("/login")) as resp:
        assert "secure" not in resp.headers.get("Set-Cookie", "").lower()


async def test_a_forwarded_header_from_anyone_else_is_ignored(start_site: SiteFactory) -> None:
    site = await start_site(web={"trusted_proxies": ["192.0.2.1"]})
    http = site.session()
    spoofed = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"}
    async with http.get(site.url("/login"), headers=spoofed) as resp:
        assert "secure" not in resp.headers["Set-Cookie"].lower()
    # A spoofed address does not escape the throttle either.
    answered = await burst(site, 30, 2.5, form=False, client="10.9.9.9")
    assert answered.get(401, 0) <= 8, answered


async def test_the_cookie_is_secure_over_tls(start_site: SiteFactory, tmp_path: Path) -> None:
    import ssl

    from aiohttp import web

    site = await start_site(password=None)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    runner = web.AppRunner(site.daemon.web_app())
    await runner.setup()
    tls = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await tls.start()
    try:
        port = tls._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"https://127.0.0.1:{port}/login", ssl=False) as resp,
        ):
            assert resp.status in (200, 303)
            assert "secure" in resp.headers["Set-Cookie"].lower()
    finally:
        await runner.cleanup()
