"""Long reliability campaigns: `python -m bench soak --seed S --minutes M [--json]`.

Runs the seeded campaign of bench/reliability/campaign.py for M minutes on each store (SIGKILLs,
network faults through the proxy, shop error modes, PostgreSQL restarts and terminated backends,
the till folder taken away), then the seeded fuzzer over every input door, and prints one summary
line: kills, faults injected, bad inputs tried, documents, lost, duplicated and the longest
convergence after the last fault. Any failure replays from the printed seed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from bench.reliability.campaign import Options, run_campaign
from syncd.logs import configure_logging


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench soak", description=__doc__)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=10, help="per store")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--store", dest="stores", help="one store (same as --stores S)")
    parser.add_argument("--proxy-rate", type=float, default=0.08)
    parser.add_argument("--fuzz", type=int, default=100_000, help="fuzzed inputs (0: none)")
    parser.add_argument(
        "--month",
        action="store_true",
        help="instead: a month of a busy shop's traffic (9,600 receipts, 2,880 web orders) at speed, "
        "no faults; reports the daemon's memory growth and what retention prunes",
    )
    parser.add_argument(
        "--hand-edits",
        default="adopt",
        choices=("adopt", "revert", "report"),
        help="the shops' hand_edits (default adopt, the merchant's default)",
    )
    parser.add_argument(
        "--shopify", action="store_true", help="a Shopify channel too (emulator, webhooks)"
    )
    parser.add_argument(
        "--woocommerce", action="store_true", help="a third webshop: WooCommerce (its emulator)"
    )
    parser.add_argument(
        "--daemons",
        type=int,
        default=1,
        help="several daemons on one PostgreSQL (issue 20): kill -9 and SIGSTOP of the active "
        "one, takeover times, stale writes (implies --store postgres)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("error")
    if args.month:
        return _month(args)
    if args.daemons < 1:
        parser.error(f"--daemons: at least 1, got {args.daemons}")
    if args.daemons > 1:
        return _cluster(args)
    runs: list[dict[str, Any]] = []
    for store in args.stores.split(","):
        options = Options(
            seed=args.seed,
            seconds=args.minutes * 60,
            store=store,
            proxy_rate=args.proxy_rate,
            converge_timeout=120,
            hand_edits=args.hand_edits,
            shopify=args.shopify,
            woocommerce=args.woocommerce,
        )
        result = asyncio.run(run_campaign(options))
        print(f"{store}: {json.dumps(result)}", file=sys.stderr, flush=True)
        runs.append(result)
    fuzz: dict[str, Any] = {"inputs": 0, "crashes": 0, "silent_drops": 0}
    if args.fuzz:
        from bench.fuzz import run_fuzz

        fuzz = run_fuzz(args.seed, args.fuzz)
    summary = {
        "seed": args.seed,
        "minutes_per_store": args.minutes,
        "stores": [r["store"] for r in runs],
        "kills": sum(r["kills"] for r in runs),
        "faults_injected": sum(r["faults_injected"] for r in runs),
        "bad_inputs_tried": fuzz["inputs"] + sum(r["bad_rows"] for r in runs),
        "fuzz_crashes": fuzz["crashes"],
        "fuzz_silent_drops": fuzz["silent_drops"],
        "documents": sum(r["documents"] for r in runs),
        "lost": sum(r["lost"] for r in runs),
        "duplicated": sum(r["duplicated"] for r in runs),
        "ledger_matches_model": all(r["ledger_matches_model"] for r in runs),
        "max_convergence_seconds": max((r["convergence_seconds"] for r in runs), default=0.0),
        "unconverged_runs": sum(1 for r in runs if r["convergence_seconds"] < 0),
        "reconcile_needed_runs": sum(1 for r in runs if r["reconcile_needed"]),
        "loop_crashes": sum(r["loop_crashes"] for r in runs),
        "alerts_lost": sum(r["alerts_lost"] for r in runs),
        "alerts_sent_twice": sum(r["alerts_sent_twice"] for r in runs),
        "secret_leaks": sum(len(r["secret_leaks"]) for r in runs),
    }
    for failure, group in (fuzz.get("distinct_failures") or {}).items():
        replay = f"python -m bench fuzz --seed {args.seed} --count {args.fuzz} --replay"
        print(
            f"fuzz FAIL x{group['count']}: {failure} ({replay} {group['first_index']} --target …)",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
    ok = (
        summary["lost"] == 0
        and summary["duplicated"] == 0
        and summary["ledger_matches_model"]
        and summary["unconverged_runs"] == 0
        and summary["reconcile_needed_runs"] == 0
        and summary["loop_crashes"] == 0
        and summary["alerts_lost"] == 0
        and summary["fuzz_crashes"] == 0
        and summary["fuzz_silent_drops"] == 0
        and summary["secret_leaks"] == 0
    )
    return 0 if ok else 1


def _cluster(args: argparse.Namespace) -> int:
    """`--daemons N`: the campaign with N daemons on the campaign's own PostgreSQL."""
    from bench.reliability.cluster import run_cluster_campaign

    options = Options(
        seed=args.seed,
        seconds=args.minutes * 60,
        store="postgres",
        proxy_rate=args.proxy_rate,
        converge_timeout=120,
        hand_edits=args.hand_edits,
        shopify=args.shopify,
        woocommerce=args.woocommerce,
        daemons=args.daemons,
    )
    result = asyncio.run(run_cluster_campaign(options))
    keys = (
        "seed",
        "daemons",
        "seconds",
        "lost",
        "duplicated",
        "mailed_twice",
        "stale_writes_accepted",
        "stale_writes_refused",
        "takeover_seconds_p50",
        "takeover_seconds_p99",
        "takeover_seconds_max",
        "takeovers",
        "takeovers_missed",
        "lease_seconds",
        "kills",
        "sigstops",
        "faults_injected",
        "faults",
        "documents",
        "ledger_matches_model",
        "convergence_seconds",
        "reconcile_needed",
        "unconverged",
        "loop_crashes",
        "crashes",
        "alerts_lost",
        "alert_mails",
        "alert_mails_received",
        "final_exit_code",
        "secret_leaks",
        "stale_writes",
        "wrong",
    )
    summary = {k: result.get(k) for k in keys}
    if args.json:
        print(json.dumps(summary))
    else:
        print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0 if cluster_ok(result) else 1


def cluster_ok(result: dict[str, Any]) -> bool:
    """The several-daemons campaign's pass: nothing lost, duplicated, mailed twice or written
    stale; every takeover seen, and every channel right without a reconcile."""
    return (
        result["lost"] == 0
        and result["duplicated"] == 0
        and result["mailed_twice"] == 0
        and result["stale_writes_accepted"] == 0
        and not result["takeovers_missed"]
        and result["ledger_matches_model"]
        and not result["reconcile_needed"]
        and result["loop_crashes"] == 0
        and result["alerts_lost"] == 0
        and not result["secret_leaks"]
    )


def _month(args: argparse.Namespace) -> int:
    """30 days of 320 receipts and 96 web orders a day, replayed in 4 minutes per store."""
    out: dict[str, Any] = {"seed": args.seed}
    for store in args.stores.split(","):
        options = Options(
            seed=args.seed,
            seconds=240,
            store=store,
            till_rate=40,
            web_rate=12,
            faults=False,
            converge_timeout=120,
        )
        result = asyncio.run(run_campaign(options))
        out[store] = {
            k: result[k]
            for k in (
                "till_receipts",
                "web_orders",
                "lost",
                "duplicated",
                "ledger_matches_model",
                "convergence_seconds",
                "memory",
                "outbox_rows_left",
                "pruned_after_retention",
            )
        }
    print(json.dumps(out) if args.json else out)
    return 0
