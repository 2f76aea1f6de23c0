"""The till's folders handled without following symbolic links: whoever can write the drop
folder (the till, a share) must not make syncd read or overwrite a file elsewhere.

Every file is opened with ``O_NOFOLLOW`` and checked with ``fstat`` to be a regular file; files
are written to a temp file of a random name created with ``O_CREAT | O_EXCL`` and renamed into
place (a rename replaces a planted link, it never writes through it); folders are opened with
``O_NOFOLLOW | O_DIRECTORY`` and every operation inside them goes through that descriptor, so a
folder swapped for a link meanwhile is not followed either.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
import time
from collections.abc import Iterator
from pathlib import Path

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted under a till file's name must not hang the open.
_READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class UnsafeFolder(OSError):
    """A folder syncd reads or writes is a symbolic link (or not a folder): refused."""

    def __init__(self, folder: Path, what: str) -> None:
        super().__init__(errno.ELOOP, what)
        self.folder = folder
        self.what = what

    def __str__(self) -> str:
        return self.what


class Refused(Exception):
    """A file that is not read: a link, not a regular file, or too large. ``reason`` in
    plain words for the merchant (the quarantine's reason file, the status page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _link_target(path: Path) -> str:
    with contextlib.suppress(OSError):
        return f" (to {os.readlink(path)})"
    return ""


@contextlib.contextmanager
def folder(path: Path, *, label: str, create: bool = False, parents: bool = False) -> Iterator[int]:
    """A descriptor of the folder ``path``, never through a symbolic link; ``label`` names it
    in the error ("till drop folder"). ``create`` makes it first (``parents``: and its parents)."""
    if create:
        with contextlib.suppress(FileExistsError):
            path.mkdir(parents=parents)
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError as err:
        if err.errno in (errno.ELOOP, errno.ENOTDIR) and path.is_symlink():
            raise UnsafeFolder(
                path,
                f"{label} {path} is a symbolic link{_link_target(path)}: syncd does not follow"
                " links in the till's folders (whoever writes the drop folder could point it"
                " anywhere); make it a real folder or set the real path in the configuration",
            ) from err
        if err.errno == errno.ENOTDIR:
            raise UnsafeFolder(path, f"{label} {path} is not a folder") from err
        raise
    try:
        yield fd
    finally:
        os.close(fd)


def kind_of(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def open_regular(path: Path | str, *, dir_fd: int | None = None) -> tuple[int, os.stat_result]:
    """A read descriptor of a regular file and its fstat; Refused for anything else."""
    try:
        fd = os.open(path, _READ_FLAGS, dir_fd=dir_fd)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Refused("a symbolic link, not a file: not read") from err
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{kind_of(info.st_mode)}, not a file: not read")
    except BaseException:
        os.close(fd)
        raise
    return fd, info


def too_large(size: int, limit: int) -> Refused:
    return Refused(
        f"the file is {_size_text(size)}, more than max_file_mb = {limit / 1_000_000:g} MB:"
        " not read (raise max_file_mb in the till's settings if its exports are this large)"
    )


def read_regular(
    path: Path | str, limit: int, *, dir_fd: int | None = None
) -> tuple[bytes, os.stat_result]:
    """The content of a regular file of at most ``limit`` bytes (checked before reading, and
    again while reading: the file may grow), and its fstat. Refused otherwise, unread."""
    fd, info = open_regular(path, dir_fd=dir_fd)
    try:
        if info.st_size > limit:
            raise too_large(info.st_size, limit)
        return read_range(fd, 0, limit + 1, limit=limit), info
    finally:
        os.close(fd)


def read_range(fd: int, start: int, length: int, *, limit: int | None = None) -> bytes:
    """Up to ``length`` bytes from ``start``; with ``limit``, Refused past it."""
    parts: list[bytes] = []
    got = 0
    while got < length:
        chunk = os.pread(fd, min(_CHUNK, length - got), start + got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
        if limit is not None and got > limit:
            raise too_large(got, limit)
    return b"".join(parts)


def write_atomic(dir_fd: int, name: str, data: bytes, *, mode: int = 0o666) -> None:
    """``name`` in the folder replaced at once by ``data``: written to a new temp file of a
    random name (``O_EXCL``: never an existing file or link), synced, renamed into place."""
    temp = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temp, _WRITE_FLAGS, mode, dir_fd=dir_fd)
    try:
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, f"{temp} is not a regular file")
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp, dir_fd=dir_fd)
        raise


def exists(dir_fd: int, name: str) -> bool:
    """Whether the folder has an entry ``name`` (a link counts, whatever it points at)."""
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def move(src_fd: int, name: str, dst_fd: int) -> str:
    """Move the entry ``name`` (a link moves as a link) into the other folder, under a new
    name when one is taken there; returns the name it got."""
    target = name
    if exists(dst_fd, target):
        stem, dot, suffix = name.rpartition(".")
        stamp = int(time.time() * 1000)
        target = f"{stem}.{stamp}.{suffix}" if dot and stem else f"{name}.{stamp}"
    os.rename(name, target, src_dir_fd=src_fd, dst_dir_fd=dst_fd)
    return target


def open_for_writing(path: Path) -> bool | None:
    """Whether some process has the file open for writing: a read lease (Linux) is granted
    only when none has. None when the kernel will not say (not the owner, no lease support)."""
    setlease = getattr(fcntl, "F_SETLEASE", None)
    if setlease is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.fcntl(fd, setlease, fcntl.F_RDLCK)
        fcntl.fcntl(fd, setlease, fcntl.F_UNLCK)
        return False
    except OSError as err:
        return True if err.errno in (errno.EAGAIN, errno.EBUSY) else None
    finally:
        os.close(fd)
