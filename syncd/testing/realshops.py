"""The real shops of ``../shared/real-shops/`` for tests: installed and started once per test run.

Each shop's own script installs it (Debian packages, a private MariaDB, the shop, its seed data)
and writes an env file naming its URL and keys. A test asks for a shop with :func:`real_shop`
(through the fixtures in ``tests/conftest.py``); the first request starts the installs of every
real shop the collected tests need, one after another in one background thread (the scripts all
run apt-get, which takes a lock), so PrestaShop's install overlaps Magento's wait and the other
tests' run.

Where the tree is absent (a machine without ``../shared``), the tests that need it are skipped
with a sentence saying so and how to get it; CI has it beside the clone, so they run there. A
script that exists but fails is an error, never a skip.

``SYNCD_REAL_SHOPS=DIR`` points elsewhere; ``SYNCD_REAL_SHOPS_REUSE=1`` starts an already
installed shop instead of reinstalling it (quick local iterations; CI always reinstalls).
"""

from __future__ import annotations

import fcntl
import os
import shlex
import subprocess
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# name → (script under real-shops/, env file name printed by `script env`, how to get the tree)
SHOPS: dict[str, tuple[str, str]] = {
    "prestashop": (
        "prestashop/prestashop.sh",
        "the PrestaShop 8.2.0 release tree (public repository shcreawebnc/Prestashop-8.2.0 at "
        "commit c54035bc, exported as prestashop-8.2.0.tar.xz beside prestashop.sh)",
    ),
    "magento": (
        "magento/magento.sh",
        "a clone of github.com/AbdelhamidYousef/vanilla-magento at commit ae09662c "
        "(magento.sh GIT_DIR, or magento-2.4.7-p3.tar.xz beside magento.sh)",
    ),
    "woocommerce": (
        "woocommerce/woocommerce.sh",
        "WordPress 7.0.4 and the built WooCommerce 11.0.1 plugin (wordpress-7.0.4.tar.xz and "
        "woocommerce-11.0.1.tar.xz beside woocommerce.sh)",
    ),
}


def shops_dir() -> Path:
    """Where the real shops' scripts are: ``$SYNCD_REAL_SHOPS``, else ``../shared/real-shops``."""
    override = os.environ.get("SYNCD_REAL_SHOPS")
    return Path(override) if override else ROOT.parent / "shared" / "real-shops"


def script(name: str) -> Path:
    return shops_dir() / SHOPS[name][0]


def available(name: str) -> bool:
    return script(name).is_file()


def why_skipped(name: str) -> str:
    return (
        f"real {name} tests skipped: {script(name)} is not on this machine. CI has ../shared "
        f"beside the clone; elsewhere put the real-shops folder there (or set SYNCD_REAL_SHOPS) "
        f"with {SHOPS[name][1]}"
    )


@dataclass(frozen=True)
class RealShop:
    name: str
    env: dict[str, str]  # the shop's env file: REALPS_URL, MAGENTO_REST, ...
    seconds: float  # how long its install (or start) took in this run
    log: Path

    def __getitem__(self, key: str) -> str:
        return self.env[key]


def read_env(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a shell env file (values may be shell-quoted)."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.removeprefix("export ").strip()
        parts = shlex.split(value) if value else [""]
        out[key] = parts[0] if parts else ""
    return out


class _Starter:
    """Installs the requested shops one after another in one thread; a Future per shop."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._futures: dict[str, Future[RealShop]] = {}
        self._queue: list[str] = []
        self._thread: threading.Thread | None = None
        self.log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"syncd-realshops-{os.getpid()}"

    def want(self, *names: str) -> None:
        """Queue these shops' installs (no wait); call early so they overlap the other tests."""
        with self._lock:
            for name in names:
                if name in self._futures or not available(name):
                    continue
                self._futures[name] = Future()
                self._queue.append(name)
            if self._queue and (self._thread is None or not self._thread.is_alive()):
                self._thread = threading.Thread(target=self._run, name="real-shops", daemon=True)
                self._thread.start()

    def futures(self) -> list[tuple[str, Future[RealShop]]]:
        with self._lock:
            return list(self._futures.items())

    def get(self, name: str, timeout: float = 900) -> RealShop:
        self.want(name)
        return self._futures[name].result(timeout)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    return
                name = self._queue.pop(0)
            future = self._futures[name]
            try:
                future.set_result(self._install(name))
            except BaseException as err:  # noqa: BLE001 - handed to the waiting test
                future.set_exception(err)

    def _install(self, name: str) -> RealShop:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        path = script(name)
        env_file = Path(
            subprocess.run(
                ["bash", str(path), "env"], capture_output=True, text=True, check=True
            ).stdout.strip()
        )
        # One install at a time on this machine: two test runs at once would reinstall the same
        # shop under each other (the second waits, then installs afresh for itself).
        lock = (self.log_dir.parent / f"syncd-realshop-{name}.lock").open("w")
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return self._install_locked(name, path, env_file, log)
        finally:
            lock.close()

    def _install_locked(self, name: str, path: Path, env_file: Path, log: Path) -> RealShop:
        reuse = os.environ.get("SYNCD_REAL_SHOPS_REUSE") == "1" and env_file.is_file()
        args = ["bash", str(path), *(["start"] if reuse else [])]
        started = time.monotonic()
        # Tried twice: Debian's MariaDB 10.11 was seen here to crash once (signal 11 in
        # create_tmp_table_for_schema) during PrestaShop's install, and a second run passed.
        for attempt in (1, 2):
            with log.open("ab") as out:
                out.write(f"== {' '.join(args)} (attempt {attempt})\n".encode())
                out.flush()
                proc = subprocess.run(args, stdout=out, stderr=subprocess.STDOUT, timeout=1200)
            if proc.returncode == 0:
                break
        seconds = time.monotonic() - started
        if proc.returncode != 0 or not env_file.is_file():
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-25:])
            raise RuntimeError(
                f"the real {name} did not start ({' '.join(args)} exited {proc.returncode}, "
                f"log {log}):\n{tail}"
            )
        return RealShop(name, read_env(env_file), seconds, log)


STARTER = _Starter()


def real_shop(name: str) -> RealShop:
    """The running real shop (installed once per test run); skips where the tree is absent."""
    import pytest

    if not available(name):
        pytest.skip(why_skipped(name))
    return STARTER.get(name)
