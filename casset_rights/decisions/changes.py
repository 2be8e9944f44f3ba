"""Keeping in-memory read models fresh across processes.

A *follower* is something the request path reads from memory (held licenses, the lineage
graph) built from tables other processes write. The rights index owns the freshness of
all of them, by one of two means:

* SQLite: the index's watch thread compares stored generations every
  ``refresh_seconds`` (the index's own, and each follower's ``generation``) and reloads
  what moved;
* PostgreSQL: each write sends ``NOTIFY casset_changes`` in its own transaction (a
  trigger, ``decisions.tables``); ``ChangeListener`` hears them on one connection per
  process and hands ``(table, key)`` on, so the follower reloads that key alone. After
  a lost connection it listens again first, then reloads everything (what was written
  while it was away sent notifications nobody heard).

A write in this process also tells its follower at once (``reload_key``), so the next
decision here sees it without waiting for either.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection, Engine

from casset_rights.db.engine import pg_time_bounds, search_path_of
from casset_rights.decisions.tables import CHANGE_CHANNEL

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger("casset_rights.decisions")


class Follower(Protocol):
    #: the tables whose changes reach ``reload_key``
    tables: tuple[str, ...]

    def generation(self, conn: Connection) -> Hashable:
        """A cheap value that moves whenever the followed tables changed (SQLite)."""
        ...

    def reload(self) -> None:
        """Rebuild everything from the database."""
        ...

    def reload_key(self, table: str, key: str) -> None:
        """Rebuild what ``key`` (the column the notification names) covers."""
        ...


class ChangeListener:
    """``LISTEN casset_changes`` on its own connection, in a daemon thread.

    ``on_change(table, key)`` runs for every notification about this engine's schema (the
    channel is shared by every schema of the database); ``on_connected()`` after each
    (re)connection, once listening (when it raises, the listener connects again after
    ``retry_seconds``). Exceptions ``on_change`` raises are logged, never fatal.
    """

    def __init__(self, engine: Engine, *, on_change: Callable[[str, str], None],
                 on_connected: Callable[[], None], retry_seconds: float = 1.0) -> None:
        self._engine = engine
        self._on_change = on_change
        self._on_connected = on_connected
        self._retry = retry_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="change-listener",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening and close the connection (waits up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg

        url = self._engine.url.set(drivername="postgresql")
        path = search_path_of(self._engine)
        return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True,
                               options=f"-csearch_path={path}" if path else None,
                               **pg_time_bounds(url))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with self._connect() as conn:
                    [(schema,)] = conn.execute("SELECT current_schema()").fetchall()
                    conn.execute(f"LISTEN {CHANGE_CHANNEL}")
                    self._on_connected()  # raising: connect and try again
                    self.connected.set()
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=0.5):
                            self._apply(schema, note.payload)
            except Exception:
                logger.warning("change listener: connection lost; listening again in %.0f s",
                               self._retry, exc_info=True)
            self.connected.clear()
            self._stop.wait(self._retry)

    def _apply(self, schema: str, payload: str) -> None:
        where, _, rest = payload.partition(" ")
        table, _, key = rest.partition(" ")
        if where == schema:
            self._guarded(self._on_change, table, key)

    @staticmethod
    def _guarded(call: Callable[..., None], *args: str) -> None:
        try:
            call(*args)
        except Exception:  # the next change or reconnection tries again
            logger.exception("change listener: applying a change failed")
