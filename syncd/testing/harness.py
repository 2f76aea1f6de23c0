"""Test harness for tests/ and bench/: waits, ports, emulator and daemon processes, config files."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp

# `syncd …` as this interpreter runs it (the venv's, with the checkout importable).
SYNCD: list[str] = [sys.executable, "-m", "syncd.cli"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def until(
    check: Callable[[], object | Awaitable[object]],
    timeout: float = 20.0,  # noqa: ASYNC109 - a test's deadline: it fails with a message
    *,
    interval: float = 0.05,
) -> None:
    """Wait until ``check()`` (plain or a coroutine) is truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(interval)


# -- config files -----------------------------------------------------------------------------

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def toml_value(value: Any) -> str:
    """One TOML value: booleans, numbers, strings (JSON's escapes are TOML's) and lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def toml_key(key: str) -> str:
    """A bare key when TOML allows one (letters, digits, ``_``, ``-``), else a quoted one."""
    return key if key and _BARE.fullmatch(key) else json.dumps(key)


def toml_of(data: Mapping[str, Mapping[str, Any]]) -> str:
    """A small TOML writer: tables of scalars and lists, sub-tables at any depth."""
    lines: list[str] = []

    def table(name: str, body: Mapping[str, Any]) -> None:
        lines.append(f"[{name}]")
        for key, value in body.items():
            if not isinstance(value, Mapping):
                lines.append(f"{toml_key(key)} = {toml_value(value)}")
        lines.append("")
        for key, value in body.items():
            if isinstance(value, Mapping):
                table(f"{name}.{toml_key(key)}", value)

    for name, body in data.items():
        table(toml_key(name), body)
    return "\n".join(lines)


def write_config(path: Path, data: Mapping[str, Mapping[str, Any]]) -> Path:
    """Write ``data`` as the TOML file ``path`` (a folder means ``path/syncd.toml``)."""
    if path.is_dir():
        path = path / "syncd.toml"
    path.write_text(toml_of(data), encoding="utf-8")
    return path


# -- processes --------------------------------------------------------------------------------


class Emulator:
    """``syncd emulator prestashop|magento --port 0`` as a process.

    ``info`` is the JSON line it prints once listening (``url`` and ``api_key`` or ``password``);
    ``admin`` calls its ``/__emulator/`` routes. A context manager; ``stop`` may be called twice.
    """

    def __init__(
        self,
        kind: str,
        products: int = 8,
        *args: str,
        quiet: bool = False,
    ) -> None:
        self.kind = kind
        self.proc: subprocess.Popen[str] = subprocess.Popen(
            [*SYNCD, "emulator", kind, "--port", "0", "--products", str(products), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL if quiet else None,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(10)
            raise RuntimeError(f"syncd emulator {kind} exited ({code}) before printing its address")
        self.info: dict[str, Any] = json.loads(line)

    @property
    def url(self) -> str:
        return str(self.info["url"])

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    async def admin(self, method: str, path: str, body: Any = None) -> Any:
        """One call to the emulator's admin routes; anything but 200 fails."""
        async with (
            aiohttp.ClientSession() as http,
            http.request(method, f"{self.url}/__emulator/{path}", json=body) as resp,
        ):
            if resp.status != 200:
                raise AssertionError(f"{self.kind} admin {path}: {resp.status} {await resp.text()}")
            return await resp.json()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> Emulator:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()


class DaemonProcess:
    """``syncd run --config CONFIG`` as a process in ``cwd``; its stderr goes to ``cwd/daemon.log``
    (appended, so a restarted daemon's lines follow the last run's)."""

    def __init__(self, config: Path, cwd: Path | None = None, log: Path | None = None) -> None:
        self.config = config
        self.cwd = cwd or config.parent
        self.log_path = log or self.cwd / "daemon.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self, *args: str) -> None:
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [*SYNCD, "run", "--config", str(self.config), *args], stderr=log, cwd=self.cwd
            )
        self.starts += 1

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send ``sig`` and wait for the exit code (``subprocess.TimeoutExpired`` after ``timeout``)."""
        assert self.proc is not None, "the daemon was never started"
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """SIGKILL if still running (the clean-up of a test that failed half-way)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines (``[log] format = "json"``), those named ``name`` if given."""
        found = []
        for line in self.log().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found
