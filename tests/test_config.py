"""Config: every error at once with file, key and fix; secrets never shown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncd.cli import main
from syncd.config import Secret, load_config
from syncd.exceptions import ConfigError
from syncd.logs import configure_logging, register_secret

pytestmark = pytest.mark.usefixtures("fake_connector")  # channels.till below is of type "fake"

BAD = """
[ledger]
backend = "oracle"
pool_size = "many"

[sync]
push_batch = 0
grace_secnds = 3

[web]
host = "0.0.0.0"

[channels.shop]
type = "no-such-shop"

[channels.till]
type = "fake"
poll_seconds = -1
"""


def test_check_config_reports_every_error_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BAD, encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    for key in (
        "ledger.backend",
        "ledger.pool_size",
        "sync.push_batch",
        "sync.grace_secnds",
        "web.password",
        "channels.shop.type",
        "channels.till.poll_seconds",
    ):
        assert f"{path}: {key}:" in err, key
    assert "did you mean grace_seconds?" in err
    assert "one of:" in err and "prestashop" in err
    assert "7 error(s)" in err


def test_syntax_error_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[ledger\nbackend = 1\n", encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 2
    assert "not valid TOML" in capsys.readouterr().err
    assert main(["check-config", "--config", str(tmp_path / "missing.toml")]) == 2


def test_secrets_come_from_files_and_never_show(tmp_path: Path) -> None:
    (tmp_path / "dsn").write_text(
        "postgresql://syncd:hunter2-very-secret@db/syncd\n", encoding="utf-8"
    )
    path = tmp_path / "ok.toml"
    path.write_text(
        '[ledger]\nbackend = "postgres"\ndsn_file = "dsn"\n[channels.till]\ntype = "fake"\n',
        encoding="utf-8",
    )
    settings = load_config(path)
    assert isinstance(settings.ledger.dsn, Secret)
    assert settings.ledger.dsn.reveal().endswith("@db/syncd")
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.ledger)


def test_missing_credential_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        '[ledger]\nbackend = "postgres"\ndsn_file = "nope"\n[channels.till]\ntype = "fake"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [issue] = info.value.issues
    assert "ledger.dsn_file" in str(issue) and "cannot read" in str(issue)


def test_log_lines_are_json_and_scrub_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    import structlog

    register_secret("k3y-0123456789abcdef")
    configure_logging("info", "json")
    structlog.get_logger("t").info(
        "stock_pushed", channel="shop", api_key="anything", note="key k3y-0123456789abcdef used"
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    event = json.loads(line)
    assert event["event"] == "stock_pushed" and event["api_key"] == "<redacted>"
    assert "k3y-0123456789abcdef" not in line


TYPOS = """
[sync]
grace_secs = 3

[channels.web]
type = "prestashop"
url = "http://127.0.0.1:1/"
api_key = "ABCDEFGHIJKLMNOPQRSTUVWXYZ123456"
pol_seconds = 3
colour = "red"

[channels.till]
type = "csv_til"

[channels.shop_till]
type = "csv_till"
drop_folder = "in"
preset = "generic-fr"
columns = { skus = "Code", colour = "Couleur" }

[alerts]
Poll_Seconds = 3
smtp_security = "startls"
"""


def test_every_unknown_key_gets_the_closest_known_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A channel's own keys are judged by its connector, the shared ones (poll_seconds) by the
    config reader: a typo of either is named, wherever it is."""
    path = tmp_path / "typos.toml"
    path.write_text(TYPOS, encoding="utf-8")
    assert main(["check-config", "--config", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    for key, hint in (
        ("sync.grace_secs", "did you mean grace_seconds?"),
        ("channels.web.pol_seconds", "did you mean poll_seconds?"),
        ("channels.till.type", "did you mean csv_till?"),
        ("alerts.Poll_Seconds", "did you mean poll_seconds?"),
        ("channels.shop_till.columns.skus", "did you mean sku?"),
        ("alerts.smtp_security", 'smtp_security = "starttls"'),
        ("channels.shop_till.preset", 'preset = "generic_fr"'),
    ):
        [line] = [line for line in lines if f"{path}: {key}:" in line]
        assert line.endswith(f"(fix: {hint})"), line
    [role] = [line for line in lines if "channels.shop_till.columns.colour" in line]
    assert "(fix: known roles: barcode, date" in role
    [colour] = [line for line in lines if "channels.web.colour" in line]
    assert "known keys: " in colour and "poll_seconds" in colour and "api_key_file" in colour
