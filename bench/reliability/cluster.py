"""The reliability campaign with several daemons on one PostgreSQL (issue 20):
`python -m bench soak --daemons 3`.

Everything of :mod:`bench.reliability.campaign` (traffic, shop and network faults, PostgreSQL
restarts and terminated backends, the SMTP server going away, the till folder taken away), with
three `syncd run` processes sharing the ledger, each named as its own machine (``[cluster] name``
d0, d1, d2: a killed daemon's leases are not taken early by the dead-pid shortcut, they expire).
Instead of the single daemon's kills, the fault schedule kills (``kill -9``) the active daemon,
pauses it (SIGSTOP past its lease, then SIGCONT), or kills a standby, and restarts the dead.

Measured besides the single daemon's invariants:

- **takeover time**: from the fault to every job the victim held being held by another daemon
  (the ``leases`` table, polled every 50 ms), p50 and p99;
- **stale writes accepted**: an auditor of the campaign's own, independent of syncd's fence.
  Each daemon connects with ``application_name`` = its name (the DSN's query), and triggers on
  the writes a job makes on its own behalf (``documents`` and ``cursors`` of a channel, the
  ``alert_mails`` sent marks) record every write committed by a daemon that, in that
  transaction, does not hold the lease of a job that may write it. Must be 0;
- **stale writes refused**: the daemons' ``stale_write_refused`` events (syncd's fence at work);
- **mailed twice**: a mail (Message-ID, one per alert mail and so per conflict grouped in it)
  received twice by the SMTP server (aiosmtpd), e.g. by two daemons.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import statistics
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg

from bench.reliability.campaign import Campaign, Options, _sleep_or
from syncd.testing.harness import DaemonProcess, free_port

LEASE_SECONDS = 3.0

# Who may write what, on the daemons' behalf: a channel's documents and cursors are its job's,
# alert mails' sent marks the alerts job's.
AUDIT_SQL = """
CREATE TABLE IF NOT EXISTS campaign_stale_writes (
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    daemon text NOT NULL,
    tbl text NOT NULL,
    jobs text NOT NULL,
    holders text NOT NULL
);
CREATE OR REPLACE FUNCTION campaign_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    me text := current_setting('application_name', true);
    jobs text[];
BEGIN
    IF me IS NULL OR me NOT LIKE 'syncd-d%' THEN
        RETURN NEW;  -- the campaign's own reads and writes, `syncd reconcile` of the end
    END IF;
    me := substr(me, 7);
    IF TG_TABLE_NAME = 'alert_mails' THEN
        IF NEW.sent_us IS NOT DISTINCT FROM OLD.sent_us THEN
            RETURN NEW;
        END IF;
        jobs := ARRAY['alerts'];
    ELSE
        jobs := ARRAY['channel:' || NEW.channel];
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM leases WHERE job = ANY(jobs) AND split_part(holder, ':', 1) = me
    ) THEN
        INSERT INTO campaign_stale_writes (daemon, tbl, jobs, holders)
        SELECT me, TG_TABLE_NAME, array_to_string(jobs, ','),
               coalesce(string_agg(job || '=' || holder || '@' || epoch, ','), '')
        FROM leases WHERE job = ANY(jobs);
    END IF;
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS campaign_audit ON documents;
CREATE TRIGGER campaign_audit BEFORE INSERT OR UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION campaign_audit();
DROP TRIGGER IF EXISTS campaign_audit ON cursors;
CREATE TRIGGER campaign_audit BEFORE INSERT OR UPDATE ON cursors
    FOR EACH ROW EXECUTE FUNCTION campaign_audit();
DROP TRIGGER IF EXISTS campaign_audit ON alert_mails;
CREATE TRIGGER campaign_audit BEFORE UPDATE ON alert_mails
    FOR EACH ROW EXECUTE FUNCTION campaign_audit();
"""


class ClusterCampaign(Campaign):
    """:class:`Campaign` with ``options.daemons`` daemons on the campaign's own PostgreSQL."""

    def __init__(self, options: Options) -> None:
        if options.store != "postgres":
            raise ValueError("several daemons share one PostgreSQL: use --store postgres")
        super().__init__(options)
        self.daemons: list[DaemonProcess] = []
        self.paused: set[int] = set()
        self.takeovers: list[float] = []
        self.takeovers_missed: list[str] = []
        self.measuring: list[asyncio.Task[None]] = []

    # -- set-up ---------------------------------------------------------------------------------

    async def set_up(self) -> None:
        await super().set_up()
        base = self.config.read_text(encoding="utf-8")
        dsn = self.pg.dsn if self.pg is not None else ""
        for i in range(self.o.daemons):
            name = f"d{i}"
            # Each its own web port (one machine here) and name; the DSN names the daemon to
            # PostgreSQL (asyncpg sends unknown DSN parameters as server settings).
            text = base.replace(
                f"port = {self.web_port}\n",
                f"port = {self.web_port if i == 0 else free_port()}\n",
            ).replace(json.dumps(dsn), json.dumps(f"{dsn}?application_name=syncd-{name}"))
            text += f'\n[cluster]\nname = "{name}"\nlease_seconds = {LEASE_SECONDS}\n'
            config = self.folder / f"syncd-{name}.toml"
            config.write_text(text, encoding="utf-8")
            self.daemons.append(
                DaemonProcess(config, cwd=self.folder, log=self.folder / f"daemon-{name}.log")
            )
        self.process = self.daemons[0]
        if self.pg is not None:
            self.pg.terminate_backends = self._terminate_daemons  # type: ignore[method-assign]
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(AUDIT_SQL)
        finally:
            await conn.close()

    # -- the daemons ----------------------------------------------------------------------------

    async def _terminate_daemons(self) -> int:
        """pg_terminate_backend of the daemons' sessions (not the campaign's own)."""
        assert self.pg is not None
        conn = await asyncpg.connect(self.pg.dsn)
        try:
            rows = await conn.fetch(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name LIKE 'syncd-d%'"
            )
        finally:
            await conn.close()
        return len(rows)

    def start_daemon(self) -> None:
        """Every daemon not running started, every paused one woken."""
        for i, daemon in enumerate(self.daemons):
            if i in self.paused and daemon.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    daemon.proc.send_signal(signal.SIGCONT)
                self.paused.discard(i)
            if not daemon.running:
                daemon.start()

    def stop_daemon(self, sig: int) -> int:
        """All stopped with ``sig``: the worst exit code."""
        if self.paused:
            self.start_daemon()  # woken first: a paused process never sees the signal
        codes = [self._stop(i, sig) for i in range(len(self.daemons))]
        return max(codes, key=abs)

    def _stop(self, i: int, sig: int) -> int:
        daemon = self.daemons[i]
        if daemon.proc is None:
            return 0
        try:
            code = daemon.stop(sig, 60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            code = daemon.proc.wait(10)
            self.faults["stop_timeouts"] += 1
        self.exit_codes[code] += 1
        return code

    async def leases(self) -> list[tuple[str, str, int, bool]]:
        """(job, daemon name, epoch, current) of every lease, in the database's clock."""
        assert self.pg is not None
        conn = await asyncpg.connect(self.pg.dsn, timeout=5)
        try:
            # Jobs only: not the daemons' presences nor their claims (syncd.ledger.leases).
            rows = await conn.fetch(
                "SELECT job, holder, epoch, expires_us > syncd_now_us() AS current FROM leases"
                " WHERE job NOT LIKE 'daemon:%' AND job NOT LIKE 'claim:%'"
            )
        finally:
            await conn.close()
        return [(r["job"], r["holder"].split(":", 1)[0], r["epoch"], r["current"]) for r in rows]

    async def killer(self) -> None:
        """Kill (-9) or pause the active daemon, now and then a standby; restart the dead."""
        lo, hi = self.o.kill_every
        while not self.stop_traffic.is_set():
            await _sleep_or(self.stop_traffic, self.rng.uniform(lo, hi))
            if self.stop_traffic.is_set():
                return
            try:
                leases = await self.leases()
            except Exception:  # noqa: BLE001 - PostgreSQL restarting: next time
                continue
            held = Counter(d for _, d, _, current in leases if current)
            if not held:
                continue
            active = int(held.most_common(1)[0][0][1:])
            draw = self.rng.random()
            # A short run sees both: the first fault kills the active daemon, the second pauses it.
            done = self.faults["kill_9"] + self.faults["sigstop"]
            draw = 0.3 if done == 0 else 0.8 if done == 1 else draw
            if draw < 0.15:
                standby = [i for i in range(len(self.daemons)) if f"d{i}" not in held]
                if standby:
                    victim = self.rng.choice(standby)
                    await asyncio.to_thread(self._stop, victim, signal.SIGKILL)
                    self.faults["kill_9_standby"] += 1
                    await asyncio.sleep(self.rng.uniform(0.2, 1.0))
                    self.daemons[victim].start()
                continue
            jobs = {(job, epoch) for job, d, epoch, current in leases if d == f"d{active}"}
            fault_at = time.monotonic()
            if draw < 0.6:
                await asyncio.to_thread(self._stop, active, signal.SIGKILL)
                self.faults["kill_9"] += 1
                self.measuring.append(asyncio.create_task(self._takeover(active, jobs, fault_at)))
                await asyncio.sleep(self.rng.uniform(0.2, 2.0))
                self.daemons[active].start()
            else:
                proc = self.daemons[active].proc
                assert proc is not None
                proc.send_signal(signal.SIGSTOP)
                self.paused.add(active)
                self.faults["sigstop"] += 1
                await self._takeover(active, jobs, fault_at)
                # Woken a little after its jobs moved: it must not write again (the auditor).
                await asyncio.sleep(self.rng.uniform(0.0, 1.5))
                if active in self.paused:
                    proc.send_signal(signal.SIGCONT)
                    self.paused.discard(active)

    async def _takeover(self, victim: int, jobs: set[tuple[str, int]], fault_at: float) -> None:
        """Seconds from the fault until another daemon holds each of the victim's jobs."""
        left = dict(jobs)
        deadline = fault_at + 30
        while left and time.monotonic() < deadline:
            # The campaign's own reads meet its faults too (a restart, a terminated backend).
            with contextlib.suppress(Exception):
                # Moved = held, unexpired, at a higher epoch: every takeover raises the epoch
                # and a renewal never does, so the victim (killed or paused) cannot. By whom
                # is not asked: a killed daemon restarted on the same machine (the same name,
                # a new process) takes its dead predecessor's jobs at once, which is a takeover
                # too (counting only other names missed those, and reported them as lost).
                for job, _holder, epoch, current in await self.leases():
                    if job in left and epoch > left[job] and current:
                        del left[job]
            if left:
                await asyncio.sleep(0.05)
        if left:
            self.takeovers_missed.append(f"d{victim}: {sorted(left)}")
        else:
            self.takeovers.append(time.monotonic() - fault_at)

    async def end_faults(self) -> None:
        await asyncio.gather(*self.measuring)
        await super().end_faults()
        self.start_daemon()

    # -- checks ---------------------------------------------------------------------------------

    def _logs(self) -> list[Path]:
        return [d.log_path for d in self.daemons if d.log_path.exists()]

    def log_events(self) -> Counter[str]:
        counts: Counter[str] = Counter()
        for path in self._logs():
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    try:
                        event = json.loads(line)
                    except ValueError:
                        counts["<not json>"] += 1
                        continue
                    counts[str(event.get("event"))] += 1
                    if event.get("event") == "loop_crashed":
                        self.crashes.append(f"{event.get('loop')}: {event.get('error')}")
        return counts

    def leaked_secrets(self) -> list[str]:
        found = []
        for path in self._logs():
            text = path.read_text(encoding="utf-8", errors="replace")
            found += [
                f"{path.name} holds secret #{i}" for i, s in enumerate(self.secrets) if s in text
            ]
        return found

    async def stale_writes(self) -> list[dict[str, Any]]:
        assert self.pg is not None
        conn = await asyncpg.connect(self.pg.dsn)
        try:
            rows = await conn.fetch("SELECT * FROM campaign_stale_writes ORDER BY at")
        finally:
            await conn.close()
        return [{k: str(v) for k, v in dict(r).items()} for r in rows]

    async def run(self) -> dict[str, Any]:
        stale: list[dict[str, Any]] = []

        async def before_tear_down() -> None:
            nonlocal stale
            with contextlib.suppress(OSError, asyncpg.PostgresError):
                stale = await self.stale_writes()

        self._before_tear_down = before_tear_down
        result = await super().run()
        events = self.log_events()
        takeovers = sorted(self.takeovers)
        return {
            **result,
            "daemons": len(self.daemons),
            "lease_seconds": LEASE_SECONDS,
            "sigstops": self.faults["sigstop"],
            "mailed_twice": result["alerts_sent_twice"],
            "stale_writes_accepted": len(stale),
            "stale_writes": stale[:5],
            "stale_writes_refused": events["stale_write_refused"],
            "jobs_lost_on_wake": events["job_lost"] + events["job_stopped_lease_unsure"],
            "takeovers": len(takeovers),
            "takeovers_missed": self.takeovers_missed,
            "takeover_seconds_p50": _quantile(takeovers, 0.5),
            "takeover_seconds_p99": _quantile(takeovers, 0.99),
            "takeover_seconds_max": round(takeovers[-1], 2) if takeovers else None,
        }

    async def tear_down(self) -> None:
        hook = getattr(self, "_before_tear_down", None)
        if hook is not None:
            await hook()
        for i, daemon in enumerate(self.daemons):
            if i in self.paused and daemon.proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    daemon.proc.send_signal(signal.SIGCONT)
            daemon.kill()
        await super().tear_down()


def _quantile(values: list[float], q: float) -> float | None:
    """The ``q`` quantile (inclusive method), rounded to 10 ms; None without values."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[int(q * 100) - 1], 2)


async def run_cluster_campaign(options: Options) -> dict[str, Any]:
    return await ClusterCampaign(options).run()
