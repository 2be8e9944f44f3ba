"""The embedded rate limiter: buckets in this process's memory.

Right for one process (the embedded default). Behind a load balancer each process would
count on its own, which is why production sets ``CASSET_REDIS_URL``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from casset_rights.ratelimit.bucket import Quota, Verdict, refill, take


class InProcessRateLimiter:
    """Buckets in a dict. ``max_keys`` bounds memory: past it, buckets that have filled
    up again (indistinguishable from new ones) are forgotten."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: dict[str, tuple[float, float]] = {}
        # Requests are taken on the event loop, but also from worker threads.
        self._lock = threading.Lock()

    async def take(self, key: str, quota: Quota) -> Verdict:
        return self.take_now(key, quota)

    def take_now(self, key: str, quota: Quota) -> Verdict:
        """``take`` without awaiting (the in-process store never waits)."""
        now = self._clock()
        with self._lock:
            tokens, counted_at = self._buckets.get(key, (float(quota.capacity), now))
            tokens, verdict = take(tokens, counted_at, now, quota)
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self._max_keys:
                self._forget_full(now, quota)
        return verdict

    def _forget_full(self, now: float, quota: Quota) -> None:
        full = [k for k, (tokens, at) in self._buckets.items()
                if refill(tokens, at, now, quota) >= quota.capacity]
        for k in full:
            del self._buckets[k]

    async def aclose(self) -> None:
        return None
