"""Many rows in one statement: ``INSERT … VALUES (…), (…), …``.

The receipt writer and the log insert dozens of rows per transaction on the hottest path
of the service. SQLAlchemy Core's ``executemany`` processes each row's parameters in
Python, and the drivers then run one statement per row: ``sqlite3`` releases the GIL
around each row's step and must win it back from the busy event loop every time, and
psycopg sends one pipelined statement per row. One multi-row statement per table costs
one step and one round trip, whatever the number of rows.

Values go to the driver as they are (``str``, ``int``, ``bytes`` and ``None``: no type
processing happens), so this is for tables whose columns are of those types. The
statements run on the driver's cursor of the caller's connection, in its transaction:
SQLAlchemy's execution context costs more than these statements (7.7 µs against 1.5 µs
for a one-row insert on SQLite, 14.6 µs against 1.1 µs for a one-row select). Driver
errors are raised as SQLAlchemy's exceptions (``IntegrityError``...), as
``exec_driver_sql`` raises them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

# Below SQLite's (32,766 since 3.32) and PostgreSQL's (65,535) limits on bound parameters.
MAX_PARAMETERS = 30_000
# On PostgreSQL, more rows than this go by COPY: psycopg parses a statement's placeholders
# in Python, about 0.2 ms per hundred, which made a multi-row INSERT of the sequencer's
# 5,000 leaves cost more than the server's work (docs/benchmarks.md).
COPY_FROM_ROWS = 16


def placeholder(conn: Connection) -> str:
    """The driver's parameter marker for statements sent through ``execute``: ``?`` for
    sqlite3, ``%s`` for psycopg."""
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def insert_rows(conn: Connection, table: Table, columns: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Insert ``rows`` (tuples in the order of ``columns``) with as few statements as the
    parameter limit allows. Raises KeyError for a column the table does not have."""
    if not rows:
        return
    for name in columns:
        table.c[name]
    if conn.dialect.name == "postgresql" and len(rows) > COPY_FROM_ROWS:
        copy_rows(conn, table, columns, rows)
        return
    width = len(columns)
    per_statement = max(1, MAX_PARAMETERS // width)
    marker = placeholder(conn)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        sql = _statement(table.name, tuple(columns), marker, len(chunk))
        execute(conn, sql, tuple(value for row in chunk for value in row))


class Rows(NamedTuple):
    """Rows for ``insert_together``: tuples in the order of ``columns``."""

    table: Table
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]


class Guard(NamedTuple):
    """A statement that must change a row for ``insert_together``'s rows to be written:
    ``sql`` is an ``UPDATE … RETURNING`` that returns at most one row, with ``{}`` where
    each of ``params`` goes (the driver's marker is put there)."""

    sql: str
    params: Sequence[Any]


def insert_together(conn: Connection, inserts: Sequence[Rows], *,
                    guard: Guard | None = None) -> bool:
    """Insert every ``Rows`` of ``inserts`` when ``guard`` changed a row (always without
    one); False, and nothing written, when it changed none.

    On PostgreSQL this is one statement (the guard and each insert a data-modifying
    ``WITH`` query), one round trip; on a connection in autocommit
    (``db.engine.one_statement``) it is a transaction of its own, with no ``BEGIN`` or
    ``COMMIT`` to send. Each statement costs psycopg and the server more than its rows
    do: a quote's rows as one statement instead of a transaction of three inserts took
    about 250 – 300 against 660 – 730 µs of CPU, client and server together
    (docs/benchmarks.md). Elsewhere the guard, then each insert, run in the caller's
    transaction. Raises KeyError for a column its table does not have, and whatever the
    database raises."""
    inserts = [found for found in inserts if found.rows]
    if not inserts and guard is None:
        return True
    if conn.dialect.name != "postgresql":
        marker = placeholder(conn)
        if guard is not None and not execute(
                conn, guard.sql.format(*[marker] * len(guard.params)), guard.params):
            return False
        for table, columns, rows in inserts:
            insert_rows(conn, table, columns, rows)
        return True
    sql = _together(conn.dialect, None if guard is None else guard.sql,
                    0 if guard is None else len(guard.params),
                    tuple((table, tuple(columns), len(rows)) for table, columns, rows in inserts))
    params = [*(guard.params if guard is not None else ()),
              *(value for _, _, rows in inserts for row in rows for value in row)]
    return bool(execute(conn, sql, params)[0][0])


@lru_cache(maxsize=256)
def _together(dialect: Any, guard: str | None, guard_params: int,
              shapes: tuple[tuple[Table, tuple[str, ...], int], ...]) -> str:
    """``insert_together``'s statement on PostgreSQL (psycopg's ``%s`` markers)."""
    parts = [] if guard is None else [f"guard AS ({guard.format(*['%s'] * guard_params)})"]
    for n, (table, columns, count) in enumerate(shapes):
        # Behind a guard the values are selected, not inserted as VALUES, so each is cast
        # to its column's type (a parameter sent as NULL or text would not be).
        types = [table.c[name].type.compile(dialect=dialect) for name in columns]
        row = "(" + ", ".join(f"CAST(%s AS {t})" if guard else "%s" for t in types) + ")"
        values = ", ".join([row] * count)
        source = f"VALUES {values}" if guard is None else \
            f"SELECT * FROM (VALUES {values}) AS v WHERE EXISTS (SELECT FROM guard)"
        parts.append(f"i{n} AS (INSERT INTO {table.name} ({', '.join(columns)}) {source})")
    return f"WITH {', '.join(parts)} " + (
        "SELECT 1" if guard is None else "SELECT count(*) FROM guard")


def copy_rows(conn: Connection, table: Table, columns: Sequence[str],
              rows: Sequence[Sequence[Any]]) -> None:
    """``COPY table (columns) FROM STDIN`` on PostgreSQL, in the caller's transaction."""
    sql = f"COPY {table.name} ({', '.join(columns)}) FROM STDIN"
    with _cursor(conn, sql, ()) as cursor, cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run ``sql`` (the driver's placeholders) on the driver's cursor of ``conn``; returns
    the rows it yields (none for a statement that yields none)."""
    # Inline rather than through ``_cursor``: this is on the path of every receipt batch
    # and log read.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        return list(cursor.fetchall()) if cursor.description is not None else []
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


@contextmanager
def _cursor(conn: Connection, sql: str, params: Any) -> Iterator[Any]:
    """The driver's cursor of ``conn``, closed afterwards; driver errors raised as
    SQLAlchemy's exceptions for ``sql``."""
    # A connection in a transaction always has its driver connection; the type allows None.
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    except conn.dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(sql, params, exc, conn.dialect.loaded_dbapi.Error) from exc
    finally:
        cursor.close()


@lru_cache(maxsize=512)
def _statement(table: str, columns: tuple[str, ...], marker: str, count: int) -> str:
    row = "(" + ", ".join([marker] * len(columns)) + ")"
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES " + ", ".join([row] * count)
