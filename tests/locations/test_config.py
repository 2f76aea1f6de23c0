"""`[locations.<name>]` and a channel's `locations = [...]`: `syncd check-config` explains every
inconsistency (file, key, fix), and a config without locations is read as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncd.cli import main
from syncd.config import load_config

pytestmark = pytest.mark.usefixtures("fake_connector")

GOOD = """
[locations.shop]
kind = "store"
[locations.market]
kind = "stand"
channels = ["stall"]
[locations.depot]
kind = "warehouse"

[channels.till]
type = "csv_till"
drop_folder = "{tmp}"
locations = ["shop"]

[channels.stall]
type = "csv_till"
drop_folder = "{tmp}"

[channels.web]
type = "fake"
locations = ["depot", "shop"]
"""

BAD = """
[locations.shop]
kind = "shed"
channels = ["nowhere"]
[locations.depot]
kind = "warehouse"
channels = ["web"]
[locations."transit-x"]
[locations.other]

[channels.till]
type = "csv_till"
drop_folder = "{tmp}"
locations = ["shop", "depot"]

[channels.web]
type = "fake"
locations = ["shop", "attic", "shop"]

[channels.idle]
type = "fake"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syncd.toml"
    path.write_text(text.replace("{tmp}", str(tmp_path)), encoding="utf-8")
    return path


def test_each_channel_sells_from_its_locations_in_order(tmp_path: Path) -> None:
    settings = load_config(_write(tmp_path, GOOD))
    assert [(loc.name, loc.kind) for loc in settings.locations] == [
        ("shop", "store"),
        ("market", "stand"),
        ("depot", "warehouse"),
    ]
    assert settings.channel("till").locations == ("shop",)
    assert settings.channel("stall").locations == ("market",)  # named by the location's table
    assert settings.channel("web").locations == ("depot", "shop")  # its order, kept


def test_check_config_explains_every_inconsistency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, BAD)
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    for expected in (
        "locations.shop.kind",  # not a kind of location
        "locations.shop.channels: names channel 'nowhere', which is not configured",
        "locations.transit-x: names starting with 'transit' are kept",
        "channels.till.locations: a till sells from its store's one location, not 2",
        "channels.web.locations: 'attic' is not a configured location",
        "channels.web.locations: names a location twice",
        "channels.web.locations: does not name 'depot', whose table says 'web' sells from it",
        "channels.idle: sells from no location (several are configured)",
        "locations.depot.channels: does not name 'till', which says it sells from 'depot'",
    ):
        assert expected in err, (expected, err)


def test_locations_on_a_channel_need_locations_configured(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, '[channels.web]\ntype = "fake"\nlocations = ["shop"]\n')
    assert main(["check-config", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "channels.web.locations: names locations, but no [locations.<name>] table" in err
    assert '[locations.shop] kind = "store"' in err


def test_one_location_is_every_channel_s_and_none_is_as_before(tmp_path: Path) -> None:
    one = '[locations.shop]\n[channels.web]\ntype = "fake"\n'
    assert load_config(_write(tmp_path, one)).channel("web").locations == ("shop",)
    none = '[channels.web]\ntype = "fake"\n'
    settings = load_config(_write(tmp_path, none))
    assert settings.locations == ()
    assert settings.channel("web").locations == ()
