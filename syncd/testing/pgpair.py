"""A real replicated PostgreSQL for the failover test (issue 20): a primary and a synchronous
streaming standby, built from the installed binaries (initdb, pg_basebackup, pg_ctl) in a
temporary folder, and the promotion of the standby once the primary is gone."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from syncd.testing.harness import free_port
from syncd.testing.pg import find_binary


@dataclass
class ReplicatedPair:
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="syncd-pgpair-")))
    primary_port: int = field(default_factory=free_port)
    standby_port: int = field(default_factory=free_port)

    def __post_init__(self) -> None:
        self._prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._prefix:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def primary(self) -> Path:
        return self.root / "primary"

    @property
    def standby(self) -> Path:
        return self.root / "standby"

    def dsn(self, database: str = "postgres") -> str:
        """Both servers: asyncpg connects to the one that accepts writes (libpq's syntax)."""
        hosts = f"127.0.0.1:{self.primary_port},127.0.0.1:{self.standby_port}"
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"

    def _run(self, *args: str) -> None:
        subprocess.run([*self._prefix, *args], check=True, capture_output=True, timeout=120)

    def _bin(self, name: str) -> str:
        found = find_binary(name)
        if found is None:
            raise RuntimeError(f"{name} is not installed (Debian: apt-get install postgresql)")
        return found

    def start(self) -> ReplicatedPair:
        self._run(self._bin("initdb"), "-D", str(self.primary), "-U", "postgres", "--auth=trust")
        # Synchronous: a commit returns once the standby has it, so a promotion loses none.
        self._start(self.primary, self.primary_port, "-c synchronous_standby_names='*'")
        self._run(
            self._bin("pg_basebackup"),
            "-D",
            str(self.standby),
            "-h",
            "127.0.0.1",
            "-p",
            str(self.primary_port),
            "-U",
            "postgres",
            "-R",  # standby.signal and primary_conninfo
            "-X",
            "stream",
        )
        self._start(self.standby, self.standby_port, "")
        return self

    def _start(self, data: Path, port: int, extra: str) -> None:
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1 {extra}".strip()
        self._run(
            self._bin("pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(data / "log"),
            "-o",
            options,
            "-w",
            "start",
        )

    def kill_primary(self) -> None:
        """The primary's machine dies: stopped at once, nothing flushed."""
        self._run(self._bin("pg_ctl"), "-D", str(self.primary), "-m", "immediate", "stop")

    def promote_standby(self) -> None:
        self._run(self._bin("pg_ctl"), "-D", str(self.standby), "-w", "promote")

    def stop(self) -> None:
        for data in (self.standby, self.primary):
            if (data / "postmaster.pid").exists():
                subprocess.run(
                    [
                        *self._prefix,
                        self._bin("pg_ctl"),
                        "-D",
                        str(data),
                        "-m",
                        "immediate",
                        "stop",
                    ],
                    capture_output=True,
                    check=False,
                )
        shutil.rmtree(self.root, ignore_errors=True)
