"""Fuzz every input door: till CSV, PrestaShop and Magento answers, config files, webhooks.

`python -m bench fuzz --seed S --count N [--json]` runs N seeded inputs spread over the targets
and counts crashes, silent drops, hangs, leaked secrets and out-of-contract webhook answers.
Input i of target T is generated from ``random.Random(f"{S}:{T}:{i}")``; a failure replays with
`python -m bench fuzz --seed S --target T --replay i`. The generators and oracles are shared with
tests/reliability/test_fuzz_*.py (bench/reliability/fuzz_inputs.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.reliability import fuzz_inputs as fz
from syncd.logs import configure_logging

# Share of the inputs per target (the pure parsers are cheap, the HTTP doors cost a round trip).
WEIGHTS: dict[str, float] = {
    "csv_till": 0.40,
    "config.parse": 0.10,
    "config.load": 0.05,
    "prestashop.error_body": 0.05,
    "prestashop.orders": 0.05,
    "prestashop.order_details": 0.02,
    "prestashop.configurations": 0.02,
    "prestashop.push": 0.03,
    "prestashop.read_levels": 0.03,
    "prestashop.error_status": 0.02,
    "magento.orders": 0.05,
    "magento.push_msi": 0.03,
    "magento.push_legacy": 0.02,
    "magento.read_levels": 0.02,
    "magento.check": 0.01,
    "webhook": 0.10,
}
TARGETS = tuple(WEIGHTS)
MAX_FAILURES_SHOWN = 20

Runner = Callable[[random.Random], Awaitable[tuple[list[fz.Problem], str]]]


def plan(count: int, targets: tuple[str, ...] = TARGETS) -> dict[str, int]:
    """Inputs per target: proportional to the weights, every target at least one, sum = count."""
    total = sum(WEIGHTS[t] for t in targets)
    counts = {t: max(1, int(count * WEIGHTS[t] / total)) for t in targets}
    counts[targets[0]] += max(0, count - sum(counts.values()))
    return counts


def input_rng(seed: int, target: str, index: int) -> random.Random:
    return random.Random(f"{seed}:{target}:{index}")


class Fuzzer:
    """Holds the servers and the daemon for one run; ``runner(target)`` judges one input."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files = fz.config_files(folder / "credentials")

    async def __aenter__(self) -> Fuzzer:
        self._stack = stack = contextlib.AsyncExitStack()
        self.session = await stack.enter_async_context(aiohttp.ClientSession())
        server = await stack.enter_async_context(fz.serve(fz.ShopServer()))
        mg_server = await stack.enter_async_context(fz.serve(fz.ShopServer()))
        self.prestashop = fz.PrestaShopHarness(server, self.session)
        self.magento = fz.MagentoHarness(mg_server, self.session)
        (self.folder / "daemon").mkdir(exist_ok=True)
        self.daemon = await stack.enter_async_context(fz.hook_daemon(self.folder / "daemon"))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()

    def runner(self, target: str) -> Runner:
        if target.startswith("prestashop.") and target != "prestashop.error_body":
            return lambda rng: self.prestashop.run(target, rng)
        if target.startswith("magento."):
            return lambda rng: self.magento.run(target, rng)
        return {
            "csv_till": self._csv,
            "config.parse": self._config,
            "config.load": self._config_file,
            "prestashop.error_body": self._error_body,
            "webhook": self._hook,
        }[target]

    async def _csv(self, rng: random.Random) -> tuple[list[fz.Problem], str]:
        data, name, options = fz.csv_case(rng)
        return fz.check_csv(data, name, options), fz.short(data)

    async def _config(self, rng: random.Random) -> tuple[list[fz.Problem], str]:
        data = fz.config_data(rng, self.files)
        return fz.check_config(data, None, self.files_folder), fz.short(data, 300)

    async def _config_file(self, rng: random.Random) -> tuple[list[fz.Problem], str]:
        raw = fz.config_text(rng, self.files)
        return fz.check_config(None, raw, self.files_folder), fz.short(raw, 300)

    @property
    def files_folder(self) -> Path:
        return Path(self.files["good"]).parent

    async def _error_body(self, rng: random.Random) -> tuple[list[fz.Problem], str]:
        body = fz.ps_error_body(rng)
        return fz.check_ps_error_body(body), fz.short(body)

    async def _hook(self, rng: random.Random) -> tuple[list[fz.Problem], str]:
        case = fz.hook_case(rng)
        sample = f"{case.path} secret={case.secret!r:.40} body={len(case.body)}B"
        return await fz.run_hook(self.daemon, case), sample


async def judge(
    runner: Runner, target: str, seed: int, index: int
) -> tuple[list[fz.Finding], float]:
    rng = input_rng(seed, target, index)
    started = time.perf_counter()
    try:
        problems, sample = await asyncio.wait_for(runner(rng), fz.HANG_SECONDS * 3)
    except TimeoutError:
        problems, sample = [(fz.HANG, "no verdict within the time limit")], ""
    except Exception as err:  # noqa: BLE001 - the harness itself must not hide a crash
        problems, sample = [fz.crash(err)], ""
    elapsed = time.perf_counter() - started
    return [fz.Finding(target, kind, index, detail, sample) for kind, detail in problems], elapsed


async def fuzz(
    seed: int, count: int, targets: tuple[str, ...] = TARGETS, replay: int | None = None
) -> dict[str, Any]:
    counts = plan(count, targets)
    started = time.perf_counter()
    by_target: dict[str, dict[str, Any]] = {}
    findings: list[fz.Finding] = []
    with tempfile.TemporaryDirectory(prefix="syncd-fuzz-") as tmp:
        async with Fuzzer(Path(tmp)) as fuzzer:
            for target in targets:
                runner = fuzzer.runner(target)
                indexes = [replay] if replay is not None else range(counts[target])
                stats = dict.fromkeys(fz.KINDS, 0) | {"inputs": 0, "seconds": 0.0}
                for index in indexes:
                    found, elapsed = await judge(runner, target, seed, index)
                    stats["inputs"] += 1
                    stats["seconds"] += elapsed
                    for kind in {f.kind for f in found}:
                        stats[kind] += 1
                    findings.extend(found)
                stats["seconds"] = round(stats["seconds"], 2)
                by_target[target] = stats
    totals = {kind: sum(s[kind] for s in by_target.values()) for kind in fz.KINDS}
    return {
        "seed": seed,
        "inputs": sum(s["inputs"] for s in by_target.values()),
        "crashes": totals[fz.CRASH],
        "silent_drops": totals[fz.SILENT_DROP],
        "hangs": totals[fz.HANG],
        "secret_leaks": totals[fz.SECRET_LEAK],
        "bad_statuses": totals[fz.BAD_STATUS],
        "seconds": round(time.perf_counter() - started, 1),
        "by_target": by_target,
        "first_failures": [str(f) for f in findings[:MAX_FAILURES_SHOWN]],
        "distinct_failures": distinct(findings),
        "replay": "python -m bench fuzz --seed SEED --target TARGET --replay INDEX",
    }


def distinct(findings: list[fz.Finding]) -> dict[str, dict[str, Any]]:
    """Failures grouped by target, kind and message (digits and quoted values blurred)."""
    groups: dict[str, dict[str, Any]] = {}
    for f in findings:
        detail = re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "_", f.detail)[:100]
        key = f"{f.target} {f.kind}: {detail}"
        group = groups.setdefault(key, {"count": 0, "first_index": f.seed})
        group["count"] += 1
    return dict(sorted(groups.items(), key=lambda kv: -kv[1]["count"])[: MAX_FAILURES_SHOWN * 2])


def run_fuzz(seed: int, count: int) -> dict[str, Any]:
    """The whole campaign, for `python -m bench soak`: {"inputs", "crashes", "silent_drops",
    "by_target", "first_failures", …}."""
    return asyncio.run(fuzz(seed, count))


def failures(result: dict[str, Any]) -> int:
    return sum(
        int(result[k]) for k in ("crashes", "silent_drops", "hangs", "secret_leaks", "bad_statuses")
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench fuzz", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=10_000, help="inputs in all (default 10000)")
    parser.add_argument("--target", choices=TARGETS, action="append", help="only these targets")
    parser.add_argument("--replay", type=int, help="judge only input INDEX (needs --target)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.replay is not None and not args.target:
        parser.error("--replay needs --target")
    configure_logging("error", "json", stream=sys.stderr)
    targets = tuple(args.target) if args.target else TARGETS
    result = asyncio.run(fuzz(args.seed, args.count, targets, args.replay))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"fuzz seed {result['seed']}: {result['inputs']} inputs in {result['seconds']} s — "
            f"{result['crashes']} crashes, {result['silent_drops']} silent drops, "
            f"{result['hangs']} hangs, {result['secret_leaks']} leaked secrets, "
            f"{result['bad_statuses']} bad webhook answers"
        )
        for target, stats in result["by_target"].items():
            bad = {k: v for k, v in stats.items() if k in fz.KINDS and v}
            print(
                f"  {target:28} {stats['inputs']:7} inputs {stats['seconds']:8.1f} s  {bad or ''}"
            )
        for key, group in result["distinct_failures"].items():
            print(f"  FAIL x{group['count']} (first --replay {group['first_index']}) {key}")
    return 1 if failures(result) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
