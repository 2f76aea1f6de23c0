"""`syncd service install|uninstall|status` into a temporary unit folder (no systemctl): the unit
runs this venv's syncd with the config, loads each credential file the config names, may write
the till's folders and the ledger's, stays hardened, and `systemd-analyze verify` accepts it."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from syncd.testing.harness import SYNCD, write_config

ROOT = Path(__file__).resolve().parents[2]


def service(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SYNCD, "service", *args],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "prestashop.key").write_text("K" * 32 + "\n", encoding="utf-8")
    (etc / "prestashop.key").chmod(0o600)
    (etc / "smtp.password").write_text("pw\n", encoding="utf-8")
    (tmp_path / "srv" / "till" / "inbox").mkdir(parents=True)
    (tmp_path / "var").mkdir()
    return write_config(
        etc / "syncd.toml",
        {
            "ledger": {"path": str(tmp_path / "var" / "ledger.sqlite3")},
            "alerts": {
                "to": ["shop@example.com"],
                "smtp_host": "127.0.0.1",
                "smtp_username": "shop",
                "smtp_password_file": "smtp.password",
            },
            "channels": {
                "till": {
                    "type": "csv_till",
                    "drop_folder": str(tmp_path / "srv" / "till" / "inbox"),
                    "stock_file": str(tmp_path / "srv" / "till" / "stock.csv"),
                },
                "prestashop": {
                    "type": "prestashop",
                    "url": "http://127.0.0.1:9",
                    "api_key_file": "prestashop.key",
                },
            },
        },
    )


def _user_exists(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def lines(text: str, key: str) -> list[str]:
    return re.findall(rf"^{key}=(.*)$", text, re.M)


def test_install_status_uninstall(tmp_path: Path, config: Path) -> None:
    units = tmp_path / "units"
    units.mkdir()
    user = "syncd"  # the documented user (absent here: a warning, as the test checks)
    common = ("--unit-dir", str(units), "--no-systemctl")

    shown = service("install", "--config", str(config), *common, "--user", user, "--dry-run")
    assert shown.returncode == 0, shown.stderr
    assert "ExecStart=" in shown.stderr and "dry run: nothing written" in shown.stderr
    assert not (units / "syncd.service").exists()
    unasked = service("install", "--config", str(config), *common, "--user", user)
    assert unasked.returncode == 2 and "--yes" in unasked.stderr
    assert not (units / "syncd.service").exists()
    status = service("status", *common)
    assert status.returncode == 0 and "syncd.service: not installed" in status.stdout

    done = service("install", "--config", str(config), *common, "--user", user, "--yes")
    assert done.returncode == 0, done.stderr
    unit = units / "syncd.service"
    text = unit.read_text(encoding="utf-8")
    executable = Path(sys.executable).parent / "syncd"
    assert lines(text, "ExecStart") == [f"{executable} run --config {config}"]
    assert lines(text, "User") == [user]
    assert sorted(lines(text, "LoadCredential")) == [
        f"prestashop.key:{config.parent / 'prestashop.key'}",
        f"smtp.password:{config.parent / 'smtp.password'}",
    ]
    assert sorted(lines(text, "ReadWritePaths")) == [
        str(tmp_path / "srv" / "till"),
        str(tmp_path / "var"),
    ]
    # the rest of the shipped unit is kept: notify, watchdog, hardening
    template = (ROOT / "systemd" / "syncd.service").read_text(encoding="utf-8")
    for key in ("Type", "WatchdogSec", "ProtectSystem", "PrivateTmp", "SystemCallFilter"):
        assert lines(text, key) == lines(template, key)
    said = " ".join(done.stderr.split())
    assert "hides from the service" in said  # the test's folders are under /tmp
    if not _user_exists(user):
        assert "there is no user syncd: useradd --system" in said
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(
            ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60
        )
        assert verify.returncode == 0, verify.stderr
        security = subprocess.run(
            ["systemd-analyze", "security", "--offline=true", "--threshold=15", str(unit)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        match = re.search(r"Overall exposure level for syncd.service: ([\d.]+)", security.stdout)
        assert match and float(match[1]) <= 1.5, security.stdout[-300:]
    else:  # parse it as systemd would read its sections
        assert re.findall(r"^\[(\w+)\]$", text, re.M) == ["Unit", "Service", "Install"]

    status = service("status", *common)
    assert f"syncd.service: installed at {unit}" in status.stdout
    assert "systemctl: not available here" in status.stdout

    gone = service("uninstall", *common, "--yes")
    assert gone.returncode == 0, gone.stderr
    assert not unit.exists() and config.exists() and (config.parent / "prestashop.key").exists()


def test_an_inline_secret_is_named_as_not_passed_by_systemd(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    config = write_config(
        tmp_path / "syncd.toml",
        {
            "channels": {
                "till": {"type": "csv_till", "drop_folder": "in"},
                "shop": {"type": "prestashop", "url": "http://127.0.0.1:9", "api_key": "K" * 32},
            }
        },
    )
    units = tmp_path / "units"
    units.mkdir()
    done = service(
        "install", "--config", str(config), "--unit-dir", str(units), "--no-systemctl", "--yes"
    )
    assert done.returncode == 0, done.stderr
    assert "[channels.shop] api_key is written in the config itself" in " ".join(
        done.stderr.split()
    )
    assert "K" * 32 not in done.stderr
    assert not lines((units / "syncd.service").read_text(encoding="utf-8"), "LoadCredential")


def test_the_packaged_unit_is_the_shipped_one() -> None:
    packaged = ROOT / "syncd" / "cli" / "syncd.service"
    assert packaged.read_bytes() == (ROOT / "systemd" / "syncd.service").read_bytes()
