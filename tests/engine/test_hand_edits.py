"""Back-office edits (hand_edits adopt | revert | report), in-process daemon over fake shops and a
real ledger on both backends: an edit adopted once, an order placed during the edit counted once,
a push in flight or a lost update never taken for an edit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from syncd.cli.run import ServedDaemon
from syncd.domain import STOCK_CHANNEL, ConflictKind, Document, DocumentKind
from syncd.exceptions import ConnectorError
from syncd.testing import FakeChannel, FakeConnector
from syncd.testing.daemon import settings_for as fake_settings
from syncd.testing.harness import until
from tests.conftest import DaemonStarter

DEFAULTS: dict[str, Any] = {
    "sync": {"retry_max_seconds": 1, "outbox_poll_seconds": 1, "grace_seconds": 2},
    "channels": {
        "till": {"type": "fake", "poll_seconds": 0.2},
        "shop": {"type": "fake", "poll_seconds": 0.2},
    },
}


@pytest.fixture
def channels(fake_connector: type[FakeConnector]) -> dict[str, FakeChannel]:
    fake_connector.channels["till"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    fake_connector.channels["shop"] = FakeChannel(figures={"SHIRT-44": 1, "CAP": 5})
    return fake_connector.channels


def settings(tmp_path: Path, backend: tuple[str, str], mode: str = "adopt") -> Any:
    shop = {"type": "fake", "poll_seconds": 0.2, "hand_edits": mode}
    return fake_settings(tmp_path, DEFAULTS, ledger=backend, channels={"shop": shop})


def order(doc_id: str, lines: dict[str, int]) -> Document:
    now = datetime.now(UTC)  # a real shop stamps its orders with the time they were placed
    return Document("shop", doc_id, DocumentKind.WEB_ORDER, lines, now, version=1)


def shop(daemon: ServedDaemon) -> FakeConnector:
    c = daemon.runners["shop"].connector
    assert isinstance(c, FakeConnector)
    return c


def till(daemon: ServedDaemon) -> FakeConnector:
    c = daemon.runners["till"].connector
    assert isinstance(c, FakeConnector)
    return c


async def edits_booked(daemon: ServedDaemon) -> list[tuple[str, int]]:
    assert daemon.store is not None
    out = []
    for m in await daemon.store.movements(channel=STOCK_CHANNEL, limit=1000):
        if m.reason.value == "hand_edit":
            out.append((m.sku, m.delta))
    return out


async def opened(daemon: ServedDaemon, channels: dict[str, FakeChannel]) -> None:
    """The opening figures written to both channels (what syncd believes they show)."""
    assert daemon.store is not None
    store = daemon.store

    async def written() -> bool:
        believed = [await store.believed_figures(c, ["CAP"]) for c in channels]
        return all(b.get("CAP") == 5 for b in believed)

    await until(written)


async def settle(daemon: ServedDaemon) -> None:
    """A few pull generations of the shop: what is to be found has been found."""
    start = daemon.runners["shop"].status.pull_generation
    await until(lambda: daemon.runners["shop"].status.pull_generation >= start + 4)


async def test_an_edit_in_the_back_office_is_adopted_and_reaches_the_till(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    # the merchant books the 10 caps just delivered in the shop's own stock screen
    channels["shop"].figures["CAP"] = 15
    # a till sale makes syncd push the cap: the push finds 15 where it wrote 5 and waits
    shop_state = channels["shop"]
    till(daemon).sell(
        Document("till", "t-1", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    await until(lambda: shop_state.figures["CAP"] == 14)
    await until(lambda: channels["till"].figures["CAP"] == 14)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 14}
    assert await edits_booked(daemon) == [("CAP", 10)]
    await settle(daemon)
    assert await edits_booked(daemon) == [("CAP", 10)]  # adopted once
    assert shop_state.figures["CAP"] == 14


async def test_an_edit_with_an_order_placed_meanwhile_counts_the_order_once(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    # The merchant adds 10 caps (15); a till sale makes syncd push: the push finds more than it
    # wrote and waits. The read that follows the next pull is held up, and a customer orders
    # one cap just after that pull: the shop shows 14, and the order is not pulled yet.
    # Adopting 14 − 5 = 9 then would count the order twice once it is pulled.
    gate = asyncio.Event()
    channels["shop"].read_gate = gate
    channels["shop"].figures["CAP"] = 15
    till(daemon).sell(
        Document("till", "t-5", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    pulls = channels["shop"].pulls
    await until(lambda: channels["shop"].pulls > pulls)
    await asyncio.sleep(0.1)  # that pull is over; its read waits at the gate
    channels["shop"].figures["CAP"] = 14
    channels["shop"].documents.append(order("1050", {"CAP": 1}))
    gate.set()
    await until(lambda: channels["till"].figures["CAP"] == 13)
    await until(lambda: channels["shop"].figures["CAP"] == 13)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 13}
    assert await edits_booked(daemon) == [("CAP", 10)]
    # an order after the adoption is counted once
    shop(daemon).sell(order("1051", {"CAP": 2}))
    await until(lambda: channels["till"].figures["CAP"] == 11)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 11}
    assert channels["shop"].figures["CAP"] == 11
    assert await edits_booked(daemon) == [("CAP", 10)]


async def test_a_lowered_figure_is_adopted_not_written_over(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].figures["CAP"] = 3  # two caps broken, taken off in the back office
    till(daemon).sell(
        Document("till", "t-2", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    await until(lambda: channels["till"].figures["CAP"] == 2)
    await until(lambda: channels["shop"].figures["CAP"] == 2)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 2}
    assert await edits_booked(daemon) == [("CAP", -2)]


async def test_a_sale_overwritten_by_our_own_push_is_not_an_edit(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].push_delay = 0.5  # the shop is slow: a read, half a second, a write
    till(daemon).sell(
        Document("till", "t-3", DocumentKind.TILL_RECEIPT, {"CAP": 2}, datetime.now(UTC))
    )
    reads = channels["shop"].reads
    await until(lambda: channels["shop"].reads > reads)  # the push has read 5 and waits
    # A customer orders one cap now: the shop shows 4, then our push writes 3 over it. The
    # order reaches syncd's next pull only after that write was acknowledged.
    placed = order("1060", {"CAP": 1})
    channels["shop"].figures["CAP"] -= 1
    channels["shop"].push_delay = 0.0
    await until(lambda: channels["shop"].figures["CAP"] == 3)
    await asyncio.sleep(0.3)
    channels["shop"].documents.append(placed)
    shop(daemon).nudge()
    await until(lambda: channels["till"].figures["CAP"] == 2)
    await until(lambda: channels["shop"].figures["CAP"] == 2)  # the lost update repaired
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 2}
    assert await edits_booked(daemon) == []


async def test_a_sale_written_over_then_cancelled_before_we_saw_it_is_not_an_edit(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    """Campaign with WooCommerce, seed 116: the shop sold one while our push was between its
    read and its write (written over), then the order was cancelled and its unit given back.
    syncd first sees the order already cancelled (nothing to count): the shop shows our write
    plus one. That is ours to write back, not a back-office edit to adopt."""
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].push_delay = 0.5  # the shop is slow: a read, half a second, a write
    till(daemon).sell(
        Document("till", "t-3", DocumentKind.TILL_RECEIPT, {"CAP": 2}, datetime.now(UTC))
    )
    reads = channels["shop"].reads
    await until(lambda: channels["shop"].reads > reads)  # the push has read 5 and waits
    channels["shop"].figures["CAP"] -= 1  # a customer orders one cap: 4
    channels["shop"].push_delay = 0.0
    await until(lambda: channels["shop"].figures["CAP"] == 3)  # our 3 written over it
    await asyncio.sleep(0.3)
    channels["shop"].figures["CAP"] += 1  # the order cancelled, its cap given back: 4
    now = datetime.now(UTC)
    channels["shop"].documents.append(
        Document("shop", "1061", DocumentKind.WEB_ORDER, {"CAP": 0}, now, version=2, cancelled=True)
    )
    shop(daemon).nudge()
    await settle(daemon)
    # a till sale: the push finds the shop above what we believe (4, not 3)
    till(daemon).sell(
        Document("till", "t-4", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    await until(lambda: channels["shop"].figures["CAP"] == 2)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 2}
    assert await edits_booked(daemon) == []
    assert channels["shop"].figures["CAP"] == 2 and channels["till"].figures["CAP"] == 2


async def test_a_sale_written_over_by_a_write_whose_answer_was_lost_then_cancelled_is_not_an_edit(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    """Campaign seed 438 (PostgreSQL): as seed 116, but our write's answer was lost (a kill):
    the ledger still believes the figure before it (5), and the shop shows our 3 plus the cap
    the cancellation gave back (4), below what we believe. Ours, not an edit of -1."""
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].push_delay = 0.5  # the shop is slow: a read, half a second, a write
    channels["shop"].lose_answers = ConnectorError("connection reset after the write")
    till(daemon).sell(
        Document("till", "t-10", DocumentKind.TILL_RECEIPT, {"CAP": 2}, datetime.now(UTC))
    )
    reads = channels["shop"].reads
    await until(lambda: channels["shop"].reads > reads)  # the push has read 5 and waits
    channels["shop"].figures["CAP"] -= 1  # a customer orders one cap: 4
    channels["shop"].push_delay = 0.0
    await until(lambda: channels["shop"].figures["CAP"] == 3)  # our 3 written over it, unanswered
    channels["shop"].figures["CAP"] += 1  # the order cancelled, its cap given back: 4
    now = datetime.now(UTC)
    channels["shop"].documents.append(
        Document("shop", "1062", DocumentKind.WEB_ORDER, {"CAP": 0}, now, version=2, cancelled=True)
    )
    channels["shop"].lose_answers = None
    shop(daemon).nudge()
    await until(lambda: channels["shop"].figures["CAP"] == 3)  # written back
    await settle(daemon)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 3}
    assert await edits_booked(daemon) == []
    assert channels["shop"].figures["CAP"] == 3 and channels["till"].figures["CAP"] == 3


async def test_an_order_after_a_write_whose_answer_was_lost_is_not_an_edit(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    # Seen under the reliability campaign: a push lands but its answer is lost (a kill, a
    # connection reset), so syncd still believes the old figure; a customer then orders. The
    # shop shows what we wrote less the order: our write, never a back-office edit.
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].lose_answers = ConnectorError("connection reset after the write")
    till(daemon).sell(
        Document("till", "t-6", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    await until(lambda: channels["shop"].figures["CAP"] == 4)
    shop(daemon).sell(order("1070", {"CAP": 1}))
    channels["shop"].lose_answers = None
    await until(lambda: channels["till"].figures["CAP"] == 3)
    await settle(daemon)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 3}
    assert channels["shop"].figures["CAP"] == 3
    assert await edits_booked(daemon) == []


async def test_an_order_pulled_before_our_write_is_acknowledged_is_not_an_edit(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    # Seen under the reliability campaign (Magento): our write lands, a customer orders, the
    # order is pulled, and only then the write's answer arrives: the acknowledgement sets the
    # belief to what we wrote, which the shop no longer shows. Still our write, not an edit.
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].answer_delay = 1.0
    till(daemon).sell(
        Document("till", "t-7", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    await until(lambda: channels["shop"].figures["CAP"] == 4)
    pulls = channels["shop"].pulls
    shop(daemon).sell(order("1080", {"CAP": 1}))
    till(daemon).sell(  # so that what syncd writes next is not what the shop shows
        Document("till", "t-8", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    await until(lambda: channels["shop"].pulls > pulls + 1)  # pulled while the answer waits
    channels["shop"].answer_delay = 0.0
    await until(lambda: channels["shop"].figures["CAP"] == 2)
    await settle(daemon)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 2}
    assert channels["shop"].figures["CAP"] == 2
    assert channels["till"].figures["CAP"] == 2
    assert await edits_booked(daemon) == []


async def test_report_records_a_conflict_and_books_nothing(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    daemon = await start_daemon(settings(tmp_path, ledger_backend, "report"))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].figures["CAP"] = 9
    shop(daemon).sell(order("1070", {"CAP": 1}))  # the read-back looks at CAP

    async def reported() -> bool:
        assert daemon.store is not None
        return any(c.kind is ConflictKind.HAND_EDIT for c in await daemon.store.conflicts())

    await until(reported)
    assert await edits_booked(daemon) == []
    assert await daemon.store.levels(["CAP"]) == {"CAP": 4}


async def test_revert_writes_the_ledger_figure_back(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    daemon = await start_daemon(settings(tmp_path, ledger_backend, "revert"))
    assert daemon.store is not None
    await opened(daemon, channels)
    channels["shop"].figures["CAP"] = 9
    shop(daemon).sell(order("1080", {"CAP": 1}))
    await until(lambda: channels["shop"].figures["CAP"] == 4)
    assert await edits_booked(daemon) == []
    assert await daemon.store.levels(["CAP"]) == {"CAP": 4}


async def erase_a_restock(daemon: ServedDaemon, channels: dict[str, FakeChannel]) -> None:
    """The mirror race (campaign, PrestaShop one unit lower than the ledger): the shop's order
    1090 of one cap is counted (4); a till sale of one makes syncd push 3; the order is
    cancelled in the shop while the push is between its read and its write, and the write of
    3 erases the cap the cancellation gave back. The cancellation is not pulled yet."""
    assert daemon.store is not None
    shop(daemon).sell(order("1090", {"CAP": 1}))
    await until(lambda: channels["till"].figures["CAP"] == 4)
    channels["shop"].push_delay = 0.5  # the shop is slow: a read, half a second, a write
    till(daemon).sell(
        Document("till", "t-9", DocumentKind.TILL_RECEIPT, {"CAP": 1}, datetime.now(UTC))
    )
    reads = channels["shop"].reads
    await until(lambda: channels["shop"].reads > reads)  # the push has read 4 and waits
    channels["shop"].figures["CAP"] += 1  # order 1090 cancelled: its cap given back (5)
    channels["shop"].push_delay = 0.0
    await until(lambda: channels["shop"].figures["CAP"] == 3)  # our 3 written over it
    await until(lambda: channels["till"].figures["CAP"] == 3)


def cancelled_1090() -> Document:
    now = datetime.now(UTC)
    return Document("shop", "1090", DocumentKind.WEB_ORDER, {"CAP": 0}, now, 2, cancelled=True)


@pytest.mark.parametrize("mode", ["adopt", "revert"])
async def test_a_read_back_that_failed_is_made_at_a_later_pull(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
    mode: str,
) -> None:
    """The cancellation pulled, the ledger believes the shop shows 3 + 1 and queues nothing:
    only the read-back after that pull can find the shop at 3. When that read fails (the shop
    answers 500, the connection drops), the SKU is read back at a later pull, not forgotten
    until the next reconciliation."""
    daemon = await start_daemon(settings(tmp_path, ledger_backend, mode))
    assert daemon.store is not None
    await opened(daemon, channels)
    await erase_a_restock(daemon, channels)
    channels["shop"].fail_read = ConnectorError("500 Internal Server Error")
    channels["shop"].documents.append(cancelled_1090())
    shop(daemon).nudge()
    await until(lambda: channels["till"].figures["CAP"] == 4)  # pulled: the ledger has 4
    await settle(daemon)
    assert channels["shop"].figures["CAP"] == 3  # nothing could be read
    channels["shop"].fail_read = None
    await until(lambda: channels["shop"].figures["CAP"] == 4)
    await settle(daemon)
    assert await daemon.store.levels(["CAP"]) == {"CAP": 4}
    assert await edits_booked(daemon) == []


async def test_a_read_back_cut_short_by_a_stop_is_made_by_the_next_daemon(
    tmp_path: Path,
    channels: dict[str, FakeChannel],
    ledger_backend: tuple[str, str],  # before start_daemon: the daemon stops first
    start_daemon: DaemonStarter,
) -> None:
    """The same race, and the daemon stops (killed, in the campaign) after the pull of the
    cancellation committed, before its read-back: the next daemon reads the channel's recently
    moved SKUs back at its first pull. Nothing else would: the cursor is past the order."""
    daemon = await start_daemon(settings(tmp_path, ledger_backend))
    assert daemon.store is not None
    await opened(daemon, channels)
    await erase_a_restock(daemon, channels)
    gate = asyncio.Event()
    channels["shop"].read_gate = gate  # the read-back waits here until the daemon is gone
    channels["shop"].documents.append(cancelled_1090())
    shop(daemon).nudge()
    await until(lambda: channels["till"].figures["CAP"] == 4)  # pulled: the ledger has 4
    await daemon.stop()
    channels["shop"].read_gate = None
    assert channels["shop"].figures["CAP"] == 3
    with capture_logs() as logs:
        again = await start_daemon(settings(tmp_path, ledger_backend))
        assert again.store is not None
        await until(lambda: channels["shop"].figures["CAP"] == 4)
        await settle(again)
    owed = [e for e in logs if e["event"] == "read_backs_owed" and e["channel"] == "shop"]
    assert [e["skus"] for e in owed] == [1]  # CAP, the SKU the shop's documents moved
    corrected = [e for e in logs if e["event"] == "channel_figure_corrected"]
    assert [e["found"] for e in corrected] == [{"CAP": [3, 4]}]  # read 3 (ours), believed 4
    assert await again.store.levels(["CAP"]) == {"CAP": 4}
    assert await edits_booked(again) == []
