"""The Redis limiter with Redis gone: it fails open (no Redis needed for this test)."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from casset_rights.ratelimit import Quota, RedisRateLimiter


def closed_port() -> int:
    """A port nothing listens on: bound, then closed."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_redis_lets_requests_through(caplog: pytest.LogCaptureFixture) -> None:
    """Fail open: a Redis that refuses connections lets every request through; after a
    failure the limiter does not try again for ``retry_seconds``."""
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{closed_port()}/0", prefix="x:",
                               retry_seconds=30.0)
    quota = Quota(capacity=1, per_minute=1)

    async def run() -> list[bool]:
        try:
            return [(await limiter.take("k", quota)).allowed for _ in range(5)]
        finally:
            await limiter.aclose()

    with caplog.at_level(logging.WARNING, logger="casset_rights.ratelimit"):
        assert asyncio.run(run()) == [True] * 5  # a capacity of 1 would refuse 4
    warnings = [r for r in caplog.records if "Redis unavailable" in r.getMessage()]
    assert len(warnings) == 1  # tried once; then let through without trying
