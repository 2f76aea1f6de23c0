"""Seeded generators, mutators and oracles for fuzzing every input door of syncd.

Shared by tests/reliability/test_fuzz_*.py (hypothesis chooses the seeds, few and fast) and
bench/fuzz.py (a seeded ``random.Random`` runs 100,000+ inputs). Every case is a pure function of
one integer seed, so a failure replays with ``python -m bench fuzz --target T --replay SEED``.

An oracle returns the problems it saw as ``(kind, detail)`` pairs, kind one of:
``crash`` (an exception other than the one the door promises), ``silent_drop`` (a row or order
present in the input that became neither a document nor a clear error), ``hang`` (too slow),
``secret_leak`` (a secret in an error text) and ``bad_status`` (a webhook answer out of contract).
"""

from __future__ import annotations

import asyncio
import copy
import csv
import io
import json
import math
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from aiohttp import web

from syncd.cli.run import ServedDaemon
from syncd.config import load_config, parse_config
from syncd.connectors.base import Batch, PushItem
from syncd.connectors.csv_till.parser import ParseOptions, parse_bytes
from syncd.connectors.csv_till.presets import PRESETS
from syncd.connectors.http import RetryPolicy
from syncd.connectors.magento.connector import MagentoConnector
from syncd.connectors.prestashop.client import parse_errors
from syncd.connectors.prestashop.connector import PrestaShopConnector
from syncd.domain import Document
from syncd.exceptions import ConfigError, ConnectorError
from syncd.testing import FakeConnector, registered
from syncd.testing import tillsamples as samples

CRASH = "crash"
SILENT_DROP = "silent_drop"
HANG = "hang"
SECRET_LEAK = "secret_leak"
BAD_STATUS = "bad_status"
KINDS = (CRASH, SILENT_DROP, HANG, SECRET_LEAK, BAD_STATUS)

# One input must be judged well within this (inputs are < 1 MB; a parser that takes longer is
# stuck on something quadratic or worse).
HANG_SECONDS = 5.0
T0 = datetime(2026, 7, 18, 10, 0, tzinfo=UTC)

Problem = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Finding:
    """One failed input: which door, what went wrong, and the seed that replays it."""

    target: str
    kind: str
    seed: int
    detail: str
    sample: str = ""

    def __str__(self) -> str:
        return f"{self.target} seed={self.seed} {self.kind}: {self.detail} input={self.sample}"


def crash(err: BaseException) -> Problem:
    return (CRASH, f"{type(err).__name__}: {str(err)[:300]}")


def short(value: object, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + f"…({len(text)} chars)"


# == byte- and value-level mutation ===============================================================

BYTE_TOKENS: tuple[bytes, ...] = (
    b"\x00",
    b"\xef\xbb\xbf",
    b"\r",
    b"\n",
    b"\r\n",
    b'"',
    b"'",
    b",",
    b";",
    b"\t",
    b"|",
    b"\xff",
    b"\xfe",
    b"\x80",
    b"\x81",
    b"\x8d",
    b"\xe9",
    "é".encode(),
    "€".encode(),
    "€".encode("cp1252"),
    b"\xc3",
    b"\xed\xa0\x80",  # a UTF-16 surrogate written as UTF-8: invalid
    b"\xc2\xa0",
    b"\\",
    b"{",
    b"}",
    b"[",
    b"]",
    b"<",
    b">",
    b"&",
    b"&amp;",
    b"&#0;",
    b"<![CDATA[",
    b"]]>",
    b"1e400",
    b"-1e400",
    str(10**30).encode(),
    b"9" * 400,
    b"-",
    b"NaN",
    b"Infinity",
    b"null",
    b"true",
    b"0",
    b"-0",
    b"1,5",
    b"1.000,50",
    b" ",
    b"\x1a",
)


def mutate_bytes(rng: random.Random, data: bytes, rounds: int = 0) -> bytes:
    """A few random edits: bit flips, inserted tokens, cut, duplicated or deleted spans."""
    buf = bytearray(data)
    for _ in range(rounds or rng.randint(1, 4)):
        pos = rng.randint(0, len(buf))
        op = rng.randrange(8)
        if op == 0 and buf:
            at = min(pos, len(buf) - 1)
            buf[at] ^= 1 << rng.randrange(8)
        elif op in (1, 2):
            buf[pos:pos] = rng.choice(BYTE_TOKENS)
        elif op == 3 and buf:
            del buf[pos : pos + rng.randint(1, 16)]
        elif op == 4 and buf:
            span = bytes(buf[pos : pos + rng.randint(1, 64)])
            buf[pos:pos] = span * rng.randint(1, 3)
        elif op == 5:
            del buf[pos:]
        elif op == 6:
            buf[pos:pos] = rng.randbytes(rng.randint(1, 8))
        elif op == 7 and buf:
            token = rng.choice(BYTE_TOKENS)
            buf[pos : pos + len(token)] = token
    return bytes(buf)


# Values that are the wrong type, out of range, or oddly encoded, for any field of a JSON answer.
JSON_VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1.5,
    -0.0,
    10**30,
    -(10**30),
    2**63,
    float("nan"),
    float("inf"),
    float("-inf"),
    "",
    " ",
    "0",
    "-3",
    "1.5",
    "1e400",
    "-1e400",
    "NaN",
    "inf",
    "9" * 5000,
    "abc",
    "\x00",
    "é€\ufffd",
    "\ud800",
    "x" * 3000,
    [],
    {},
    [1, 2],
    {"a": 1},
    [{"a": None}],
    "2026-07-18 10:02:00",
    "0000-00-00 00:00:00",
    "2026-02-30 10:00:00",
    "9999-12-31 23:59:59",
    "0001-01-01 00:00:00",
    "2026-07-18T10:02:00+02:00",
)


def _walk(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a node of a JSON value (the root is ``()``)."""
    out = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            out.extend(_walk(child, (*path, key)))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out.extend(_walk(child, (*path, i)))
    return out


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def mutate_json(rng: random.Random, value: Any, rounds: int = 0) -> Any:
    """The value with a few nodes replaced by wrong types, deleted, duplicated or re-keyed."""
    value = json.loads(json.dumps(value))  # a private deep copy
    for _ in range(rounds or rng.randint(1, 3)):
        paths = _walk(value)
        path = rng.choice(paths)
        if not path:
            if rng.random() < 0.3:
                value = rng.choice(
                    [[value], {"data": value}, copy.deepcopy(rng.choice(JSON_VALUES))]
                )
            continue
        parent = _get(value, path[:-1])
        key = path[-1]
        op = rng.randrange(6)
        if op <= 1:
            parent[key] = copy.deepcopy(rng.choice(JSON_VALUES))
        elif op == 2:
            del parent[key]
        elif op == 3 and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
        elif op == 3:
            parent[f"{key}_x"] = parent[key]
        elif op == 4:
            child = parent[key]
            parent[key] = [child] if not isinstance(child, list) else (child[:1] or {})
        else:
            parent[key] = str(parent[key]) if not isinstance(parent[key], str) else 0
    return value


def dump_json(rng: random.Random, value: Any) -> bytes:
    """Serialise, then sometimes break the text itself: cut, nested, huge, re-encoded."""
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5)
    data = text.encode("utf-8", errors="surrogatepass")
    roll = rng.random()
    if roll < 0.70:
        return data
    if roll < 0.78:
        return mutate_bytes(rng, data)
    if roll < 0.82:
        return data[: rng.randint(0, len(data))]
    if roll < 0.85:
        depth = rng.choice([100, 1000, 100_000])
        return b"[" * depth + b"]" * depth
    if roll < 0.87:
        return b'{"orders": [{"id": ' + b"1" * 5000 + b"}]}"
    if roll < 0.89:
        return b"\xef\xbb\xbf" + data
    if roll < 0.91:
        return text.encode("latin-1", errors="replace")
    if roll < 0.93:
        return b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    if roll < 0.95:
        return b""
    if roll < 0.97:
        return b"null"
    return rng.randbytes(rng.randint(1, 200))


def loads(body: bytes) -> Any:
    """What a body holds as JSON, or None when it is not JSON (for the oracles)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


# == CSV till exports =============================================================================

GENERIC_EN = (
    "sku,quantity,receipt,date,type,status,name\n"
    "SHIRT-0000-44,1,R-1,2026-07-18 10:02:00,sale,,Blue shirt\n"
    "CAP-1,2,R-1,2026-07-18 10:02:00,sale,,Cap\n"
    "CAP-1,1,R-2,2026-07-18 10:05:00,refund,,Cap\n"
    "MUG,1,R-3,2026-07-18 10:06:00,sale,voided,Mug\n"
)

CSV_SAMPLES: tuple[tuple[str, bytes], ...] = (
    ("square.csv", samples.SQUARE.encode()),
    ("loyverse.csv", samples.LOYVERSE.encode()),
    ("sumup.csv", samples.SUMUP.encode()),
    ("ventes.csv", samples.GENERIC_FR),
    ("generic.csv", GENERIC_EN.encode()),
)

CELL_TOKENS: tuple[str, ...] = (
    "",
    " ",
    "0",
    "-0",
    "1",
    "-1",
    "+1",
    "2.0",
    "1,5",
    "1.000",
    "1.000,00",
    "1,000",
    "(2)",
    "€3",
    "3 pcs",
    "1e400",
    "1E5",
    "-1e400",
    str(10**30),
    "9" * 50,
    "9" * 5000,
    "NaN",
    "Infinity",
    "-",
    "+",
    ".",
    ",",
    "١٢",
    "１２",
    "1_000",
    "0x10",
    "--1",
    "+-1",
    "1.5.5",
    " 7 ",
    "\u00a02",
    "SHIRT-0000-44",
    "Refund",
    "refund",
    "Cancelled",
    "annulé",
    "Rückerstattung",
    "\x00",
    "\ufffd",
    "é",
    '"',
    "a\nb",
    "a\rb",
    "a,b",
    "a;b",
    "\t",
    "x" * 300,
    "2026-07-18",
    "31/12/2025 14:05",
    "7/28/26 1:33 PM",
    "2026-02-30 25:61:00",
    "0000-00-00 00:00:00",
    "9999-12-31 23:59:59",
    "0001-01-01 00:00:00",
)

HEADER_NAMES = sorted({n for p in PRESETS.values() for names in p.columns.values() for n in names})
ENCODINGS = (
    None,
    "utf-8",
    "cp1252",
    "latin-1",
    "utf-16",
    "utf-7",
    "ascii",
    "idna",
    "punycode",
    "no-such-codec",
)


def _csv_rows(data: bytes) -> tuple[list[list[str]], str, str]:
    """A sample's rows, its delimiter and encoding (samples are well-formed)."""
    encoding = "utf-8"
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text, encoding = data.decode("cp1252"), "cp1252"
    delimiter = ";" if text.split("\n", 1)[0].count(";") > 1 else ","
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)), delimiter, encoding


def _mutate_table(rng: random.Random, rows: list[list[str]]) -> list[list[str]]:
    rows = [list(r) for r in rows]
    width = max((len(r) for r in rows), default=0)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(11)
        col = rng.randrange(width) if width else 0
        if op == 0 and width > 1:  # drop a column
            rows = [r[:col] + r[col + 1 :] for r in rows]
            width -= 1
        elif op == 1 and width:  # duplicate a column
            rows = [r[: col + 1] + r[col : col + 1] + r[col + 1 :] for r in rows]
            width += 1
        elif op == 2 and width > 1:  # swap two columns
            other = rng.randrange(width)
            for r in rows:
                if col < len(r) and other < len(r):
                    r[col], r[other] = r[other], r[col]
        elif op == 3 and rows and rows[0]:  # rename a header cell
            rows[0][rng.randrange(len(rows[0]))] = rng.choice(
                [*HEADER_NAMES, *CELL_TOKENS[:20], "Qty ", " qty", "QTY"]
            )
        elif op in (4, 5, 6) and len(rows) > 1:  # a bad cell
            r = rows[rng.randrange(1, len(rows))]
            if r:
                r[rng.randrange(len(r))] = rng.choice(CELL_TOKENS)
        elif op == 7 and len(rows) > 1:  # drop or duplicate a data row
            i = rng.randrange(1, len(rows))
            if rng.random() < 0.5:
                del rows[i]
            else:
                rows.insert(i, list(rows[i]))
        elif op == 8 and len(rows) > 1:  # a short row or a long one
            r = rows[rng.randrange(1, len(rows))]
            if rng.random() < 0.5:
                del r[rng.randrange(len(r) + 1) :]
            else:
                r.extend(rng.choice(CELL_TOKENS) for _ in range(rng.randint(1, 3)))
        elif op == 9:  # a blank line or a row of blanks
            rows.insert(rng.randint(1, len(rows)), [] if rng.random() < 0.5 else [""] * width)
        elif op == 10 and len(rows) > 2:  # shuffle the data rows
            body = rows[1:]
            rng.shuffle(body)
            rows = rows[:1] + body
    return rows


def _write_table(rng: random.Random, rows: list[list[str]], delimiter: str) -> str:
    terminator = rng.choice(["\r\n", "\n", "\n", "\r"])
    if rng.random() < 0.15:  # no quoting at all: embedded delimiters and quotes break rows
        return terminator.join(delimiter.join(r) for r in rows) + terminator
    out = io.StringIO(newline="")
    quoting = csv.QUOTE_ALL if rng.random() < 0.2 else csv.QUOTE_MINIMAL
    csv.writer(out, delimiter=delimiter, lineterminator=terminator, quoting=quoting).writerows(rows)
    return out.getvalue()


def _encode(rng: random.Random, text: str, encoding: str) -> bytes:
    choice = rng.random()
    if choice < 0.55:
        return text.encode(encoding, errors="replace")
    if choice < 0.70:
        return text.encode("utf-8", errors="surrogatepass")
    if choice < 0.80:
        return b"\xef\xbb\xbf" + text.encode("utf-8", errors="replace")
    if choice < 0.92:
        return text.encode("cp1252", errors="replace")
    if choice < 0.96:
        return text.encode("utf-16")
    return text.encode("latin-1", errors="replace")


def csv_options(rng: random.Random) -> ParseOptions:
    """Mostly the defaults (everything sniffed); sometimes what a config file may set."""
    if rng.random() < 0.6:
        return ParseOptions()
    columns: dict[str, str] = {}
    if rng.random() < 0.3:
        columns = {
            role: rng.choice([*HEADER_NAMES, "nope"])
            for role in rng.sample(["sku", "quantity", "receipt", "date", "barcode"], 2)
        }
    return ParseOptions(
        preset=rng.choice(["auto"] * 6 + [*sorted(PRESETS), "nope"]),
        delimiter=rng.choice([",", ";", "\t", "|"]) if rng.random() < 0.25 else None,
        encoding=rng.choice(ENCODINGS) if rng.random() < 0.25 else None,
        decimal_comma=rng.choice([None, True, False]),
        date_format=rng.choice([None, None, "%d/%m/%Y", "%Y-%m-%d %H:%M:%S", "%Q", "%"]),
        timezone=rng.choice(["Europe/Paris", "UTC", "America/New_York", "Nowhere/Else", "Europe"]),
        columns=columns,
    )


def csv_case(rng: random.Random) -> tuple[bytes, str, ParseOptions]:
    """A till export mutated from a real-format sample: (bytes, file name, options)."""
    name, sample = rng.choice(CSV_SAMPLES)
    roll = rng.random()
    if roll < 0.04:
        return rng.randbytes(rng.randint(0, 400)), name, csv_options(rng)
    if roll < 0.08:
        text = "".join(rng.choice('ab,;\t"\r\n 0123456789-.é\x00') for _ in range(200))
        return text.encode("utf-8"), name, csv_options(rng)
    rows, delimiter, encoding = _csv_rows(sample)
    if rng.random() < 0.85:
        rows = _mutate_table(rng, rows)
    if rng.random() < 0.1:
        delimiter = rng.choice([",", ";", "\t", "|"])
    if rng.random() < 0.05:  # many rows: the parser must stay linear
        rows = rows[:1] + rows[1:] * rng.randint(50, 400)
    data = _encode(rng, _write_table(rng, rows, delimiter), encoding)
    if rng.random() < 0.3:  # mostly below the header, so the rows themselves are reached
        cut = data.find(b"\n") + 1 if rng.random() < 0.7 else 0
        data = data[:cut] + mutate_bytes(rng, data[cut:])
    return data, name, csv_options(rng)


def check_csv(data: bytes, name: str, options: ParseOptions) -> list[Problem]:
    """parse_bytes never raises; every data row is applied, rejected or counted as skipped."""
    started = time.perf_counter()
    try:
        result = parse_bytes(data, name, options, channel="till", fallback_time=T0)
    except Exception as err:  # noqa: BLE001 - any escape is the finding
        return [crash(err)]
    problems: list[Problem] = []
    elapsed = time.perf_counter() - started
    if elapsed > HANG_SECONDS:
        problems.append((HANG, f"parse took {elapsed:.1f} s for {len(data)} bytes"))
    if result.unreadable:
        if result.documents:
            problems.append((SILENT_DROP, "unreadable file yet documents were produced"))
        return problems
    accounted = result.applied + len(result.rejections) + result.skipped
    if result.rows != accounted:
        problems.append(
            (
                SILENT_DROP,
                f"rows={result.rows} but applied={result.applied} + rejected="
                f"{len(result.rejections)} + skipped={result.skipped} = {accounted}",
            )
        )
    seen_rows: set[int] = set()
    for r in result.rejections:
        where = f"rejection {r!r}"
        if r.source != name or r.channel != "till":
            problems.append((SILENT_DROP, f"{where} does not name the file"))
        if not isinstance(r.row, int) or r.row < 2:
            problems.append((SILENT_DROP, f"{where} does not name a data row"))
        elif r.row in seen_rows:
            problems.append((SILENT_DROP, f"row {r.row} rejected twice"))
        else:
            seen_rows.add(r.row)
        if not r.reason or not (r.column or r.reason.startswith("broken CSV row")):
            problems.append((SILENT_DROP, f"{where} gives no column or reason"))
    lines = 0
    for doc in result.documents:
        lines += len(doc.lines)
        issues = doc.validate()
        if issues:
            problems.append(
                (SILENT_DROP, f"document {doc.doc_id!r} the ledger would refuse: {issues}")
            )
    if result.applied and not result.documents or lines > result.applied:
        problems.append(
            (SILENT_DROP, f"{result.applied} applied rows but {lines} lines in documents")
        )
    return problems


# == PrestaShop answers ===========================================================================

PS_KEY = "FUZZKEY0FUZZKEY0FUZZKEY0FUZZ0032"
PS_DEAD_STATES = {"PS_OS_CANCELED": "6", "PS_OS_ERROR": "8"}
PS_CONFIGURATIONS = {"configurations": [{"name": k, "value": v} for k, v in PS_DEAD_STATES.items()]}
PS_ERROR_XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<prestashop xmlns:xlink="http://www.w3.org/1999/xlink">\n'
    "<errors>\n<error>\n<code><![CDATA[{code}]]></code>\n"
    "<message><![CDATA[{message}]]></message>\n</error>\n</errors>\n</prestashop>\n"
)
XML_ATTACKS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;'
    b'&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'
    b'&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;'
    b'&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>'
    b"<prestashop><errors><error><code>1</code><message>&lol5;&lol5;&lol5;</message></error>"
    b"</errors></prestashop>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    b"<prestashop><errors><error><code>&xxe;</code></error></errors></prestashop>",
    b"<prestashop><errors>" + b"<error><code>1</code></error>" * 2000 + b"</errors></prestashop>",
    b"<a>" * 5000 + b"</a>" * 5000,
)


def ps_order(rng: random.Random, order_id: int) -> dict[str, Any]:
    rows = [
        {
            "id": order_id * 10 + i,
            "product_id": str(rng.randint(1, 40)),
            "product_attribute_id": str(rng.choice([0, 0, rng.randint(1, 99)])),
            "product_quantity": str(rng.randint(1, 4)),
            "product_name": rng.choice(["Blue shirt", "Cap « été »", "Mug"]),
            "product_reference": rng.choice(["SHIRT-BLUE-42", "CAP", "MUG", "", "SHIRT-BLUE-44"]),
            "product_ean13": rng.choice(["2000000000015", ""]),
        }
        for i in range(rng.randint(0, 3))
    ]
    return {
        "id": order_id,
        "reference": "XKBKNABJK",
        "id_shop": "1",
        "current_state": str(rng.choice([2, 3, 4, 5, 6, 8])),
        "valid": "1",
        "date_add": "2026-07-18 10:02:00",
        "date_upd": f"2026-07-18 10:{rng.randint(2, 59):02d}:00",
        "associations": {"order_rows": rows},
    }


def ps_order_details(rng: random.Random, orders: Sequence[Any]) -> dict[str, Any]:
    details = []
    for order in orders:
        if not isinstance(order, dict):
            continue
        rows = (order.get("associations") or {}).get("order_rows") or []
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and rng.random() < 0.3:
                details.append(
                    {
                        "id": row.get("id"),
                        "id_order": order.get("id"),
                        "product_id": row.get("product_id"),
                        "product_attribute_id": row.get("product_attribute_id"),
                        "product_quantity_reinjected": str(rng.randint(0, 2)),
                    }
                )
    return {"order_details": details}


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes
    content_type: str = "application/json"


@dataclass
class ShopServer:
    """A loopback HTTP server that answers each path prefix from a script (then a default).

    The shop's real answers are replaced by fuzzed bodies; our HttpClient, retry and parsing
    code runs unchanged against it.
    """

    script: dict[str, list[Answer]] = field(default_factory=dict)
    defaults: dict[str, Answer] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    def answer(self, prefix: str, *answers: Answer) -> None:
        self.script.setdefault(prefix, []).extend(answers)

    def reset(self) -> None:
        self.script.clear()
        self.requests.clear()

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        self.requests.append((request.method, path))
        await request.read()
        prefixes = sorted(
            (p for p in {*self.script, *self.defaults} if path.startswith(p)), key=len, reverse=True
        )
        for prefix in prefixes:
            queue = self.script.get(prefix)
            if queue:
                a = queue.pop(0)
                break
            if prefix in self.defaults:
                a = self.defaults[prefix]
                break
        else:
            a = Answer(404, b'{"message": "no route"}')
        return web.Response(status=a.status, body=a.body, content_type=a.content_type)


@asynccontextmanager
async def serve(server: ShopServer) -> AsyncIterator[ShopServer]:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    sockets: Any = getattr(site._server, "sockets", None)
    server.url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        await runner.cleanup()


FAST = RetryPolicy(attempts=1, max_seconds=5, base_delay=0.0, max_delay=0.0, timeout=5)
# One answer in ten is left valid: the connector must then accept it whole (an oracle that only
# counted "document or error" would pass a connector that refuses everything).
CLEAN_SHARE = 0.1


def fuzz_body(rng: random.Random, value: Any) -> tuple[bytes, bool]:
    """A fuzzed JSON answer, or (one time in ten) the valid one: (body, clean)."""
    if rng.random() < CLEAN_SHARE:
        return json.dumps(value).encode(), True
    return dump_json(rng, mutate_json(rng, value)), False


@dataclass
class Outcome:
    """What one call through a connector did with a (fuzzed) answer."""

    problems: list[Problem] = field(default_factory=list)
    failed: bool = False  # raised a ConnectorError: a clear error


async def guarded(call: Awaitable[Any], clean: bool, secret: str) -> tuple[Any, Outcome]:
    """Await ``call``: a ConnectorError is a clear error (unless the answer was valid, or it
    shows the secret); any other exception is a crash."""
    outcome = Outcome()
    try:
        return await call, outcome
    except ConnectorError as err:
        outcome.failed = True
        text = f"{err} {err!r} {getattr(err, 'code', '')}"
        if secret in text:
            outcome.problems.append((SECRET_LEAK, f"{type(err).__name__} shows a secret"))
        if clean:
            outcome.problems.append((SILENT_DROP, f"a valid answer was refused: {err}"))
    except Exception as err:  # noqa: BLE001 - any other escape is the finding
        outcome.failed = True
        outcome.problems.append(crash(err))
    return None, outcome


async def collect(connector: PrestaShopConnector | MagentoConnector) -> list[Batch]:
    """Every batch of one pull."""
    return [batch async for batch in connector.pull({})]


async def count_levels(connector: PrestaShopConnector | MagentoConnector) -> int:
    return sum([len(page) async for page in connector.read_levels()])


def pull_problems(
    batches: list[Batch] | None,
    outcome: Outcome,
    orders: Any,
    clean: bool,
    expected_lines: Callable[[Mapping[str, Any]], list[str]],
) -> list[Problem]:
    problems = list(outcome.problems)
    if batches is None:
        return problems
    documents = [d for b in batches for d in b.documents]
    rejections = [r for b in batches for r in b.rejections]
    for r in rejections:
        if not r.reason or not r.source:
            problems.append((SILENT_DROP, f"rejection without source or reason: {r!r}"))
    if clean and rejections:
        problems.append((SILENT_DROP, f"a valid order was rejected: {rejections[0].reason}"))
    return problems + order_problems(orders, documents, len(rejections), expected_lines)


class PrestaShopHarness:
    """Fuzzed PrestaShop answers through the real connector: pull, push, read_levels, errors."""

    TARGETS = (
        "prestashop.orders",
        "prestashop.order_details",
        "prestashop.configurations",
        "prestashop.push",
        "prestashop.read_levels",
        "prestashop.error_status",
    )

    def __init__(self, server: ShopServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        server.defaults.update(
            {
                "/api/configurations": Answer(200, json.dumps(PS_CONFIGURATIONS).encode()),
                "/api/": Answer(200, b"[]"),
            }
        )

    def connector(self) -> PrestaShopConnector:
        table = {
            "type": "prestashop",
            "url": self.server.url,
            "api_key": PS_KEY,
            "overlap_seconds": 0,
            "page_size": 1000,
            "version": "8",
        }
        settings = parse_config({"channels": {"webshop": table}}, file="fuzz.toml")
        connector = PrestaShopConnector(
            "webshop", settings.channel("webshop").options, session=self.session
        )
        connector.client.policy = FAST
        return connector

    async def run(self, target: str, rng: random.Random) -> tuple[list[Problem], str]:
        self.server.reset()
        method = getattr(self, "_" + target.split(".", 1)[1])
        problems, sample = await method(rng)
        return problems, sample

    # -- orders: every order in the answer becomes a document or a rejection -------------------

    async def _pull(self, orders_body: bytes, details_body: bytes, clean: bool) -> list[Problem]:
        self.server.answer("/api/orders", Answer(200, orders_body))
        self.server.answer("/api/order_details", Answer(200, details_body))
        batches, outcome = await guarded(collect(self.connector()), clean, PS_KEY)
        data = loads(orders_body)
        orders = data.get("orders") if isinstance(data, dict) else None
        return pull_problems(batches, outcome, orders, clean, ps_expected_lines)

    async def _orders(self, rng: random.Random) -> tuple[list[Problem], str]:
        orders = [ps_order(rng, 100 + i) for i in range(rng.randint(1, 6))]
        body, clean = fuzz_body(rng, {"orders": orders})
        details = json.dumps(ps_order_details(rng, orders)).encode()
        return await self._pull(body, details, clean), short(body)

    async def _order_details(self, rng: random.Random) -> tuple[list[Problem], str]:
        orders = [ps_order(rng, 100 + i) for i in range(rng.randint(1, 4))]
        details, clean = fuzz_body(rng, ps_order_details(rng, orders))
        orders_body = json.dumps({"orders": orders}).encode()
        return await self._pull(orders_body, details, clean), short(details)

    async def _configurations(self, rng: random.Random) -> tuple[list[Problem], str]:
        body, clean = fuzz_body(rng, PS_CONFIGURATIONS)
        self.server.answer("/api/configurations", Answer(200, body))
        _, outcome = await guarded(self.connector().check(), clean, PS_KEY)
        return outcome.problems, short(body)

    # -- push: one result per item, or a ConnectorError ----------------------------------------

    async def _push(self, rng: random.Random) -> tuple[list[Problem], str]:
        answers = {
            "/api/combinations": {"combinations": [{"id": "7", "id_product": "3"}]},
            "/api/stock_availables/": {
                "stock_available": {
                    "id": "12",
                    "id_product": "3",
                    "id_product_attribute": "7",
                    "quantity": "5",
                    "depends_on_stock": "0",
                }
            },
            "/api/stock_availables": {
                "stock_availables": [
                    {"id": "11", "id_product_attribute": "0"},
                    {"id": "12", "id_product_attribute": "7"},
                ]
            },
            "/api/products": {"products": [{"id": "3"}]},
        }
        fuzzed = rng.choice(sorted(answers))
        body, clean = fuzz_body(rng, answers[fuzzed])
        for prefix, value in answers.items():
            data = body if prefix == fuzzed else json.dumps(value).encode()
            self.server.answer(prefix, Answer(200, data))
        if rng.random() < 0.2:
            self.server.answer("/api/combinations", Answer(200, b'{"combinations": []}'))
        items = [PushItem("SHIRT-BLUE-42", rng.choice([0, 3, 10**6]), rng.choice([None, 5, 9]))]
        results, outcome = await guarded(self.connector().push(items), clean, PS_KEY)
        if results is not None and len(results) != len(items):
            outcome.problems.append(
                (SILENT_DROP, f"{len(items)} items pushed, {len(results)} results")
            )
        return outcome.problems, short(body)

    # -- read_levels: every stock row is a level (or the SUM row of a product with combinations)

    async def _read_levels(self, rng: random.Random) -> tuple[list[Problem], str]:
        products = {"products": [{"id": "3", "reference": "SHIRT", "ean13": "", "name": "S"}]}
        combos = {"combinations": [{"id": "7", "id_product": "3", "reference": "S-42"}]}
        stock = {
            "stock_availables": [
                {"id": "11", "id_product": "3", "id_product_attribute": "0", "quantity": "4"},
                {"id": "12", "id_product": "3", "id_product_attribute": "7", "quantity": "4"},
                {"id": "13", "id_product": "5", "id_product_attribute": "0", "quantity": "-2"},
            ]
        }
        values = (products, combos, stock)
        which = rng.randrange(3)
        bodies = [json.dumps(v).encode() for v in values]
        bodies[which], clean = fuzz_body(rng, values[which])
        prefixes = ("/api/products", "/api/combinations", "/api/stock_availables")
        for prefix, body in zip(prefixes, bodies, strict=True):
            self.server.answer(prefix, Answer(200, body))
        levels, outcome = await guarded(count_levels(self.connector()), clean, PS_KEY)
        if levels is None:
            return outcome.problems, short(bodies[which])
        combos_of = {
            str(c.get("id_product")).strip()
            for c in _rows_of(loads(bodies[1]), "combinations")
            if isinstance(c, dict)
        }
        expected = [
            r
            for r in _rows_of(loads(bodies[2]), "stock_availables")
            if isinstance(r, dict)
            and not (
                str(r.get("id_product_attribute") or "0").strip() in ("0", "")
                and str(r.get("id_product")).strip() in combos_of
            )
        ]
        if levels != len(expected):
            outcome.problems.append(
                (SILENT_DROP, f"{len(expected)} stock rows (SUM rows aside) gave {levels} levels")
            )
        return outcome.problems, short(bodies[which])

    # -- error answers: always a ConnectorError, never the key ---------------------------------

    async def _error_status(self, rng: random.Random) -> tuple[list[Problem], str]:
        body = ps_error_body(rng)
        status = rng.choice([400, 401, 403, 404, 405, 500, 503, 429, 301])
        self.server.answer("/api/stock_availables/", Answer(status, body, "text/xml"))
        client = self.connector().client
        _, outcome = await guarded(client.get_json("stock_availables/12"), False, PS_KEY)
        if not outcome.failed:
            outcome.problems.append((SILENT_DROP, f"HTTP {status} was taken as an answer"))
        return outcome.problems, short(body)


def _rows_of(data: Any, key: str) -> list[Any]:
    rows = data.get(key) if isinstance(data, dict) else None
    return rows if isinstance(rows, list) else []


def ps_error_body(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.1:
        return rng.choice(XML_ATTACKS)
    if roll < 0.4:
        value = {"errors": [{"code": rng.choice([17, 27, 87, 133]), "message": "Bad thing"}]}
        return dump_json(rng, mutate_json(rng, value))
    code = rng.choice(["17", "27", "87", "133", "", "x" * 100])
    message = rng.choice(["Authentication key is empty", "é€", "]]>", "<b>", "\x01"])
    text = PS_ERROR_XML.replace("{code}", code).replace("{message}", message)
    return mutate_bytes(rng, text.encode()) if rng.random() < 0.7 else text.encode()


def check_ps_error_body(body: bytes) -> list[Problem]:
    """parse_errors never raises and always gives (code, message) strings."""
    started = time.perf_counter()
    try:
        pairs = parse_errors(body)
    except Exception as err:  # noqa: BLE001
        return [crash(err)]
    problems: list[Problem] = []
    if time.perf_counter() - started > HANG_SECONDS:
        problems.append((HANG, "parse_errors took too long"))
    if not all(isinstance(c, str) and isinstance(m, str) for c, m in pairs):
        problems.append((CRASH, f"parse_errors gave non-strings: {pairs[:3]!r}"))
    return problems


def ps_expected_lines(order: Mapping[str, Any]) -> list[str]:
    """The SKUs an order's rows must show up under (reference-keyed connector). The fuzz shop
    has no catalogue: a combination's row is kept under its ids (its product_reference may be
    its product's), a product's under its reference."""
    out = []
    rows = (order.get("associations") or {}).get("order_rows") or []
    for row in rows:
        try:
            pid = int(str(row.get("product_id") or "0").strip() or "0")
            attr = int(str(row.get("product_attribute_id") or "0").strip() or "0")
        except ValueError:
            continue  # the connector rejects the order: counted by the caller
        if attr:
            out.append(f"prestashop:{pid}:{attr}")
            continue
        sku = str(row.get("product_reference") or "").strip()
        if sku:
            out.append(sku)
    return out


def order_problems(
    orders: Any,
    documents: Sequence[Document],
    rejected: int,
    expected_lines: Callable[[Mapping[str, Any]], list[str]],
) -> list[Problem]:
    """Every order of the answer is a valid document or a rejection; its SKUs are in its lines."""
    problems: list[Problem] = []
    for doc in documents:
        issues = doc.validate()
        if issues:
            problems.append(
                (SILENT_DROP, f"document {doc.doc_id!r} the ledger would refuse: {issues}")
            )
    if not isinstance(orders, list) or not orders:
        return problems
    if len(documents) + rejected != len(orders):
        problems.append(
            (
                SILENT_DROP,
                f"{len(orders)} orders in the answer, {len(documents)} documents + {rejected} "
                "rejections",
            )
        )
        return problems
    by_id = {d.doc_id: d for d in documents}
    # An id listed twice in one answer: the later listing is the document's content (the
    # ledger keeps one version per id), so the earlier one's lines are not expected.
    last = {str(o.get("id", o.get("entity_id", ""))): o for o in orders if isinstance(o, dict)}
    listed = Counter(
        str(o.get("id", o.get("entity_id", ""))) for o in orders if isinstance(o, dict)
    )
    made = Counter(d.doc_id for d in documents)
    for order in orders:
        if not isinstance(order, dict):
            continue
        order_id = str(order.get("id", order.get("entity_id", "")))
        if last.get(order_id) is not order:
            continue
        if made[order_id] < listed[order_id]:
            # One of its listings was rejected (counted above); the document kept may come
            # from another listing: which one cannot be told (seed 13, index 2078).
            continue
        doc = by_id.get(order_id)
        if doc is None:
            continue  # rejected
        try:
            wanted = expected_lines(order)
        except (AttributeError, TypeError):
            continue  # the connector accepted a shape the oracle does not read: counted above
        missing = [s for s in wanted if s not in doc.lines]
        if missing:
            problems.append((SILENT_DROP, f"order {doc.doc_id!r}: lines {missing} vanished"))
    return problems


# == Magento answers ==============================================================================

MG_TOKEN = "fuzz-magento-token-0123456789abcdef"


def mg_order(rng: random.Random, entity_id: int) -> dict[str, Any]:
    items: list[dict[str, Any]] = []
    for i in range(rng.randint(0, 3)):
        item_id = entity_id * 10 + i
        if rng.random() < 0.3:  # a configurable parent and its simple child
            items.append(
                {
                    "item_id": item_id,
                    "sku": "SHIRT-BLUE",
                    "product_type": "configurable",
                    "qty_ordered": 1,
                    "qty_canceled": 0,
                    "qty_refunded": 0,
                }
            )
            items.append(
                {
                    "item_id": item_id + 5,
                    "parent_item_id": item_id,
                    "sku": "SHIRT-BLUE-42",
                    "product_type": "simple",
                    "qty_ordered": 1,
                    "qty_canceled": 0,
                    "qty_refunded": rng.choice([0, 1]),
                    "name": "Blue shirt 42",
                }
            )
        else:
            items.append(
                {
                    "item_id": item_id,
                    "sku": rng.choice(["CAP", "MUG", "SHIRT-BLUE-44"]),
                    "product_type": rng.choice(["simple", "virtual"]),
                    "qty_ordered": rng.choice([1, 2.0, "3.0000"]),
                    "qty_canceled": 0,
                    "qty_refunded": 0,
                    "name": "Cap",
                }
            )
    return {
        "entity_id": entity_id,
        "increment_id": f"0000000{entity_id}",
        "state": rng.choice(["new", "processing", "complete", "canceled"]),
        "status": "pending",
        "created_at": "2026-07-18 08:02:00",
        "updated_at": f"2026-07-18 08:{rng.randint(2, 59):02d}:00",
        "items": items,
    }


def mg_expected_lines(order: Mapping[str, Any]) -> list[str]:
    """SKUs of an order's simple items that are not parents (the default settings)."""
    items = order.get("items") or []
    parents = {i.get("parent_item_id") for i in items if i.get("parent_item_id")}
    out = []
    for item in items:
        kind = str(item.get("product_type", "simple"))
        if item.get("item_id") in parents or kind not in ("simple", "virtual", "downloadable"):
            continue
        sku = str(item.get("sku") or "").strip()
        if sku:
            out.append(sku)
    return out


class MagentoHarness:
    """Fuzzed Magento answers through the real connector: orders, push (MSI, legacy), levels."""

    TARGETS = (
        "magento.orders",
        "magento.push_msi",
        "magento.push_legacy",
        "magento.read_levels",
        "magento.check",
    )
    SALABLE = "/rest/default/V1/inventory/get-product-salable-quantity/"

    def __init__(self, server: ShopServer, session: aiohttp.ClientSession) -> None:
        self.server = server
        self.session = session
        server.defaults.update(
            {
                "/rest/default/V1/orders": Answer(200, b'{"items": [], "total_count": 0}'),
                "/rest/default/V1/inventory/source-items": Answer(200, b'{"items": []}'),
                self.SALABLE: Answer(200, b"3"),
                # check() finds the configured stock and its link to the source
                "/rest/default/V1/inventory/stocks": Answer(
                    200, b'{"items": [{"stock_id": 1, "name": "Default Stock"}]}'
                ),
                "/rest/default/V1/inventory/stock-source-links": Answer(
                    200, b'{"items": [{"stock_id": 1, "source_code": "default", "priority": 1}]}'
                ),
                "/rest/default/V1/": Answer(200, b"null"),
            }
        )

    def connector(self, mode: str = "msi") -> MagentoConnector:
        table = {
            "type": "magento",
            "url": self.server.url,
            "access_token": MG_TOKEN,
            "mode": mode,
            "overlap_seconds": 0,
            "page_size": 300,
        }
        settings = parse_config({"channels": {"mage": table}}, file="fuzz.toml")
        connector = MagentoConnector("mage", settings.channel("mage").options, session=self.session)
        connector.client.policy = FAST
        return connector

    async def run(self, target: str, rng: random.Random) -> tuple[list[Problem], str]:
        self.server.reset()
        method = getattr(self, "_" + target.split(".", 1)[1])
        problems, sample = await method(rng)
        return problems, sample

    async def _orders(self, rng: random.Random) -> tuple[list[Problem], str]:
        orders = [mg_order(rng, 1000 + i) for i in range(rng.randint(1, 6))]
        value = {"items": orders, "total_count": len(orders), "search_criteria": {}}
        body, clean = fuzz_body(rng, value)
        self.server.answer("/rest/default/V1/orders", Answer(200, body))
        batches, outcome = await guarded(collect(self.connector()), clean, MG_TOKEN)
        data = loads(body)
        items = data.get("items") if isinstance(data, dict) else None
        return pull_problems(batches, outcome, items, clean, mg_expected_lines), short(body)

    async def _push_msi(self, rng: random.Random) -> tuple[list[Problem], str]:
        source = {
            "items": [
                {"sku": "CAP", "source_code": "default", "quantity": 5, "status": 1},
                {"sku": "MUG", "source_code": "default", "quantity": 2.0, "status": 1},
            ],
            "total_count": 2,
        }
        if rng.random() < 0.5:
            body, clean = fuzz_body(rng, source)
            self.server.answer("/rest/default/V1/inventory/source-items", Answer(200, body))
        else:
            body, clean = fuzz_body(rng, rng.choice([5, 3, 0, "4"]))
            valid = json.dumps(source).encode()
            self.server.answer("/rest/default/V1/inventory/source-items", Answer(200, valid))
            self.server.answer(self.SALABLE, Answer(200, body), Answer(200, body))
        items = [PushItem("CAP", 4, rng.choice([None, 5])), PushItem("MUG", 0, None)]
        results, outcome = await guarded(self.connector().push(items), clean, MG_TOKEN)
        if results is not None and len(results) != len(items):
            outcome.problems.append((SILENT_DROP, f"{len(items)} items, {len(results)} results"))
        return outcome.problems, short(body)

    async def _push_legacy(self, rng: random.Random) -> tuple[list[Problem], str]:
        stock = {"item_id": 12, "product_id": 3, "qty": 5, "is_in_stock": True}
        body, clean = fuzz_body(rng, stock)
        self.server.answer("/rest/default/V1/stockItems/", Answer(200, body))
        items = [PushItem("CAP", rng.choice([0, 4]), rng.choice([None, 5]))]
        results, outcome = await guarded(self.connector("legacy").push(items), clean, MG_TOKEN)
        if results is not None and len(results) != len(items):
            outcome.problems.append((SILENT_DROP, f"{len(items)} items, {len(results)} results"))
        return outcome.problems, short(body)

    async def _check(self, rng: random.Random) -> tuple[list[Problem], str]:
        sources = {"items": [{"source_code": "default", "name": "Default", "enabled": True}]}
        body, clean = fuzz_body(rng, sources)
        self.server.answer("/rest/default/V1/inventory/sources", Answer(200, body))
        _, outcome = await guarded(self.connector().check(), clean, MG_TOKEN)
        return outcome.problems, short(body)

    async def _read_levels(self, rng: random.Random) -> tuple[list[Problem], str]:
        source = {
            "items": [
                {"sku": "CAP", "source_code": "default", "quantity": 5, "status": 1},
                {"sku": "MUG", "source_code": "default", "quantity": "2.0000", "status": 1},
            ],
            "total_count": 2,
        }
        body, clean = fuzz_body(rng, source)
        self.server.answer("/rest/default/V1/inventory/source-items", Answer(200, body))
        levels, outcome = await guarded(count_levels(self.connector()), clean, MG_TOKEN)
        rows = _rows_of(loads(body), "items")
        if levels is not None and levels != len(rows):
            outcome.problems.append((SILENT_DROP, f"{len(rows)} source items gave {levels} levels"))
        return outcome.problems, short(body)


# == configuration files ==========================================================================

SECRETS = {
    "api_key": "SECRET0SECRET0SECRET0SECRET0SE32",
    "password": "hunter2-Secret-Password",
    "access_token": "secret-access-token-value-9",
    "webhook_secret": "secret-webhook-value-77",
    "dsn": "postgresql://syncd:pw-Secret-55@db/syncd",
    "smtp_password": "smtp-Secret-Password-3",
}

BASE_CONFIG: dict[str, Any] = {
    "ledger": {"backend": "sqlite", "path": "var/ledger.sqlite3", "pool_size": 4},
    "log": {"level": "info", "format": "auto"},
    "sync": {"push_batch": 100, "grace_seconds": 10.0, "outbox_poll_seconds": 5.0},
    "web": {"enabled": True, "host": "127.0.0.1", "port": 8080, "timezone": "Europe/Paris"},
    "alerts": {
        "enabled": True,
        "to": ["shop@example.com"],
        "smtp_host": "localhost",
        "smtp_security": "starttls",
        "smtp_username": "shop@example.com",
        "smtp_password": SECRETS["smtp_password"],
        "digest_time": "08:00",
    },
    "reconcile": {"enabled": True, "interval_seconds": 3600},
    "stock": {"buffers": {"SHIRT-0000-44": 1}},
    "mapping": {"aliases": {"3601234567890": "SHIRT-0000-44"}},
    "channels": {
        "till": {
            "type": "csv_till",
            "drop_folder": "var/till/inbox",
            "preset": "auto",
            "stock_file": "var/till/stock.csv",
            "timezone": "Europe/Paris",
            "poll_seconds": 10.0,
        },
        "webshop": {
            "type": "prestashop",
            "url": "https://shop.example.com",
            "api_key": SECRETS["api_key"],
            "page_size": 100,
            "webhook_secret": SECRETS["webhook_secret"],
        },
        "mage": {
            "type": "magento",
            "url": "https://mage.example.com",
            "username": "admin",
            "password": SECRETS["password"],
            "mode": "msi",
        },
        "mage2": {"type": "magento", "url": "https://m2.example.com", "access_token": "x" * 8},
    },
}
BASE_CONFIG["channels"]["mage2"]["access_token"] = SECRETS["access_token"]

CONFIG_VALUES: tuple[Any, ...] = (
    "",
    " ",
    "x",
    "auto",
    "postgres",
    "sqlite",
    "~nobody-such-user/ledger.sqlite3",
    "a\x00b",
    "../../etc/passwd",
    "/",
    "Nowhere/Else",
    "Europe",
    "25:99",
    "http://",
    "ftp://x",
    "é€" * 20,
    "x" * 5000,
    0,
    -1,
    1,
    10**30,
    -(10**30),
    2**63,
    0.0,
    -0.5,
    1e300,
    float("inf"),
    float("-inf"),
    float("nan"),
    True,
    False,
    [],
    ["a", 1],
    [[]],
    {},
    {"x": 1},
    {"type": "csv_till"},
    datetime(2026, 7, 18, 10, 0, tzinfo=UTC),
)


def _typo(rng: random.Random, key: str) -> str:
    if not key:
        return "x"
    i = rng.randrange(len(key))
    return rng.choice([key[:i] + key[i + 1 :], key + "s", key.upper(), key + "_file", "x" + key])


def mutate_config(rng: random.Random, data: dict[str, Any], files: Mapping[str, str]) -> Any:
    """Wrong types, out-of-range numbers, unknown and misspelt keys, bad secret files.

    Values never move between keys, so a secret appears only under a secret key (or a
    misspelling of one): an error text that shows it leaked it.
    """
    value = json.loads(json.dumps(data))
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _walk(value) if p]
        if not paths:
            break
        path = rng.choice(paths)
        parent = _get(value, path[:-1])
        key = path[-1]
        op = rng.randrange(9)
        if op <= 2:
            parent[key] = copy.deepcopy(rng.choice(CONFIG_VALUES))
        elif op == 3:
            del parent[key]
        elif op == 4 and isinstance(key, str):
            parent[_typo(rng, key)] = parent.pop(key)
        elif op == 5 and isinstance(parent, dict):
            name = rng.choice(["unknown", "Type", "api-key", "channels", ""])
            parent[name] = copy.deepcopy(rng.choice(CONFIG_VALUES))
        elif op == 6 and isinstance(key, str) and isinstance(parent, dict):
            secret_key = rng.choice(
                ["api_key", "password", "access_token", "webhook_secret", "dsn", "smtp_password"]
            )
            if secret_key in parent or rng.random() < 0.3:
                parent[f"{secret_key}_file"] = rng.choice(sorted(files.values()))
        elif op == 7 and isinstance(value.get("ledger"), dict):
            value["ledger"]["backend"] = "postgres"
            value["ledger"]["dsn"] = SECRETS["dsn"]
        elif op == 8 and isinstance(value.get("channels"), dict):
            value["channels"][rng.choice(["bad name!", "ok", "é"])] = rng.choice(
                [{"type": "nope"}, {"type": "prestashop"}, [], "x", {"type": "magento"}]
            )
    return value


def config_files(folder: Path) -> dict[str, str]:
    """Credential files a config may name: fine, empty, binary, a folder, missing, odd paths."""
    folder.mkdir(parents=True, exist_ok=True)
    good = folder / "good.key"
    good.write_text(SECRETS["api_key"] + "\n")
    (folder / "empty.key").write_text("")
    (folder / "binary.key").write_bytes(b"\xff\xfe\x00secret\x80" + SECRETS["password"].encode())
    (folder / "adir").mkdir(exist_ok=True)
    return {
        "good": str(good),
        "empty": str(folder / "empty.key"),
        "binary": str(folder / "binary.key"),
        "dir": str(folder / "adir"),
        "missing": str(folder / "missing.key"),
        "relative": "good.key",
        "nul": "a\x00b.key",
        "home": "~nobody-such-user/x.key",
        "long": "x" * 5000,
    }


def render_toml(data: Mapping[str, Any]) -> str:
    """A small TOML writer (enough for config values; tomllib only reads)."""
    lines: list[str] = []

    def scalar(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, float):
            if math.isnan(value):
                return "nan"
            if math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return repr(value)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, str):
            return json.dumps(value)
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, Mapping):
            return "{" + ", ".join(f"{json.dumps(k)} = {scalar(v)}" for k, v in value.items()) + "}"
        raise TypeError(type(value))

    def table(prefix: str, value: Mapping[str, Any]) -> None:
        subtables = {k: v for k, v in value.items() if isinstance(v, Mapping) and v}
        if prefix:
            lines.append(f"[{prefix}]")
        for k, v in value.items():
            if k not in subtables:
                lines.append(f"{json.dumps(k)} = {scalar(v)}")
        for k, v in subtables.items():
            table(f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k), v)

    table("", data)
    return "\n".join(lines) + "\n"


EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "config.example.toml"


def config_data(rng: random.Random, files: Mapping[str, str]) -> Any:
    """A parsed config (for parse_config) mutated from a full, valid one."""
    base: Any = json.loads(json.dumps(BASE_CONFIG))
    if rng.random() < 0.3:  # a smaller config: fewer issues each, so each one is reached
        for name in rng.sample(sorted(base), rng.randint(1, 6)):
            if name != "channels":
                del base[name]
    return mutate_config(rng, base, files) if rng.random() < 0.95 else base


def config_text(rng: random.Random, files: Mapping[str, str]) -> bytes:
    """A config file's bytes (for load_config): rendered, then broken or re-encoded."""
    data = config_data(rng, files)
    try:
        text = render_toml(data)
    except TypeError:
        text = render_toml(BASE_CONFIG)
    if rng.random() < 0.2:  # the documented example, every key in it
        text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    raw = text.encode("utf-8", errors="surrogatepass")
    roll = rng.random()
    if roll < 0.5:
        raw = mutate_bytes(rng, raw)
    elif roll < 0.6:
        raw = text.encode("utf-16")
    elif roll < 0.7:
        raw = text.encode("cp1252", errors="replace") + b'\n[x]\nname = "caf\xe9"\n'
    elif roll < 0.75:
        raw = b"[" * 5000
    elif roll < 0.8:
        raw = rng.randbytes(200)
    return raw


def check_config(data: Any, raw: bytes | None, folder: Path) -> list[Problem]:
    """Only ConfigError escapes; every issue names the file and a key; no secret is shown."""
    file = str(folder / "syncd.toml")
    try:
        if raw is not None:
            Path(file).write_bytes(raw)
            settings = load_config(file)
        else:
            settings = parse_config(data, file=file)
    except ConfigError as err:
        problems: list[Problem] = []
        texts = [str(err), *(str(i) for i in err.issues)]
        if not err.issues:
            problems.append((SILENT_DROP, f"ConfigError without issues: {err}"))
        for issue in err.issues:
            if getattr(issue, "file", None) != file or not getattr(issue, "key", ""):
                problems.append((SILENT_DROP, f"issue does not name file and key: {issue!r}"))
        shown = "\n".join(texts)
        problems.extend(
            (SECRET_LEAK, f"the error shows the {name} value")
            for name, secret in SECRETS.items()
            if secret in shown
        )
        return problems
    except Exception as err:  # noqa: BLE001
        return [crash(err)]
    shown = repr(settings)
    return [
        (SECRET_LEAK, f"repr(settings) shows the {name} value")
        for name, secret in SECRETS.items()
        if secret in shown
    ]


# == webhooks =====================================================================================

WEBHOOK_SECRET = "wh-Fuzz-Secret-0123456789"
WEBHOOK_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class HookCase:
    path: str
    secret: bytes | None  # the X-Syncd-Secret header value, None: absent
    body: bytes
    content_type: str
    chunked: bool
    expected: int  # the status the contract asks for
    channel: str  # whose nudge counter must move (on 202 only)


def hook_case(rng: random.Random) -> HookCase:
    known = rng.random() < 0.8
    channel = (
        rng.choice(["shop", "shop", "open"])
        if known
        else rng.choice(["nope", "\x00", "é", "shop/x", "SHOP"])
    )
    kind = "fuzzhook" if rng.random() < 0.9 else rng.choice(["prestashop", "fake", "x"])
    secret_choice = rng.randrange(10)
    right = WEBHOOK_SECRET.encode()
    secret: bytes | None = [
        right,
        right,
        right,
        None,
        b"",
        b"wrong",
        b" " + right + b"\t",  # optional whitespace around a header value is not part of it
        right[:-1],
        right.upper(),
        rng.choice([b"\xff\xfe", "é".encode(), b"x" * 4000, right + b"\x80"]),
    ][secret_choice]
    size = rng.choice(
        [0, 1, 100, 4096, WEBHOOK_LIMIT - 1, WEBHOOK_LIMIT, WEBHOOK_LIMIT + 1, 200_000]
    )
    body = rng.randbytes(size) if rng.random() < 0.5 else (b'{"id_order": 1}' * size)[:size]
    content_type = rng.choice(
        ["application/json", "text/plain", "application/x-www-form-urlencoded"]
    )
    if (
        channel not in ("shop", "open")
        or kind != "fuzzhook"
        or channel == "open"
        or secret is None
        or secret.strip(b" \t") != right
    ):
        # One answer for an unknown channel and a wrong secret: no probing of channel names.
        # "open" has no webhook_secret: nobody may nudge it.
        expected = 401
    elif size > WEBHOOK_LIMIT:
        expected = 413
    else:
        expected = 202
    return HookCase(
        path=f"/hooks/{kind}/{quote(channel, safe='')}",
        secret=secret,
        body=body,
        content_type=content_type,
        chunked=rng.random() < 0.2,
        expected=expected,
        channel=channel,
    )


async def send_hook(port: int, case: HookCase) -> int:
    """One raw HTTP/1.1 request (header bytes as given, chunked or not); the answer's status."""
    head = [
        f"POST {case.path} HTTP/1.1".encode(),
        f"Host: 127.0.0.1:{port}".encode(),
        f"Content-Type: {case.content_type}".encode(),
        b"Connection: close",
    ]
    if case.secret is not None:
        head.append(b"X-Syncd-Secret: " + case.secret)
    if case.chunked:
        head.append(b"Transfer-Encoding: chunked")
        parts = [case.body[i : i + 8192] for i in range(0, len(case.body), 8192)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(case.body)}".encode())
        payload = case.body
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\r\n".join(head) + b"\r\n\r\n")
        try:
            writer.write(payload)
            await writer.drain()
        except ConnectionError:
            pass  # the server may answer 401/413 and close before reading it all
        status_line = await asyncio.wait_for(reader.readline(), HANG_SECONDS)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    parts = status_line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def check_hook(case: HookCase, status: int, nudged: Mapping[str, int]) -> list[Problem]:
    problems: list[Problem] = []
    if status != case.expected:
        problems.append(
            (BAD_STATUS, f"{case.path}: HTTP {status}, the contract says {case.expected}")
        )
    moved = {name: n for name, n in nudged.items() if n}
    if case.expected == 202 and status == 202:
        if moved != {case.channel: 1}:
            problems.append((SILENT_DROP, f"accepted, but nudges were {moved}"))
    elif moved:
        problems.append((BAD_STATUS, f"HTTP {status} yet the channel was nudged: {moved}"))
    return problems


class CountingConnector(FakeConnector):
    """A fake channel that counts nudges (webhook → pull requested), to prove no side effect."""

    type: ClassVar[str] = "fuzzhook"
    nudges: ClassVar[dict[str, int]] = {}

    def nudge(self) -> None:
        self.nudges[self.name] = self.nudges.get(self.name, 0) + 1
        super().nudge()


@asynccontextmanager
async def hook_daemon(folder: Path) -> AsyncIterator[ServedDaemon]:
    """A real daemon (SQLite ledger, web app on a free port) with two webhook channels:
    ``shop`` (has a webhook_secret) and ``open`` (has none: every nudge is refused). The
    counting type is registered for the block only, with nudge counts of its own."""
    with registered(CountingConnector):
        daemon = await _start_hook_daemon(folder)
        try:
            yield daemon
        finally:
            await daemon.stop()


async def _start_hook_daemon(folder: Path) -> ServedDaemon:
    settings = parse_config(
        {
            "ledger": {"backend": "sqlite", "path": str(folder / "ledger.sqlite3")},
            "sync": {"grace_seconds": 1, "outbox_poll_seconds": 60},
            "web": {"enabled": True, "port": 0},
            "alerts": {"enabled": False},
            "reconcile": {"enabled": False},
            "channels": {
                "shop": {
                    "type": "fuzzhook",
                    "poll_seconds": 600,
                    "webhook_secret": WEBHOOK_SECRET,
                    "webhook_min_seconds": 0,  # every accepted call nudges at once (no floor)
                },
                "open": {"type": "fuzzhook", "poll_seconds": 600},
            },
        },
        file=str(folder / "syncd.toml"),
    )
    daemon = ServedDaemon(settings)
    await daemon.start()
    return daemon


async def run_hook(daemon: ServedDaemon, case: HookCase) -> list[Problem]:
    counting = type(daemon.runners["shop"].connector)
    assert issubclass(counting, CountingConnector)
    nudges = counting.nudges
    before = dict(nudges)
    try:
        status = await send_hook(daemon.web_port, case)
    except (TimeoutError, OSError) as err:
        return [(HANG, f"{case.path}: no answer ({type(err).__name__})")]
    nudged = {name: nudges.get(name, 0) - before.get(name, 0) for name in nudges}
    return check_hook(case, status, nudged)
