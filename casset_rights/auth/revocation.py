"""The revoked access tokens, kept in memory for the request path.

Access tokens are checked without the database, so a revoked one has to be refused from
memory: this set holds the ``jti`` of every revoked token that has not expired yet (after
that its ``exp`` refuses it anyway, so the set stays small). Revocations made in this
process are added at once; those made by other processes arrive with the next refresh,
a look-up of the rows revoked since the last one, at most every ``refresh_seconds``.
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

    def add(self, jti: str, expires_at: int) -> None:
        with self._lock:
            self._expiry[jti] = expires_at

    def is_revoked(self, jti: str) -> bool:
        """Whether ``jti`` was revoked. Reads the database at most every
        ``refresh_seconds`` (a small indexed look-up); between reads, a dict look-up."""
        if self._clock() - self._last_refresh >= self._refresh_seconds:
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
