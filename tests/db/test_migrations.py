"""The Alembic migrations build exactly the schema the tables declare, on both databases."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from casset_rights.db.engine import make_engine
from casset_rights.db.migrate import downgrade, upgrade
from casset_rights.db.tables import metadata


def _assert_no_drift(engine) -> None:  # type: ignore[no-untyped-def]
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}),
                                metadata)
    assert diff == []


@contextmanager
def _empty_database(database: str, tmp_path: Path) -> Iterator[Engine]:
    """An engine on an empty SQLite file, or on a new PostgreSQL schema dropped after."""
    if database == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    url = os.environ.get("CASSET_TEST_DATABASE_URL")
    if not url:
        pytest.skip("CASSET_TEST_DATABASE_URL is not set")
    schema = f"migr_{uuid.uuid4().hex[:8]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(url, search_path=schema)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


BOTH = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("database", BOTH)
def test_migrations_match_the_tables(database: str, tmp_path: Path) -> None:
    with _empty_database(database, tmp_path) as engine:
        upgrade(engine)
        upgrade(engine)  # a second run is a no-op
        _assert_no_drift(engine)


def test_receipts_stored_once_keeps_every_receipt_both_ways(tmp_path: Path) -> None:
    """Dropping the payload column loses nothing: a receipt stored before keeps its token
    (which carries the payload), and a downgrade restores the tokens from the log and the
    column from the tokens."""
    from casset_rights.receipts.keys import FileKeyStore
    from casset_rights.receipts.service import ReceiptIssuer

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, "45cbc9defe4d")
    issuer = ReceiptIssuer(FileKeyStore(tmp_path / "keys"), issuer="i")
    receipt = issuer.issue(
        "decision", {"principal": {"kind": "public"}, "decision": "permit",
                     "request": {"action": "listen", "resource": "release:r"}})
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO receipts (jti, kind, token, payload, iat, principal_kind, resource,"
            " outcome) VALUES (:jti, 'decision', :token, :payload, :iat, 'public',"
            " 'release:r', 'permit')"),
            {"jti": receipt.jti, "token": receipt.token, "iat": receipt.payload["iat"],
             "payload": json.dumps(receipt.payload)})
    upgrade(engine, "5e0a7c2d9b41")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT token FROM receipts WHERE jti = :j"),
                            {"j": receipt.jti}).scalar_one() == receipt.token
    # Stored from then on with its log leaf: the token lived in the leaf only.
    logged = issuer.issue("decision", {"principal": {"kind": "public"}, "decision": "deny"})
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO log_leaves (idx, leaf_hash, kind, ref, data, created_at)"
            " VALUES (0, :h, 'receipt', :jti, :data, 0)"),
            {"h": b"\x01" * 32, "jti": logged.jti, "data": logged.token.encode()})
        conn.execute(text(
            "INSERT INTO receipts (jti, kind, token, iat, principal_kind, log_index)"
            " VALUES (:jti, 'decision', NULL, :iat, 'public', 0)"),
            {"jti": logged.jti, "iat": logged.payload["iat"]})
    downgrade(engine, "45cbc9defe4d")
    with engine.connect() as conn:
        stored = dict(conn.execute(text("SELECT jti, payload FROM receipts")).all())
        token = conn.execute(text("SELECT token FROM receipts WHERE jti = :j"),
                             {"j": logged.jti}).scalar_one()
        indexes = {row[1] for row in conn.execute(text("PRAGMA index_list(receipts)"))}
    assert json.loads(stored[receipt.jti]) == receipt.payload
    assert json.loads(stored[logged.jti]) == logged.payload
    assert token == logged.token
    assert "ix_receipts_resource_iat" in indexes
    engine.dispose()


@pytest.mark.parametrize("database", BOTH)
def test_receipts_find_their_leaf_by_hash_both_ways(database: str, tmp_path: Path) -> None:
    """Upgrading keeps every receipt readable: a logged one by its leaf's hash, a queued
    one from its queue entry, and one whose queue entry was missing is queued again with
    its token. A downgrade gives back the log indexes and the queued tokens."""
    from casset_rights.log import leaf_hash
    from casset_rights.receipts.keys import FileKeyStore
    from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

    issuer = ReceiptIssuer(FileKeyStore(tmp_path / "keys"), issuer="i")
    logged, queued, unqueued = (issuer.issue("decision", {
        "principal": {"kind": "public"}, "decision": "permit",
        "request": {"action": "listen", "resource": "release:r"}}) for _ in range(3))
    with _empty_database(database, tmp_path) as engine:
        upgrade(engine, "c9e1f4a7b2d6")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO log_leaves (idx, leaf_hash, kind, ref, data, created_at)"
                " VALUES (0, :h, 'receipt', :jti, :data, 0)"),
                {"h": leaf_hash(logged.token.encode()), "jti": logged.jti,
                 "data": logged.token.encode()})
            for receipt, token, index in ((logged, None, 0), (queued, queued.token, None),
                                          (unqueued, unqueued.token, None)):
                conn.execute(text(
                    "INSERT INTO receipts (jti, kind, token, iat, principal_kind, log_index)"
                    " VALUES (:jti, 'decision', :token, :iat, 'public', :index)"),
                    {"jti": receipt.jti, "token": token, "iat": receipt.payload["iat"],
                     "index": index})
            conn.execute(text(
                "INSERT INTO log_pending (kind, ref, data, created_at_ms)"
                " VALUES ('receipt', :jti, :data, 0)"),
                {"jti": queued.jti, "data": queued.token.encode()})
        upgrade(engine)
        _assert_no_drift(engine)
        store = ReceiptStore(engine)
        assert [(r.token, r.log_index) for r in map(store.get, (logged.jti, queued.jti,
                                                                 unqueued.jti))] == [
            (logged.token, 0), (queued.token, None), (unqueued.token, None)]
        assert store.unlogged_count() == 2
        with engine.connect() as conn:
            hashes = dict(conn.execute(text("SELECT jti, leaf_hash FROM receipts")).all())
        assert {jti: bytes(h) for jti, h in hashes.items()} == {
            r.jti: leaf_hash(r.token.encode()) for r in (logged, queued, unqueued)}

        downgrade(engine, "c9e1f4a7b2d6")
        with engine.connect() as conn:
            rows = {jti: (token, index) for jti, token, index in conn.execute(
                text("SELECT jti, token, log_index FROM receipts")).all()}
        assert rows == {logged.jti: (None, 0), queued.jti: (queued.token, None),
                        unqueued.jti: (unqueued.token, None)}


def test_log_leaves_lose_their_unread_index_both_ways(tmp_path: Path) -> None:
    """``ix_log_leaves_kind_ref`` (read by no query) goes on upgrade and comes back on a
    downgrade; the leaves stay as they were."""
    from sqlalchemy import inspect

    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")

    def leaf_indexes() -> set[str]:
        return {ix["name"] for ix in inspect(engine).get_indexes("log_leaves")}

    upgrade(engine, "5e0a7c2d9b41")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO log_leaves (idx, leaf_hash, kind, ref, data, created_at)"
            " VALUES (0, :h, 'receipt', 'r0', :data, 0)"), {"h": b"\x02" * 32, "data": b"x"})
    assert "ix_log_leaves_kind_ref" in leaf_indexes()
    upgrade(engine)
    _assert_no_drift(engine)
    assert "ix_log_leaves_kind_ref" not in leaf_indexes()
    downgrade(engine, "5e0a7c2d9b41")
    assert "ix_log_leaves_kind_ref" in leaf_indexes()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT idx, kind, ref FROM log_leaves")).all() == [
            (0, "receipt", "r0")]


@pytest.mark.parametrize("database", BOTH)
def test_log_nodes_keyed_by_position_keep_every_hash_both_ways(database: str,
                                                               tmp_path: Path) -> None:
    """Nodes stored by ``(level, idx)`` before the upgrade give the same roots and proofs
    after it, the log appends on from them, and a downgrade gives back every node, the
    appended ones included, by ``(level, idx)``."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from casset_rights.log import merkle
    from casset_rights.log.service import LeafInput, TransparencyLog

    data = [f"leaf {i}".encode() for i in range(1000)]
    hashes = [merkle.leaf_hash(d) for d in data]
    with _empty_database(database, tmp_path) as engine:
        upgrade(engine, "9c3f1b7e5a20")
        nodes, _ = merkle.append_nodes([], 0, hashes)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO log_leaves (idx, leaf_hash, kind, ref, data, created_at)"
                " VALUES (:idx, :h, 'receipt', :ref, :data, 0)"),
                [{"idx": i, "h": h, "ref": f"r{i}", "data": d}
                 for i, (h, d) in enumerate(zip(hashes, data, strict=True))])
            conn.execute(text("INSERT INTO log_nodes (level, idx, hash) VALUES (:l, :i, :h)"),
                         [{"l": level, "i": idx, "h": h} for level, idx, h in nodes])
        upgrade(engine)
        _assert_no_drift(engine)
        log = TransparencyLog(engine, origin="test", signing_key=Ed25519PrivateKey.generate())
        for size in (1, 2, 7, 512, 999, 1000):
            assert log.root(size) == merkle.root_of(hashes[:size])
        proof = log.inclusion_proof(hashes[613], 1000)
        merkle.verify_inclusion(leaf_index=613, tree_size=1000, leaf=hashes[613],
                                proof=proof.hashes, root=merkle.root_of(hashes))
        more = [f"more {i}".encode() for i in range(37)]
        assert log.append_many([LeafInput("receipt", f"m{i}", d) for i, d in enumerate(more)]
                               ) == list(range(1000, 1037))
        hashes += [merkle.leaf_hash(d) for d in more]
        assert log.root() == merkle.root_of(hashes)
        log.consistency_proof(1000, 1037).verify(merkle.root_of(hashes[:1000]),
                                                 merkle.root_of(hashes))

        downgrade(engine, "9c3f1b7e5a20")
        with engine.connect() as conn:
            stored = conn.execute(text("SELECT level, idx, hash FROM log_nodes")).all()
            leaves = conn.execute(text("SELECT idx FROM log_leaves ORDER BY idx")).scalars()
            assert list(leaves) == list(range(1037))
        expected, _ = merkle.append_nodes([], 0, hashes)
        assert sorted((level, idx, bytes(h)) for level, idx, h in stored) == sorted(expected)
        upgrade(engine)
        _assert_no_drift(engine)
        assert TransparencyLog(engine, origin="test", signing_key=Ed25519PrivateKey.generate()
                               ).root() == merkle.root_of(hashes)


@pytest.mark.parametrize("database", BOTH)
def test_lineage_edges_get_ids_and_keep_their_rows_both_ways(database: str,
                                                             tmp_path: Path) -> None:
    """Edges stored before get ids and stay; a downgrade keeps the edges in force and
    drops the withdrawn ones (the old key cannot hold them)."""
    edge = ("'release:b', 'release:a', 'remix', 'release:b', NULL, 'artist-b', 'release:a', "
            "NULL, 'artist-a', NULL, 0, 'client:x', 1, 'r1'")
    columns = ("child, parent, relationship, child_release, child_track, child_artist, "
               "parent_release, parent_track, parent_artist, grant_id, revenue_share_ppm, "
               "registered_by, registered_at_ms, receipt_id")
    with _empty_database(database, tmp_path) as engine:
        upgrade(engine, "d2b7e4f1a9c8")
        with engine.begin() as conn:
            conn.execute(text(f"INSERT INTO lineage_edges ({columns}) VALUES ({edge})"))
        upgrade(engine)
        _assert_no_drift(engine)
        with engine.begin() as conn:
            (edge_id,) = conn.execute(text("SELECT id FROM lineage_edges")).scalars()
            assert edge_id.startswith("edge_") and len(edge_id) == 37
            conn.execute(text("UPDATE lineage_edges SET withdrawn_at_ms = 2"))
            conn.execute(text(f"INSERT INTO lineage_edges (id, {columns}) "
                              f"VALUES ('edge_2', {edge})"))
        downgrade(engine, "d2b7e4f1a9c8")
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT child, parent FROM lineage_edges")).all()
        assert [tuple(r) for r in rows] == [("release:b", "release:a")]
        upgrade(engine)
        _assert_no_drift(engine)


@pytest.mark.postgres
def test_grant_notifications_name_the_grant_both_ways(tmp_path: Path) -> None:
    """The license grants' trigger is their own after c9e1f4a7b2d6 (as in a database made
    from the tables), the one naming the licensee alone before it."""
    def triggers(engine: Engine) -> dict[str, str]:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT c.relname, pg_get_triggerdef(t.oid) FROM pg_trigger t"
                " JOIN pg_class c ON c.oid = t.tgrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND NOT t.tgisinternal"
                " AND t.tgname LIKE '%\\_changes'")).all()
        return {table: definition.split(" EXECUTE ")[1] for table, definition in rows}

    with _empty_database("postgres", tmp_path) as migrated, \
            _empty_database("postgres", tmp_path) as created:
        metadata.create_all(created)
        upgrade(migrated)
        assert triggers(migrated) == triggers(created)
        assert triggers(migrated)["license_grants"] == "FUNCTION casset_notify_grant()"
        downgrade(migrated, "a7c4e2d9f0b3")
        assert triggers(migrated)["license_grants"] == \
            "FUNCTION casset_notify_change('licensee')"
        assert triggers(migrated)["lineage_edges"] == \
            "FUNCTION casset_notify_change('child_release')"


@pytest.mark.postgres
def test_signed_tokens_compress_with_lz4_both_ways(tmp_path: Path) -> None:
    """After d6f3b9a2c8e1 the token columns compress with LZ4 (as in a database made from
    the tables), and a large token is stored so; before it, with PostgreSQL's default."""
    from casset_rights.db.compression import TOKEN_COLUMNS, lz4_available

    def methods(engine: Engine) -> dict[str, str]:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT c.relname, a.attname, a.attcompression FROM pg_attribute a"
                " JOIN pg_class c ON c.oid = a.attrelid"
                " JOIN pg_namespace n ON n.oid = c.relnamespace"
                " WHERE n.nspname = current_schema() AND a.attnum > 0")).all()
        return {table: method for table, column, method in rows
                if TOKEN_COLUMNS.get(table) == column}

    with _empty_database("postgres", tmp_path) as migrated, \
            _empty_database("postgres", tmp_path) as created:
        with migrated.connect() as conn:
            if not lz4_available(conn):
                pytest.skip("this PostgreSQL server was built without LZ4")
        metadata.create_all(created)
        upgrade(migrated)
        assert methods(migrated) == methods(created) == dict.fromkeys(TOKEN_COLUMNS, "l")
        # 2,850 bytes (past the TOAST threshold) of what a token's payload repeats.
        token = b'{"rule": "release:midnight-tapes", "effect": "permit"}' * 50
        with migrated.begin() as conn:
            conn.execute(text("INSERT INTO log_pending (kind, ref, data, created_at_ms)"
                              " VALUES ('receipt', 'r', :data, 0)"), {"data": token})
            stored = conn.execute(text(
                "SELECT pg_column_compression(data), data FROM log_pending")).one()
        assert stored[0] == "lz4" and bytes(stored[1]) == token
        downgrade(migrated, "b8d3f6a2c1e9")
        assert methods(migrated) == dict.fromkeys(TOKEN_COLUMNS, "")
