"""Ledger throughput: single-line documents from 8 concurrent producers, on both stores.

Two runs per store: each producer applies one document per call and waits for it (closed loop,
the strictest), then each applies --batch documents per call (a till file's receipts).

Reports documents/s and p50/p99 apply latency per store, pgbench's built-in simple-update tps on
the same PostgreSQL for comparison, and the time to read the levels of 100,000 SKUs. The
PostgreSQL closed loop and pgbench run in ``--rounds`` pairs, the order alternated, each from a
settled server (page cache written out, a CHECKPOINT): one pair gave ratios from 0.67 to 1.03 on
the same code, by what the previous run left to flush (``ratio_to_pgbench``: the median).

``--locations N`` (issue 17): both runs again on fresh ledgers with N locations, every document
at one of them (producer n sells at location n mod N) and the web shop selling from all N, so
each document also moves a location's figure and each channel's figure is a sum over locations;
the same two channels and documents as with one location, run alternately with it for
``--rounds`` rounds (``*_one_location``, ``*_locations``; ``locations_ratio``: the median of
documents/s with N locations ÷ the median with one).

``--kits F`` (issue 17): the same runs without kits and with a fraction F of the SKUs kits, on
fresh ledgers; with ``--locations N`` as well, the second run also has N locations
(``ratio``: its documents/s ÷ the first's, medians over ``--rounds``).

``sqlite_waiting``: the closed-loop run again while a pusher per channel waits on the outbox, as
in the daemon; on SQLite that starts the watcher of other processes' commits (``PRAGMA
data_version`` every 50 ms), whose cost under load it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from syncd.domain import Document, DocumentKind
from syncd.ledger import ChannelInfo
from syncd.ledger.locations import LocationInfo
from syncd.ledger.postgres import PostgresStore
from syncd.ledger.sqlite import SqliteStore
from syncd.ledger.sqlstore import SqlStore
from syncd.logs import configure_logging

T0 = datetime(2026, 11, 23, tzinfo=UTC)
# Several benchmarks may share one PostgreSQL: SYNCD_BENCH_DB names this run's database.
BENCH_DB = os.environ.get("SYNCD_BENCH_DB", "syncd_bench")


def _log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def kit_catalogue(skus: int, fraction: float) -> tuple[list[str], dict[str, dict[str, int]]]:
    """``skus`` SKUs of which ``fraction`` are kits: (the SKUs sold, kit → component → units).

    Each kit holds two or three of the stocked SKUs (one or two units each), spread over them, so
    every component is held by a few kits, as gift boxes share their mugs and teas.
    """
    kits_count = round(skus * fraction)
    stocked = [f"SKU-{i:06d}" for i in range(skus - kits_count)]
    kits: dict[str, dict[str, int]] = {}
    for k in range(kits_count):
        parts = 2 + k % 2
        kits[f"KIT-{k:06d}"] = {
            stocked[(k * 7 + j * 13) % len(stocked)]: 1 + (k + j) % 2 for j in range(parts)
        }
    return stocked + sorted(kits), kits


async def _producers(
    store: SqlStore,
    producers: int,
    per: int,
    skus: int,
    batch: int = 1,
    kit_fraction: float = 0.0,
    locations: int = 0,
) -> dict[str, float]:
    places = [f"L{i}" for i in range(locations)]
    if places:
        await store.register_locations([LocationInfo(p) for p in places])
    await store.register_channels(
        [
            ChannelInfo("till", "csv_till", locations=tuple(places[:1])),
            ChannelInfo("web", "prestashop", locations=tuple(places)),
        ]
    )
    catalogue, kits = kit_catalogue(skus, kit_fraction)
    if kits:
        await store.set_kits(kits, source="bench")
    # Stock first, so the run measures sales, not a storm of oversell conflicts (kits take a
    # few units of each component: more stock where kits are sold).
    units = producers * per * (8 if kits else 1)
    stock = {sku: units for sku in catalogue if sku not in kits}
    for place in places or [""]:
        await store.apply_document(
            Document(
                "office",
                f"opening-{place}",
                DocumentKind.GOODS_RECEIPT,
                stock,
                T0,
                location=place,
            )
        )
    latencies: list[float] = []

    async def produce(n: int) -> None:
        for first in range(0, per, batch):
            docs = [
                Document(
                    "till",
                    f"bench-{batch}-{n}-{i}",  # new documents in each run, never replays
                    DocumentKind.TILL_RECEIPT,
                    {catalogue[(n * per + i) % skus]: 1},
                    T0,
                    location=places[n % len(places)] if places else "",
                )
                for i in range(first, min(per, first + batch))
            ]
            started = time.perf_counter()
            await store.apply_batch(docs)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(produce(n) for n in range(producers)))
    elapsed = time.perf_counter() - started
    total = producers * per
    return {
        "documents": total,
        "kits": len(kits),
        "seconds": round(elapsed, 3),
        "documents_per_second": round(total / elapsed, 1),
        "documents_per_call": batch,
        "locations": max(1, locations),
        "p50_ms": round(statistics.median(latencies) * 1000, 3),
        "p99_ms": round(_pct(latencies, 0.99) * 1000, 3),
    }


async def _waiting(store: SqlStore, producers: int, per: int, skus: int) -> dict[str, float]:
    """The closed-loop run while a pusher per channel waits on the outbox (and wakes)."""
    stop = asyncio.Event()
    wakes = 0

    async def pusher(channel: str) -> None:
        nonlocal wakes
        while not stop.is_set():
            await store.wait_for_outbox(channel, 1.0)
            wakes += 1

    tasks = [asyncio.create_task(pusher(ch)) for ch in ("till", "web")]
    await asyncio.sleep(0.2)
    try:
        out = await _producers(store, producers, per, skus)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    out["pusher_wakes"] = wakes
    return out


async def _levels_read(store: SqlStore, count: int) -> dict[str, float]:
    batch = 1000
    for start in range(0, count, batch):
        lines = {f"L-{i:06d}": 5 for i in range(start, min(count, start + batch))}
        await store.apply_document(
            Document("office", f"receipt-{start}", DocumentKind.GOODS_RECEIPT, lines, T0)
        )
    started = time.perf_counter()
    levels = await store.levels()
    elapsed = time.perf_counter() - started
    assert len(levels) >= count
    return {"skus": len(levels), "read_seconds": round(elapsed, 3)}


async def _fresh_pg(admin_dsn: str, name: str = BENCH_DB) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    base, _, _ = admin_dsn.rpartition("/")
    return f"{base}/{name}"


async def _settle(admin_dsn: str) -> None:
    """The same start for each side of a comparison: the page cache written out and PostgreSQL
    checkpointed, so neither pays for what the run before it left to flush (a checkpoint or
    SQLite's fsyncs landing in the middle of the next run made the ratio move by 0.3)."""
    await asyncio.to_thread(os.sync)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _pgbench(admin_dsn: str, dsn: str, clients: int, seconds: int) -> dict[str, Any]:
    binary = shutil.which("pgbench")
    if binary is None:
        return {"skipped": "pgbench is not installed (Debian: postgresql-client / postgresql)"}
    env = dict(os.environ)
    init = await asyncio.to_thread(
        subprocess.run,
        [binary, "-i", "-s", "1", "-q", dsn],
        capture_output=True,
        text=True,
        env=env,
    )
    if init.returncode != 0:
        return {"skipped": f"pgbench -i failed: {init.stderr.strip()[-300:]}"}
    await _settle(admin_dsn)
    run = await asyncio.to_thread(
        subprocess.run,
        [binary, "-N", "-c", str(clients), "-j", "2", "-T", str(seconds), dsn],
        capture_output=True,
        text=True,
        env=env,
    )
    match = re.search(r"tps = ([\d.]+)", run.stdout)
    if run.returncode != 0 or not match:
        return {"skipped": f"pgbench failed: {run.stderr.strip()[-300:]}"}
    return {
        "tps": float(match[1]),
        "clients": clients,
        "seconds": seconds,
        "script": "simple-update",
    }


async def _kits(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """Per store, the closed-loop and batched runs without kits and with ``--kits`` of the SKUs
    kits, each on a fresh ledger, in this same run; ``--rounds`` times, the order alternated
    (without first, then with first) so that a machine getting busier favours neither; the
    figures compared are the medians."""
    for backend in args.stores.split(","):
        runs: dict[str, list[dict[str, Any]]] = {}
        for round_ in range(args.rounds):
            # With --locations too, the "with" run also has that many locations: the figure the
            # issue compares (``--locations 3 --kits 0.1`` against one location and no kits).
            labels = [("without_kits", 0.0, 0), ("with_kits", args.kits, args.locations)]
            if round_ % 2:
                labels.reverse()
            for label, fraction, locations in labels:
                _log(f"{backend} round {round_ + 1}: 8 producers, {label} …")
                with tempfile.TemporaryDirectory() as tmp:
                    if backend == "sqlite":
                        store: SqlStore = await SqliteStore(
                            Path(tmp) / "bench.sqlite3", strict_skus=False
                        ).open()
                    else:
                        admin = os.environ.get(
                            "SYNCD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test"
                        )
                        dsn = await _fresh_pg(admin, args.database)
                        store = await PostgresStore(dsn, strict_skus=False, pool_size=4).open()
                    try:
                        for mode, batch in (("", 1), ("_batched", args.batch)):
                            one = await _producers(
                                store,
                                args.producers,
                                args.per_producer,
                                args.skus,
                                batch,
                                fraction,
                                locations,
                            )
                            runs.setdefault(label + mode, []).append(one)
                            _log(f"{backend} {label}{mode}: {one}")
                    finally:
                        await store.close()
        result: dict[str, Any] = {
            "fraction": args.kits,
            "locations": max(1, args.locations),
            "rounds": args.rounds,
        }
        for key, values in runs.items():
            rates = [v["documents_per_second"] for v in values]
            result[key] = {
                "documents_per_second_median": round(statistics.median(rates), 1),
                "documents_per_second": rates,
                "p50_ms_median": round(statistics.median(v["p50_ms"] for v in values), 3),
                "p99_ms_median": round(statistics.median(v["p99_ms"] for v in values), 3),
                "kits": values[0]["kits"],
            }
        for mode in ("", "_batched"):
            result["ratio" + mode] = round(
                result["with_kits" + mode]["documents_per_second_median"]
                / result["without_kits" + mode]["documents_per_second_median"],
                3,
            )
        out[f"{backend}_kits"] = result
        if backend == "postgres":
            await _drop_pg(args.database)


async def _drop_pg(name: str) -> None:
    admin = os.environ.get("SYNCD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"producers": args.producers, "per_producer": args.per_producer}
    if args.kits is not None:
        await _kits(args, out)
        return out
    stores = args.stores.split(",")
    if "sqlite" in stores:
        await _sqlite(args, out)
    if "postgres" in stores:
        await _postgres(args, out)
    if args.locations:
        await _locations(args, out, stores)
    return out


async def _locations(args: argparse.Namespace, out: dict[str, Any], stores: list[str]) -> None:
    """The closed-loop and batched runs with ``--locations`` locations, each beside the same run
    with one location, on fresh ledgers, alternately for ``--rounds`` rounds (a shared machine's
    load drifts by more than the difference measured); the ratio is of their medians."""
    ratios: dict[str, float] = {}
    admin = os.environ.get("SYNCD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    for backend in stores:
        if "skipped" in out.get(backend, {}):
            continue
        runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for round_ in range(args.rounds):
            for locations in (0, args.locations):
                _log(f"{backend}: round {round_ + 1}, {max(1, locations)} location(s) …")
                with tempfile.TemporaryDirectory() as tmp:
                    store: SqlStore
                    if backend == "sqlite":
                        path = Path(tmp) / "bench.sqlite3"
                        store = await SqliteStore(path, strict_skus=False).open()
                    else:
                        dsn = await _fresh_pg(admin, f"{BENCH_DB}_locations")
                        store = await PostgresStore(dsn, strict_skus=False, pool_size=4).open()
                    try:
                        for suffix, batch in (("", 1), ("_batched", args.batch)):
                            result = await _producers(
                                store,
                                args.producers,
                                args.per_producer,
                                args.skus,
                                batch,
                                locations=locations,
                            )
                            runs.setdefault((f"{backend}{suffix}", locations), []).append(result)
                    finally:
                        await store.close()
        for suffix in ("", "_batched"):
            key = f"{backend}{suffix}"
            one = [r["documents_per_second"] for r in runs[(key, 0)]]
            many = [r["documents_per_second"] for r in runs[(key, args.locations)]]
            out[f"{key}_one_location"] = {"documents_per_second": one}
            out[f"{key}_locations"] = {"documents_per_second": many, "locations": args.locations}
            ratios[key] = round(statistics.median(many) / statistics.median(one), 3)
            _log(f"{key}: one location {one}, {args.locations} locations {many}: {ratios[key]}")
    out["locations_ratio"] = ratios


async def _sqlite(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The closed loop ``--rounds`` times, each on a new file after the page cache is written
    out (``os.sync``: the fsyncs of what ran before are not this run's); the first round also
    runs the batched loop and the levels read. ``documents_per_second_median`` over the rounds."""
    loops: list[float] = []
    for r in range(max(1, args.rounds)):
        with tempfile.TemporaryDirectory() as tmp:
            _log(f"round {r + 1}: sqlite, {args.producers} producers …")
            store = await SqliteStore(Path(tmp) / "bench.sqlite3", strict_skus=False).open()
            try:
                await asyncio.to_thread(os.sync)
                loop = await _producers(store, args.producers, args.per_producer, args.skus)
                loops.append(loop["documents_per_second"])
                _log(f"sqlite: {loop}")
                if r == 0:
                    await _first_round(store, "sqlite", loop, args, out)
                    _log(f"sqlite levels: {out['sqlite']['levels']}")
            finally:
                await store.close()
    out["sqlite"]["documents_per_second_rounds"] = loops
    out["sqlite"]["documents_per_second_median"] = statistics.median(loops)
    with tempfile.TemporaryDirectory() as tmp:
        _log("sqlite: 8 producers, pushers waiting …")
        store = await SqliteStore(Path(tmp) / "bench.sqlite3", strict_skus=False).open()
        try:
            out["sqlite_waiting"] = await _waiting(
                store, args.producers, args.per_producer, args.skus
            )
            _log(f"sqlite_waiting: {out['sqlite_waiting']}")
        finally:
            await store.close()


async def _first_round(
    store: SqlStore, name: str, loop: dict[str, Any], args: argparse.Namespace, out: dict[str, Any]
) -> None:
    """The first round's closed loop kept as the store's figures, then, on the same ledger, the
    batched loop and the read of the levels."""
    out[name] = loop
    out[f"{name}_batched"] = await _producers(
        store, args.producers, args.per_producer, args.skus, args.batch
    )
    out[name]["levels"] = await _levels_read(store, args.levels)


async def _postgres(args: argparse.Namespace, out: dict[str, Any]) -> None:
    """The closed loop next to pgbench simple-update with as many clients, ``--rounds`` times,
    the order alternated, each side on a fresh database from a settled server (``_settle``):
    ``ratio_to_pgbench`` is the median of the rounds' ratios. The first round also runs the
    batched loop and the levels read."""
    admin = os.environ.get("SYNCD_TEST_DSN", "postgresql://postgres@127.0.0.1:5432/test")
    try:
        dsn = await _fresh_pg(admin)
    except (OSError, asyncpg.PostgresError) as err:
        out["postgres"] = {"skipped": f"no PostgreSQL at {admin}: {err}"}
        return
    loops: list[float] = []
    tps: list[float] = []
    for r in range(max(1, args.rounds)):
        sides = ["syncd", "pgbench"] if r % 2 == 0 else ["pgbench", "syncd"]
        for side in sides:
            dsn = await _fresh_pg(admin)
            if side == "pgbench":
                _log(f"round {r + 1}: pgbench simple-update …")
                bench = await _pgbench(admin, dsn, args.producers, args.pgbench_seconds)
                out["pgbench"] = bench
                if "tps" not in bench:
                    break
                tps.append(bench["tps"])
                _log(f"pgbench: {bench}")
                continue
            _log(f"round {r + 1}: postgres, {args.producers} producers …")
            pg_store = await PostgresStore(dsn, strict_skus=False, pool_size=4).open()
            try:
                await _settle(admin)
                loop = await _producers(pg_store, args.producers, args.per_producer, args.skus)
                loops.append(loop["documents_per_second"])
                if r == 0:
                    await _first_round(pg_store, "postgres", loop, args, out)
                _log(f"postgres: {loop}")
            finally:
                await pg_store.close()
    out["postgres"]["documents_per_second_rounds"] = loops
    out["postgres"]["documents_per_second_median"] = statistics.median(loops)
    if tps:
        out["pgbench"]["tps_rounds"] = tps
        ratios = [round(d / t, 3) for d, t in zip(loops, tps, strict=False)]
        out["postgres"]["ratio_to_pgbench_rounds"] = ratios
        out["postgres"]["ratio_to_pgbench"] = round(statistics.median(ratios), 2)
        out["postgres_batched"]["ratio_to_pgbench"] = round(
            out["postgres_batched"]["documents_per_second"] / statistics.median(tps), 2
        )
    await _drop_pg(BENCH_DB)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench ledger", description=__doc__)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.add_argument("--producers", type=int, default=8)
    parser.add_argument("--per-producer", type=int, default=2500)
    parser.add_argument("--skus", type=int, default=1000)
    parser.add_argument(
        "--batch",
        type=int,
        default=20,
        help="documents per call in the batched run (a file's receipts)",
    )
    parser.add_argument("--levels", type=int, default=100_000)
    parser.add_argument("--pgbench-seconds", type=int, default=15)
    parser.add_argument(
        "--locations",
        type=int,
        default=0,
        metavar="N",
        help="also run on a ledger with N locations and compare (0: no such run)",
    )
    parser.add_argument("--stores", "--ledger", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--kits",
        type=float,
        default=None,
        metavar="FRACTION",
        help="compare documents/s without kits and with this fraction of the SKUs kits",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="paired runs, the order alternated (median): syncd and pgbench; --kits, --locations",
    )
    parser.add_argument(
        "--database",
        default=f"{BENCH_DB}_kits_{os.getpid()}",
        metavar="NAME",
        help="the PostgreSQL database the --kits runs create and drop",
    )
    args = parser.parse_args(argv)
    configure_logging("warning")
    result = asyncio.run(run(args))
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0
