"""`syncd till parse FILE [--preset P] [--json]`: what a till file would apply, and every rejected
row, without touching a ledger (integrators check an export before going live)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.connectors.csv_till.presets import PRESETS


def parse_command(path: str, *, preset: str | None, as_json: bool) -> int:
    if preset and preset != "auto" and preset not in PRESETS:
        print(
            f"error: unknown preset {preset!r}; one of: auto, {', '.join(sorted(PRESETS))}",
            file=sys.stderr,
        )
        return 2
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        print(f"error: cannot read {path}: {err.strerror or err}", file=sys.stderr)
        return 2
    result = parse_bytes(data, Path(path).name, ParseOptions(preset=preset or "auto"))
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
                "occurred_at": d.occurred_at.isoformat(),
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
        if result.unreadable:
            print(f"{path}: cannot be used: {result.unreadable}", file=sys.stderr)
        else:
            print(
                f"{path}: preset {result.preset}, {result.encoding}, delimiter {result.delimiter!r}; "
                f"{result.rows} rows → {len(result.documents)} receipts, "
                f"{len(result.rejections)} rejected, {result.skipped} cancelled",
            )
            for d in result.documents:
                lines = ", ".join(f"{sku} {qty:+d}" for sku, qty in d.lines.items())
                print(f"  receipt {d.reference}  {d.occurred_at:%Y-%m-%d %H:%M}  sold: {lines}")
            for r in result.rejections:
                print(
                    f"  REJECTED {r.source} row {r.row} column {r.column!r} value {r.value!r}: {r.reason}"
                )
    return 2 if result.unreadable else 0
