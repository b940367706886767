"""Sizes as pages and messages print them: decimal units (1 kB = 1000 bytes), as disks and
quotas (``DATA_PROJECT_QUOTA_GB``) count them; the browser's ``GK.size`` prints the same."""

from __future__ import annotations


def human_size(n: int) -> str:
    """``n`` bytes as ``512 B``, ``1.50 kB``, ``209.72 MB``..."""
    value = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.2f} {unit}"
        value /= 1000
    return f"{n} B"  # pragma: no cover - the loop returns at TB
