"""`syncd till parse FILE [--preset P] [--json]`: what a till file would apply, and every rejected
row, without touching a ledger (integrators check an export before going live)."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.connectors.csv_till.presets import PRESETS, columns_snippet
from syncd.domain import iso_utc


def till_options(config: str, channel: str | None) -> tuple[str, ParseOptions]:
    """The till channel's name and how it reads its files (layout, columns, time zone), from the
    config; raises ConfigError (exit 2) when the config has no such till."""
    from syncd.config import load_config
    from syncd.connectors.csv_till.settings import TillSettings
    from syncd.exceptions import ConfigError

    settings = load_config(config)
    tills = [c for c in settings.channels if isinstance(c.options, TillSettings)]
    named = [c for c in tills if c.name == channel] if channel else tills
    if not named:
        wanted = f"no till channel {channel!r}" if channel else "no till (csv_till) channel"
        raise ConfigError(f"{config}: {wanted}; tills: {', '.join(c.name for c in tills) or '-'}")
    if len(named) > 1:
        raise ConfigError(f"{config}: several tills; say which with --channel NAME")
    options = named[0].options
    assert isinstance(options, TillSettings)
    return named[0].name, options.parse


def parse_command(
    path: str,
    *,
    preset: str | None,
    as_json: bool,
    config: str | None = None,
    channel: str | None = None,
) -> int:
    if preset and preset != "auto" and preset not in PRESETS:
        print(
            f"error: unknown preset {preset!r}; one of: auto, {', '.join(sorted(PRESETS))}",
            file=sys.stderr,
        )
        return 2
    name, options = till_options(config, channel) if config else (channel or "till", ParseOptions())
    if preset:
        options = replace(options, preset=preset)
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        print(f"error: cannot read {path}: {err.strerror or err}", file=sys.stderr)
        return 2
    result = parse_bytes(data, Path(path).name, options, channel=name)
    report = {
        "file": path,
        "sha256": result.sha256,
        "preset": result.preset,
        "encoding": result.encoding,
        "delimiter": result.delimiter,
        "rows": result.rows,
        "skipped_cancelled": result.skipped,
        "unreadable": result.unreadable,
        "documents": [
            {
                "doc_id": d.doc_id,
                "reference": d.reference,
                "occurred_at": iso_utc(d.occurred_at),
                "lines": dict(d.lines),
            }
            for d in result.documents
        ],
        "rejected": [
            {
                "file": r.source,
                "row": r.row,
                "column": r.column,
                "value": r.value,
                "reason": r.reason,
            }
            for r in result.rejections
        ],
    }
    if as_json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        if result.no_layout:
            _explain_mapping(path, result.header, name, config)
        elif result.unreadable:
            print(f"{path}: cannot be used: {result.unreadable}", file=sys.stderr)
        else:
            zone = _zone(options.timezone)
            print(
                f"{path}: preset {result.preset}, {result.encoding}, delimiter {result.delimiter!r}; "
                f"{result.rows} rows → {len(result.documents)} receipts, "
                f"{len(result.rejections)} rejected, {result.skipped} cancelled; "
                f"times in {zone.key}",
            )
            for d in result.documents:
                lines = ", ".join(f"{sku} {qty:+d}" for sku, qty in d.lines.items())
                # the shop's clock, as the till printed it: never UTC unsaid
                at = d.occurred_at.astimezone(zone)
                print(f"  receipt {d.reference}  {at:%Y-%m-%d %H:%M} {zone.key}  sold: {lines}")
            for r in result.rejections:
                print(
                    f"  REJECTED {r.source} row {r.row} column {r.column!r} value {r.value!r}: {r.reason}"
                )
    return 2 if result.unreadable else 0


def _explain_mapping(path: str, header: list[str], channel: str, config: str | None) -> None:
    """No known layout: the file's columns, and the TOML that says which one is which."""
    say = [
        f"{path}: no known till export layout matches this file.",
        f"Its columns: {', '.join(repr(h) for h in header)}",
        "Say which column holds what: add this to the till's table in the config file "
        f"({config or 'syncd.toml'}), with the names checked against the columns above:",
        "",
        *(f"    {line}" for line in columns_snippet(header, channel).splitlines()),
        "",
        "Roles: sku (or barcode) and quantity are needed; receipt, date, time, name, type "
        "(refund rows), status (cancelled rows) help.",
        f"Then check it: syncd till parse {path} --config {config or 'syncd.toml'}",
        f"Known layouts (preset = …): {', '.join(sorted(PRESETS))}",
    ]
    print("\n".join(say), file=sys.stderr)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" (tzdata)
        return ZoneInfo("UTC")
