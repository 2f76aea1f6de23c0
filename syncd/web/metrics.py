"""`/metrics` in the Prometheus text format: counters fed by the daemon's events, gauges read at
scrape time from the ledger. One registry per app, so two daemons in one process never collide."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from syncd.ledger.store import OutboxStats

FAILING_STATES = ("degraded", "down", "refused")
STATES = ("starting", "in_sync", "catching_up", "degraded", "down", "refused", "stopped")
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900)


class Metrics:
    """syncd's figures for Prometheus, labelled by channel."""

    def __init__(self, channels: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.channels = list(channels)
        r = self.registry
        self.movements = Counter(
            "syncd_movements",
            "Stock movements recorded, by source channel",
            ["channel"],
            registry=r,
        )
        self.documents = Counter(
            "syncd_documents", "Documents applied, by channel", ["channel"], registry=r
        )
        self.pushes = Counter(
            "syncd_pushes", "Figures written to a channel and confirmed", ["channel"], registry=r
        )
        self.errors = Counter(
            "syncd_errors",
            "Errors: channel outages (kind=channel), crashed loops (kind=loop), rejected rows "
            "(kind=row)",
            ["channel", "kind"],
            registry=r,
        )
        self.latency = Histogram(
            "syncd_propagation_seconds",
            "Time from a figure entering the outbox to the channel confirming it",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.lag = Gauge(
            "syncd_lag_seconds",
            "Age of the oldest figure waiting for a channel",
            ["channel"],
            registry=r,
        )
        self.outbox = Gauge(
            "syncd_outbox_depth",
            "Figures waiting to be written, per channel",
            ["channel"],
            registry=r,
        )
        self.exposure = Gauge(
            "syncd_oversell_exposure_units",
            "Units a channel still shows above what it should (pushes not yet confirmed)",
            ["channel"],
            registry=r,
        )
        self.state = Gauge(
            "syncd_channel_state",
            "1 for the channel's current state",
            ["channel", "state"],
            registry=r,
        )
        self.open_conflicts = Gauge(
            "syncd_open_conflicts", "Conflicts waiting for the merchant", registry=r
        )
        # The cluster (issue 20), the same on every daemon: read from the ledger's leases.
        self.job_held = Gauge(
            "syncd_job_held",
            "1 while the daemon holds the job's lease (a channel's loops, alerts, reconcile)",
            ["job", "daemon"],
            registry=r,
        )
        self.job_epoch = Gauge(
            "syncd_job_epoch",
            "The job's lease epoch (raised at every takeover)",
            ["job"],
            registry=r,
        )
        self.daemon_up = Gauge(
            "syncd_daemon_present",
            "1 for each daemon present on the ledger; standby=1 when it runs no job",
            ["daemon", "standby"],
            registry=r,
        )
        for channel in self.channels:
            # Zero series exist from the start, so rate() and alerts work before the first event.
            for metric in (self.movements, self.documents, self.pushes):
                metric.labels(channel=channel)
            for kind in ("channel", "loop", "row"):
                self.errors.labels(channel=channel, kind=kind)

    def observe(self, event: Mapping[str, Any]) -> None:
        """Count one event of the daemon's feed."""
        name = event.get("event")
        channel = str(event.get("channel", ""))
        if name == "document_applied":
            self.documents.labels(channel=channel).inc()
            self.movements.labels(channel=channel).inc(int(event.get("movements") or 0))
        elif name == "stock_pushed":
            self.pushes.labels(channel=channel).inc()
            seconds = event.get("queued_seconds")
            if isinstance(seconds, int | float):
                self.latency.labels(channel=channel).observe(float(seconds))
        elif name == "channel_state" and event.get("state") in FAILING_STATES:
            self.errors.labels(channel=channel, kind="channel").inc()
        elif name == "loop_crashed":
            loop = str(event.get("loop", ""))
            owner = loop.split(":", 1)[0] if ":" in loop else "daemon"
            self.errors.labels(channel=owner, kind="loop").inc()
        elif name == "row_rejected":
            self.errors.labels(channel=channel, kind="row").inc()

    def render(
        self,
        *,
        stats: Mapping[str, OutboxStats],
        lags: Mapping[str, float],
        exposure: Mapping[str, int],
        states: Mapping[str, str],
        open_conflicts: int,
        cluster: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> bytes:
        for channel in self.channels:
            s = stats.get(channel)
            self.outbox.labels(channel=channel).set(s.depth if s else 0)
            self.lag.labels(channel=channel).set(lags.get(channel, 0.0))
            self.exposure.labels(channel=channel).set(exposure.get(channel, 0))
            current = states.get(channel, "starting")
            for state in STATES:
                self.state.labels(channel=channel, state=state).set(1 if state == current else 0)
        self.open_conflicts.set(open_conflicts)
        if cluster is not None:
            # Replaced at each scrape: a job that moved leaves no series behind for its old holder.
            self.job_held.clear()
            self.job_epoch.clear()
            self.daemon_up.clear()
            for job in cluster["jobs"]:
                if job["running"]:
                    self.job_held.labels(job=job["job"], daemon=job["daemon"]).set(1)
                self.job_epoch.labels(job=job["job"]).set(job["epoch"])
            for d in cluster["daemons"]:
                standby = "1" if d["standby"] else "0"
                self.daemon_up.labels(daemon=d["daemon"], standby=standby).set(1)
        return generate_latest(self.registry)
