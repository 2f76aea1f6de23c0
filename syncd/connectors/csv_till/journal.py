"""Append-only till journals: only what was appended since the committed offset is read, in
windows of at most ``max_file_mb``, so a growing journal costs what it grew by."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from syncd.connectors.base import Batch
from syncd.connectors.csv_till import safefs
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.domain import Rejection

HEAD_BYTES = 4096  # the cursor keeps the hash of the bytes before the offset, up to this many
PREFIX_BYTES = 1 << 20  # the header and the first data line (the file's identity) are in here


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def journal_batch(
    path: Path,
    cursors: Mapping[str, str],
    options: ParseOptions,
    *,
    channel: str,
    limit: int,
) -> Batch | None:
    """New complete lines of an append-only file since the committed offset (one window of at
    most ``limit`` bytes; called again with the new cursor until None).

    The cursor is ``offset:hash`` of the bytes before the offset (up to 4 KiB), so a
    truncated or rotated file is noticed and read again from the start (receipts and
    positions make that harmless). Rows without a receipt id are named by their byte offset.
    The file is opened without following a link (Refused otherwise).
    """
    fd, info = safefs.open_regular(path)
    try:
        return _batch(fd, info, path, cursors, options, channel=channel, limit=limit)
    finally:
        os.close(fd)


def _batch(
    fd: int,
    info: os.stat_result,
    path: Path,
    cursors: Mapping[str, str],
    options: ParseOptions,
    *,
    channel: str,
    limit: int,
) -> Batch | None:
    size = info.st_size
    key = f"journal:{path.name}"
    offset = 0
    text_offset, _, stored_hash = cursors.get(key, "").partition(":")
    if text_offset.isdigit() and int(text_offset) <= size:
        n = min(int(text_offset), HEAD_BYTES)
        if _digest(safefs.read_range(fd, 0, n)) == stored_hash:
            offset = int(text_offset)
    prefix = _head(fd, size)
    header_end = prefix.find(b"\n") + 1
    if header_end <= 0:
        return None
    start = max(offset, header_end)
    window = safefs.read_range(fd, start, min(size - start, limit))
    end = window.rfind(b"\n") + 1  # only complete lines
    if end <= 0:
        if len(window) < limit:
            return None  # the line being written: read once complete
        return _skip_long_line(fd, path, start, size, limit, channel=channel, key=key)
    chunk = window[:end]
    end += start
    # Rows are named by the file's first data line (a rotated file starts anew) and offset.
    first_line_end = prefix.find(b"\n", header_end) + 1 or len(prefix)
    identity = _digest(prefix[:first_line_end])[:16]
    cursor = f"{end}:{_digest(safefs.read_range(fd, 0, min(end, HEAD_BYTES)))}"
    ids = []
    position = start
    for line in chunk.splitlines(keepends=True):
        if line.strip():
            ids.append(f"{identity}:{position}")
        position += len(line)
    result = parse_bytes(
        prefix[:header_end] + chunk,
        path.name,
        options,
        channel=channel,
        fallback_time=datetime.fromtimestamp(info.st_mtime, UTC),
        row_ids=ids,
    )
    if not result.ok:
        return Batch(
            cursors={key: cursor},
            rejections=[Rejection(channel, path.name, None, "", "", result.unreadable)],
        )
    return Batch(documents=result.documents, cursors={key: cursor}, rejections=result.rejections)


def _head(fd: int, size: int) -> bytes:
    """The file's first bytes, enough to hold the header and the first data line (4 KiB is
    read at each poll, more only for very long lines, up to PREFIX_BYTES)."""
    length = HEAD_BYTES
    while True:
        head = safefs.read_range(fd, 0, min(size, length))
        if head.count(b"\n") >= 2 or len(head) >= size or length >= PREFIX_BYTES:
            return head
        length = min(length * 16, PREFIX_BYTES)


def _skip_long_line(
    fd: int, path: Path, start: int, size: int, limit: int, *, channel: str, key: str
) -> Batch | None:
    """A line longer than ``limit``: rejected unread (its start offset named), once complete."""
    position = start + limit
    while position < size:
        piece = safefs.read_range(fd, position, min(size - position, 1 << 20))
        found = piece.find(b"\n")
        if found >= 0:
            end = position + found + 1
            cursor = f"{end}:{_digest(safefs.read_range(fd, 0, min(end, HEAD_BYTES)))}"
            reason = (
                f"a line of {end - start} bytes at byte {start}, longer than max_file_mb: not read"
            )
            return Batch(
                cursors={key: cursor},
                rejections=[Rejection(channel, path.name, None, "", "", reason)],
            )
        position += len(piece)
    return None
