"""The production rate limiter: buckets in Redis, shared by every API process.

One Lua script reads, refills, takes and writes a bucket atomically, on the Redis
server's clock (``TIME``), so processes with skewed clocks still agree. A bucket expires
once it would be full again, so idle callers cost no memory.

A request costs at most one round trip, shared: the checks that arrive on an event loop
while a round trip is under way go together in the next one, one ``EVALSHA`` per bucket
for all of that bucket's waiting requests (one pipelined write, one read), unless the
round trip under way brought their bucket a lease that admits them.

A busy bucket costs no round trip at all most of the time: when a bucket's requests kept
coming through the last lease, the next round trip also leases tokens for the requests
likely to follow (as many as came during the last lease, at most ``MAX_LEASE`` and at
most an eighth of what the bucket holds), and this process admits them from its lease
without asking Redis. Leased tokens are taken out of the shared bucket first, so the
processes together never admit more than the bucket allows; a lease's unused tokens go
back after ``LEASE_SECONDS``. The price is on the other side: while one process holds a
lease, another may refuse a request a token or so early (at most the leased eighth, for at
most ``LEASE_SECONDS``). A bucket seen once in a while is never leased: it is counted
exactly, a round trip a request. A bucket found empty refuses here, without a round
trip, until a token could be back (at most ``LEASE_SECONDS``), so a caller flooding a
refused bucket costs Redis nothing.

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

# KEYS[1] bucket; ARGV capacity, tokens per second, requests waiting (each takes one
# token), tokens wanted beyond them (a lease), tokens given back. Returns {tokens granted to
# the waiting requests, tokens leased, tokens left as text} (Lua numbers would be
# truncated to integers on the way out). A lease takes at most an eighth of what is left,
# so a bucket running low is shared out exactly, a token at a time.
TAKE_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local waiting = tonumber(ARGV[3])
local lease = tonumber(ARGV[4])
local given = tonumber(ARGV[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1])
local at = tonumber(state[2])
if tokens == nil or at == nil then
  tokens = capacity
  at = now
end
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate + given)
local granted = math.min(waiting, math.floor(tokens))
tokens = tokens - granted
local leased = math.min(lease, math.floor(tokens / 8))
tokens = tokens - leased
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {granted, leased, tostring(tokens)}
"""
TAKE_SHA = hashlib.sha1(TAKE_SCRIPT.encode()).hexdigest()
# A lease lives this long; what is left of it then goes back to the bucket.
LEASE_SECONDS = 0.25
# The most tokens one process leases for one bucket at a time.
MAX_LEASE = 256


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

    @property
    def round_trips(self) -> int:
        """Round trips to Redis so far, every event loop's."""
        return sum(lane.round_trips for lane in self._lanes.values())

    async def aclose(self) -> None:
        """Close the client of the running loop (call at app shutdown)."""
        lane = self._lanes.pop(asyncio.get_running_loop(), None)
        if lane is not None:
            await lane.aclose()


class _Lease:
    """Tokens of one bucket this process may admit without asking Redis, until
    ``expires`` (loop time); ``remote`` is what the bucket held when they were leased (for
    the ``RateLimit`` fields); ``used`` counts the requests admitted from it."""

    __slots__ = ("args", "expires", "remote", "tokens", "used")

    def __init__(self, tokens: int, remote: float, expires: float,
                 args: tuple[int, str]) -> None:
        self.tokens = tokens
        self.remote = remote
        self.expires = expires
        self.args = args  # the bucket's capacity and rate, to give tokens back
        self.used = 0


class _Lane:
    """One event loop's connection, its leases and the checks waiting for the next round
    trip.

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
        self._waiting: dict[str, _Waiting] = {}
        self._leases: dict[str, _Lease] = {}
        # Unused leased tokens to give back, with their bucket's capacity and rate.
        self._given: dict[str, tuple[int, tuple[int, str]]] = {}
        # Busy buckets: when each last went to Redis, and how many requests its last
        # lease admitted (what the next lease asks for).
        self._asked: dict[str, float] = {}
        self._demand: dict[str, int] = {}
        # Empty buckets: refused here, without a round trip, until (loop time) a token
        # could be back, or ``LEASE_SECONDS`` at most (tokens given back may come sooner).
        self._empty: dict[str, tuple[float, float]] = {}
        self._sending = False
        self._down_until = 0.0
        self.round_trips = 0

    async def take(self, key: str, capacity: int, rate: str) -> tuple[bool, float] | None:
        """``(allowed, tokens left)``, or None when Redis is unavailable."""
        answer = self._answer_here(key)
        if answer is not None:
            return answer
        if self._loop.time() < self._down_until:
            return None
        future: asyncio.Future[tuple[bool, float] | None] = self._loop.create_future()
        waiting = self._waiting.get(key)
        if waiting is None:
            waiting = self._waiting[key] = _Waiting(capacity, rate)
        waiting.futures.append(future)
        self._kick()
        return await future

    def _kick(self) -> None:
        if not self._sending:
            self._sending = True
            self._loop.create_task(self._send_waiting())

    def _expire(self, key: str, lease: _Lease) -> None:
        """A lease's time is up: what is left of it goes back to the bucket."""
        if self._leases.get(key) is lease:
            del self._leases[key]
        if lease.tokens > 0 and self._loop.time() >= self._down_until:
            self._given[key] = (self._given.get(key, (0, lease.args))[0] + lease.tokens,
                                lease.args)
            lease.tokens = 0
            self._kick()

    async def _send_waiting(self) -> None:
        batch, self._waiting = self._waiting, {}
        given, self._given = self._given, {}
        try:
            results = await self._run(batch, given)
        except (RedisError, OSError):
            logger.warning("rate limiter: Redis unavailable; letting requests through "
                           "for %.0f s", self._retry, exc_info=True)
            self._down_until = self._loop.time() + self._retry
            results = {}
        except BaseException:  # cancelled: every request waiting goes through
            for waiting in batch.values():
                for future in waiting.futures:
                    if not future.done():
                        future.set_result(None)
            self._send_next()
            raise
        try:
            for key, waiting in batch.items():
                self._settle(key, waiting, results.get(key))
            self._answer_arrivals()
        finally:
            self._send_next()

    def _send_next(self) -> None:
        """Start the next round trip if checks or tokens to give back are waiting."""
        if self._waiting or self._given:
            self._loop.create_task(self._send_waiting())
        else:
            self._sending = False

    def _answer_here(self, key: str) -> tuple[bool, float] | None:
        """An answer without a round trip: a token from the bucket's lease, or a refusal
        while the bucket was last found empty; None when Redis must be asked."""
        now = self._loop.time()
        lease = self._leases.get(key)
        if lease is not None and lease.tokens > 0 and now < lease.expires:
            lease.tokens -= 1
            lease.used += 1
            return True, lease.remote + lease.tokens
        empty = self._empty.get(key)
        if empty is not None:
            if now < empty[0]:
                return False, empty[1]
            del self._empty[key]
        return None

    def _answer_arrivals(self) -> None:
        """Answer, without another round trip (``_answer_here``), the checks that arrived
        while the last one was under way: the round trip may have brought their bucket a
        lease, or found it empty. Sent on instead, they would make the next round trip
        take that lease back unused, and under steady concurrency a lease would never
        grow beyond the checks of one round trip (measured: a round trip every 10 to 15
        requests where one in hundreds was meant)."""
        for key in list(self._waiting):
            futures = self._waiting[key].futures
            answered = 0
            for future in futures:
                if not future.done():  # a caller that gave up takes no token
                    answer = self._answer_here(key)
                    if answer is None:
                        break
                    future.set_result(answer)
                answered += 1
            del futures[:answered]
            if not futures:
                del self._waiting[key]

    def _settle(self, key: str, waiting: _Waiting,
                result: tuple[int, int, float] | None) -> None:
        futures = waiting.futures
        if result is None:  # Redis unavailable, or an error reply: let them through
            answers: list[tuple[bool, float] | None] = [None] * len(futures)
        else:
            granted, leased, left = result
            answers = [(True, left + leased + granted - k - 1) for k in range(granted)]
            answers += [(False, left)] * (len(futures) - granted)
            if granted < len(futures):
                rate = waiting.args[1]
                wait = min(LEASE_SECONDS, (1.0 - left) / float(rate))
                self._empty[key] = (self._loop.time() + wait, left)
                if len(self._empty) > 10_000:
                    now = self._loop.time()
                    self._empty = {k: e for k, e in self._empty.items() if e[0] > now}
            if leased:
                lease = _Lease(leased, left, self._loop.time() + LEASE_SECONDS,
                               waiting.args)
                self._leases[key] = lease
                self._loop.call_later(LEASE_SECONDS, self._expire, key, lease)
        for future, answer in zip(futures, answers, strict=True):
            if not future.done():
                future.set_result(answer)

    def _lease_wanted(self, key: str, waiting: int) -> int:
        """Tokens to lease for ``key`` beyond its ``waiting`` requests. None for a
        bucket not asked for within the last ``LEASE_SECONDS``; for a busy one, twice
        what its last lease admitted (so a lease grows while its requests keep coming),
        or at first as many as are waiting now; at most ``MAX_LEASE``."""
        now = self._loop.time()
        last = self._asked.get(key)
        self._asked[key] = now
        if len(self._asked) > 10_000:  # forget buckets not busy any more
            self._asked = {k: t for k, t in self._asked.items()
                           if now - t < LEASE_SECONDS}
            self._demand = {k: d for k, d in self._demand.items() if k in self._asked}
        lease = self._leases.pop(key, None)
        if lease is not None:
            self._demand[key] = lease.used
        if last is None or now - last >= LEASE_SECONDS:
            return 0
        return min(MAX_LEASE, max(waiting, 2 * self._demand.get(key, 0)))

    async def _run(self, batch: dict[str, _Waiting],
                   given: dict[str, tuple[int, tuple[int, str]]],
                   ) -> dict[str, tuple[int, int, float] | None]:
        keys = list(batch) + [k for k in given if k not in batch]
        commands = [("EVALSHA", TAKE_SHA, 1, key,
                     *(batch[key].args if key in batch else given[key][1]),
                     len(batch[key].futures) if key in batch else 0,
                     self._lease_wanted(key, len(batch[key].futures)) if key in batch else 0,
                     given[key][0] if key in given else 0)
                    for key in keys]
        replies = await self._pipelined(commands)
        if any(isinstance(r, NoScriptError) for r in replies):  # Redis restarted, flushed
            await self.client.script_load(TAKE_SCRIPT)
            replies = await self._pipelined(commands)
        out: dict[str, tuple[int, int, float] | None] = {}
        for key, reply in zip(keys, replies, strict=True):
            if isinstance(reply, Exception):
                logger.warning("rate limiter: %s; letting the request through", reply)
                out[key] = None
            else:
                granted, leased, tokens = reply
                out[key] = (int(granted), int(leased), float(tokens))
        return out

    async def _pipelined(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """One write of every ``EVALSHA``, then their replies, on this lane's own
        connection (one round trip at a time needs no pool)."""
        conn = self._conn
        if conn is None:
            pool = self.client.connection_pool
            # redis-py leaves make_connection unannotated.
            conn = self._conn = pool.make_connection()  # type: ignore[no-untyped-call]
        self.round_trips += 1
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


class _Waiting:
    """The requests of one bucket waiting for the next round trip."""

    __slots__ = ("args", "futures")

    def __init__(self, capacity: int, rate: str) -> None:
        self.args = (capacity, rate)
        # each a request's answer: ``(allowed, tokens left)``, or None (Redis away)
        self.futures: list[asyncio.Future[tuple[bool, float] | None]] = []
