"""A stand-in for `syncd receive --config F NOTE.csv --note-number N`, for `bench latency` until
that command is on main: another process books the delivery note's lines through
:func:`syncd.stockin.booking.book_receipt`, as the command does. It reads only the bench's own
notes (a ``sku;quantity`` header, then one row per SKU); the real command reads suppliers' notes.

Run as ``python bench/receive.py --config F NOTE.csv --note-number N`` (from any folder).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
from pathlib import Path

from syncd.config import load_config
from syncd.ledger import open_store
from syncd.stockin.booking import Line, book_receipt


async def receive(config: Path, note: Path, number: str) -> int:
    with open(note, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    lines = [
        Line(row["sku"], int(row["quantity"]), where=f"{note.name} row {n}")
        for n, row in enumerate(rows, start=2)
    ]
    store = await open_store(load_config(config).ledger, migrate=False)
    try:
        booking = await book_receipt(
            store, lines, origin="command", delivery_note=number, source=note.name
        )
    finally:
        await store.close()
    print(booking.doc_id)
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/receive.py", description=__doc__)
    parser.add_argument("--config", required=True, type=Path)
    parser.add_argument("file", type=Path)
    parser.add_argument("--note-number", required=True)
    args = parser.parse_args(argv)
    return asyncio.run(receive(args.config, args.file, args.note_number))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
