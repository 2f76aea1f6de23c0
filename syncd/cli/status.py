"""`syncd status`: per-channel state, lag, outbox depth, last pull/push and open conflicts, read
from the ledger (it works while the daemon runs, and after it stopped)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from syncd.config import Settings
from syncd.domain import ConflictStatus, is_transit, iso_utc, utcnow
from syncd.ledger import open_store
from syncd.ledger.fencing import Lease
from syncd.ledger.leases import cluster_view
from syncd.ledger.locations import LocationInfo, stock_per_location

SKU_ROWS = 40  # SKUs listed per location on the terminal (--json lists every one)


async def gather_status(settings: Settings) -> dict[str, Any]:
    store = await open_store(settings.ledger, migrate=False)
    try:
        health = {h.name: h for h in await store.channel_health()}
        stats = await store.outbox_stats()
        conflicts = await store.conflicts(status=ConflictStatus.OPEN, limit=50)
        pending = await store.pending_lines()
        alert_counts = await store.alert_counts()
        unsent = await store.unsent_alert_mails(1)
        stock = await store.location_stock()
        leases = await store.leases()
    finally:
        await store.close()
    now = utcnow()
    channels = []
    for channel in settings.channels:
        h = health.get(channel.name)
        s = stats.get(channel.name)
        channels.append(
            {
                "name": channel.name,
                "type": channel.type,
                "enabled": channel.enabled,
                "state": h.state if h else "unknown",
                "lag_seconds": round(s.lag_seconds(now), 1) if s else 0.0,
                "outbox": s.depth if s else 0,
                "last_pull": iso_utc(h.last_pull) if h and h.last_pull else None,
                "last_push": iso_utc(h.last_push) if h and h.last_push else None,
                "last_error": h.last_error if h else "",
                "recorded_at": iso_utc(h.updated_at) if h and h.updated_at else None,
            }
        )
    return {
        "channels": channels,
        # Which daemon runs each job (issue 20): the holder of its lease, since when, until when
        # (an expired lease: the job waits for a daemon to take it); the daemons present, those
        # running no job being the standbys.
        **_cluster_json(leases, now),
        **stock_per_location(
            [LocationInfo(loc.name, loc.kind) for loc in settings.locations], stock
        ),
        "open_conflicts": [
            {
                "id": c.id,
                "kind": c.kind.value,
                "sku": c.sku,
                "channel": c.channel,
                "shortfall": c.shortfall,
                "location": str(c.detail.get("location", "")),
                "documents": [f"{d.channel}:{d.reference}" for d in c.documents],
                "created_at": iso_utc(c.created_at),
            }
            for c in conflicts
        ],
        "unknown_skus": [
            {"identifier": p.identifier, "channel": p.channel, "quantity": p.quantity}
            for p in pending
        ],
        "alerts": {
            "enabled": settings.alerts.active,
            "unsent_mails": alert_counts.unsent_mails,
            "last_sent_at": (
                iso_utc(alert_counts.last_sent_at) if alert_counts.last_sent_at else None
            ),
            "last_error": unsent[0].last_error if unsent else "",
        },
    }


def _render_locations(console: Console, report: dict[str, Any]) -> None:
    places = [p["name"] for p in report["locations"]]
    table = Table(title="Stock per location")
    for column in ("location", "kind", "on hand", "SKUs", "below zero", "in transit to it"):
        table.add_column(column)
    for p in report["locations"]:
        table.add_row(
            p["name"],
            p["kind"],
            str(p["on_hand"]),
            str(p["skus"]),
            str(p["negative"]),
            str(p["in_transit"]),
        )
    console.print(table)
    per_sku = report["stock_per_location"]
    if not per_sku:
        return
    shown = sorted(per_sku)[:SKU_ROWS]
    st = Table(title=f"On hand per SKU and location ({len(shown)} of {len(per_sku)} SKUs)")
    for column in ("SKU", *places, "in transit"):
        st.add_column(column, justify="left" if column == "SKU" else "right")
    for sku in shown:
        figures = per_sku[sku]
        transit = sum(q for loc, q in figures.items() if is_transit(loc))
        st.add_row(sku, *(str(figures.get(p, 0)) for p in places), str(transit))
    console.print(st)


def _local(when: str | None, zone: ZoneInfo) -> str:
    """A JSON time (UTC) as the shop's clock reads it."""
    if not when:
        return "-"
    return f"{datetime.fromisoformat(when).astimezone(zone):%Y-%m-%d %H:%M:%S}"


def render_status(report: dict[str, Any], timezone: str = "UTC") -> None:
    console = Console(file=sys.stdout)
    zone = ZoneInfo(timezone)
    table = Table(title=f"Channels (times in {zone.key})")
    for column in (
        "channel",
        "type",
        "state",
        "lag (s)",
        "outbox",
        "last pull",
        "last push",
        "last error",
    ):
        table.add_column(column)
    for c in report["channels"]:
        table.add_row(
            c["name"],
            c["type"],
            c["state"],
            f"{c['lag_seconds']:.0f}",
            str(c["outbox"]),
            _local(c["last_pull"], zone),
            _local(c["last_push"], zone),
            c["last_error"][:60],
        )
    console.print(table)
    if report.get("jobs"):
        jt = Table(title=f"Jobs: which daemon runs each (times in {zone.key})")
        for column in ("job", "daemon", "epoch", "since", "state"):
            jt.add_column(column)
        for j in report["jobs"]:
            state = "running" if j["running"] else "waiting for a daemon"
            jt.add_row(j["job"], j["daemon"], str(j["epoch"]), _local(j["since"], zone), state)
        console.print(jt)
    if report.get("daemons"):
        dt = Table(title=f"Daemons (times in {zone.key})")
        for column in ("daemon", "jobs", "since", "up since"):
            dt.add_column(column)
        for d in report["daemons"]:
            jobs = ", ".join(d["jobs"]) if d["jobs"] else "standby"
            dt.add_row(d["daemon"], jobs, _local(d["since"], zone), _local(d["up_since"], zone))
        console.print(dt)
    if report.get("locations"):
        _render_locations(console, report)
    conflicts = report["open_conflicts"]
    if conflicts:
        ct = Table(title=f"Open conflicts ({len(conflicts)})")
        for column in ("id", "kind", "SKU", "location", "short", "documents"):
            ct.add_column(column)
        for c in conflicts:
            ct.add_row(
                str(c["id"]),
                c["kind"],
                c["sku"],
                c["location"],
                str(c["shortfall"]),
                ", ".join(c["documents"]),
            )
        console.print(ct)
    else:
        console.print("No open conflict.")
    if report["unknown_skus"]:
        console.print(f"{len(report['unknown_skus'])} unknown SKU(s) waiting for a mapping.")
    alerts = report["alerts"]
    if alerts["unsent_mails"]:
        console.print(
            f"{alerts['unsent_mails']} alert mail(s) not sent yet"
            + (f": {alerts['last_error']}" if alerts["last_error"] else "")
        )
    elif not alerts["enabled"]:
        console.print("Alert mails are off (no [alerts] recipients).")


def _cluster_json(leases: list[Lease], now: datetime) -> dict[str, Any]:
    """The cluster (:func:`~syncd.ledger.leases.cluster_view`) with its times in UTC ISO."""
    view = cluster_view(leases, now)
    return {
        part: [
            {k: iso_utc(v) if isinstance(v, datetime) else v for k, v in row.items()}
            for row in rows
        ]
        for part, rows in view.items()
    }
