"""LZ4 for the columns that hold signed tokens, on PostgreSQL.

A value that takes its row past about 2 kB is compressed before it is stored (TOAST),
with ``pglz`` unless the column says otherwise. Receipts, license tokens and quotes are
written on the request path and most are read once (the sequencer moves a queued token
to its leaf), so that compression is CPU spent on every large write and read. LZ4 costs
about as little as storing the value uncompressed, and its output is as small as
``pglz``'s (docs/benchmarks.md, "Compressing signed tokens"). Where the server was built
without LZ4 the columns keep PostgreSQL's default; SQLite does not compress.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event

from casset_rights.db.metadata import metadata

# table -> column: the signed tokens (receipts queued and logged, quotes, licenses).
TOKEN_COLUMNS = {"log_pending": "data", "log_leaves": "data", "license_quotes": "token",
                 "license_grants": "token"}


def lz4_available(conn: Connection) -> bool:
    """Whether this PostgreSQL server can compress with LZ4."""
    return bool(conn.exec_driver_sql(
        "SELECT 'lz4' = ANY(enumvals) FROM pg_settings"
        " WHERE name = 'default_toast_compression'").scalar())


def use_lz4(conn: Connection) -> None:
    """Have the token columns compress with LZ4 when the server is PostgreSQL with LZ4;
    nothing otherwise. Values already stored keep theirs."""
    if conn.dialect.name != "postgresql" or not lz4_available(conn):
        return
    for table, column in TOKEN_COLUMNS.items():
        conn.exec_driver_sql(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


@event.listens_for(metadata, "after_create")
def _compress_tokens_with_lz4(target: Any, connection: Connection, **_kw: Any) -> None:
    use_lz4(connection)
