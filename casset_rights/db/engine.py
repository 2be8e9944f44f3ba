"""Engine construction for the two supported databases.

SQLite is the embedded default (a file in the data folder); PostgreSQL through psycopg 3
is the production database. URLs are SQLAlchemy URLs: ``sqlite:///path`` or
``postgresql+psycopg://user@host/db``; a bare ``postgresql://`` is read as psycopg 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url


def normalise_url(url: str) -> str:
    """Read ``postgresql://`` and ``postgres://`` as psycopg 3 URLs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction. SQLite takes its write lock at BEGIN, so a writer never has to
    upgrade a read snapshot (which fails at once in WAL mode when another connection
    committed meanwhile); PostgreSQL ignores the option."""
    with engine.connect() as conn:
        conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            yield conn


@contextmanager
def one_statement(engine: Engine) -> Iterator[Connection]:
    """A connection for a write made of reads and then one statement that writes
    (``db.bulk.insert_together``). On PostgreSQL it is in autocommit, so that statement
    is a transaction of its own and no ``BEGIN`` or ``COMMIT`` goes to the server (the
    reads before it see committed data; the statement checks again what they found, as
    its guard). Elsewhere it is a write transaction (``writing``)."""
    if engine.dialect.name != "postgresql":
        with writing(engine) as conn:
            yield conn
        return
    with engine.connect() as conn:
        yield conn.execution_options(isolation_level="AUTOCOMMIT")


_SEARCH_PATHS: WeakKeyDictionary[Engine, str] = WeakKeyDictionary()


def search_path_of(engine: Engine) -> str | None:
    """The schema ``make_engine`` pinned, so another process can open the same one."""
    return _SEARCH_PATHS.get(engine)


CONNECT_TIMEOUT_SECONDS = 5
TCP_USER_TIMEOUT_MS = 15_000
_PG_TIME_BOUNDS: dict[str, Any] = {
    "connect_timeout": CONNECT_TIMEOUT_SECONDS,
    "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
    "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
}


def pg_time_bounds(url: URL) -> dict[str, Any]:
    """libpq's time bounds for a connection to ``url``, those the URL sets itself left
    out (its own values win): a connection attempt to a server that does not answer
    gives up after CONNECT_TIMEOUT_SECONDS, and a connection whose peer has vanished (a
    network partition, a machine gone) is dropped by TCP within about
    TCP_USER_TIMEOUT_MS instead of waiting for the kernel's two hours."""
    return {k: v for k, v in _PG_TIME_BOUNDS.items() if k not in url.query}


def make_engine(url: str, *, search_path: str | None = None, echo: bool = False,
                pool_timeout: float = 30.0) -> Engine:
    """Build an engine. ``search_path`` pins a PostgreSQL schema (used by the tests);
    a connection asked of the pool when every one is busy raises
    ``sqlalchemy.exc.TimeoutError`` after ``pool_timeout`` seconds.

    SQLite runs in WAL mode with foreign keys on and a busy timeout, so a reader never
    blocks the writer and two processes sharing the file wait rather than fail.
    """
    url = normalise_url(url)
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True, "pool_timeout": pool_timeout}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; take control so that
        # ``BEGIN IMMEDIATE`` (the log sequencer) and savepoints behave.
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    connect_args = pg_time_bounds(parsed)
    if search_path:
        connect_args["options"] = f"-csearch_path={search_path}"
    kwargs["connect_args"] = connect_args
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    # No ping before each checkout: it cost a round trip per transaction (a quarter of a
    # license flow's statements). A connection the server dropped fails its first use
    # instead: the request answers 503 database_unavailable, SQLAlchemy sees the
    # disconnect and discards every pooled connection made before it, and the next
    # request reconnects (tests/faults). Connections are renewed after five minutes, ahead
    # of the idle timeouts of proxies and poolers.
    kwargs["pool_pre_ping"] = False
    kwargs["pool_recycle"] = 300
    engine = create_engine(url, **kwargs)
    if search_path:
        _SEARCH_PATHS[engine] = search_path
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
    connection.exec_driver_sql(f"BEGIN {mode}")
