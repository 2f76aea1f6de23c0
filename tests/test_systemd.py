"""The shipped unit is hardened: systemd-analyze rates its exposure at 1.5 or better."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "syncd.service"


def test_unit_uses_notify_watchdog_credentials_and_no_environment_secrets() -> None:
    text = UNIT.read_text(encoding="utf-8")
    assert "Type=notify" in text and "WatchdogSec=" in text and "Restart=on-failure" in text
    assert "LoadCredential=" in text
    assert not re.search(r"^Environment=", text, re.M)
    assert re.search(r"^User=syncd$", text, re.M)


def test_systemd_analyze_exposure_is_at_most_1_5() -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (Debian: systemd)")
    out = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", "--threshold=15", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for syncd.service: ([\d.]+)", out.stdout)
    assert match, out.stdout[-500:] + out.stderr[-500:]
    assert float(match[1]) <= 1.5
    assert out.returncode == 0


def _bytes(value: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(value[:-1]) * units[value[-1]] if value[-1] in units else int(value)


def test_unit_caps_memory_above_the_largest_till_file_it_accepts() -> None:
    """A till file over max_file_mb is never read; one under it must fit (issue 22, item 6):
    no loop of OOM kills and restarts. Figures from `python -m bench tillmemory`."""
    text = UNIT.read_text(encoding="utf-8")
    high = re.search(r"^MemoryHigh=(\S+)$", text, re.M)
    cap = re.search(r"^MemoryMax=(\S+)$", text, re.M)
    assert high and cap
    assert 480 << 20 <= _bytes(high[1]) < _bytes(cap[1]) <= 1 << 30
