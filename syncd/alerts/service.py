"""The alert loop: new conflicts, rejected rows and long outages become items in the ledger's
alert outbox, grouped into mails (throttled), sent by SMTP with retries, marked sent only once
the server accepted them. It runs beside the ledger and sync loops and never blocks them.

Delivery is at least once, exactly once in practice: a mail is marked sent right after the
SMTP server accepted it; a crash in between makes it go again after the restart, with the same
Message-ID (``<syncd-<mail id>.<created µs>@<from domain>>``), so the copy is recognisable.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Protocol

import structlog

from syncd.alerts.items import (
    build_view,
    channel_back_item,
    conflict_item,
    conflict_payload,
    rejection_item,
)
from syncd.alerts.mailer import Outgoing, SendError, build_message, message_id, send_message
from syncd.alerts.render import render
from syncd.alerts.settings import AlertSettings
from syncd.alerts.throttle import HOUR, Throttle, digest_day
from syncd.alerts.watch import ChannelBack, ChannelDown, ChannelWatch, Observation
from syncd.backoff import backoff_seconds
from syncd.domain import Conflict, ConflictKind, ConflictStatus, iso_utc, utcnow
from syncd.events import EventFeed
from syncd.exceptions import LedgerError, LedgerUnavailable
from syncd.ledger.fencing import check_tenure
from syncd.ledger.store import AlertItem, AlertMail, AlertStore, NewAlertItem, NewAlertMail
from syncd.logs import scrub

log = structlog.get_logger("syncd.alerts")

REJECTIONS_SEEN = "rejections_seen"  # alert_state: the last rejection id turned into an item
DIGEST_DAY = "digest_day"  # alert_state: the local day whose digest was made
REORDER_LISTED = "reorder_listed"  # alert_state: JSON list of the SKUs the last digest listed
FIRST_RUN_REJECTIONS = timedelta(days=1)  # on first start, older rejected rows are not mailed


class ChannelStatusLike(Protocol):
    """What the service reads of a channel runner's status."""

    @property
    def name(self) -> str: ...
    @property
    def state(self) -> Any: ...
    @property
    def last_error(self) -> str: ...


@dataclass
class AlertStatus:
    """What the status page shows of the alert loop (``daemon.alerts.status``)."""

    state: str = "disabled"  # disabled | ok | failing
    last_error: str = ""  # plain words, never a secret
    failure: str = ""  # connect | timeout | tls | auth | refused | protocol
    last_sent_at: datetime | None = None
    last_attempt_at: datetime | None = None
    next_attempt_at: datetime | None = None
    pending: int = 0  # mails not sent yet + items waiting for a mail
    sent: int = 0  # mails sent since the daemon started
    failures: int = 0  # consecutive failed attempts
    recipients: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        def iso(when: datetime | None) -> str | None:
            return None if when is None else iso_utc(when)

        return {
            "state": self.state,
            "last_error": self.last_error,
            "failure": self.failure,
            "last_sent_at": iso(self.last_sent_at),
            "last_attempt_at": iso(self.last_attempt_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "pending": self.pending,
            "sent": self.sent,
            "failures": self.failures,
            "recipients": list(self.recipients),
        }


class AlertService:
    """Turns conflicts into mails; `run` is the daemon's supervised loop, `tick` one round."""

    def __init__(
        self,
        settings: AlertSettings,
        store: AlertStore,
        *,
        channels: Callable[[], Iterable[ChannelStatusLike]] | None = None,
        admin_order_urls: Mapping[str, str] | None = None,
        config_file: str = "",
        events: EventFeed | None = None,
        clock: Callable[[], datetime] = utcnow,
        reorder: Callable[[datetime], Awaitable[Sequence[Mapping[str, Any]]]] | None = None,
    ) -> None:
        """``reorder(now)``: the SKUs to reorder now (syncd.stockin.reorderlist.digest_payloads),
        listed in the daily digest; None: the digest lists conflicts only."""
        self.settings = settings
        self.store = store
        self.channels = channels
        self.admin_order_urls = dict(admin_order_urls or {})
        self.config_file = config_file
        self.events = events
        self.clock = clock
        self.reorder = reorder
        self.throttle = Throttle(
            timedelta(seconds=settings.group_window_seconds), settings.max_mails_per_hour
        )
        self.watch = ChannelWatch(timedelta(minutes=settings.channel_down_minutes))
        self.status = AlertStatus(
            state="ok" if settings.active else "disabled", recipients=settings.to
        )
        self._retry_at: datetime | None = None
        self._resumed = False
        self._unbuildable: set[int] = set()  # mail ids that could not be built (failed alone)

    # -- the loop -------------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        """Until ``stopping`` is set: one round every ``poll_seconds``."""
        if not self.settings.active:
            log.info("alerts_disabled", reason="no recipients" if self.settings.enabled else "off")
        elif self.settings.password_in_clear:
            log.warning(
                "smtp_password_in_clear",
                smtp_host=self.settings.smtp_host,
                smtp_port=self.settings.smtp_port,
                fix='smtp_security = "starttls" or "tls"',
            )
        while not stopping.is_set():
            try:
                await self.tick()
            except LedgerError as err:  # a restarted database: the next round retries
                log.warning("alerts_ledger_unavailable", error=str(err))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), self.settings.poll_seconds)

    async def tick(self) -> None:
        """One round: watch channels, queue new items, build due mails, send what is due."""
        if not self._resumed:
            await self._resume()
        now = self.clock()
        await self._watch_channels(now)
        if not self.settings.active:
            return
        await self._collect(now)
        await self._compose(now)
        await self._digest(now)
        await self._send()
        counts = await self.store.alert_counts()
        self.status.pending = counts.pending_items + counts.unsent_mails
        self.status.last_sent_at = counts.last_sent_at

    async def _resume(self) -> None:
        """Outages reported before a restart: their end is still reported, once."""
        for status in (ConflictStatus.OPEN, ConflictStatus.ACKNOWLEDGED):
            for conflict in await self.store.conflicts(status=status, limit=500):
                if conflict.kind is ConflictKind.CHANNEL_DOWN:
                    since = _parse_time(conflict.detail.get("since")) or conflict.created_at
                    self.watch.resume(conflict.channel, conflict.id, since)
        self._resumed = True

    # -- channel outages ------------------------------------------------------------------------

    async def _watch_channels(self, now: datetime) -> None:
        if self.channels is None:
            return
        observations = [
            Observation(s.name, str(s.state), scrub(s.last_error)) for s in self.channels()
        ]
        for action in self.watch.observe(observations, now):
            if isinstance(action, ChannelDown):
                await self._report_down(action, now)
            else:
                await self._report_back(action, now)

    async def _report_down(self, down: ChannelDown, now: datetime) -> None:
        conflict_id = await self.store.record_conflict(
            ConflictKind.CHANNEL_DOWN,
            channel=down.channel,
            detail={
                "state": down.state,
                "since": down.since.isoformat(),
                "minutes": down.minutes(now),
                "last_error": down.last_error,
            },
        )
        self.watch.reported(down.channel, conflict_id)
        log.warning(
            "channel_down_reported",
            channel=down.channel,
            state=down.state,
            minutes=down.minutes(now),
            conflict=conflict_id,
        )

    async def _report_back(self, back: ChannelBack, now: datetime) -> None:
        await self.store.set_conflict_status(back.conflict_id, ConflictStatus.RESOLVED)
        if self.settings.active:
            await self.store.add_alert_items(
                [channel_back_item(back.channel, back.conflict_id, back.since, now)]
            )
        log.info("channel_back_reported", channel=back.channel, conflict=back.conflict_id)

    # -- queue, group, digest -------------------------------------------------------------------

    async def _collect(self, now: datetime) -> None:
        """New open conflicts (or grown ones) and new rejected rows become items, once each."""
        items: list[NewAlertItem] = [
            conflict_item(c, self.admin_order_urls) for c in await self.store.alert_candidates()
        ]
        state: dict[str, str] = {}
        seen = await self.store.alert_state(REJECTIONS_SEEN)
        rows = await self.store.rejections_after(int(seen or 0), 1000)
        if rows:
            state[REJECTIONS_SEEN] = str(rows[-1].id)
        oldest = now - FIRST_RUN_REJECTIONS if seen is None else None
        # A row of None is a whole file or document: it is an UNREADABLE conflict already.
        items += [
            rejection_item(r)
            for r in rows
            if r.row is not None and (oldest is None or r.recorded_at >= oldest)
        ]
        if items or state:
            await self.store.add_alert_items(items, state=state)

    async def _compose(self, now: datetime) -> None:
        """Pending items → one mail, when the throttle allows; items whose conflict was
        acknowledged or resolved meanwhile are dropped, not mailed."""
        pending = await self.store.pending_alert_items(5000)
        if not pending:
            return
        dropped = [
            i.id for i in pending if i.conflict_id is not None and i.conflict_status != "open"
        ]
        keep = [i for i in pending if i.id not in set(dropped)]
        if not keep:
            await self.store.create_alert_mail(None, dropped=dropped)
            return
        recent = await self.store.alert_mail_times("alert", now - HOUR)
        if self.throttle.next_mail_at(now, recent) > now:
            return
        view = build_view("alert", _latest_payloads(keep), zone=self.settings.zone, now=now)
        rendered = render(view, self.settings, config_file=self.config_file)
        mail_id = await self.store.create_alert_mail(
            NewAlertMail("alert", rendered.subject, rendered.text, rendered.html, len(keep), now),
            items=[i.id for i in keep],
            dropped=dropped,
        )
        log.info("alert_mail_queued", mail=mail_id, items=len(keep), subject=rendered.subject)

    async def _digest(self, now: datetime) -> None:
        """Once a day at ``digest_time``: what is still open (not acknowledged, not resolved),
        and every SKU to reorder now, those not in the previous digest marked new (a SKU not
        ordered yesterday is still to order today)."""
        day = digest_day(now, self.settings.zone, self.settings.digest_at)
        if day is None:
            return
        last = await self.store.alert_state(DIGEST_DAY)
        if last is not None and last >= day.isoformat():
            return
        state = {DIGEST_DAY: day.isoformat()}
        if last is None:  # first start: the first digest is tomorrow's
            await self.store.add_alert_items([], state=state)
            return
        still_open = await self.store.conflicts(status=ConflictStatus.OPEN, limit=500)
        reorder = list(await self.reorder(now)) if self.reorder is not None else []
        if self.reorder is not None:
            state[REORDER_LISTED] = json.dumps(sorted(str(r.get("sku")) for r in reorder))
        if not still_open and not reorder:
            await self.store.add_alert_items([], state=state)
            return
        listed = _skus(await self.store.alert_state(REORDER_LISTED))
        reorder = [{**r, "new": str(r.get("sku")) not in listed} for r in reorder]
        mail = self.digest_mail(still_open, now, reorder=reorder)
        await self.store.create_alert_mail(mail, state=state)
        log.info(
            "alert_digest_queued",
            open_conflicts=len(still_open),
            to_reorder=len(reorder),
            day=day.isoformat(),
        )

    def digest_mail(
        self,
        conflicts: Sequence[Conflict],
        now: datetime,
        *,
        reorder: Sequence[Mapping[str, Any]] = (),
    ) -> NewAlertMail:
        payloads = [conflict_payload(c, self.admin_order_urls) for c in reversed(conflicts)]
        view = build_view("digest", payloads, zone=self.settings.zone, now=now, reorder=reorder)
        rendered = render(view, self.settings, config_file=self.config_file)
        return NewAlertMail(
            "digest",
            rendered.subject,
            rendered.text,
            rendered.html,
            len(conflicts) + len(view.reorder),
            now,
        )

    # -- sending --------------------------------------------------------------------------------

    def retry_now(self) -> None:
        """Send what waits at the next round, without waiting out the backoff (the mail
        settings or the password file were just fixed)."""
        self._retry_at = None

    async def _send(self) -> None:
        now = self.clock()
        if self._retry_at is not None and now < self._retry_at:
            return
        # Mails that cannot be built are skipped (they failed alone), not fetched in their place.
        for mail in await self.store.unsent_alert_mails(10 + len(self._unbuildable)):
            if mail.id in self._unbuildable:
                continue
            self.status.last_attempt_at = self.clock()
            try:
                message = self.message(mail)
            except Exception as err:  # noqa: BLE001 - any failure to build fails this mail only
                await self._unbuildable_mail(mail, err)
                continue
            # Another daemon may have taken the alerts job while this one was paused: then the
            # mail is its to send (StaleLease; the round is tried again by the new holder).
            check_tenure("alert mail")
            try:
                refused = await send_message(self.settings, message)
            except SendError as err:
                await self._failed(mail, err)
                return
            await self._mark_sent(mail)
            self._succeeded(mail, refused)

    async def _mark_sent(self, mail: AlertMail) -> None:
        """Record a mail the server accepted. The ledger may be briefly away (a PostgreSQL
        restart, a terminated backend): unrecorded, the mail would go out again, so the mark is
        retried for about half a minute before the loop gives up (seen under the reliability
        campaign: a backend terminated between the server's 250 and the mark)."""
        for attempt in range(1, 9):
            try:
                await self.store.mark_alert_mail_sent(mail.id, self.clock())
                return
            except LedgerUnavailable as err:
                if attempt == 8:
                    raise
                log.warning("alert_mail_mark_retry", mail=mail.id, error=str(err))
                await asyncio.sleep(backoff_seconds(attempt, base=0.25, cap=8))

    def message(self, mail: AlertMail) -> EmailMessage:
        """The mail as it will be sent; flattened once here, so that a mail that cannot be
        turned into bytes fails now, alone, and not inside the SMTP client."""
        outgoing = Outgoing(
            mail.id, mail.created_at, mail.subject, mail.body_text, mail.body_html, mail.kind
        )
        message = build_message(self.settings, outgoing)
        message.as_bytes()
        return message

    async def _unbuildable_mail(self, mail: AlertMail, err: Exception) -> None:
        """A mail that cannot be built is marked failed with the reason and logged once; it
        is not tried again by this process, and the mails behind it still go."""
        self._unbuildable.add(mail.id)
        reason = scrub(f"the mail could not be built: {type(err).__name__}: {err}")
        await self.store.mark_alert_mail_failed(mail.id, reason)
        log.error("alert_mail_unbuildable", mail=mail.id, kind=mail.kind, error=reason)
        if self.events is not None:
            self.events.publish("alert_mail_unbuildable", mail=mail.id, error=reason)

    async def _failed(self, mail: AlertMail, err: SendError) -> None:
        status = self.status
        status.failures += 1
        # A refused login or address needs a person: no point knocking every few seconds.
        base = 30.0 if err.kind in ("auth", "refused") else 2.0
        wait = backoff_seconds(status.failures, base=base, cap=self.settings.retry_max_seconds)
        self._retry_at = self.clock() + timedelta(seconds=wait)
        await self.store.mark_alert_mail_failed(mail.id, str(err))
        changed = status.state != "failing" or status.failure != err.kind
        status.state = "failing"
        status.failure = err.kind
        status.last_error = str(err)
        status.next_attempt_at = self._retry_at
        if changed:  # an outage is logged when it starts (and when it changes), not per retry
            log.error(
                "alert_send_failed",
                error=str(err),
                failure=err.kind,
                mail=mail.id,
                retry_in_seconds=round(wait),
            )
            if self.events is not None:
                self.events.publish("alert_send_failed", error=str(err), failure=err.kind)
        else:
            log.debug("alert_send_retry_failed", mail=mail.id, failures=status.failures)

    def _succeeded(self, mail: AlertMail, refused: Sequence[str]) -> None:
        status = self.status
        if status.state == "failing":
            log.info("alert_send_recovered", after_failures=status.failures)
            if self.events is not None:
                self.events.publish("alert_send_recovered", after_failures=status.failures)
        status.state = "ok"
        status.failure = ""
        status.last_error = ""
        status.failures = 0
        status.next_attempt_at = None
        status.sent += 1
        self._retry_at = None
        log.info(
            "alert_mail_sent",
            mail=mail.id,
            kind=mail.kind,
            items=mail.items,
            message_id=message_id(self.settings, mail.id, mail.created_at),
            recipients=len(self.settings.to) - len(refused),
        )
        if refused:
            log.warning("alert_recipients_refused", mail=mail.id, recipients=list(refused))
        if self.events is not None:
            self.events.publish("alert_sent", mail=mail.id, kind=mail.kind, items=mail.items)


def _latest_payloads(items: Sequence[AlertItem]) -> list[Mapping[str, Any]]:
    """One payload per conflict (its latest: a grown oversell is shown once, as it is now)."""
    latest: dict[str, AlertItem] = {}
    for item in items:
        key = f"conflict:{item.conflict_id}" if item.conflict_id is not None else item.key
        latest[key] = item
    return [i.payload for i in sorted(latest.values(), key=lambda i: i.id)]


def _skus(stored: str | None) -> set[str]:
    """The SKUs a digest listed (alert_state), none when unknown or unreadable."""
    try:
        found = json.loads(stored or "[]")
    except ValueError:
        return set()
    return {str(s) for s in found} if isinstance(found, list) else set()


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


async def send_test_mail(settings: AlertSettings, *, config_file: str = "") -> str:
    """`syncd test-alert`: one test mail, sent now (not through the outbox). Returns its
    Message-ID; raises SendError saying what failed."""
    now = utcnow()
    view = build_view("test", [], zone=settings.zone, now=now)
    rendered = render(view, settings, config_file=config_file)
    outgoing = Outgoing(0, now, rendered.subject, rendered.text, rendered.html, "test")
    await send_message(settings, build_message(settings, outgoing))
    return message_id(settings, 0, now)
