"""``db.bulk.insert_together``: rows of several tables written together, behind a guard
or not, as one statement on PostgreSQL (and its own transaction in autocommit)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import BigInteger, Column, Engine, LargeBinary, MetaData, String, Table, Text
from sqlalchemy.exc import IntegrityError
from statements_sent import statements_sent

from casset_rights.db.bulk import Guard, Rows, insert_together
from casset_rights.db.engine import one_statement

_meta = MetaData()
parents = Table("together_parents", _meta, Column("id", String(16), primary_key=True),
                Column("used_at_ms", BigInteger))
children = Table("together_children", _meta, Column("id", String(16), primary_key=True),
                 Column("note", Text), Column("size", BigInteger),
                 Column("blob", LargeBinary))
COLUMNS = ("id", "note", "size", "blob")


@pytest.fixture
def tables(engine: Engine) -> Iterator[Engine]:
    _meta.drop_all(engine)
    _meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(parents.insert(), [{"id": "p1", "used_at_ms": None}])
    yield engine
    _meta.drop_all(engine)


def use(parent: str, at: int) -> Guard:
    return Guard("UPDATE together_parents SET used_at_ms = {} WHERE id = {} "
                 "AND used_at_ms IS NULL RETURNING id", (at, parent))


def rows_of(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(children.select().order_by(children.c.id))]


def test_rows_of_several_tables_are_written_together(tables: Engine) -> None:
    with one_statement(tables) as conn:
        assert insert_together(conn, [
            Rows(children, COLUMNS, [("a", "x", 1, b"\x00\x01"), ("b", None, None, None)]),
            Rows(parents, ("id", "used_at_ms"), [("p2", 5)]),
            Rows(children, COLUMNS, []),  # nothing to insert: left out
        ])
    assert rows_of(tables) == [("a", "x", 1, b"\x00\x01"), ("b", None, None, None)]
    with tables.connect() as conn:
        assert conn.execute(parents.select().where(parents.c.id == "p2")).one().used_at_ms == 5


def test_behind_a_guard_the_rows_are_written_once(tables: Engine) -> None:
    # NULLs, integers, text and bytes behind the guard: each value is cast to its column.
    first = [Rows(children, COLUMNS, [("a", None, None, b"\xff"), ("b", "two", 2**40, None)])]
    with one_statement(tables) as conn:
        assert insert_together(conn, first, guard=use("p1", 7))
    with one_statement(tables) as conn:
        again = [Rows(children, COLUMNS, [("c", "late", 3, None)])]
        assert not insert_together(conn, again, guard=use("p1", 8))
    assert rows_of(tables) == [("a", None, None, b"\xff"), ("b", "two", 2**40, None)]
    with tables.connect() as conn:
        assert conn.execute(parents.select()).one().used_at_ms == 7


def test_a_failed_insert_writes_nothing_not_even_the_guard(tables: Engine) -> None:
    with one_statement(tables) as conn:
        insert_together(conn, [Rows(children, COLUMNS, [("a", "x", 1, None)])])
    with pytest.raises(IntegrityError), one_statement(tables) as conn:
        insert_together(conn, [Rows(children, COLUMNS, [("z", "new", 1, None)]),
                               Rows(children, COLUMNS, [("a", "again", 2, None)])],
                        guard=use("p1", 9))
    assert rows_of(tables) == [("a", "x", 1, None)]
    with tables.connect() as conn:
        assert conn.execute(parents.select()).one().used_at_ms is None


def test_an_unknown_column_is_refused_before_anything_is_sent(tables: Engine) -> None:
    with pytest.raises(KeyError), one_statement(tables) as conn:
        insert_together(conn, [Rows(children, ("id", "colour"), [("a", "red")])])
    assert rows_of(tables) == []


def test_two_writers_behind_one_guard_write_once(tables: Engine) -> None:
    barrier = threading.Barrier(4)
    won: list[str] = []

    def write(name: str) -> None:
        barrier.wait()
        with one_statement(tables) as conn:
            if insert_together(conn, [Rows(children, COLUMNS, [(name, None, None, None)])],
                               guard=use("p1", 1)):
                won.append(name)

    threads = [threading.Thread(target=write, args=(f"w{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert rows_of(tables) == [(won[0], None, None, None)]


def test_on_postgresql_it_is_one_statement_and_no_transaction_block(tables: Engine) -> None:
    if tables.dialect.name != "postgresql":
        pytest.skip("SQLite runs the guard and each insert in the caller's transaction")
    with statements_sent() as sent, one_statement(tables) as conn:
        assert conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
        assert insert_together(conn, [Rows(children, COLUMNS, [("a", "x", 1, None)]),
                                      Rows(children, COLUMNS, [("b", "y", 2, None)])],
                               guard=use("p1", 3))
        # Committed already: another connection sees the rows.
        assert [r[0] for r in rows_of(tables)] == ["a", "b"]
    assert sent[0] == "WITH" and "COMMIT" not in sent
    # The pooled connection is back to transactions afterwards.
    with tables.connect() as conn:
        assert not conn.connection.driver_connection.autocommit  # type: ignore[union-attr]
