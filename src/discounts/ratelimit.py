"""Per-caller request limits whose memory and CPU stay bounded in a flash sale.

A flash sale is one key per shopper: hundreds of thousands of keys a minute. The in-memory
storages of the ``limits`` library keep one entry per hit and sweep every key on a timer (the
asyncio one hops to a thread for each key), so their cost grows with the number of callers
(measured in benchmarks/README.md). This is the same *sliding window counter* as limits'
``SlidingWindowCounterRateLimiter`` — the previous window's count, weighted by how much of it
still overlaps the sliding window, plus the current one's — kept as two counters per key in
one dict per window: when a window ends, the dict two windows old is dropped whole, so
forgetting a million keys costs one dict deallocation and nothing is ever swept key by key.
``limits`` still parses the configuration (``20/second;1000/minute``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from limits import parse_many


@dataclass(slots=True)
class _Window:
    """The counts of one limit, for its current and its previous fixed window."""

    amount: int
    seconds: float
    index: int = -1
    current: dict[str, int] = field(default_factory=dict)
    previous: dict[str, int] = field(default_factory=dict)

    def roll(self, now: float) -> float:
        """Move to the window ``now`` falls in; returns how far into it ``now`` is (0..1)."""
        index = int(now // self.seconds)
        if index != self.index:
            self.previous = self.current if index == self.index + 1 else {}
            self.current = {}
            self.index = index
        return (now % self.seconds) / self.seconds

    def retry_after(self, key: str, now: float) -> int:
        """Whole seconds until the weighted count has room again (at least 1)."""
        elapsed = self.roll(now)
        previous, current = self.previous.get(key, 0), self.current.get(key, 0)
        if current >= self.amount:  # only the next window has room
            return max(1, math.ceil((1 - elapsed) * self.seconds))
        # The previous window's weight falls linearly; room appears once it is below amount - current.
        needed = 1 - (self.amount - current - 1) / previous if previous else 0.0
        return max(1, math.ceil((needed - elapsed) * self.seconds))


class RateLimit:
    """Limits such as ``1000/minute`` per key, in this process's memory; empty spec: no limit."""

    def __init__(self, spec: str, clock: Callable[[], float] = time.time) -> None:
        self._windows = [_Window(item.amount, float(item.get_expiry())) for item in parse_many(spec)] if spec else []
        self._clock = clock

    def hit(self, key: str) -> int | None:
        """Count one request of ``key``; None if allowed, else the seconds to wait (nothing counted)."""
        if not self._windows:
            return None
        now = self._clock()
        for window in self._windows:
            elapsed = window.roll(now)
            weighted = window.previous.get(key, 0) * (1 - elapsed) + window.current.get(key, 0)
            if weighted + 1 > window.amount + 1e-9:  # (float weights: 9.000000000000002 is 9)
                return window.retry_after(key, now)
        for window in self._windows:
            window.current[key] = window.current.get(key, 0) + 1
        return None

    def keys(self) -> int:
        """How many keys are remembered (for tests of the bound and for benchmarks)."""
        return sum(len(w.current) + len(w.previous) for w in self._windows)
