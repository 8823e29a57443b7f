"""When a failed delivery is tried again: growing delays with jitter, for a day and a half.

Delays after the 1st, 2nd, … failed attempt (±20 % jitter, so that endpoints that fail
together do not retry together): 5 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h, 12 h, 12 h —
34.7 hours from the first attempt to the 11th and last. The first retry comes within 6 s.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta

DELAYS = tuple(timedelta(seconds=s) for s in (5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 12 * 3600))
JITTER = 0.2
#: An endpoint that has failed every attempt for this long is disabled and its brand e-mailed.
DISABLE_AFTER = timedelta(days=3)


def retry_after(attempts: int, draw: Callable[[], float] = random.random) -> timedelta | None:
    """The delay before the next attempt after ``attempts`` failed ones, or None: no attempt is left."""
    if attempts > len(DELAYS):
        return None
    return DELAYS[attempts - 1] * (1 - JITTER + 2 * JITTER * draw())
