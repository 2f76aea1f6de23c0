"""Config-time attacks of issue 22 (item 10, and the new [web] settings): a shop URL with a
user name and password is refused without ever being printed, by check-config, `syncd run` or
a SIGHUP reload of a running daemon."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from syncd.config import parse_config
from syncd.exceptions import ConfigError
from syncd.testing.harness import SYNCD
from tests.security.conftest import SiteFactory

# -- 10: a shop URL with a password -----------------------------------------------------------------

URL_PASSWORD = "pa55-in-the-url"


def shop_config(url: str, connector: str = "prestashop") -> dict[str, Any]:
    table: dict[str, Any] = {"type": connector, "url": url}
    if connector == "prestashop":
        table["api_key"] = "K" * 32
    else:
        table["access_token"] = "t0ken-value"
    return {"ledger": {"path": "l.sqlite3"}, "channels": {"webshop": table}}


@pytest.mark.parametrize("connector", ["prestashop", "magento"])
@pytest.mark.parametrize(
    "url",
    [
        f"https://shopadmin:{URL_PASSWORD}@shop.example",
        f"htp://shopadmin:{URL_PASSWORD}@shop.example",
        f"https://{URL_PASSWORD}@shop.example/",
        f"https://shop.example@shopadmin:{URL_PASSWORD}@shop.example",
    ],
)
def test_a_shop_url_with_a_password_is_refused_without_showing_it(url: str, connector: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(shop_config(url, connector), file="syncd.toml")
    texts = [str(err.value), *(str(i) for i in err.value.issues)]
    assert URL_PASSWORD not in "\n".join(texts)
    (issue,) = err.value.issues
    assert "channels.webshop.url" in str(issue)
    if url.startswith("https"):
        assert "holds a user name and password" in str(issue)


def test_check_config_and_run_never_print_the_url_password(tmp_path: Path) -> None:
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[ledger]\npath = "l.sqlite3"\n[channels.webshop]\ntype = "prestashop"\n'
        f'url = "htp://shopadmin:{URL_PASSWORD}@shop.example"\napi_key = "{"K" * 32}"\n',
        encoding="utf-8",
    )
    for command in ("check-config", "run"):
        done = subprocess.run(
            [*SYNCD, command, "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "channels.webshop.url" in done.stderr
        assert URL_PASSWORD not in done.stdout + done.stderr


async def test_a_reload_refused_never_logs_the_url_password(start_site: SiteFactory) -> None:
    site = await start_site(password=None)
    text = site.config.read_text(encoding="utf-8")
    site.config.write_text(
        text
        + f'\n[channels.shop2]\ntype = "prestashop"\nurl = "htp://u:{URL_PASSWORD}@shop.example"\n'
        + f'api_key = "{"K" * 32}"\n',
        encoding="utf-8",
    )
    await site.daemon.reload()
    (refused,) = site.events("reload_refused")
    assert "channels.shop2.url" in str(refused)
    assert URL_PASSWORD not in site.logs.getvalue()


@pytest.mark.usefixtures("fake_connector")  # channel "t" is of type "fake"
def test_the_new_web_settings_are_checked() -> None:
    base: dict[str, Any] = {"ledger": {"path": "l.sqlite3"}, "channels": {"t": {"type": "fake"}}}
    good = parse_config(
        {
            **base,
            "web": {
                "allowed_hosts": ["Stock.Example.com", "till-pc.lan:8080", "[fd00::2]:8080"],
                "trusted_proxies": ["127.0.0.1", "10.0.0.0/8", "::1"],
            },
        },
        file="syncd.toml",
    )
    assert good.web.allowed_hosts == ("stock.example.com", "till-pc.lan:8080", "[fd00::2]:8080")
    assert good.web.trusted_proxies == ("127.0.0.1/32", "10.0.0.0/8", "::1/128")
    assert good.channels[0].webhook_min_seconds == 1.0
    for web, key in (
        ({"allowed_hosts": ["evil.example/x"]}, "web.allowed_hosts"),
        ({"allowed_hosts": ["user@stock.example.com"]}, "web.allowed_hosts"),
        ({"allowed_hosts": ["::1"]}, "web.allowed_hosts"),
        ({"allowed_hosts": ["stock.example.com:99999"]}, "web.allowed_hosts"),
        ({"trusted_proxies": ["proxy.lan"]}, "web.trusted_proxies"),
    ):
        with pytest.raises(ConfigError) as err:
            parse_config({**base, "web": web}, file="syncd.toml")
        assert key in str(err.value.issues[0]), web
    with pytest.raises(ConfigError) as err:
        bad = {"t": {"type": "fake", "webhook_min_seconds": -1}}
        parse_config({**base, "channels": bad}, file="syncd.toml")
    assert "channels.t.webhook_min_seconds" in str(err.value.issues[0])
