"""`syncd setup --non-interactive`: the same steps with flags, for scripts. A good set of flags
writes a config check-config accepts (secrets in 0600 files); every bad one is exit 2 with a
message naming the flag (and, for a shop, the shop and the HTTP status); nothing is written then."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncd.testing.harness import SYNCD, Emulator, free_port
from syncd.testing.smtp import PASSWORD, USER, SmtpServer

FRENCH = "Ticket;Date;Code;Désignation;Quantité\nT-1;27/11/2026 10:00;SHIRT-0000-38;Chemise;1\n"


@pytest.fixture(scope="module")
def shop() -> Iterator[Emulator]:
    with Emulator("prestashop", 8, quiet=True) as emulator:
        yield emulator


@pytest.fixture
def smtp_auth() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), auth=True)
    server.start()
    yield server
    server.stop()


def setup(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, "setup", "--non-interactive", "--config", str(tmp / "syncd.toml"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=tmp,
    )


def secret_file(tmp: Path, name: str, value: str) -> str:
    path = tmp / "given" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(value + "\n", encoding="utf-8")
    return str(path)


def till(tmp: Path, text: str = FRENCH) -> Path:
    inbox = tmp / "till" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    (inbox / "export.csv").write_text(text, encoding="utf-8")
    return inbox


def test_flags_write_a_config_check_config_accepts(
    tmp_path: Path, shop: Emulator, smtp_auth: SmtpServer
) -> None:
    inbox = till(tmp_path)
    port = free_port()
    done = setup(
        tmp_path,
        "--prestashop-url", shop.url,
        "--prestashop-key-file", secret_file(tmp_path, "k", shop.info["api_key"]),
        "--till-folder", str(inbox),
        "--mail-to", "shop@example.com",
        "--smtp-host", "127.0.0.1",
        "--smtp-port", str(smtp_auth.port),
        "--smtp-security", "none",
        "--smtp-username", USER,
        "--smtp-password-file", secret_file(tmp_path, "p", PASSWORD),
        "--mail-from", "syncd@example.com",
        "--port", str(port),
        "--init-from", "prestashop",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "layout generic_fr" in done.stderr and "T-1" in done.stderr
    assert "PrestaShop 8.1.0 answered" in done.stderr
    assert "ledger set from prestashop" in done.stdout
    assert len(smtp_auth.inbox.messages) == 1 and smtp_auth.inbox.logins == 1
    for secret in (shop.info["api_key"], PASSWORD):
        assert secret not in done.stdout + done.stderr
    config = tmp_path / "syncd.toml"
    text = config.read_text(encoding="utf-8")
    assert shop.info["api_key"] not in text and PASSWORD not in text
    data = tomllib.loads(text)
    assert data["alerts"]["smtp_password_file"] == "smtp.password"
    assert data["web"]["port"] == port
    for name, value in (("prestashop.key", shop.info["api_key"]), ("smtp.password", PASSWORD)):
        path = tmp_path / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        assert path.read_text(encoding="utf-8").strip() == value
    assert stat.S_IMODE(config.stat().st_mode) == 0o640
    checked = subprocess.run(
        [*SYNCD, "check-config", "--config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    # init took the export in (done/: recorded as already in the count)
    sample = inbox / "done" / "export.csv"
    assert sample.exists() and not (inbox / "export.csv").exists()
    # run again: refused without --force, then replaced with the old one kept
    again = setup(tmp_path, "--till-folder", str(inbox), "--till-sample", str(sample))
    assert again.returncode == 2 and "--force" in again.stderr
    again = setup(tmp_path, "--till-folder", str(inbox), "--till-sample", str(sample), "--force")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "syncd.toml.bak").read_text(encoding="utf-8") == text


def test_a_wrong_key_names_the_shop_the_http_status_and_the_flag(
    tmp_path: Path, shop: Emulator
) -> None:
    wrong = "WRONG0WRONG0WRONG0WRONG0WRONG012"
    done = setup(
        tmp_path,
        "--prestashop-url", shop.url,
        "--prestashop-key-file", secret_file(tmp_path, "k", wrong),
    )  # fmt: skip
    assert done.returncode == 2
    [error] = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert error.startswith("error: --prestashop-key-file: PrestaShop at " + shop.url)
    assert "refused the webservice key (HTTP 401)" in error
    assert wrong not in done.stderr
    assert not (tmp_path / "syncd.toml").exists() and not (tmp_path / "prestashop.key").exists()


@pytest.mark.parametrize(
    ("args", "flag", "why"),
    [
        ((), "no channel given", "--till-folder"),
        (("--till-folder", "nowhere"), "--till-folder", "does not exist"),
        (("--timezone", "Mars/Olympus"), "--timezone", "not a known time zone"),
        (("--prestashop-url", "ftp://shop"), "--prestashop-url", "not an http(s) URL"),
        (("--prestashop-url", "http://127.0.0.1:1"), "--prestashop-key-file", "is needed"),
    ],
)
def test_bad_or_missing_flags_are_exit_2_naming_the_flag(
    tmp_path: Path, args: tuple[str, ...], flag: str, why: str
) -> None:
    done = setup(tmp_path, *args)
    assert done.returncode == 2, done.stderr
    assert flag in done.stderr and why in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_an_unreachable_shop_names_the_url_flag(tmp_path: Path) -> None:
    key = secret_file(tmp_path, "k", "A" * 32)
    done = setup(
        tmp_path,
        "--prestashop-url",
        f"http://127.0.0.1:{free_port()}",
        "--prestashop-key-file",
        key,
    )
    assert done.returncode == 2
    assert "error: --prestashop-url: PrestaShop at http://127.0.0.1:" in done.stderr
    assert "cannot be reached" in done.stderr


def test_a_taken_port_is_refused_with_a_free_one_offered(tmp_path: Path) -> None:
    inbox = till(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        done = setup(tmp_path, "--till-folder", str(inbox), "--port", str(busy))
    assert done.returncode == 2
    assert f"--port: port {busy} is taken (another program listens there);" in done.stderr
    offered = int(done.stderr.split("; ")[-1].split()[0])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", offered))


def test_an_unknown_layout_needs_columns_and_takes_them(tmp_path: Path) -> None:
    inbox = till(tmp_path, "Bon;Horodatage;Article;Nombre\nB-1;27/11/2026 10:15;MUG;2\n")
    done = setup(tmp_path, "--till-folder", str(inbox))
    assert done.returncode == 2
    assert "--till-columns is needed: no known till layout matches" in done.stderr
    assert "'Bon', 'Horodatage', 'Article', 'Nombre'" in done.stderr
    bad = setup(tmp_path, "--till-folder", str(inbox), "--till-columns", "sku=Article")
    assert bad.returncode == 2 and "--till-columns: sku (or barcode) and quantity" in bad.stderr
    wrong = setup(
        tmp_path, "--till-folder", str(inbox), "--till-columns", "sku=Bon,quantity=Article"
    )
    assert wrong.returncode == 2 and "--till-columns:" in wrong.stderr
    assert "quantity is not a number" in wrong.stderr
    good = setup(
        tmp_path, "--till-folder", str(inbox), "--till-columns",
        "sku=Article,quantity=Nombre,receipt=Bon,date=Horodatage",
    )  # fmt: skip
    assert good.returncode == 0, good.stderr
    assert "B-1" in good.stderr and "MUG ×2" in good.stderr
    data = tomllib.loads((tmp_path / "syncd.toml").read_text(encoding="utf-8"))
    assert data["channels"]["till"]["columns"]["quantity"] == "Nombre"


def test_without_a_terminal_it_asks_for_flags(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "syncd.cli", "setup", "--config", str(tmp_path / "x.toml")],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    assert done.returncode == 2 and "--non-interactive" in done.stderr


def shop_flags(tmp: Path, kind: str, info: dict[str, str], wrong: bool = False) -> list[str]:
    """The flags of one shop; ``wrong``: a credential the shop refuses (well formed)."""

    def given(name: str, value: str) -> str:
        return secret_file(tmp, name, value)

    if kind == "magento":
        password = "not-the-password" if wrong else info["password"]
        return ["--magento-username", "admin", "--magento-password-file", given("m", password)]
    if kind == "woocommerce":
        key = "ck_" + "0" * 40 if wrong else info["consumer_key"]
        secret = "cs_" + "0" * 40 if wrong else info["consumer_secret"]
        return [
            "--woocommerce-key-file", given("k", key),
            "--woocommerce-secret-file", given("s", secret),
        ]  # fmt: skip
    token = "shpat_" + "0" * 32 if wrong else info["access_token"]
    location = info["location_id"].rsplit("/", 1)[-1]
    return ["--shopify-token-file", given("t", token), "--shopify-location", location]


@pytest.mark.parametrize("kind", ["magento", "woocommerce", "shopify"])
def test_each_other_shop_is_tried_and_written(tmp_path: Path, kind: str) -> None:
    with Emulator(kind, 4, quiet=True) as emulator:
        info = emulator.info
        port = str(free_port())
        done = setup(
            tmp_path,
            f"--{kind}-url",
            emulator.url,
            *shop_flags(tmp_path, kind, info),
            "--port",
            port,
        )
        assert done.returncode == 0, done.stderr
        assert "4 SKUs found, 4 with stock" in done.stderr
        config = tmp_path / "syncd.toml"
        checked = subprocess.run(
            [*SYNCD, "check-config", "--config", str(config)], capture_output=True, text=True
        )
        assert checked.returncode == 0, checked.stderr
        text = config.read_text(encoding="utf-8")
        files = [p for p in tmp_path.iterdir() if p.name.startswith(kind) and p.is_file()]
        assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
        for path in files:
            value = path.read_text(encoding="utf-8").strip()
            assert value not in text and value not in done.stderr

        other = tmp_path / "wrong"
        other.mkdir()
        wrong = setup(
            other, f"--{kind}-url", emulator.url, *shop_flags(other, kind, info, wrong=True)
        )
        assert wrong.returncode == 2
        assert f"at {emulator.url} refused the" in wrong.stderr, wrong.stderr
        assert "(HTTP 401)" in wrong.stderr, wrong.stderr
