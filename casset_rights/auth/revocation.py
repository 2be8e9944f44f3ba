"""The revoked access tokens, kept in memory for the request path.

Access tokens are checked without the database, so a revoked one has to be refused from
memory: this set holds the ``jti`` of every revoked token that has not expired yet (after
that its ``exp`` refuses it anyway, so the set stays small). Revocations made in this
process are added at once; those made by other processes arrive with the next refresh,
a look-up of the rows revoked since the last one, every ``refresh_seconds``.

A server refreshes from a thread of its own (``start``), so a request never waits on the
database for it: with the database slow or unreachable, tokens are checked against the
set as last read. A set never started refreshes in the caller, when a look-up finds the
last refresh ``refresh_seconds`` old (tools and tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from casset_rights.auth.tables import oauth_access_tokens

logger = logging.getLogger("casset_rights.auth")

# Rows revoked by another process within this many seconds before the last refresh are
# read again, so clock differences between processes cannot hide one.
OVERLAP_SECONDS = 30


class RevokedTokens:
    def __init__(self, engine: Engine, *, refresh_seconds: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._refresh_seconds = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._expiry: dict[str, int] = {}
        self._last_refresh = float("-inf")
        self._since = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Refresh every ``refresh_seconds`` from a daemon thread, from now on."""
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._follow, name="revoked-tokens",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop refreshing (waits up to ``timeout`` for a refresh under way)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join(timeout)

    def _follow(self) -> None:
        self.refresh()
        while not self._stop.wait(self._refresh_seconds):
            self.refresh()

    def add(self, jti: str, expires_at: int) -> None:
        with self._lock:
            self._expiry[jti] = expires_at

    def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` was revoked: a dict look-up. A set not started reads the
        database first when its last refresh is ``refresh_seconds`` old (a small indexed
        look-up)."""
        if self._thread is None and self._clock() - self._last_refresh >= self._refresh_seconds:
            self.refresh()
        return jti in self._expiry

    def refresh(self) -> None:
        now = self._clock()
        since = self._since
        t = oauth_access_tokens
        try:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(t.c.jti, t.c.expires_at)
                    .where(t.c.revoked_at >= since, t.c.expires_at > int(now))).all()
        except SQLAlchemyError:
            # Keep serving the set we have and try again after the interval.
            logger.warning("revoked tokens: refresh failed", exc_info=True)
            self._last_refresh = now
            return
        with self._lock:
            for row in rows:
                self._expiry[row.jti] = row.expires_at
            for jti in [j for j, exp in self._expiry.items() if exp <= now]:
                del self._expiry[jti]
            self._last_refresh = now
            self._since = max(0, int(now) - OVERLAP_SECONDS)

    def __len__(self) -> int:
        return len(self._expiry)
