"""What psycopg sends to PostgreSQL, as the tests of statement counts see it."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg


@contextlib.contextmanager
def statements_sent(*, this_thread_only: bool = False) -> Iterator[list[str]]:
    """Every statement's first word (``WITH``, ``SELECT``…), ``COPY`` for a copy and
    ``COMMIT`` for a commit psycopg sends while the block runs (on this thread only, with
    ``this_thread_only``: not a service's background threads). A transaction block of
    psycopg's own (``Connection.transaction``) sends its BEGIN and COMMIT unseen."""
    here = threading.get_ident()
    sent: list[str] = []
    execute, copy = psycopg.Cursor.execute, psycopg.Cursor.copy
    commit = psycopg.Connection.commit

    def note(word: str) -> None:
        if not this_thread_only or threading.get_ident() == here:
            sent.append(word)

    def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        note(str(query).split()[0].upper())
        return execute(self, query, *args, **kwargs)

    def counted_copy(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        note("COPY")
        return copy(self, query, *args, **kwargs)

    def counted_commit(self: Any) -> None:
        note("COMMIT")
        commit(self)

    psycopg.Cursor.execute = counted  # type: ignore[method-assign]
    psycopg.Cursor.copy = counted_copy  # type: ignore[method-assign]
    psycopg.Connection.commit = counted_commit  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Cursor.copy = copy  # type: ignore[method-assign]
        psycopg.Connection.commit = commit  # type: ignore[method-assign]
