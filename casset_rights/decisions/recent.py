"""``RecentlyEmpty``: keys recently found to have none of something.

A refiner that would read the database to learn that a licensee holds no grant, or that
a release has no ancestors, remembers the answer for ``fresh_seconds`` and skips the
read (and, on the event loop, the trip to a worker thread) while it is fresh. A write
in this process that adds the something calls ``forget``; a write in another process
counts once the entry ages out, as policies reach the rights index.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RecentlyEmpty:
    """At most ``limit`` keys, each trusted for ``fresh_seconds`` (all are dropped when
    the memory is full: it is a cache of absences, never of answers)."""

    def __init__(self, *, fresh_seconds: float = 1.0,
                 clock: Callable[[], float] = time.monotonic, limit: int = 100_000) -> None:
        self._fresh = fresh_seconds
        self._clock = clock
        self._limit = limit
        self._seen: dict[str, float] = {}  # key -> when it was found empty
        self._lock = threading.Lock()

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` was found empty less than ``fresh_seconds`` ago."""
        seen = self._seen.get(key)
        return seen is not None and self._clock() - seen < self._fresh

    def remember(self, key: str) -> None:
        with self._lock:
            if len(self._seen) >= self._limit:
                self._seen.clear()
            self._seen[key] = self._clock()

    def forget(self, key: str) -> None:
        with self._lock:
            self._seen.pop(key, None)
