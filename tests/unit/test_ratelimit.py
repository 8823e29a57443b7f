"""The per-caller limit: a sliding window counter whose memory forgets whole windows at once."""

from __future__ import annotations

import pytest

from discounts.ratelimit import RateLimit


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_allows_the_limit_then_refuses_with_a_wait() -> None:
    clock = Clock()
    limit = RateLimit("5/minute", clock)
    assert [limit.hit("u") for _ in range(5)] == [None] * 5
    wait = limit.hit("u")
    assert wait is not None
    assert 1 <= wait <= 60


def test_keys_are_counted_apart() -> None:
    limit = RateLimit("2/minute", Clock())
    assert [limit.hit("a"), limit.hit("a")] == [None, None]
    assert limit.hit("a") is not None
    assert limit.hit("b") is None


def test_a_refused_request_is_not_counted() -> None:
    clock = Clock(60_000.0)  # the start of a window
    limit = RateLimit("2/minute", clock)
    limit.hit("u"), limit.hit("u")
    for _ in range(10):
        assert limit.hit("u") is not None
    clock.now += 120  # two windows later nothing of the past counts
    assert [limit.hit("u"), limit.hit("u")] == [None, None]


def test_the_previous_window_counts_in_proportion_to_its_overlap() -> None:
    clock = Clock(60_000.0)
    limit = RateLimit("10/minute", clock)
    for _ in range(10):
        assert limit.hit("u") is None
    clock.now += 60 + 30  # half-way through the next window: the previous 10 weigh 5
    assert [limit.hit("u") for _ in range(5)] == [None] * 5
    assert limit.hit("u") is not None


def test_the_wait_it_gives_is_enough() -> None:
    clock = Clock(60_000.0)
    limit = RateLimit("10/minute", clock)
    for _ in range(10):
        limit.hit("u")
    clock.now += 65  # the previous 10 still weigh 9.2
    wait = limit.hit("u")
    assert wait is not None
    clock.now += wait
    assert limit.hit("u") is None


def test_every_limit_of_a_spec_applies() -> None:
    clock = Clock(60_000.0)
    limit = RateLimit("2/second;3/minute", clock)
    assert [limit.hit("u"), limit.hit("u")] == [None, None]
    assert limit.hit("u") is not None  # the per-second limit
    clock.now += 2
    assert limit.hit("u") is None
    assert limit.hit("u") is not None  # the per-minute limit: 3 used, though this second has room


@pytest.mark.parametrize("spec", ["", "1000/minute"])
def test_memory_stays_bounded_with_a_new_key_per_request(spec: str) -> None:
    """A flash sale: one key per shopper. Keys older than two windows are gone, all at once."""
    clock = Clock(60_000.0)
    limit = RateLimit(spec, clock)
    for n in range(50_000):
        clock.now += 0.01  # 100 new callers a second, for 500 seconds
        assert limit.hit(f"user:{n}") is None
    # at most two minutes of callers are remembered: 100/s x 120 s
    assert limit.keys() <= 12_000


def test_no_spec_means_no_limit() -> None:
    limit = RateLimit("", Clock())
    assert all(limit.hit("u") is None for _ in range(10_000))
