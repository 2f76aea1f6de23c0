"""Till files the ledger never applied (a ledger restored from a backup, another ledger): the
files a catch-up looks at, chosen and read as the ingest loop does (:mod:`.safefs`, the till's
own patterns). The decision is :func:`syncd.reconcile.missed.missing_files`."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import structlog

from syncd.connectors.csv_till import safefs
from syncd.connectors.csv_till.settings import TillSettings

log = structlog.get_logger("syncd.reconcile")
FOLDERS = {"inbox": "till drop folder", "done": "till done folder"}


def _folder_of(settings: TillSettings, label: str) -> Path:
    return settings.drop_folder if label == "inbox" else settings.done_folder


def list_files(settings: TillSettings, since: float) -> list[tuple[Path, str]]:
    """(path, "folder:sha256") of the export files in the inbox, and in done/ those changed
    since ``since`` (a timestamp: done/ keeps years of exports; only recent ones can be missed
    by a ledger restored from a recent backup).

    As the ingest loop does: no folder or file is followed through a symbolic link (each folder
    is read through one descriptor), and a file that is a link, no regular file or larger than
    ``max_file_mb`` is never read (the ingest loop quarantines those in the inbox)."""
    found: list[tuple[Path, str]] = []
    for label, what in FOLDERS.items():
        folder = _folder_of(settings, label)
        try:
            with safefs.folder(folder, label=what) as fd:
                for name in sorted(os.listdir(fd)):
                    path = folder / name
                    if not settings.is_export(path):
                        continue
                    try:  # the ingest loop moves files from the inbox to done/ meanwhile
                        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                        if not stat.S_ISREG(info.st_mode):
                            continue
                        if label == "done" and info.st_mtime < since:
                            continue
                        data, _ = safefs.read_regular(name, settings.max_file_bytes, dir_fd=fd)
                    except (FileNotFoundError, safefs.Refused):
                        continue
                    found.append((path, f"{label}:{hashlib.sha256(data).hexdigest()}"))
        except safefs.UnsafeFolder as err:  # the ingest loop says so on the status page
            log.warning("catch_up_folder_refused", folder=str(folder), reason=err.what)
        except OSError:
            continue
    return found


def read_file(settings: TillSettings, path: Path, label: str) -> tuple[bytes, float]:
    """A listed file's content (b"" for the inbox: not read, only reported) and its mtime;
    FileNotFoundError when it went meanwhile, safefs.Refused when it is no longer a file."""
    with safefs.folder(path.parent, label=FOLDERS[label]) as fd:
        info = os.stat(path.name, dir_fd=fd, follow_symlinks=False)
        if label != "done":
            return b"", info.st_mtime
        data, read = safefs.read_regular(path.name, settings.max_file_bytes, dir_fd=fd)
        return data, read.st_mtime
