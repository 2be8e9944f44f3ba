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
from typing import Any

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
