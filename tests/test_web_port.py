"""`syncd run` where the status page's port is taken: one clear line (the port, the key to change,
a port free now), exit 2, nothing left running; the default stays 8080."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from syncd.config import parse_config
from syncd.testing.harness import free_port


def test_the_default_port_is_still_8080() -> None:
    settings = parse_config(
        {"channels": {"till": {"type": "csv_till", "drop_folder": "in"}}}, file="/x/syncd.toml"
    )
    assert settings.web.port == 8080


def test_a_taken_port_is_one_clear_line_naming_the_key_and_a_free_port(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "in").mkdir()
    config = tmp_path / "syncd.toml"
    config.write_text(
        f'[ledger]\npath = "ledger.sqlite3"\n[log]\nformat = "json"\n[web]\nport = {port}\n'
        '[channels.till]\ntype = "csv_till"\ndrop_folder = "in"\nstock_file = "stock.csv"\n',
        encoding="utf-8",
    )
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        done = subprocess.run(
            [sys.executable, "-m", "syncd.cli", "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    assert "Traceback" not in done.stderr
    match = re.fullmatch(
        rf"error: the status page cannot listen on 127\.0\.0\.1:{port}: the port is already in "
        rf"use \(another program, or another syncd\); set \[web\] port = (\d+) \(free now\) in "
        rf"{re.escape(str(config))}, or \[web\] enabled = false",
        errors[0],
    )
    assert match is not None, errors[0]
    offered = int(match[1])
    assert offered != port
    with socket.socket() as probe:  # the port offered is one syncd can take
        probe.bind(("127.0.0.1", offered))
