"""Token-bucket arithmetic and the in-process limiter."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casset_rights.errors import InvalidInput
from casset_rights.ratelimit import InProcessRateLimiter, Quota, take

QUOTA = Quota(capacity=10, per_minute=60)  # one token a second


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_serves_its_capacity_then_refuses() -> None:
    tokens, at = 10.0, 0.0
    verdicts = []
    for _ in range(11):
        tokens, verdict = take(tokens, at, 0.0, QUOTA)
        verdicts.append(verdict)
    assert [v.allowed for v in verdicts] == [True] * 10 + [False]
    assert [v.remaining for v in verdicts[:3]] == [9, 8, 7]
    refused = verdicts[-1]
    assert refused.retry_after == 1 and refused.limit == 10 and refused.window_seconds == 10
    assert refused.reset == 10


def test_refill_is_proportional_to_time_and_capped() -> None:
    tokens, _ = take(0.0, 0.0, 2.5, QUOTA)  # 2.5 tokens came back, one taken
    assert tokens == pytest.approx(1.5)
    tokens, verdict = take(0.0, 0.0, 3600.0, QUOTA)
    assert tokens == 9.0 and verdict.remaining == 9


def test_a_clock_that_goes_back_adds_nothing() -> None:
    tokens, verdict = take(0.0, 100.0, 50.0, QUOTA)
    assert not verdict.allowed and tokens == 0.0


def test_a_quota_that_refuses_everything_is_refused() -> None:
    with pytest.raises(InvalidInput):
        Quota(capacity=0, per_minute=10)
    with pytest.raises(InvalidInput):
        Quota(capacity=5, per_minute=0)


@settings(max_examples=200, deadline=None)
@given(capacity=st.integers(1, 50), per_minute=st.integers(1, 600),
       gaps=st.lists(st.floats(0, 5, allow_nan=False), min_size=1, max_size=80))
def test_never_more_than_capacity_plus_refill(capacity: int, per_minute: int,
                                              gaps: list[float]) -> None:
    quota = Quota(capacity=capacity, per_minute=per_minute)
    tokens, at, now, allowed = float(capacity), 0.0, 0.0, 0
    for gap in gaps:
        now += gap
        tokens, verdict = take(tokens, at, now, quota)
        at = now
        allowed += verdict.allowed
        assert 0 <= verdict.remaining <= capacity
        assert verdict.allowed or verdict.retry_after >= 1
    assert allowed <= capacity + now * quota.per_second + 1e-9


def test_in_process_limiter_keeps_buckets_apart() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(clock=clock)
    quota = Quota(capacity=2, per_minute=60)

    async def run() -> list[bool]:
        out = []
        for key in ("a", "a", "a", "b"):
            out.append((await limiter.take(key, quota)).allowed)
        clock.now += 1.0
        out.append((await limiter.take("a", quota)).allowed)
        await limiter.aclose()
        return out

    assert asyncio.run(run()) == [True, True, False, True, True]


def test_in_process_limiter_forgets_full_buckets_past_its_bound() -> None:
    clock = Clock()
    limiter = InProcessRateLimiter(clock=clock, max_keys=10)
    quota = Quota(capacity=1, per_minute=60)
    for i in range(10):
        limiter.take_now(f"k{i}", quota)
    clock.now += 5  # every bucket is full again
    limiter.take_now("new", quota)
    assert len(limiter._buckets) == 1
