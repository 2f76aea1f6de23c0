"""What to do about confirmed differences: corrections to queue, fixes to remember, and drift
that came back right after a fix (a conflict). Pure: decisions from values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from syncd.reconcile.compare import Finding


@dataclass(frozen=True, slots=True)
class RememberedFix:
    """A correction queued by an earlier run: the figure found, the figure set back."""

    sku: str
    figure: int
    wanted: int
    fixed_at: datetime


@dataclass(frozen=True, slots=True)
class FixDecision:
    record: dict[str, int] = field(default_factory=dict)  # SKU → figure the channel shows
    remember: list[RememberedFix] = field(default_factory=list)
    forget: list[str] = field(default_factory=list)
    drift_again: list[tuple[Finding, RememberedFix]] = field(default_factory=list)


def decide_fixes(
    confirmed: Iterable[Finding],
    *,
    clean: Iterable[str],
    remembered: Mapping[str, RememberedFix],
    now: datetime,
    window: timedelta,
    fix: bool,
) -> FixDecision:
    """Decide the corrections of one channel's confirmed findings.

    A fixable difference on a SKU fixed less than ``window`` ago is drift again: the channel
    keeps going back to another figure (a module, an import, a person), which a push cannot
    settle for good. A remembered fix is forgotten once the SKU reads clean, or once it is older
    than ``window``.
    """
    decision = FixDecision()
    found: set[str] = set()
    for finding in confirmed:
        if not finding.fixable:
            continue
        assert finding.figure is not None and finding.wanted is not None
        found.add(finding.sku)
        before = remembered.get(finding.sku)
        if before is not None and now - before.fixed_at <= window:
            decision.drift_again.append((finding, before))
        if fix:
            decision.record[finding.sku] = finding.figure
            decision.remember.append(
                RememberedFix(finding.sku, finding.figure, finding.wanted, now)
            )
    clean_set = set(clean)
    for sku, before in sorted(remembered.items()):
        if sku in found:
            continue
        if sku in clean_set or now - before.fixed_at > window:
            decision.forget.append(sku)
    return decision


def drift_again_detail(finding: Finding, before: RememberedFix) -> dict[str, object]:
    """What a DRIFT_AGAIN conflict carries: both readings and when the first fix was queued."""
    return {
        "figure": finding.figure,
        "wanted": finding.wanted,
        "shown": finding.shown,
        "previous_figure": before.figure,
        "previous_wanted": before.wanted,
        "fixed_at": before.fixed_at.isoformat(),
        "explanation": (
            f"{finding.channel} shows {finding.figure} again for {finding.sku} "
            f"(it showed {before.figure} before the fix of {before.fixed_at:%Y-%m-%d %H:%M} UTC "
            f"set it back to {before.wanted}); something outside syncd keeps changing it"
        ),
    }
