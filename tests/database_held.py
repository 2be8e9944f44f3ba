"""The database stopping to answer, as a writer sees it, for the tests of what waits on it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import Engine, text


@contextlib.contextmanager
def receipts_held(engine: Engine) -> Iterator[None]:
    """Another connection holds what the writer needs (SQLite's write lock, or the
    receipts table on PostgreSQL) until the block ends: the database, as the writer sees
    it, has stopped answering."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("LOCK TABLE receipts IN ACCESS EXCLUSIVE MODE"))
            yield
