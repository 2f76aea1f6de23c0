"""The till's settings (parsed by ``CsvTillConnector.parse_settings``) and which files it reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from syncd.connectors.csv_till.parser import ParseOptions

_IGNORED_PREFIXES = (".", "~")
_IGNORED_SUFFIXES = (".tmp", ".part", ".partial", ".crdownload", ".swp")
# A busy till's day is well under 1 MB. Applying a file costs ~20 MB of memory per MB (one
# receipt per row, the worst case: 11 MB / 100,000 rows peak at 281 MB, 20 MB at 455 MB, from
# `python -m bench tillmemory`), so 20 MB stays under the unit's MemoryHigh=512M.
DEFAULT_MAX_FILE_MB = 20.0


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
    max_file_bytes: int = int(DEFAULT_MAX_FILE_MB * 1_000_000)  # larger files: quarantined unread

    def is_journal(self, path: Path) -> bool:
        return any(path.match(p) for p in self.journal_files)

    def is_export(self, path: Path) -> bool:
        """Named like an export file of this till (a pattern; no journal, hidden or temp file)."""
        name = path.name
        if name.startswith(_IGNORED_PREFIXES) or name.endswith(_IGNORED_SUFFIXES):
            return False
        return not self.is_journal(path) and any(path.match(p) for p in self.patterns)
