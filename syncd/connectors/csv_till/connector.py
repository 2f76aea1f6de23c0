"""The CSV till as a channel: export files dropped in a folder in, complete stock files out.

A file is read once it is complete: at once when no process holds it open for writing (the
kernel's answer to a read lease), else once its size is unchanged for ``settle_seconds``. Rows are identified by content (receipt id, else file hash + row), and a
cursor per file hash is committed with its documents, so the same export dropped twice, renamed,
or read again after a crash is applied once. After the commit the file moves to ``done/``.

Whoever can write the drop folder can plant links there: no file or folder is followed through
a symbolic link (:mod:`syncd.connectors.csv_till.safefs`), a link or a file larger than
``max_file_mb`` is quarantined unread, and every text that reaches a reason file, the rejected
rows' CSV or the ledger is cleaned of secrets like a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import dataclasses
import io
import os
import stat
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import structlog
from watchfiles import awatch

from syncd.connectors.base import (
    Batch,
    ChannelLevel,
    ConfigIssue,
    Connector,
    PushItem,
    PushResult,
    PushStatus,
)
from syncd.connectors.csv_till import missed_files, safefs
from syncd.connectors.csv_till.journal import journal_batch
from syncd.connectors.csv_till.parser import ParseOptions, ParseResult, parse_bytes
from syncd.connectors.csv_till.presets import PRESETS, ROLES
from syncd.connectors.csv_till.settings import DEFAULT_MAX_FILE_MB, TillSettings
from syncd.csvcells import safe_row
from syncd.domain import Rejection
from syncd.exceptions import ChannelConfigError, NotReadyError, RetriableError
from syncd.logs import clean
from syncd.reconcile.compare import Finding, FindingKind
from syncd.reconcile.missed import TillFile, missing_files
from syncd.settings import TableReader, unknown_hint

log = structlog.get_logger("syncd.till")
log_missed = structlog.get_logger("syncd.reconcile")  # a catch-up's findings
INBOX_GRACE_SECONDS = 300.0  # a file waiting longer in the inbox is reported by a catch-up
# At most this many export files, and this many bytes of them (read, then parsed one by one),
# are applied in one commit (see CsvTillConnector.pull).
FILES_PER_COMMIT = 200
LOAD_BYTES = 4_000_000


def cleaned(rejection: Rejection) -> Rejection:
    """A rejection fit to store and show: its texts cleaned like a log line (a till file's
    header may be a secret someone dropped or linked there)."""
    return Rejection(
        rejection.channel,
        clean(rejection.source),
        rejection.row,
        clean(rejection.column),
        clean(rejection.value),
        clean(rejection.reason),
    )


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


class CsvTillConnector(Connector[TillSettings]):
    type: ClassVar[str] = "csv_till"
    full_snapshot: ClassVar[bool] = True
    follows_own_sales: ClassVar[bool] = False  # the stock file is the till's figure
    rereads: ClassVar[bool] = False  # a pull moves files to done/: missed_documents catches up

    def __init__(self, name: str, settings: TillSettings, *, session: Any = None) -> None:
        super().__init__(name, settings, session=session)
        self.counters = TillCounters()
        self._last_stock: dict[str, int] | None = None
        self._last_write = 0.0
        self._watch_task: asyncio.Task[None] | None = None
        self._stop_watch = asyncio.Event()
        self._journals_refused: set[str] = set()

    # -- configuration -------------------------------------------------------------------------

    @classmethod
    def parse_settings(
        cls, table: Mapping[str, Any], *, file: str, prefix: str
    ) -> tuple[TillSettings | None, list[ConfigIssue]]:
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
                r.problem(
                    f"columns.{role}", "unknown column role", unknown_hint(role, ROLES, "roles")
                )
        timezone = r.string("timezone", "Europe/Paris")
        try:
            from zoneinfo import ZoneInfo

            ZoneInfo(timezone)
        except (KeyError, ValueError, OSError):  # OSError: "Europe", a folder, with tzdata
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
        max_file_mb = r.number("max_file_mb", DEFAULT_MAX_FILE_MB, minimum=0.001, maximum=100_000)
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
                max_file_bytes=int(max_file_mb * 1_000_000),
            ),
            issues,
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        # The drop folder itself is never created: it may be a share that is not mounted yet,
        # and files written into a stand-in folder under the mount point would be hidden.
        try:  # a linked drop folder: nothing is made in it (the first pull says why)
            with safefs.folder(self.settings.drop_folder, label="till drop folder"):
                pass
        except OSError:
            return
        for folder, label in self._side_folders():
            with contextlib.suppress(OSError), self._folder(folder, label):
                pass

    def _side_folders(self) -> tuple[tuple[Path, str], ...]:
        s = self.settings
        return ((s.done_folder, "till done folder"), (s.rejected_folder, "till rejected folder"))

    def _folder(self, folder: Path, label: str) -> contextlib.AbstractContextManager[int]:
        """A descriptor of done/ or rejected/, created when missing (inside the drop folder
        never its parents, so a drop folder that vanished, an unmounted share, is not
        recreated under the mount point); never through a symbolic link."""
        inside = folder.is_relative_to(self.settings.drop_folder)
        return safefs.folder(folder, label=label, create=True, parents=not inside)

    def _refused(self, err: safefs.UnsafeFolder) -> ChannelConfigError:
        log.error("till_folder_refused", channel=self.name, folder=str(err.folder), error=str(err))
        return ChannelConfigError(str(err), channel=self.name)

    def _check_folders(self) -> None:
        """Every folder of the ingest side is a real folder (not a link), before any file is
        read: a link planted as done/ or rejected/ would move files anywhere."""
        try:
            with safefs.folder(self.settings.drop_folder, label="till drop folder"):
                pass
            for folder, label in self._side_folders():
                with self._folder(folder, label):
                    pass
        except safefs.UnsafeFolder as err:
            raise self._refused(err) from err
        except OSError as err:
            raise RetriableError(
                f"cannot open the till folders: {err.strerror or err}", channel=self.name
            ) from err

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

    async def missed_documents(
        self,
        known: Callable[[], Awaitable[Set[str]]],
        cursors: Mapping[str, str],
        *,
        window_seconds: float,
    ) -> AsyncIterator[Batch]:
        """Files in ``done/`` the ledger never applied are applied now (their documents are
        idempotent); files still in the inbox are left to the ingest loop and only reported
        (once older than INBOX_GRACE_SECONDS). ``known`` is not needed: file cursors say it."""
        since = time.time() - window_seconds
        listed = await asyncio.to_thread(missed_files.list_files, self.settings, since)
        by_sha = {t.split(":", 1)[1]: (path, t.split(":", 1)[0]) for path, t in reversed(listed)}
        files = [TillFile(path.name, folder, sha) for sha, (path, folder) in by_sha.items()]
        for lost in missing_files(files, cursors):
            path, folder = by_sha[lost.sha256]
            try:
                data, mtime = await asyncio.to_thread(
                    missed_files.read_file, self.settings, path, folder
                )
            except (FileNotFoundError, safefs.Refused, safefs.UnsafeFolder):
                continue  # moved since the listing (the ingest loop took it), or swapped: not read
            if folder == "inbox" and time.time() - mtime < INBOX_GRACE_SECONDS:
                continue  # just dropped: the ingest loop is on it
            batch = Batch()
            if folder == "done":
                when = datetime.fromtimestamp(mtime, UTC)
                result = await asyncio.to_thread(
                    parse_bytes,
                    data,
                    path.name,
                    self.settings.parse,
                    channel=self.name,
                    fallback_time=when,
                )
                if result.ok:
                    batch = Batch(
                        result.documents,
                        {f"file:{lost.sha256}": "done"},
                        [cleaned(r) for r in result.rejections],
                    )
            detail = {"file": lost.name, "folder": folder, "applied": bool(batch.cursors)}
            finding = Finding(self.name, lost.name, FindingKind.MISSED_FILE, detail=detail)
            yield dataclasses.replace(batch, missed=[finding])
            log_missed.warning("missed_till_file", channel=self.name, file=lost.name, folder=folder)

    def _candidates(self) -> tuple[list[Path], list[tuple[Path, str]]]:
        """Export files to read, oldest first, and entries named like one that are no
        regular file (a link, a pipe…), with why: those are quarantined without being opened."""
        folder = self.settings.drop_folder
        try:
            entries = list(folder.iterdir())
        except OSError as err:
            raise RetriableError(
                f"cannot list {folder}: {err.strerror or err}", channel=self.name
            ) from err
        files: list[tuple[float, str, Path]] = []
        refused: list[tuple[Path, str]] = []
        for path in entries:
            if not self.settings.is_export(path):
                continue
            try:
                info = path.lstat()  # the entry itself: a link is not followed
            except FileNotFoundError:
                continue
            if stat.S_ISREG(info.st_mode):
                files.append((info.st_mtime, path.name, path))
            elif not stat.S_ISDIR(info.st_mode):
                refused.append((path, f"{safefs.kind_of(info.st_mode)}, not a file: not read"))
        return [p for _, _, p in sorted(files)], refused

    def _is_journal(self, path: Path) -> bool:
        return self.settings.is_journal(path)

    def _journals(self) -> list[Path]:
        found: set[Path] = set()
        for pattern in self.settings.journal_files:
            base = Path(pattern)
            if base.is_absolute():
                found.update(base.parent.glob(base.name))
            else:
                found.update(self.settings.drop_folder.glob(pattern))
        # Links and other non-files are never read (a journal cannot be moved aside: said once).
        journals = []
        for path in sorted(found):
            try:
                mode = path.lstat().st_mode
            except FileNotFoundError:
                continue
            if stat.S_ISREG(mode):
                journals.append(path)
            elif path.name not in self._journals_refused:
                self._journals_refused.add(path.name)
                log.error(
                    "till_journal_not_read",
                    channel=self.name,
                    file=path.name,
                    reason=f"{safefs.kind_of(mode)}, not a file",
                )
        return journals

    def _complete(self, path: Path) -> bool:
        """A file is complete at once when no process holds it open for writing (asked of the
        kernel with a read lease); where the kernel cannot tell (a network share, a file of
        another owner), when its size has not changed for settle_seconds."""
        try:
            stat_ = path.lstat()
        except OSError:
            return False
        now = time.time()
        writing = safefs.open_for_writing(path)
        if writing is False and stat_.st_size > 0:
            return True
        seen = self.counters.seen_sizes.get(path.name)
        if seen is None or seen[0] != stat_.st_size:
            self.counters.seen_sizes[path.name] = (stat_.st_size, now)
            seen = (stat_.st_size, now)
        if writing:
            # Still open for writing: wait for the writer, unless it keeps the file open
            # without writing for a long time (then its size is taken as final).
            return now - seen[1] >= max(60.0, self.settings.settle_seconds)
        if now - stat_.st_mtime >= self.settings.settle_seconds:
            return True
        return now - seen[1] >= self.settings.settle_seconds

    async def pull(self, cursors: Mapping[str, str]) -> AsyncIterator[Batch]:
        await asyncio.to_thread(self._check_folders)
        for journal in self._journals():
            position = dict(cursors)
            while True:  # window after window, each committed before the next is read
                try:
                    batch = await asyncio.to_thread(
                        journal_batch,
                        journal,
                        position,
                        self.settings.parse,
                        channel=self.name,
                        limit=self.settings.max_file_bytes,
                    )
                except safefs.Refused:
                    break  # replaced by a link meanwhile: looked at again at the next poll
                except OSError as err:
                    raise RetriableError(
                        f"cannot read {journal}: {err.strerror or err}", channel=self.name
                    ) from err
                if batch is None:
                    break
                position.update(batch.cursors)
                yield dataclasses.replace(batch, rejections=[cleaned(r) for r in batch.rejections])
        applied_now: set[str] = set()
        files, refused = await asyncio.to_thread(self._candidates)
        for path, reason in refused:
            yield self._unread(path, reason)
            self._quarantine(path, reason)
        ready = [path for path in files if self._complete(path)]
        while ready:
            # The files ready, read and parsed in one hop to a thread, are applied in one
            # commit (one fsync): a till that drops a file per sale keeps up at its peak on a
            # busy machine, and a backlog drains in a few commits, not file by file.
            loaded = await asyncio.to_thread(self._load, ready)
            del ready[: len(loaded)]
            # A receipt in two of these files (a till exporting it again, changed) is applied
            # in file order, each version in its own commit, as if the files came one by one.
            groups: list[list[tuple[Path, ParseResult]]] = [[]]
            receipts: set[str] = set()
            failed: tuple[Path, OSError] | None = None
            for path, outcome in loaded:
                if outcome is None:
                    continue  # gone since the listing
                if isinstance(outcome, safefs.Refused):
                    yield self._unread(path, outcome.reason)
                    self._quarantine(path, outcome.reason)
                    continue
                if isinstance(outcome, OSError):
                    failed = (path, outcome)  # after the files read before it are applied
                    break
                result = outcome
                result.rejections[:] = [cleaned(r) for r in result.rejections]
                result.unreadable = clean(result.unreadable)
                cursor_key = f"file:{result.sha256}"
                if cursors.get(cursor_key) == "done" or cursor_key in applied_now:
                    self.counters.duplicate_files += 1
                    log.info("till_file_already_applied", channel=self.name, file=path.name)
                    self._move(path, self.settings.done_folder, "till done folder")
                    continue
                if not result.ok:
                    self.counters.unreadable_files += 1
                    yield Batch(
                        cursors={cursor_key: "done"},
                        rejections=[
                            Rejection(self.name, path.name, None, "", "", result.unreadable)
                        ],
                    )
                    self._quarantine(path, result.unreadable)
                    continue
                self._write_rejected(path, result)
                applied_now.add(cursor_key)  # the same export twice in one pull: once
                ids = {d.doc_id for d in result.documents}
                if ids & receipts:
                    groups.append([])
                    receipts.clear()
                receipts |= ids
                groups[-1].append((path, result))
            for group in filter(None, groups):
                yield Batch(
                    documents=[d for _, result in group for d in result.documents],
                    cursors={f"file:{result.sha256}": "done" for _, result in group},
                    rejections=[r for _, result in group for r in result.rejections],
                )
                # Committed: each file goes to done/, the counters move.
                for path, result in group:
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
                    self._move(path, self.settings.done_folder, "till done folder")
            if failed is not None:
                unread, error = failed
                raise RetriableError(
                    f"cannot read {unread}: {error.strerror or error}", channel=self.name
                ) from error

    def _load(
        self, paths: Sequence[Path]
    ) -> list[tuple[Path, ParseResult | safefs.Refused | OSError | None]]:
        """The first of ``paths`` read and parsed (in a worker thread), and the next ones while
        they add up to at most LOAD_BYTES read and FILES_PER_COMMIT files (what one commit
        applies). Each file's outcome: its parse, why it was refused unread, the error that
        kept it unread, or None when it is gone. Only one file's bytes are held at a time."""
        out: list[tuple[Path, ParseResult | safefs.Refused | OSError | None]] = []
        read = 0
        for path in paths:
            if out and (read >= LOAD_BYTES or len(out) >= FILES_PER_COMMIT):
                break
            try:
                data, info = safefs.read_regular(path, self.settings.max_file_bytes)
            except safefs.Refused as refusal:
                out.append((path, refusal))
                continue
            except FileNotFoundError:
                out.append((path, None))
                continue
            except OSError as err:
                out.append((path, err))
                break  # the pull stops at this file: the ones after it wait for the next
            read += len(data)
            mtime = datetime.fromtimestamp(info.st_mtime, UTC)
            result = parse_bytes(
                data, path.name, self.settings.parse, channel=self.name, fallback_time=mtime
            )
            del data
            out.append((path, result))
        return out

    def _unread(self, path: Path, reason: str) -> Batch:
        """The rejection of a file quarantined without being read (a link, too large)."""
        self.counters.unreadable_files += 1
        self.counters.seen_sizes.pop(path.name, None)
        return Batch(rejections=[cleaned(Rejection(self.name, path.name, None, "", "", reason))])

    def _move(self, path: Path, folder: Path, label: str) -> str | None:
        """Move the file (a link as a link) into done/ or rejected/; the name it got there."""
        try:
            with (
                safefs.folder(path.parent, label="till drop folder") as source,
                self._folder(folder, label) as target,
            ):
                return safefs.move(source, path.name, target)
        except OSError as err:
            log.warning("till_file_not_moved", channel=self.name, file=path.name, error=str(err))
            return None

    def _quarantine(self, path: Path, reason: str) -> None:
        reason = clean(reason)
        log.error("till_file_unreadable", channel=self.name, file=path.name, reason=reason)
        moved = self._move(path, self.settings.rejected_folder, "till rejected folder")
        if moved is None:
            return
        try:
            with self._folder(self.settings.rejected_folder, "till rejected folder") as folder:
                safefs.write_atomic(folder, f"{moved}.reason.txt", (reason + "\n").encode())
        except OSError as err:
            log.warning("till_reason_not_written", channel=self.name, file=moved, error=str(err))

    def _write_rejected(self, path: Path, result: ParseResult) -> None:
        if not result.rejections:
            return
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["file", "row", "column", "value", "reason"])
        for r in result.rejections:  # already cleaned; cells that could start a formula quoted
            writer.writerow(safe_row([r.source, r.row, r.column, r.value, r.reason]))
        try:
            with self._folder(self.settings.rejected_folder, "till rejected folder") as folder:
                safefs.write_atomic(
                    folder, f"{path.name}.rejected.csv", out.getvalue().encode("utf-8")
                )
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
            except safefs.UnsafeFolder as err:
                raise self._refused(err) from err
            except OSError as err:
                raise RetriableError(
                    f"cannot write the stock file {target}: {err.strerror or err}",
                    channel=self.name,
                ) from err
            if self.settings.delta_folder is not None and self._last_stock is not None:
                changed = {s: q for s, q in figures.items() if self._last_stock.get(s) != q}
                try:
                    await asyncio.to_thread(self._write_delta, changed)
                except safefs.UnsafeFolder as err:
                    raise self._refused(err) from err
                except OSError as err:
                    log.warning("till_delta_not_written", channel=self.name, error=str(err))
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
        # A temp file of a random name created with O_EXCL, renamed over the stock file: a
        # link planted as the temp file or as the stock file itself is never written through.
        with safefs.folder(
            target.parent, label="till stock folder", create=True, parents=True
        ) as fd:
            safefs.write_atomic(fd, target.name, self._render(figures))

    def _write_delta(self, changed: Mapping[str, int]) -> None:
        folder = self.settings.delta_folder
        if folder is None or not changed:
            return
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        with safefs.folder(folder, label="till delta folder", create=True, parents=True) as fd:
            safefs.write_atomic(fd, f"stock-delta-{stamp}.csv", self._render(changed))

    # -- reconciliation ------------------------------------------------------------------------

    async def read_levels(
        self, skus: Sequence[str] | None = None
    ) -> AsyncIterator[list[ChannelLevel]]:
        """The till's figures cannot be read from the till itself: this reads back the last
        stock file written for it."""
        target = self.settings.stock_file
        if target is None:
            return
        try:  # our own file, read back without following a link planted in its place
            data, _ = safefs.read_regular(target, max(self.settings.max_file_bytes, 1 << 26))
        except FileNotFoundError:
            return
        except (safefs.Refused, OSError) as err:
            log.warning(
                "till_stock_file_not_read", channel=self.name, file=str(target), error=str(err)
            )
            return
        text = data.decode(self.settings.stock_encoding, errors="replace")
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
