"""`syncd test-alert` and `syncd conflicts list|ack|resolve` (DESIGN.md §5)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from syncd.config import Settings, load_config
from syncd.domain import Conflict, ConflictStatus, iso_utc

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def test_alert_command(args: argparse.Namespace) -> int:
    from syncd.alerts.mailer import SendError, server_name
    from syncd.alerts.service import send_test_mail

    settings = load_config(args.config)
    alerts = settings.alerts
    if not alerts.enabled:
        print(f"error: {args.config}: [alerts] enabled = false; nothing to test", file=sys.stderr)
        return EXIT_USAGE
    if not alerts.to:
        print(
            f'error: {args.config}: [alerts] has no recipients: add to = ["you@example.com"]',
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        msg_id = asyncio.run(send_test_mail(alerts, config_file=args.config))
    except SendError as err:
        print(f"error: the test mail was not sent: {err}", file=sys.stderr)
        return EXIT_FAILURE
    print(
        f"test mail sent to {', '.join(alerts.to)} through {server_name(alerts)} "
        f"(Message-ID {msg_id})",
        file=sys.stderr,
    )
    return EXIT_OK


def conflict_json(c: Conflict) -> dict[str, Any]:
    return {
        "id": c.id,
        "kind": c.kind.value,
        "status": c.status.value,
        "sku": c.sku,
        "channel": c.channel,
        "shortfall": c.shortfall,
        "name": c.detail.get("name", ""),
        "documents": [
            {
                "channel": d.channel,
                "reference": d.reference,
                "kind": d.kind,
                "quantity": d.quantity,
                "occurred_at": iso_utc(d.occurred_at),
                "url": d.url,
            }
            for d in c.documents
        ],
        "detail": {k: v for k, v in c.detail.items() if k != "documents"},
        "created_at": iso_utc(c.created_at),
        "updated_at": iso_utc(c.updated_at),
    }


async def _list(settings: Settings, status: ConflictStatus | None, limit: int) -> list[Conflict]:
    from syncd.ledger import open_store

    store = await open_store(settings.ledger, migrate=False)
    try:
        return await store.conflicts(status=status, limit=limit)
    finally:
        await store.close()


async def _set_status(settings: Settings, conflict_id: int, status: ConflictStatus) -> bool:
    from syncd.ledger import open_store

    store = await open_store(settings.ledger, migrate=False)
    try:
        return await store.set_conflict_status(conflict_id, status)
    finally:
        await store.close()


def conflicts_command(args: argparse.Namespace) -> int:
    settings = load_config(args.config)
    if args.conflicts_command == "list":
        status = None if args.status == "all" else ConflictStatus(args.status)
        found = asyncio.run(_list(settings, status, args.limit))
        if args.json:
            sys.stdout.write(json.dumps({"conflicts": [conflict_json(c) for c in found]}) + "\n")
        else:
            _print_table(found, args.status, settings.web.timezone)
        return EXIT_OK
    new = (
        ConflictStatus.ACKNOWLEDGED if args.conflicts_command == "ack" else ConflictStatus.RESOLVED
    )
    if not asyncio.run(_set_status(settings, args.id, new)):
        print(f"error: there is no conflict {args.id} in the ledger", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(json.dumps({"id": args.id, "status": new.value}) + "\n")
    else:
        print(f"conflict {args.id} {new.value}", file=sys.stderr)
    return EXIT_OK


def _print_table(found: list[Conflict], status: str, timezone: str) -> None:
    from zoneinfo import ZoneInfo

    from rich.console import Console
    from rich.table import Table

    console = Console(file=sys.stdout)
    if not found:
        console.print(f"No conflict ({status}).")
        return
    table = Table(title=f"Conflicts ({status}): {len(found)}")
    zone = ZoneInfo(timezone)  # checked by the config reader
    since = f"since ({zone.key})"
    for column in ("id", "status", "kind", "channel", "SKU", "short", "documents", since):
        table.add_column(column)
    for c in found:
        table.add_row(
            str(c.id),
            c.status.value,
            c.kind.value,
            c.channel,
            c.sku,
            str(c.shortfall),
            ", ".join(f"{d.channel}:{d.reference}" for d in c.documents)[:80],
            f"{c.created_at.astimezone(zone):%Y-%m-%d %H:%M:%S}",
        )
    console.print(table)


def add_commands(sub: Any) -> None:
    """Register the subcommands on the `syncd` parser's subparsers."""
    p = sub.add_parser(
        "test-alert", help="send one test alert email", description="send one test alert email"
    )
    p.set_defaults(func=test_alert_command)
    p.add_argument("--config", required=True, metavar="FILE")

    conflicts = sub.add_parser(
        "conflicts",
        help="list, acknowledge or resolve conflicts",
        description="list, acknowledge or resolve conflicts (acknowledged ones do not re-alert)",
    )
    csub = conflicts.add_subparsers(dest="conflicts_command", required=True, metavar="COMMAND")
    p = csub.add_parser("list", help="conflicts, open ones first")
    p.add_argument("--status", default="open", choices=("open", "acknowledged", "resolved", "all"))
    p.add_argument("--limit", type=int, default=100, metavar="N")
    for name, help_ in (("ack", "acknowledge a conflict"), ("resolve", "mark a conflict resolved")):
        q = csub.add_parser(name, help=help_)
        q.add_argument("id", type=int, metavar="ID")
    for q in csub.choices.values():
        q.set_defaults(func=conflicts_command)
        q.add_argument("--config", required=True, metavar="FILE")
        q.add_argument("--json", action="store_true")
