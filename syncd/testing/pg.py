"""A real PostgreSQL for the tests: $SYNCD_TEST_DSN, else 127.0.0.1:5432, else a throwaway cluster."""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg

from syncd.testing.harness import free_port

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
_cluster_dir: str | None = None


def _reachable(dsn: str) -> bool:
    async def probe() -> bool:
        try:
            conn = await asyncpg.connect(dsn, timeout=3)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        await conn.close()
        return True

    return asyncio.run(probe())


def find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _start_throwaway() -> str:
    global _cluster_dir
    initdb, pg_ctl = find_binary("initdb"), find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError(
            "The tests need PostgreSQL: none answers at 127.0.0.1:5432 and no initdb/pg_ctl is "
            "installed. Install it (Debian: apt-get install postgresql) or set SYNCD_TEST_DSN."
        )
    root = os.geteuid() == 0
    data = tempfile.mkdtemp(prefix="syncd-pg-")
    prefix: list[str] = []
    if root:  # initdb refuses to run as root
        shutil.chown(data, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*prefix, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *prefix,
            pg_ctl,
            "-D",
            data,
            "-l",
            str(Path(data) / "log"),
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    _cluster_dir = data
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    for _ in range(50):
        if _reachable(dsn):
            return dsn
        time.sleep(0.2)
    raise RuntimeError(f"the throwaway PostgreSQL in {data} did not start; see {data}/log")


def stop_throwaway() -> None:
    if _cluster_dir is None:
        return
    pg_ctl = find_binary("pg_ctl")
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if pg_ctl:
        subprocess.run(
            [*prefix, pg_ctl, "-D", _cluster_dir, "-m", "fast", "stop"], capture_output=True
        )
    shutil.rmtree(_cluster_dir, ignore_errors=True)


def admin_dsn() -> str:
    """A DSN of a PostgreSQL server the tests may create databases in."""
    env = os.environ.get("SYNCD_TEST_DSN")
    if env:
        if not _reachable(env):
            raise RuntimeError(f"SYNCD_TEST_DSN is set but nothing answers there: {env}")
        return env
    if _reachable(DEFAULT_DSN):
        return DEFAULT_DSN
    return _start_throwaway()


def with_database(dsn: str, database: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{database}"
