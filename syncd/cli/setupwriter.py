"""What `syncd setup` writes: the config file (TOML, through tomli-w) and one credential file per
secret, mode 0600, beside it. The config names each secret by its bare file name (``api_key_file
= "prestashop.key"``): found beside the config when run by hand, and in systemd's
``$CREDENTIALS_DIRECTORY`` under the service (``syncd service install`` adds the
``LoadCredential=`` lines)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

CONFIG_MODE = 0o640  # the service's group may read it; secrets are never in it
SECRET_MODE = 0o600


@dataclass
class Draft:
    """The answers so far: tables of the config, and the secrets by credential file name."""

    config: Path
    timezone: str = "Europe/Paris"
    ledger_path: str = "ledger.sqlite3"
    port: int = 8080
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # file name → secret
    alerts: dict[str, Any] | None = None

    def data(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ledger": {"backend": "sqlite", "path": self.ledger_path},
            "web": {"enabled": True, "host": "127.0.0.1", "port": self.port},
        }
        out["web"]["timezone"] = self.timezone
        out["alerts"] = self.alerts or {"enabled": False}
        out["channels"] = self.channels
        return out

    def text(self) -> str:
        head = (
            "# Written by `syncd setup`. Every key, with its default: config.example.toml.\n"
            f"# Check it with: syncd check-config --config {self.config}\n"
            "# Secrets are in the *_file files named below (mode 0600, beside this file).\n\n"
        )
        return head + tomli_w.dumps(self.data())


def write_secret(folder: Path, name: str, value: str) -> Path:
    """``folder/name`` holding ``value``, mode 0600 from its creation (never readable by others,
    not even for a moment), replaced atomically."""
    path = folder / name
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, SECRET_MODE)
    try:
        os.fchmod(fd, SECRET_MODE)  # whatever the umask
        os.write(fd, (value.strip() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    return path


def write_all(draft: Draft) -> list[Path]:
    """The credential files, then the config (the old one kept as ``.bak``); the paths written."""
    folder = draft.config.parent
    folder.mkdir(parents=True, exist_ok=True)
    written = [write_secret(folder, name, value) for name, value in sorted(draft.secrets.items())]
    if draft.config.exists():
        os.replace(draft.config, draft.config.with_name(draft.config.name + ".bak"))
    tmp = folder / f".{draft.config.name}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, CONFIG_MODE)
    try:
        os.fchmod(fd, CONFIG_MODE)
        os.write(fd, draft.text().encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, draft.config)
    written.append(draft.config)
    return written
