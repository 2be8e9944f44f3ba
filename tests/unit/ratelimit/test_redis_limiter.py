"""The Redis limiter against the machine's real Redis (CASSET_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import random
import uuid

import pytest
import redis

from casset_rights.ratelimit import Quota, RedisRateLimiter

REDIS_URL = os.environ.get("CASSET_TEST_REDIS_URL", "")
pytestmark = [pytest.mark.redis,
              pytest.mark.skipif(not REDIS_URL, reason="CASSET_TEST_REDIS_URL is not set")]


@pytest.fixture
def prefix() -> str:
    return f"test-{uuid.uuid4().hex}:"


def test_a_bucket_in_redis(prefix: str) -> None:
    limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
    quota = Quota(capacity=3, per_minute=60)

    async def run() -> list[tuple[bool, int]]:
        try:
            return [((v := await limiter.take("k", quota)).allowed, v.remaining)
                    for _ in range(4)]
        finally:
            await limiter.aclose()

    assert asyncio.run(run()) == [(True, 2), (True, 1), (True, 0), (False, 0)]
    client = redis.Redis.from_url(REDIS_URL)
    ttl = client.pttl(prefix + "rl:k")
    client.close()
    assert 0 < ttl <= 4000  # gone once it would be full again


def test_concurrent_takes_are_atomic(prefix: str) -> None:
    quota = Quota(capacity=10, per_minute=1)

    async def run() -> int:
        limiters = [RedisRateLimiter(REDIS_URL, prefix=prefix) for _ in range(4)]
        try:
            verdicts = await asyncio.gather(*(limiters[i % 4].take("shared", quota)
                                              for i in range(40)))
        finally:
            for limiter in limiters:
                await limiter.aclose()
        return sum(v.allowed for v in verdicts)

    assert asyncio.run(run()) == 10


def test_concurrent_takes_on_one_loop_share_round_trips_and_stay_exact(prefix: str) -> None:
    """Checks waiting together go in one pipelined round trip; each still gets its own
    bucket's exact answer, in order."""
    quota = Quota(capacity=5, per_minute=1)

    async def run() -> list[tuple[str, bool]]:
        limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
        try:
            keys = [f"k{i % 3}" for i in range(21)]
            verdicts = await asyncio.gather(*(limiter.take(k, quota) for k in keys))
        finally:
            await limiter.aclose()
        return [(k, v.allowed) for k, v in zip(keys, verdicts, strict=True)]

    answers = asyncio.run(run())
    for key in ("k0", "k1", "k2"):
        assert [allowed for k, allowed in answers if k == key] == [True] * 5 + [False] * 2


def test_a_busy_bucket_is_served_from_leases_and_never_over_admits(prefix: str) -> None:
    """Two processes' limiters hammer one bucket (no refill to speak of): most requests
    are admitted from leases without a round trip, the two together never admit more than
    the bucket holds, and once the leases' time is up their unused tokens are back, so the
    bucket is used to the last token."""
    quota = Quota(capacity=1000, per_minute=1)

    async def hammer(limiter: RedisRateLimiter, count: int) -> int:
        allowed = 0
        for _ in range(count):
            allowed += (await limiter.take("busy", quota)).allowed
        return allowed

    async def run() -> tuple[int, int, int]:
        limiters = [RedisRateLimiter(REDIS_URL, prefix=prefix) for _ in range(2)]
        try:
            first = sum(await asyncio.gather(*(hammer(lim, 700) for lim in limiters)))
            trips = sum(lim.round_trips for lim in limiters)
            await asyncio.sleep(0.4)  # the leases run out; what is left goes back
            rest = sum(await asyncio.gather(*(hammer(lim, 400) for lim in limiters)))
            await asyncio.sleep(0.4)
            refused = not (await limiters[0].take("busy", quota)).allowed
        finally:
            for limiter in limiters:
                await limiter.aclose()
        return first, rest + (0 if refused else 1), trips

    first, rest, trips = asyncio.run(run())
    assert first <= 1000
    assert first + rest == 1000  # every token used, none twice
    assert trips < 1400 / 10  # most of the first 1,400 needed no round trip


def test_a_lease_grows_under_concurrent_callers_and_stays_exact(prefix: str) -> None:
    """Many callers on one event loop, their checks arriving spread in time as a
    worker's requests do: those that arrive while a round trip is under way are admitted
    from the lease it brings. Sent on instead, each took the fresh lease back unused for
    a quarter of a second: a caller was refused with a quarter of its bucket still in
    Redis (1,185 of 1,600 admitted), and leases never grew. The bucket is used to the
    last token, none twice, and most checks need no round trip."""
    quota = Quota(capacity=2000, per_minute=1)

    async def caller(limiter: RedisRateLimiter, count: int, seed: int) -> int:
        pause = random.Random(seed).uniform
        allowed = 0
        for _ in range(count):
            allowed += (await limiter.take("crowd", quota)).allowed
            await asyncio.sleep(pause(0, 0.002))
        return allowed

    async def run() -> tuple[int, int, int]:
        limiter = RedisRateLimiter(REDIS_URL, prefix=prefix)
        try:
            first = sum(await asyncio.gather(*(caller(limiter, 50, seed) for seed in range(32))))
            trips = limiter.round_trips
            await asyncio.sleep(0.4)  # the lease runs out; what is left goes back
            rest = sum(await asyncio.gather(*(caller(limiter, 50, seed) for seed in range(32))))
        finally:
            await limiter.aclose()
        return first, rest, trips

    first, rest, trips = asyncio.run(run())
    assert first == 1600  # the bucket held enough for all of them
    assert first + rest == 2000  # then exactly what was left, none twice
    assert trips < 1600 / 40, trips  # a round trip every few hundred once leases grew
