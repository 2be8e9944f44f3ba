"""The replay cache: each client assertion's ``jti`` is accepted once.

An entry lives until the assertion expires plus the validation leeway; after that the
assertion is refused for its ``exp`` anyway, which is what lets the cache forget. Redis
when ``CASSET_REDIS_URL`` is set (every process sees every use), this process's memory
otherwise: the same choice as the rate limits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import redis
from redis.exceptions import RedisError

from casset_rights.config import Settings
from casset_rights.errors import ServiceUnavailable

logger = logging.getLogger("casset_rights.auth")


class ReplayCache(Protocol):
    def first_use(self, key: str, *, ttl_seconds: int) -> bool:
        """Record ``key``; True when it was not seen within its lifetime before.
        Raises ServiceUnavailable when the cache cannot be asked (refuse, never guess)."""
        ...

    def close(self) -> None: ...


class InProcessReplayCache:
    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def first_use(self, key: str, *, ttl_seconds: int) -> bool:
        now = self._clock()
        with self._lock:
            if len(self._seen) > 10_000:
                for k in [k for k, until in self._seen.items() if until <= now]:
                    del self._seen[k]
            until = self._seen.get(key)
            if until is not None and until > now:
                return False
            self._seen[key] = now + max(1, ttl_seconds)
            return True

    def close(self) -> None:
        return None


class RedisReplayCache:
    def __init__(self, url: str, *, prefix: str = "casset:") -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix + "jti:"

    def first_use(self, key: str, *, ttl_seconds: int) -> bool:
        try:
            # SET NX: only the first writer succeeds, atomically across processes.
            return bool(self._client.set(self._prefix + key, b"1", nx=True,
                                         ex=max(1, ttl_seconds)))
        except RedisError:
            raise ServiceUnavailable("the replay cache (Redis) cannot be reached") from None

    def close(self) -> None:
        self._client.close()


def replay_cache(settings: Settings) -> ReplayCache:
    if settings.redis_url:
        return RedisReplayCache(settings.redis_url, prefix=settings.redis_key_prefix)
    if settings.workers > 1 or settings.environment == "production":
        logger.warning("client assertion jti are remembered in each process: a replay to "
                       "another process is not seen; set CASSET_REDIS_URL")
    return InProcessReplayCache()
