"""A time zone written as a folder of the zone database ("Europe") is a configuration error, not a
crash: with the tzdata package installed (mkdocs brings it), ZoneInfo("Europe") raises
IsADirectoryError instead of ZoneInfoNotFoundError."""

from __future__ import annotations

import pytest

from syncd.config import parse_config
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.exceptions import ConfigError
from syncd.testing import tillsamples


def test_a_till_file_read_with_a_folder_for_zone_does_not_crash() -> None:
    result = parse_bytes(tillsamples.GENERIC_FR, "ventes.csv", ParseOptions(timezone="Europe"))
    assert result.preset == "generic_fr" and len(result.documents) == 2


@pytest.mark.parametrize(
    ("table", "key"),
    [("web", "web.timezone"), ("alerts", "alerts.timezone"), ("till", "channels.till.timezone")],
)
def test_a_folder_for_zone_is_a_config_error(table: str, key: str) -> None:
    data: dict[str, object] = {
        "channels": {"till": {"type": "csv_till", "drop_folder": "/srv/till"}},
    }
    if table == "till":
        data["channels"]["till"]["timezone"] = "Europe"  # type: ignore[index]
    else:
        data[table] = {"timezone": "Europe"}
    with pytest.raises(ConfigError) as caught:
        parse_config(data, file="syncd.toml")
    assert key in {issue.key for issue in caught.value.issues}
