"""Statements on the driver's cursor (``casset_rights.db.bulk``), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from casset_rights.db.bulk import execute_many, insert_rows
from casset_rights.idempotency.tables import idempotency_keys


def _placeholder(engine: Engine) -> str:
    return "?" if engine.dialect.paramstyle == "qmark" else "%s"


def _keys(engine: Engine, *names: str) -> None:
    with engine.begin() as conn:
        insert_rows(conn, idempotency_keys,
                    ["owner", "key", "operation", "fingerprint", "outcome", "created_at_ms"],
                    [("client:a", name, "op", "f", "{}", 1) for name in names])


def test_execute_many_runs_the_statement_for_each_row(engine: Engine) -> None:
    _keys(engine, "k1", "k2", "k3")
    p = _placeholder(engine)
    with engine.begin() as conn:
        execute_many(conn, f"UPDATE idempotency_keys SET created_at_ms = {p} "
                           f"WHERE owner = 'client:a' AND key = {p}",
                     [(10, "k1"), (30, "k3")])
        execute_many(conn, "UPDATE idempotency_keys SET created_at_ms = 0", [])
    with engine.connect() as conn:
        rows = conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.created_at_ms)
                            .order_by(idempotency_keys.c.key)).all()
    assert [tuple(row) for row in rows] == [("k1", 10), ("k2", 1), ("k3", 30)]


def test_execute_many_raises_sqlalchemys_error_and_the_transaction_rolls_back(
        engine: Engine) -> None:
    _keys(engine, "k1", "k2")
    p = _placeholder(engine)
    with pytest.raises(IntegrityError), engine.begin() as conn:
        execute_many(conn, f"UPDATE idempotency_keys SET created_at_ms = {p} "
                           f"WHERE key = {p}", [(5, "k1")])
        execute_many(conn, f"UPDATE idempotency_keys SET key = {p} WHERE key = {p}",
                     [("k2", "k1")])  # the primary key (owner, key) taken
    with engine.connect() as conn:
        times = conn.execute(select(idempotency_keys.c.created_at_ms)).scalars().all()
    assert sorted(times) == [1, 1]
