"""The drop folders of stock-in files: a delivery note dropped in ``[stock] receipts_folder``, a
count file in ``counts_folder``, is booked once complete, then moved into ``booked/`` (or
``refused/`` when nothing in it could be booked) with ``<name>.report.txt`` beside it.

A file is complete like a till's: at once when no process holds it open for writing (a read
lease), else once its size has not changed for ``settle_seconds``. It is booked before it is
moved, and its document id comes from its content (:mod:`syncd.stockin.files`): the same file
dropped twice, or found again after a crash between booking and moving, books once. Nothing is
followed through a symbolic link (:mod:`syncd.connectors.csv_till.safefs`): whoever can write
the folder cannot make syncd read or move a file elsewhere. A count file's lines are counted when
the file was last written (its mtime) unless its rows say when, so sales made since stay sold.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import structlog

from syncd.config import Settings
from syncd.connectors.csv_till import safefs
from syncd.domain import STOCK_CHANNEL, Rejection, utcnow
from syncd.events import EventFeed
from syncd.exceptions import SyncdError
from syncd.ledger.stockfiles import StockFileStore
from syncd.logs import clean
from syncd.stockin.files import FileBooking, count_file, quarantine, receive_file

log = structlog.get_logger("syncd.stock")

BOOKED, REFUSED = "booked", "refused"
MAX_FILE_BYTES = 20_000_000  # a delivery note or a shop's full count is far smaller
_IGNORED_PREFIXES = (".", "~")
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp", ".report.txt")
_LABEL = {"receipt": "receipts folder", "count": "counts folder"}
_WHAT = {"receipt": "delivery note", "count": "count file"}


@dataclass(slots=True)
class _Seen:
    size: int
    mtime_ns: int
    since: float  # monotonic time this size was first seen
    retry_at: float = 0.0  # after a failed booking (the ledger away): not before this


@dataclass(slots=True)
class StockFolders:
    """Watches the configured drop folders; :meth:`loop` runs supervised in the daemon."""

    settings: Settings
    store: StockFileStore
    events: EventFeed
    stopping: asyncio.Event
    poll_seconds: float = 0.5
    settle_seconds: float = 1.0
    retry_seconds: float = 5.0
    seen: dict[tuple[str, str], _Seen] = field(default_factory=dict)
    _warned: set[str] = field(default_factory=set)
    files_booked: int = 0
    files_refused: int = 0

    @property
    def folders(self) -> list[tuple[str, Path]]:
        stock = self.settings.stock
        found = [("receipt", stock.receipts_folder), ("count", stock.counts_folder)]
        return [(kind, folder) for kind, folder in found if folder is not None]

    def reload(self, settings: Settings) -> None:
        """SIGHUP: the folders (and the shop's time zone) as the re-read config sets them."""
        self.settings = settings

    async def loop(self) -> None:
        while not self.stopping.is_set():
            await self.scan()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.poll_seconds)

    async def scan(self) -> list[FileBooking]:
        """Book every complete file of every folder once; what each file gave."""
        done: list[FileBooking] = []
        for kind, folder in self.folders:
            listed = await asyncio.to_thread(self._list, kind, folder)
            for name, refusal in listed:
                if self.stopping.is_set():
                    return done
                if refusal:
                    await self._refuse_unread(kind, folder, name, refusal)
                    continue
                outcome = await self._book(kind, folder, name)
                if outcome is not None:
                    done.append(outcome)
        return done

    # -- listing ----------------------------------------------------------------------------------

    def _list(self, kind: str, folder: Path) -> list[tuple[str, str]]:
        """(name, "") of each complete file, oldest first; (name, why) of entries that are no
        regular file (a link, a pipe): those are moved aside unread."""
        try:
            with safefs.folder(folder, label=_LABEL[kind]) as fd:
                entries = os.listdir(fd)
                self._warned.discard(str(folder))
                found: list[tuple[float, str, str]] = []
                now = time.monotonic()
                for name in entries:
                    if name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES):
                        continue
                    try:
                        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        continue  # booked/, refused/, or the merchant's own
                    if not stat.S_ISREG(info.st_mode):
                        why = f"{safefs.kind_of(info.st_mode)}, not a file: not read"
                        found.append((info.st_mtime, name, why))
                    elif info.st_size > MAX_FILE_BYTES:
                        why = (
                            f"the file is {info.st_size / 1e6:.1f} MB, more than a delivery note"
                            f" or a count file ({MAX_FILE_BYTES / 1e6:g} MB at most): not read"
                        )
                        found.append((info.st_mtime, name, why))
                    elif self._complete(kind, folder, name, info, now):
                        found.append((info.st_mtime, name, ""))
        except safefs.UnsafeFolder as err:
            self._warn_once(folder, "stock_folder_refused", str(err))
            return []
        except FileNotFoundError:
            self._warn_once(folder, "stock_folder_missing", f"{folder} does not exist (yet)")
            return []
        except OSError as err:
            self._warn_once(folder, "stock_folder_unreadable", err.strerror or str(err))
            return []
        return [(name, why) for _, name, why in sorted(found)]

    def _warn_once(self, folder: Path, event: str, error: str) -> None:
        if str(folder) not in self._warned:
            self._warned.add(str(folder))
            log.warning(event, folder=str(folder), error=clean(error))

    def _complete(
        self, kind: str, folder: Path, name: str, info: os.stat_result, now: float
    ) -> bool:
        key = (kind, name)
        seen = self.seen.get(key)
        if seen is None or (seen.size, seen.mtime_ns) != (info.st_size, info.st_mtime_ns):
            seen = self.seen[key] = _Seen(info.st_size, info.st_mtime_ns, now)
        if now < seen.retry_at:
            return False
        writing = safefs.open_for_writing(folder / name)
        if writing is False and info.st_size > 0:
            return True
        if writing:  # a writer holds it open: wait for it, unless it keeps it open idle
            return now - seen.since >= max(60.0, self.settle_seconds)
        return now - seen.since >= self.settle_seconds

    # -- booking ----------------------------------------------------------------------------------

    async def _book(self, kind: str, folder: Path, name: str) -> FileBooking | None:
        try:
            data, info = await asyncio.to_thread(self._read, folder, name)
        except FileNotFoundError:
            self.seen.pop((kind, name), None)
            return None  # taken meanwhile (another daemon, the merchant)
        except safefs.Refused as refusal:
            await self._refuse_unread(kind, folder, name, refusal.reason)
            return None
        except OSError as err:
            self._retry_later(kind, name, f"cannot read it: {err.strerror or err}")
            return None
        timezone = self.settings.web.timezone
        try:
            if kind == "receipt":
                result = await receive_file(
                    self.store, data, name, origin="folder", timezone=timezone
                )
            else:
                written = datetime.fromtimestamp(info.st_mtime, UTC)
                result = await count_file(
                    self.store,
                    data,
                    name,
                    origin="folder",
                    at=min(written, utcnow()),
                    timezone=timezone,
                )
            await quarantine(self.store, result.rejections)
        except SyncdError as err:  # the ledger away: the file stays, booked at a later scan
            self._retry_later(kind, name, str(err))
            return None
        await asyncio.to_thread(self._file_away, kind, folder, name, result)
        self.seen.pop((kind, name), None)
        self._announce(kind, result)
        return result

    def _read(self, folder: Path, name: str) -> tuple[bytes, os.stat_result]:
        with safefs.folder(folder, label="stock drop folder") as fd:
            return safefs.read_regular(name, MAX_FILE_BYTES, dir_fd=fd)

    def _retry_later(self, kind: str, name: str, error: str) -> None:
        seen = self.seen.get((kind, name))
        if seen is not None:
            seen.retry_at = time.monotonic() + self.retry_seconds
        log.warning("stock_file_not_booked", folder=kind, file=name, error=clean(error))

    def _announce(self, kind: str, result: FileBooking) -> None:
        name = result.file.source
        rows = [
            {"row": r.row, "column": r.column, "value": r.value, "reason": r.reason}
            for r in result.rejections
        ]
        for r in result.rejections:
            self.events.publish(
                "row_rejected", channel=STOCK_CHANNEL, source=r.source, row=r.row, reason=r.reason
            )
        booking = result.booking
        if booking is None:
            self.files_refused += 1
            log.warning("stock_file_refused", folder=kind, file=name, reason=result.error)
            self.events.publish(
                "stock_file_refused", folder=kind, file=name, reason=result.error, refused=rows
            )
            return
        self.files_booked += 1
        log.info(
            "stock_file_booked",
            folder=kind,
            file=name,
            doc_id=booking.doc_id,
            status=booking.status,
            lines=len(booking.lines),
            movements=booking.movements,
            refused=len(rows),
        )
        self.events.publish(
            "stock_file_booked",
            folder=kind,
            file=name,
            channel=STOCK_CHANNEL,
            doc_id=booking.doc_id,
            status=booking.status,
            lines=len(booking.lines),
            refused=rows,
        )
        if booking.status == "applied":  # the page's activity list and counters follow
            self.events.publish(
                "document_applied",
                channel=STOCK_CHANNEL,
                doc_id=booking.doc_id,
                movements=booking.movements,
                pending=[],
            )

    # -- moving aside -----------------------------------------------------------------------------

    def _file_away(self, kind: str, folder: Path, name: str, result: FileBooking) -> None:
        where = BOOKED if result.booking is not None else REFUSED
        self._move(kind, folder, name, where, report(kind, result, self._zone()))

    async def _refuse_unread(self, kind: str, folder: Path, name: str, reason: str) -> None:
        """A link, a pipe, a file too large: moved to refused/ unread, the reason beside it."""
        self.seen.pop((kind, name), None)
        self.files_refused += 1
        log.warning("stock_file_refused", folder=kind, file=name, reason=reason)
        self.events.publish("stock_file_refused", folder=kind, file=name, reason=reason)
        text = f"syncd: {_WHAT[kind]} {name}\nnot read: {reason}\n"
        await asyncio.to_thread(self._move, kind, folder, name, REFUSED, text)
        rejection = Rejection(STOCK_CHANNEL, clean(name), None, "", "", clean(reason))
        with contextlib.suppress(SyncdError):
            await quarantine(self.store, [rejection])

    def _move(self, kind: str, folder: Path, name: str, where: str, text: str) -> None:
        try:
            with (
                safefs.folder(folder, label=_LABEL[kind]) as source,
                safefs.folder(
                    folder / where, label=f"{_LABEL[kind]} {where}/", create=True
                ) as target,
            ):
                moved = safefs.move(source, name, target)
                safefs.write_atomic(target, f"{moved}.report.txt", clean(text).encode("utf-8"))
        except FileNotFoundError:
            return  # moved meanwhile (another daemon): booked once all the same
        except OSError as err:
            log.warning("stock_file_not_moved", folder=kind, file=name, error=str(err))

    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.settings.web.timezone)


def report(kind: str, result: FileBooking, zone: ZoneInfo) -> str:
    """The ``<name>.report.txt`` left beside a file moved aside: what was booked, every refused
    row with its row, column, value and reason, and the rows left out on purpose."""
    now = utcnow().astimezone(zone)
    lines = [f"syncd: {_WHAT[kind]} {result.file.source}, {now:%Y-%m-%d %H:%M} ({zone.key})"]
    booking = result.booking
    if booking is None:
        lines.append(f"nothing booked: {result.error}")
    else:
        state = {
            "applied": "booked",
            "unchanged": "already booked before: nothing changed",
        }.get(booking.status, booking.status)
        lines.append(f"{state}: document {STOCK_CHANNEL} {booking.doc_id}")
        if result.supplier or result.delivery_note:
            lines.append(f"supplier: {result.supplier or '-'}; note: {result.delivery_note or '-'}")
        if result.at is not None and kind == "count":
            lines.append(f"counted at {result.at.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key})")
        lines.append("")
        for sku, qty in sorted(booking.lines.items()):
            before, after = booking.before.get(sku, 0), booking.after.get(sku, "?")
            name = result.names.get(sku, "")
            lines.append(f"  {sku}\t{name}\t{qty}\ton hand {before} -> {after}")
    rows = [r for r in result.rejections if r.row is not None]
    if rows:
        lines += ["", f"refused rows ({len(rows)}):"]
        for r in rows:
            column = f", column {r.column!r}" if r.column else ""
            value = f", value {r.value!r}" if r.value else ""
            lines.append(f"  {r.source} row {r.row}{column}{value}: {r.reason}")
    if result.file.ignored:
        lines += ["", "rows left out:"]
        lines += [f"  row {row}: {why}" for row, why in result.file.ignored]
    return "\n".join(lines) + "\n"
