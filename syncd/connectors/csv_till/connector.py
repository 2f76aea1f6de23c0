"""The CSV till as a channel: export files dropped in a folder in, complete stock files out.

A file is read once it is complete: at once when no process holds it open for writing (the
kernel's answer to a read lease), else once its size is unchanged for ``settle_seconds``. Rows are identified by content (receipt id, else file hash + row), and a
cursor per file hash is committed with its documents, so the same export dropped twice, renamed,
or read again after a crash is applied once. After the commit the file moves to ``done/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import fcntl
import hashlib
import io
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import structlog
from watchfiles import awatch

from syncd.config import TableReader
from syncd.connectors.base import (
    Batch,
    ChannelLevel,
    ConfigIssue,
    Connector,
    PushItem,
    PushResult,
    PushStatus,
)
from syncd.connectors.csv_till.parser import ParseOptions, ParseResult, parse_bytes
from syncd.connectors.csv_till.presets import PRESETS, ROLES
from syncd.domain import Rejection
from syncd.exceptions import ChannelConfigError, NotReadyError, RetriableError

log = structlog.get_logger("syncd.till")

_IGNORED_PREFIXES = (".", "~")
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")


def _open_for_writing(path: Path) -> bool | None:
    """Whether some process has the file open for writing: a read lease (Linux) is granted
    only when none has. None when the kernel will not say (not the owner, no lease support)."""
    setlease = getattr(fcntl, "F_SETLEASE", None)
    if setlease is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
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


@dataclass(frozen=True, slots=True)
class TillSettings:
    drop_folder: Path
    done_folder: Path
    rejected_folder: Path
    parse: ParseOptions
    watch: str = "auto"  # auto | notify | poll
    settle_seconds: float = 2.0
    patterns: tuple[str, ...] = ("*.csv", "*.CSV", "*.txt")
    stock_file: Path | None = None
    stock_columns: tuple[str, ...] = ("sku", "quantity")
    stock_delimiter: str = ";"
    stock_encoding: str = "utf-8"
    stock_min_interval_seconds: float = 5.0
    delta_folder: Path | None = None
    journal_files: tuple[str, ...] = ()  # append-only files, read from the last committed offset


@dataclass
class TillCounters:
    files: int = 0
    rows: int = 0
    rejected_rows: int = 0
    skipped_rows: int = 0
    unreadable_files: int = 0
    duplicate_files: int = 0
    stock_files_written: int = 0
    seen_sizes: dict[str, tuple[int, float]] = field(default_factory=dict)


class CsvTillConnector(Connector):
    type: ClassVar[str] = "csv_till"
    full_snapshot: ClassVar[bool] = True
    follows_own_sales: ClassVar[bool] = False  # the stock file is the till's figure

    def __init__(self, name: str, settings: Any, *, session: Any = None) -> None:
        super().__init__(name, settings, session=session)
        self.settings: TillSettings = settings
        self.counters = TillCounters()
        self._last_stock: dict[str, int] | None = None
        self._last_write = 0.0
        self._watch_task: asyncio.Task[None] | None = None
        self._stop_watch = asyncio.Event()

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[Any, list[ConfigIssue]]:
        issues: list[ConfigIssue] = []
        r = TableReader(table, file=file, prefix=prefix, issues=issues)
        drop = r.path("drop_folder", required=True)
        preset = r.string("preset", "auto", choices=("auto", *sorted(PRESETS)))
        delimiter = r.string("delimiter", "") or None
        if delimiter is not None and delimiter not in (",", ";", "\t", "|"):
            r.problem("delimiter", f"{delimiter!r} is not a CSV delimiter", 'delimiter = ";"')
        encoding = r.string("encoding", "") or None
        if encoding:
            try:
                "x".encode(encoding)
            except LookupError:
                r.problem("encoding", f"unknown encoding {encoding!r}", 'encoding = "cp1252"')
                encoding = None
        decimal_comma_raw = table.get("decimal_comma")
        decimal_comma = r.boolean("decimal_comma", False) if decimal_comma_raw is not None else None
        columns = r.string_map("columns")
        for role in columns:
            if role not in ROLES:
                r.problem(f"columns.{role}", f"unknown column role; known: {', '.join(ROLES)}", "")
        timezone = r.string("timezone", "Europe/Paris")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except (KeyError, ValueError):
            r.problem("timezone", f"unknown time zone {timezone!r}", 'timezone = "Europe/Paris"')
        parse = ParseOptions(
            preset=preset,
            delimiter=delimiter,
            encoding=encoding,
            decimal_comma=decimal_comma,
            date_format=r.string("date_format", "") or None,
            timezone=timezone,
            columns=columns,
        )
        watch = r.string("watch", "auto", choices=("auto", "notify", "poll"))
        settle = r.number("settle_seconds", 2.0, minimum=0, maximum=3600)
        patterns = r.string_list("patterns", ("*.csv", "*.CSV", "*.txt"))
        stock_file = r.path("stock_file")
        stock_columns = r.string_list("stock_columns", ("sku", "quantity"))
        for column in stock_columns:
            if column not in ("sku", "quantity", "name"):
                r.problem(
                    "stock_columns",
                    f"unknown column {column!r}",
                    'stock_columns = ["sku", "quantity"]',
                )
        stock_delimiter = r.string("stock_delimiter", ";")
        stock_encoding = r.string("stock_encoding", "utf-8")
        interval = r.number("stock_min_interval_seconds", 5.0, minimum=0, maximum=86_400)
        delta_folder = r.path("delta_folder")
        journal_files = r.string_list("journal_files", ())
        done = r.path("done_folder") or (drop / "done" if drop else None)
        rejected = r.path("rejected_folder") or (drop / "rejected" if drop else None)
        r.reject_unknown()
        if drop is None or done is None or rejected is None:
            return None, issues
        return (
            TillSettings(
                drop_folder=drop,
                done_folder=done,
                rejected_folder=rejected,
                parse=parse,
                watch=watch,
                settle_seconds=settle,
                patterns=patterns,
                stock_file=stock_file,
                stock_columns=stock_columns,
                stock_delimiter=stock_delimiter,
                stock_encoding=stock_encoding,
                stock_min_interval_seconds=interval,
                delta_folder=delta_folder,
                journal_files=journal_files,
            ),
            issues,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        # The drop folder itself is never created: it may be a share that is not mounted yet,
        # and files written into a stand-in folder under the mount point would be hidden.
        if not self.settings.drop_folder.is_dir():
            return
        for folder in (self.settings.done_folder, self.settings.rejected_folder):
            with contextlib.suppress(OSError):
                self._ensure_folder(folder)

    def _ensure_folder(self, folder: Path) -> None:
        """Create done/ or rejected/; inside the drop folder never its parents, so a drop
        folder that vanished (an unmounted share) is not recreated under the mount point."""
        inside = folder.is_relative_to(self.settings.drop_folder)
        folder.mkdir(parents=not inside, exist_ok=True)

    async def close(self) -> None:
        self._stop_watch.set()
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watch_task

    async def check(self) -> None:
        folder = self.settings.drop_folder
        if not folder.is_dir():
            raise NotReadyError(
                f"till drop folder {folder} does not exist (yet): create it or mount the share;"
                " syncd looks again in the background",
                channel=self.name,
            )
        if not os.access(folder, os.R_OK | os.W_OK | os.X_OK):
            raise ChannelConfigError(
                f"till drop folder {folder}: syncd may not read and move files there",
                channel=self.name,
            )

    # -- ingest --------------------------------------------------------------------------------

    def _candidates(self) -> list[Path]:
        folder = self.settings.drop_folder
        try:
            entries = list(folder.iterdir())
        except OSError as err:
            raise RetriableError(
                f"cannot list {folder}: {err.strerror or err}", channel=self.name
            ) from err
        files = []
        for path in entries:
            if not path.is_file() or path.name.startswith(_IGNORED_PREFIXES):
                continue
            if path.name.endswith(_IGNORED_SUFFIXES) or self._is_journal(path):
                continue
            if any(path.match(p) for p in self.settings.patterns):
                files.append(path)
        return sorted(files, key=lambda p: (p.stat().st_mtime, p.name))

    def _is_journal(self, path: Path) -> bool:
        return any(path.match(p) for p in self.settings.journal_files)

    def _journals(self) -> list[Path]:
        found: set[Path] = set()
        for pattern in self.settings.journal_files:
            base = Path(pattern)
            if base.is_absolute():
                found.update(p for p in base.parent.glob(base.name) if p.is_file())
            else:
                found.update(p for p in self.settings.drop_folder.glob(pattern) if p.is_file())
        return sorted(found)

    def _journal_batch(self, path: Path, cursors: Mapping[str, str]) -> Batch | None:
        """New complete lines of an append-only file since the committed offset.

        The cursor is ``offset:hash`` of the bytes before the offset (up to 4 KiB), so a
        truncated or rotated file is noticed and read again from the start (receipts and
        positions make that harmless). Rows without a receipt id are named by their byte offset.
        """
        data = path.read_bytes()
        key = f"journal:{path.name}"
        offset = 0
        text_offset, _, stored_hash = cursors.get(key, "").partition(":")
        if text_offset.isdigit() and int(text_offset) <= len(data):
            n = min(int(text_offset), 4096)
            if hashlib.sha256(data[:n]).hexdigest()[:16] == stored_hash:
                offset = int(text_offset)
        header_end = data.find(b"\n") + 1
        if header_end <= 0:
            return None
        start = max(offset, header_end)
        end = data.rfind(b"\n") + 1  # only complete lines
        if end <= start:
            return None
        # Rows are named by the file's first data line (a rotated file starts anew) and offset.
        first_line_end = data.find(b"\n", header_end) + 1
        identity = hashlib.sha256(data[:first_line_end]).hexdigest()[:16]
        cursor = f"{end}:{hashlib.sha256(data[: min(end, 4096)]).hexdigest()[:16]}"
        chunk = data[start:end]
        ids = []
        position = start
        for line in chunk.splitlines(keepends=True):
            if line.strip():
                ids.append(f"{identity}:{position}")
            position += len(line)
        result = parse_bytes(
            data[:header_end] + chunk,
            path.name,
            self.settings.parse,
            channel=self.name,
            fallback_time=datetime.fromtimestamp(path.stat().st_mtime, UTC),
            row_ids=ids,
        )
        if not result.ok:
            return Batch(
                cursors={key: cursor},
                rejections=[Rejection(self.name, path.name, None, "", "", result.unreadable)],
            )
        return Batch(
            documents=result.documents,
            cursors={key: cursor},
            rejections=result.rejections,
        )

    def _complete(self, path: Path) -> bool:
        """A file is complete at once when no process holds it open for writing (asked of the
        kernel with a read lease); where the kernel cannot tell (a network share, a file of
        another owner), when its size has not changed for settle_seconds."""
        try:
            stat = path.stat()
        except OSError:
            return False
        now = time.time()
        writing = _open_for_writing(path)
        if writing is False and stat.st_size > 0:
            return True
        seen = self.counters.seen_sizes.get(path.name)
        if seen is None or seen[0] != stat.st_size:
            self.counters.seen_sizes[path.name] = (stat.st_size, now)
            seen = (stat.st_size, now)
        if writing:
            # Still open for writing: wait for the writer, unless it keeps the file open
            # without writing for a long time (then its size is taken as final).
            return now - seen[1] >= max(60.0, self.settings.settle_seconds)
        if now - stat.st_mtime >= self.settings.settle_seconds:
            return True
        return now - seen[1] >= self.settings.settle_seconds

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        for journal in self._journals():
            try:
                batch = await asyncio.to_thread(self._journal_batch, journal, cursors)
            except OSError as err:
                raise RetriableError(
                    f"cannot read {journal}: {err.strerror or err}", channel=self.name
                ) from err
            if batch is not None:
                yield batch
        applied_now: set[str] = set()
        for path in self._candidates():
            if not self._complete(path):
                continue
            try:
                data = await asyncio.to_thread(path.read_bytes)
                mtime = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            except FileNotFoundError:
                continue
            except OSError as err:
                raise RetriableError(
                    f"cannot read {path}: {err.strerror or err}", channel=self.name
                ) from err
            result = await asyncio.to_thread(
                parse_bytes,
                data,
                path.name,
                self.settings.parse,
                channel=self.name,
                fallback_time=mtime,
            )
            cursor_key = f"file:{result.sha256}"
            if cursors.get(cursor_key) == "done" or cursor_key in applied_now:
                self.counters.duplicate_files += 1
                log.info("till_file_already_applied", channel=self.name, file=path.name)
                self._move(path, self.settings.done_folder)
                continue
            if not result.ok:
                self.counters.unreadable_files += 1
                yield Batch(
                    cursors={cursor_key: "done"},
                    rejections=[Rejection(self.name, path.name, None, "", "", result.unreadable)],
                )
                self._quarantine(path, result.unreadable)
                continue
            self._write_rejected(path, result)
            applied_now.add(cursor_key)  # the same export twice in one pull: once
            yield Batch(
                documents=result.documents,
                cursors={cursor_key: "done"},
                rejections=result.rejections,
            )
            # Committed: the file goes to done/, the counters move.
            self.counters.files += 1
            self.counters.rows += result.rows
            self.counters.rejected_rows += len(result.rejections)
            self.counters.skipped_rows += result.skipped
            self.counters.seen_sizes.pop(path.name, None)
            log.info(
                "till_file_applied",
                channel=self.name,
                file=path.name,
                preset=result.preset,
                receipts=len(result.documents),
                rejected=len(result.rejections),
                skipped=result.skipped,
            )
            self._move(path, self.settings.done_folder)

    def _move(self, path: Path, folder: Path) -> None:
        try:
            self._ensure_folder(folder)
            target = folder / path.name
            if target.exists():
                target = folder / f"{path.stem}.{int(time.time() * 1000)}{path.suffix}"
            os.replace(path, target)
        except OSError as err:
            log.warning("till_file_not_moved", channel=self.name, file=path.name, error=str(err))

    def _quarantine(self, path: Path, reason: str) -> None:
        log.error("till_file_unreadable", channel=self.name, file=path.name, reason=reason)
        self._move(path, self.settings.rejected_folder)
        with contextlib.suppress(OSError):
            (self.settings.rejected_folder / f"{path.name}.reason.txt").write_text(
                reason + "\n", encoding="utf-8"
            )

    def _write_rejected(self, path: Path, result: ParseResult) -> None:
        if not result.rejections:
            return
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "row", "column", "value", "reason"])
        for r in result.rejections:
            writer.writerow([r.source, r.row, r.column, r.value, r.reason])
        try:
            self._ensure_folder(self.settings.rejected_folder)
            target = self.settings.rejected_folder / f"{path.name}.rejected.csv"
            target.write_text(out.getvalue(), encoding="utf-8")
        except OSError as err:
            log.warning("till_rejections_not_written", channel=self.name, error=str(err))

    async def wait_for_change(self, max_wait: float) -> None:
        if self._watch_task is None and self.settings.watch != "poll":
            self._watch_task = asyncio.create_task(self._watch(), name=f"{self.name}-watch")
        # Files still settling are looked at again soon, whatever the poll interval.
        if self.counters.seen_sizes:
            max_wait = min(max_wait, max(0.05, self.settings.settle_seconds / 2))
        await super().wait_for_change(max_wait)

    async def _watch(self) -> None:
        try:
            async for _ in awatch(
                self.settings.drop_folder,
                stop_event=self._stop_watch,
                recursive=False,
                # Yield a change within ~20 ms even while the till writes a file every
                # 20 ms (a larger debounce groups changes but adds its full length to latency).
                debounce=20,
                step=10,
                force_polling=None,
            ):
                self.nudge()
        except (OSError, RuntimeError) as err:
            # A network share without inotify: the poll interval takes over.
            log.warning("till_watch_unavailable", channel=self.name, error=str(err))

    # -- push ----------------------------------------------------------------------------------

    async def push(self, items: Sequence[PushItem]) -> list[PushResult]:
        """Write the complete stock file (every SKU) atomically, when it changed, at most every
        stock_min_interval_seconds (waiting out the interval rather than dropping a change)."""
        figures = {i.sku: i.available for i in items}
        target = self.settings.stock_file
        if target is not None and figures != self._last_stock:
            wait = self._last_write + self.settings.stock_min_interval_seconds - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await asyncio.to_thread(self._write_stock, target, figures)
            except OSError as err:
                raise RetriableError(
                    f"cannot write the stock file {target}: {err.strerror or err}",
                    channel=self.name,
                ) from err
            if self.settings.delta_folder is not None and self._last_stock is not None:
                changed = {s: q for s, q in figures.items() if self._last_stock.get(s) != q}
                with contextlib.suppress(OSError):
                    await asyncio.to_thread(self._write_delta, changed)
            self._last_stock = figures
            self._last_write = time.monotonic()
            self.counters.stock_files_written += 1
            log.info(
                "till_stock_file_written", channel=self.name, file=str(target), skus=len(figures)
            )
        status = PushStatus.WRITTEN if target is not None else PushStatus.SKIPPED
        reason = "" if target is not None else "no stock_file configured for this till"
        return [
            PushResult(i.sku, status, shown=i.available if target else None, reason=reason)
            for i in items
        ]

    def _render(self, figures: Mapping[str, int]) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out, delimiter=self.settings.stock_delimiter, lineterminator="\r\n")
        writer.writerow(self.settings.stock_columns)
        for sku in sorted(figures):
            row = {"sku": sku, "quantity": str(figures[sku]), "name": ""}
            writer.writerow([row[c] for c in self.settings.stock_columns])
        return out.getvalue().encode(self.settings.stock_encoding, errors="replace")

    def _write_stock(self, target: Path, figures: Mapping[str, int]) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.tmp")
        with open(temp, "wb") as handle:
            handle.write(self._render(figures))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)

    def _write_delta(self, changed: Mapping[str, int]) -> None:
        folder = self.settings.delta_folder
        if folder is None or not changed:
            return
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"stock-delta-{stamp}.csv"
        temp = folder / f".{target.name}.tmp"
        temp.write_bytes(self._render(changed))
        os.replace(temp, target)

    # -- reconciliation ------------------------------------------------------------------------

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """The till's figures cannot be read from the till itself: this reads back the last
        stock file written for it."""
        target = self.settings.stock_file
        if target is None or not target.exists():
            return
        text = target.read_bytes().decode(self.settings.stock_encoding, errors="replace")
        reader = csv.DictReader(io.StringIO(text), delimiter=self.settings.stock_delimiter)
        levels = []
        for row in reader:
            sku = (row.get("sku") or "").strip()
            if not sku or (skus is not None and sku not in skus):
                continue
            try:
                levels.append(ChannelLevel(sku, int(row.get("quantity") or 0)))
            except ValueError:
                continue
        if levels:
            yield levels
