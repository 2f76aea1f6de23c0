"""`syncd kits import FILE.csv | list`: kit definitions in the ledger (issue 17)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from syncd.config import Settings, load_config
from syncd.ledger import open_store
from syncd.stockin.kitfile import read_kit_file

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
MAX_FILE_BYTES = 20_000_000


def _read_bytes(path: Path) -> bytes | None:
    if path.stat().st_size > MAX_FILE_BYTES:
        return None
    return path.read_bytes()


def _err(text: str) -> None:
    print(text, file=sys.stderr)


async def import_command(settings: Settings, args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        data = await asyncio.to_thread(_read_bytes, path)
    except OSError as err:
        _err(f"error: cannot read {path}: {err.strerror or err}")
        return EXIT_USAGE
    if data is None:
        _err(f"error: {path} is too large for a kit file")
        return EXIT_USAGE
    parsed = read_kit_file(data)
    problems = [
        {"row": p.row, "column": p.column, "value": p.value, "reason": p.reason}
        for p in parsed.problems
    ]
    out: dict[str, Any] = {
        "file": str(path),
        "kits": {k: dict(sorted(v.items())) for k, v in sorted(parsed.kits.items())},
        "rejected": problems,
        "dry_run": bool(args.dry_run),
    }
    code = EXIT_OK
    if parsed.unreadable:
        out["error"] = parsed.unreadable
        code = EXIT_USAGE
    elif problems:
        # Half a kit's components would make a wrong kit: nothing is written while a row is bad.
        out["error"] = f"{len(problems)} row(s) refused; nothing was imported"
        code = EXIT_USAGE
    elif not parsed.kits:
        out["error"] = "the file defines no kit"
        code = EXIT_USAGE
    elif not args.dry_run:
        store = await open_store(settings.ledger)
        try:
            await store.set_kits(parsed.kits, source="file")
        except ValueError as err:
            out["error"] = str(err)
            code = EXIT_USAGE
        finally:
            await store.close()
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
    else:
        for p in problems:
            _err(f"{path}: row {p['row']}, column {p['column']!r}: {p['value']!r}: {p['reason']}")
        if "error" in out:
            _err(f"error: {out['error']}")
        else:
            verb = "would define" if args.dry_run else "defined"
            _err(f"{path}: {verb} {len(parsed.kits)} kit(s)")
            for kit, parts in out["kits"].items():
                _err(f"  {kit} = " + ", ".join(f"{q} × {c}" for c, q in parts.items()))
    return code


async def list_command(settings: Settings, args: argparse.Namespace) -> int:
    store = await open_store(settings.ledger)
    try:
        kits = await store.kit_definitions()
    finally:
        await store.close()
    if args.json:
        rows = [
            {
                "kit": k.sku,
                "components": dict(k.components),
                "source": k.source,
                "derived_by": list(k.derived_by),
            }
            for k in kits
        ]
        print(json.dumps({"kits": rows}, ensure_ascii=False))
    else:
        for k in kits:
            parts = ", ".join(f"{q} × {c}" for c, q in k.components.items())
            print(f"{k.sku}: {parts} ({k.source})")
    return EXIT_OK


def _run(args: argparse.Namespace, command: Any) -> int:
    from syncd.logs import configure_logging

    settings = load_config(args.config)
    configure_logging("warning", settings.log.format)
    code: int = asyncio.run(command(settings, args))
    return code


def add_commands(sub: Any) -> None:
    """`syncd kits import | list` on the `syncd` parser's subparsers."""
    text = "kits and packs: SKUs made of components"
    kits = sub.add_parser("kits", help=text, description=text)
    inner = kits.add_subparsers(dest="kits_command", required=True)
    text = "define kits from a CSV file (kit;component;quantity, one row per component)"
    p = inner.add_parser("import", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, import_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--dry-run", action="store_true", help="show the kits; define nothing")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    text = "list the kits the ledger knows"
    p = inner.add_parser("list", help=text, description=text)
    p.set_defaults(func=lambda a: _run(a, list_command))
    p.add_argument("--config", required=True, metavar="FILE")
    p.add_argument("--json", action="store_true")
