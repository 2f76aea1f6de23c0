"""Retry waits: exponential backoff with full jitter, for channels, loops and mail."""

from __future__ import annotations

import random


def backoff_seconds(failures: int, *, base: float = 0.5, cap: float = 300.0) -> float:
    """Exponential backoff with full jitter (STYLE.md §9)."""
    ceiling = min(cap, base * 2 ** max(0, failures - 1))
    return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not crypto
