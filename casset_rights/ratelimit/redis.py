"""The production rate limiter: buckets in Redis, shared by every API process.

One Lua script reads, refills, takes and writes a bucket atomically, on the Redis
server's clock (``TIME``), so processes with skewed clocks still agree. A bucket expires
once it would be full again, so idle callers cost no memory.

A request costs at most one round trip, shared: the checks that arrive on an event loop
while a round trip is under way go together in the next one (one pipelined write of
``EVALSHA`` commands, one read), so under load the system calls and the client's
per-command work are paid once for many requests (docs/benchmarks.md has the
measurement, ``benchmarks/ratelimit_bench.py``).

When Redis cannot be reached the limiter fails open: the request is let through, the
failure logged, and for ``retry_seconds`` afterwards requests are let through without
trying (so a Redis that is down costs no connection attempt per request).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError, ResponseError

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
TAKE_SHA = hashlib.sha1(TAKE_SCRIPT.encode()).hexdigest()


class RedisRateLimiter:
    """Token buckets in Redis under ``prefix``; fails open (see the module)."""

    def __init__(self, url: str, *, prefix: str = "casset:",
                 retry_seconds: float = 1.0) -> None:
        self._url = url
        self._prefix = prefix + "rl:"
        self._retry = retry_seconds
        # An asyncio client belongs to the loop that made it (tests run several loops).
        self._lanes: dict[asyncio.AbstractEventLoop, _Lane] = {}

    def _lane(self) -> _Lane:
        loop = asyncio.get_running_loop()
        lane = self._lanes.get(loop)
        if lane is None:
            lane = self._lanes[loop] = _Lane(self._url, loop, retry_seconds=self._retry)
        return lane

    async def take(self, key: str, quota: Quota) -> Verdict:
        answer = await self._lane().take(self._prefix + key, quota.capacity,
                                         repr(quota.per_second))
        if answer is None:
            return verdict_for(float(quota.capacity), quota, allowed=True)
        allowed, tokens = answer
        return verdict_for(tokens, quota, allowed=allowed)

    async def aclose(self) -> None:
        """Close the client of the running loop (call at app shutdown)."""
        lane = self._lanes.pop(asyncio.get_running_loop(), None)
        if lane is not None:
            await lane.aclose()


class _Lane:
    """One event loop's connection and the checks waiting for the next round trip.

    At most one round trip is under way: the check that finds none starts it and waits
    for it; checks arriving meanwhile wait for the next, which a task started as the
    first one ends sends (so no caller waits on others' batches after its own).
    """

    def __init__(self, url: str, loop: asyncio.AbstractEventLoop, *,
                 retry_seconds: float) -> None:
        # Bounded waits: a Redis that hangs must not hold requests for long.
        self.client = aioredis.Redis.from_url(url, socket_timeout=1.0,
                                              socket_connect_timeout=2.0)
        self._conn: Any = None
        self._loop = loop
        self._retry = retry_seconds
        self._waiting: list[tuple[str, int, str, asyncio.Future[Any]]] = []
        self._sending = False
        self._down_until = 0.0

    async def take(self, key: str, capacity: int, rate: str) -> tuple[bool, float] | None:
        """``(allowed, tokens left)``, or None when Redis is unavailable."""
        if self._loop.time() < self._down_until:
            return None
        future = self._loop.create_future()
        self._waiting.append((key, capacity, rate, future))
        if not self._sending:
            self._sending = True
            await self._send_waiting()
        return await future

    async def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            results = await self._run(batch)
        except (RedisError, OSError):
            logger.warning("rate limiter: Redis unavailable; letting requests through "
                           "for %.0f s", self._retry, exc_info=True)
            self._down_until = self._loop.time() + self._retry
            results = [None] * len(batch)
        except BaseException:  # the sending request was cancelled: the others go on
            for *_, future in batch:
                if not future.done():
                    future.set_result(None)
            raise
        finally:
            if self._waiting:
                self._loop.create_task(self._send_waiting())
            else:
                self._sending = False
        for (*_, future), result in zip(batch, results):
            if not future.done():
                future.set_result(result)

    async def _run(self, batch: list[tuple[str, int, str, asyncio.Future[Any]]],
                   ) -> list[tuple[bool, float] | None]:
        replies = await self._pipelined(batch)
        if any(isinstance(r, NoScriptError) for r in replies):  # Redis restarted, flushed
            await self.client.script_load(TAKE_SCRIPT)
            replies = await self._pipelined(batch)
        out: list[tuple[bool, float] | None] = []
        for reply in replies:
            if isinstance(reply, Exception):
                logger.warning("rate limiter: %s; letting the request through", reply)
                out.append(None)
            else:
                allowed, tokens = reply
                out.append((bool(int(allowed)), float(tokens)))
        return out

    async def _pipelined(self, batch: list[tuple[str, int, str, asyncio.Future[Any]]],
                         ) -> list[Any]:
        """One write of every ``EVALSHA``, then their replies, on this lane's own
        connection (one round trip at a time needs no pool)."""
        conn = self._conn
        if conn is None:
            conn = self._conn = self.client.connection_pool.make_connection()
        commands = [("EVALSHA", TAKE_SHA, 1, key, capacity, rate)
                    for key, capacity, rate, _ in batch]
        try:
            await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(await conn.read_response())
                except ResponseError as exc:  # an error reply: the next replies follow
                    replies.append(exc)
        except BaseException:
            await conn.disconnect(nowait=True)  # replies may be left on the socket
            raise
        return replies

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.disconnect()
        await self.client.aclose()
