"""The production rate limiter: buckets in Redis, shared by every API process.

One Lua script reads, refills, takes and writes a bucket atomically, on the Redis
server's clock (``TIME``), so processes with skewed clocks still agree. A bucket expires
once it would be full again, so idle callers cost no memory.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from casset_rights.ratelimit.bucket import Quota, Verdict, verdict_for

logger = logging.getLogger("casset_rights.ratelimit")

# KEYS[1] bucket; ARGV capacity, tokens per second. Returns {allowed, tokens-as-text}
# (Lua numbers would be truncated to integers on the way out).
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {allowed, tostring(tokens)}
"""


class RedisRateLimiter:
    """Token buckets in Redis under ``prefix``.

    When Redis cannot be reached the request is let through and the failure logged:
    a rate limit protects the service, and refusing every caller because the limiter is
    down would be the outage it exists to prevent.
    """

    def __init__(self, url: str, *, prefix: str = "casset:") -> None:
        self._url = url
        self._prefix = prefix + "rl:"
        # An asyncio client belongs to the loop that made it (tests run several loops).
        self._clients: dict[asyncio.AbstractEventLoop, tuple[aioredis.Redis, Any]] = {}

    def _script(self) -> Any:
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is None:
            # Bounded waits: a Redis that hangs must not hold requests for long.
            client = aioredis.Redis.from_url(self._url, socket_timeout=1.0,
                                             socket_connect_timeout=2.0)
            # EVALSHA, loading the script on first use.
            entry = (client, client.register_script(TAKE_SCRIPT))
            self._clients[loop] = entry
        return entry[1]

    async def take(self, key: str, quota: Quota) -> Verdict:
        script = self._script()
        try:
            allowed, tokens = await script(keys=[self._prefix + key],
                                           args=[quota.capacity, repr(quota.per_second)])
        except RedisError:
            logger.warning("rate limiter: Redis unavailable; letting the request through",
                           exc_info=True)
            return verdict_for(float(quota.capacity), quota, allowed=True)
        return verdict_for(float(tokens.decode() if isinstance(tokens, bytes) else tokens), quota, allowed=bool(int(allowed)))

    async def aclose(self) -> None:
        """Close the client of the running loop (call at app shutdown)."""
        entry = self._clients.pop(asyncio.get_running_loop(), None)
        if entry is not None:
            await entry[0].aclose()
