"""``ReceiptStore.store``: a batch of receipts stored as a transaction of its own; on
PostgreSQL a small batch is one statement in autocommit, a larger one copied in a
transaction, on a kept connection that stays usable after a failed batch."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from statements_sent import statements_sent

from casset_rights.log_queue import pending_count
from casset_rights.receipts.keys import FileKeyStore
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

BODY = {"principal": {"kind": "public"}, "request": {"action": "listen",
                                                     "resource": "track:a/1"}}


def _issuer(tmp_path: Path) -> ReceiptIssuer:
    return ReceiptIssuer(FileKeyStore(tmp_path / "keys"), issuer="https://rights.test")


@pytest.mark.parametrize("size", [1, ReceiptStore.ONE_STATEMENT, ReceiptStore.ONE_STATEMENT + 1,
                                  100])
def test_a_batch_is_stored_and_queued_whatever_its_size(engine: Engine, tmp_path: Path,
                                                        size: int) -> None:
    issuer = _issuer(tmp_path)
    store = ReceiptStore(engine, keep_connection=True)
    try:
        batch = [issuer.issue("decision", BODY) for _ in range(size)]
        assert store.store(batch) == batch
        assert store.store([]) == []
    finally:
        store.close()
    for receipt in batch:
        assert store.get(receipt.jti).token == receipt.token
    with engine.connect() as conn:
        assert pending_count(conn, "receipt") == size


def test_on_postgresql_a_small_batch_is_one_statement_a_large_one_a_transaction(
        engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("on SQLite every batch is a transaction")
    issuer = _issuer(tmp_path)
    store = ReceiptStore(engine, keep_connection=True)
    try:
        with statements_sent() as sent:
            store.store([issuer.issue("decision", BODY)
                         for _ in range(ReceiptStore.ONE_STATEMENT)])
            small = list(sent)
            sent.clear()
            large = [issuer.issue("decision", BODY) for _ in range(ReceiptStore.ONE_STATEMENT + 1)]
            store.store(large)
    finally:
        store.close()
    assert small == ["WITH"]
    # psycopg's transaction block sends BEGIN and COMMIT itself, not through commit().
    assert sent == ["COPY", "COPY"]
    assert store.get(large[-1].jti).token == large[-1].token


def test_a_failed_batch_stores_none_of_it_and_the_next_one_is_stored(
        engine: Engine, tmp_path: Path) -> None:
    issuer = _issuer(tmp_path)
    store = ReceiptStore(engine, keep_connection=True)
    try:
        [first] = store.store([issuer.issue("decision", BODY)])
        for size in (2, ReceiptStore.ONE_STATEMENT + 1):  # one statement, then a COPY
            batch = [issuer.issue("decision", BODY) for _ in range(size - 1)]
            with pytest.raises(IntegrityError):
                store.store([*batch, first])  # its jti is taken
            with engine.connect() as conn:
                assert pending_count(conn, "receipt") == 1
        [later] = store.store([issuer.issue("decision", BODY)])
    finally:
        store.close()
    assert store.get(later.jti).token == later.token
