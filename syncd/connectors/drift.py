"""The drift-aware push decision shared by the shops without compare-and-set (PrestaShop,
WooCommerce): from the figure read just before writing, whether to write, leave it, or defer.

- the shop shows less than we believe (``last_known``): it sold units we have not pulled yet;
  writing now would erase that sale, so the push is deferred (the engine pulls first), unless
  the engine forces it after a complete pull;
- it shows more than we believe and than we want, and hand edits are watched
  (``defer_higher``): an edit or a cancellation, looked at before it is written over;
- it already shows the figure: nothing to write.
"""

from __future__ import annotations

from syncd.connectors.base import PushItem, PushResult, PushStatus


def drift_decision(
    item: PushItem, quantity: int, *, negative_is_zero: bool = True
) -> PushResult | None:
    """What to do with ``item`` when the shop shows ``quantity``; None: write it.

    A figure below 0 (orders taken out of stock) sells nothing, as 0 does, so it is compared as
    0. ``negative_is_zero``: such a figure is also "unchanged" when we want 0 (PrestaShop);
    False: 0 is written over it (WooCommerce)."""
    shows = max(0, quantity)
    if item.last_known is not None and shows < item.last_known and not item.force:
        return PushResult(
            item.sku,
            PushStatus.DEFERRED,
            observed=quantity,
            reason="the shop sold units we have not pulled yet",
        )
    if (
        item.defer_higher
        and item.last_known is not None
        and item.last_known < shows != item.available
        and not item.force
    ):
        return PushResult(
            item.sku,
            PushStatus.DEFERRED,
            observed=quantity,
            reason="the shop shows more than syncd wrote: an edit or a cancellation",
        )
    if (shows if negative_is_zero else quantity) == item.available:
        return PushResult(item.sku, PushStatus.UNCHANGED, shown=shows, observed=quantity)
    return None
