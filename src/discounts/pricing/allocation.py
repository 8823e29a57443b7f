"""Splitting a discount over lines by largest remainder, so the parts always add up to the whole.

Rounding each line's share on its own loses or invents cents (1000 cents over 3 lines became
999 in more than one engine); largest remainder (Hamilton's method) cannot: every line first
gets the whole cents of its exact share, and the cents still missing go one each to the
lines whose shares lost the most. Integer arithmetic throughout, so the exact shares are
exact.
"""

from __future__ import annotations

from collections.abc import Sequence


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` cents split in proportion to ``weights`` (cents, ≥ 0); ties go to the earlier weight.

    Each part is its exact share ``total · weight / Σ weights`` rounded down, plus one cent for
    the parts with the largest remainders until the parts sum to ``total``. With ``total``
    at most ``Σ weights`` no part ever exceeds its weight (a share with a remainder is below
    its whole-cent weight, and only those get the extra cent).
    """
    whole = sum(weights)
    if total < 0 or (weights and min(weights) < 0):
        raise ValueError("amounts to allocate are never negative")
    if total == 0:
        return [0] * len(weights)
    if total > whole:
        raise ValueError(f"cannot allocate {total} cents over lines worth {whole}")
    parts = [total * weight // whole for weight in weights]
    missing = total - sum(parts)
    if missing:
        remainders = [total * weight % whole for weight in weights]
        # sorted() is stable: among equal remainders the earlier line comes first.
        for index in sorted(range(len(weights)), key=lambda i: -remainders[i])[:missing]:
            parts[index] += 1
    return parts
