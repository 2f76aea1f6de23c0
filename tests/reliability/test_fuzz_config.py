"""Fuzzing config files: only ConfigError escapes parse_config/load_config, every issue names the
file and a key, and no secret value is ever shown in an error."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.reliability.fuzz_inputs import (
    BASE_CONFIG,
    SECRETS,
    check_config,
    config_data,
    config_files,
    config_text,
)
from syncd.config import load_config, parse_config
from syncd.exceptions import ConfigError

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz-config")


@pytest.fixture(scope="module")
def files(folder: Path) -> dict[str, str]:
    return config_files(folder)


@FAST
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_mutated_configs_give_config_errors_only(
    seed: int, folder: Path, files: dict[str, str]
) -> None:
    data = config_data(random.Random(seed), files)
    assert check_config(data, None, folder) == [], f"replay: config_data(Random({seed}))"


@FAST
@given(seed=st.integers(min_value=0, max_value=2**63))
def test_mutated_config_files_give_config_errors_only(
    seed: int, folder: Path, files: dict[str, str]
) -> None:
    raw = config_text(random.Random(seed), files)
    assert check_config(None, raw, folder) == [], f"replay: config_text(Random({seed}))"


@FAST
@given(raw=st.binary(max_size=300))
def test_random_bytes_as_a_config_file(raw: bytes, folder: Path) -> None:
    assert check_config(None, raw, folder) == []


# -- the inputs that crashed or leaked before the fixes (regressions) ------------------------------


def issues_of(data: object, folder: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        parse_config(data, file=str(folder / "syncd.toml"))  # type: ignore[arg-type]
    assert caught.value.issues
    return "\n".join(str(i) for i in caught.value.issues)


def webshop(**extra: object) -> dict[str, object]:
    table = {"type": "prestashop", "url": "https://shop.example.com", **extra}
    return {"ledger": {"path": "ledger.sqlite3"}, "channels": {"webshop": table}}


def test_a_secret_file_that_is_not_utf8_is_an_issue(folder: Path, files: dict[str, str]) -> None:
    text = issues_of(webshop(api_key_file=files["binary"]), folder)
    assert "channels.webshop.api_key_file" in text and "not UTF-8" in text
    assert SECRETS["password"] not in text  # the file's bytes are not shown


@pytest.mark.parametrize("name", ["a\x00b.key", "~nobody-such-user/x.key", "x" * 5000])
def test_an_impossible_secret_file_name_is_an_issue(name: str, folder: Path) -> None:
    assert "channels.webshop.api_key_file" in issues_of(webshop(api_key_file=name), folder)


def test_a_secret_pasted_into_the_file_key_is_not_echoed(folder: Path) -> None:
    text = issues_of(webshop(api_key_file=SECRETS["api_key"]), folder)
    assert "cannot read the file it names" in text and SECRETS["api_key"] not in text


def test_a_path_under_an_unknown_home_is_an_issue(folder: Path) -> None:
    data = {**webshop(api_key=SECRETS["api_key"]), "ledger": {"path": "~nobody-such-user/l.db"}}
    assert "ledger.path" in issues_of(data, folder)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinite_numbers_are_refused(value: float, folder: Path) -> None:
    data = {**webshop(api_key=SECRETS["api_key"]), "sync": {"grace_seconds": value}}
    assert "sync.grace_seconds: must be a finite number" in issues_of(data, folder)


def test_an_empty_key_is_still_named(folder: Path) -> None:
    data = {**webshop(api_key=SECRETS["api_key"]), "": 1}
    assert '"": is not a known setting' in issues_of(data, folder)


@pytest.mark.parametrize(
    "raw",
    [
        "[ledger]\npath = 'x'\n".encode("utf-16"),
        b'[channels.webshop]\ntype = "prestashop"\napi_key = "caf\xe9-secret"\n',
    ],
)
def test_a_config_file_that_is_not_utf8_is_a_config_error(raw: bytes, folder: Path) -> None:
    path = folder / "latin1.toml"
    path.write_bytes(raw)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert "not UTF-8" in text and "secret" not in text  # the bytes are not shown


def test_the_base_config_is_valid(folder: Path) -> None:
    settings_ = parse_config(BASE_CONFIG, file=str(folder / "syncd.toml"))
    assert all(secret not in repr(settings_) for secret in SECRETS.values())
