"""Rate limits: a token bucket per caller, in process or in Redis, behind one protocol.

``rate_limiter(settings)`` makes the choice: Redis when ``CASSET_REDIS_URL`` is set, so
every API process shares the buckets; this process's memory otherwise.
"""

from __future__ import annotations

import logging
from typing import Protocol

from casset_rights.config import RateLimit, Settings
from casset_rights.ratelimit.bucket import Quota, Verdict, refill, take, verdict_for
from casset_rights.ratelimit.memory import InProcessRateLimiter
from casset_rights.ratelimit.redis import RedisRateLimiter

logger = logging.getLogger("casset_rights.ratelimit")

__all__ = [
    "InProcessRateLimiter", "Quota", "RateLimiter", "RedisRateLimiter", "Verdict",
    "quota_of", "rate_limiter", "refill", "take", "verdict_for",
]


class RateLimiter(Protocol):
    async def take(self, key: str, quota: Quota) -> Verdict:
        """Take one request from the bucket ``key``; the verdict says whether it may go."""
        ...

    async def aclose(self) -> None: ...


def quota_of(limit: RateLimit) -> Quota:
    """Raises InvalidInput for a limit that would refuse everything."""
    return Quota(capacity=limit.capacity, per_minute=limit.per_minute)


def rate_limiter(settings: Settings) -> RateLimiter:
    if settings.redis_url:
        return RedisRateLimiter(settings.redis_url, prefix=settings.redis_key_prefix)
    if settings.workers > 1 or settings.environment == "production":
        logger.warning("rate limits are counted in each process; set CASSET_REDIS_URL to "
                       "share them between processes")
    return InProcessRateLimiter()
