"""The log in the database (SQLite, and PostgreSQL when configured): appends, proofs at
every size from stored subtree hashes, idempotence, checkpoints, and concurrent writers."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from log_support import ORIGIN, SEED, Clock
from merkle_reference import mth, path, proof
from sqlalchemy import Engine, event, text

from casset_rights.db.engine import make_engine
from casset_rights.errors import InvalidInput, NotFound
from casset_rights.log import (
    LeafInput,
    ProofInvalid,
    TransparencyLog,
    leaf_hash,
    parse_checkpoint,
    verify_checkpoint,
)

VECTORS = json.loads((Path(__file__).parents[2] / "assets" / "rfc6962_merkle_vectors.json")
                     .read_text())


def _leaves(n: int, start: int = 0) -> list[LeafInput]:
    return [LeafInput("receipt", f"jti-{i}", f"leaf {i}".encode()) for i in range(start, start + n)]


def test_the_reference_vectors_through_the_database(log: TransparencyLog) -> None:
    roots = [bytes.fromhex(r) for r in VECTORS["roots"]]
    assert log.size() == 0 and log.root() == roots[0]
    for i, hexdata in enumerate(VECTORS["leaves"]):
        assert log.append("manifest", f"m{i}", bytes.fromhex(hexdata)) == i
    for size in range(9):
        assert log.root(size) == roots[size]
    for case in VECTORS["inclusion_proofs"]:
        got = log.inclusion_proof(case["leaf_index"], case["tree_size"])
        assert [h.hex() for h in got.hashes] == case["path"]
        got.verify(roots[case["tree_size"]])
    for case in VECTORS["consistency_proofs"]:
        got = log.consistency_proof(case["first"], case["second"])
        assert [h.hex() for h in got.hashes] == case["path"]
        got.verify(roots[case["first"]], roots[case["second"]])


def test_proofs_at_every_size_equal_the_rfc_definitions(log: TransparencyLog) -> None:
    data: list[bytes] = []
    for batch in [1, 2, 1, 5, 8, 3, 6]:  # 26 leaves, grown in uneven batches
        entries = _leaves(batch, start=len(data))
        assert log.append_many(entries) == list(range(len(data), len(data) + batch))
        data += [e.data for e in entries]
    hashes = [leaf_hash(d) for d in data]
    for size in range(len(data) + 1):
        assert log.root(size) == mth(hashes[:size])
        for m in range(size):
            assert list(log.inclusion_proof(m, size).hashes) == path(m, hashes[:size])
        for m in range(size + 1):
            assert list(log.consistency_proof(m, size).hashes) == proof(m, hashes[:size])


def test_a_proof_reads_a_constant_number_of_rows_sets(log: TransparencyLog,
                                                      engine: Engine) -> None:
    log.append_many(_leaves(200))
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine, "before_cursor_execute", count)
    try:
        log.inclusion_proof(77, 199)
        log.consistency_proof(13, 200)
        log.root(151)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    # size, then one node look-up, per call: never a scan of the leaves
    assert len([s for s in statements if "log_nodes" in s]) == 3
    assert not [s for s in statements if "log_leaves.data" in s]


def test_appending_the_same_bytes_again_returns_the_first_index(log: TransparencyLog) -> None:
    first = log.append("manifest", "sha256:aa", b"manifest bytes")
    log.append_many(_leaves(3))
    assert log.append("manifest", "sha256:aa", b"manifest bytes") == first
    assert log.append_many([LeafInput("policy", "p", b"x"), LeafInput("policy", "p", b"x"),
                            LeafInput("manifest", "sha256:aa", b"manifest bytes")]) == [4, 4, 0]
    assert log.size() == 5


def test_entries_and_look_ups(log: TransparencyLog, clock: Clock) -> None:
    index = log.append("receipt", "jti-1", b"eyJhbGciOiJFZERTQSJ9.e30.sig")
    entry = log.entry(index)
    assert (entry.kind, entry.ref, entry.data) == ("receipt", "jti-1",
                                                   b"eyJhbGciOiJFZERTQSJ9.e30.sig")
    assert entry.created_at == int(clock.now)
    assert entry.leaf_hash == leaf_hash(entry.data)
    assert log.index_of(entry.leaf_hash) == index
    log.append_many(_leaves(4))
    by_hash = log.inclusion_proof(entry.leaf_hash)
    assert by_hash == log.inclusion_proof(0, 5)
    by_hash.verify(log.root())
    with pytest.raises(ProofInvalid):
        by_hash.verify(log.root(4))


@pytest.mark.parametrize("call", [
    lambda log: log.entry(99),
    lambda log: log.index_of(b"\x00" * 32),
    lambda log: log.inclusion_proof(b"\x00" * 32),
])
def test_unknown_leaves_are_not_found(log: TransparencyLog,
                                      call: Callable[[TransparencyLog], object]) -> None:
    log.append_many(_leaves(2))
    with pytest.raises(NotFound):
        call(log)


@pytest.mark.parametrize("call", [
    lambda log: log.root(3),
    lambda log: log.inclusion_proof(2, 2),
    lambda log: log.inclusion_proof(0, 3),
    lambda log: log.consistency_proof(2, 1),
    lambda log: log.consistency_proof(1, 3),
    lambda log: log.append("Receipt", "r", b""),
    lambda log: log.append("receipt", "", b""),
    lambda log: log.append("receipt", "r" * 257, b""),
])
def test_questions_beyond_the_log_are_refused(
        log: TransparencyLog, call: Callable[[TransparencyLog], object]) -> None:
    log.append_many(_leaves(2))
    with pytest.raises(InvalidInput):
        call(log)


def test_checkpoint_policy(log: TransparencyLog, clock: Clock,
                          signing_key: Ed25519PrivateKey) -> None:
    assert log.maybe_checkpoint() is None  # nothing logged yet
    log.append_many(_leaves(1))
    first = log.maybe_checkpoint()
    assert first is not None and first.tree_size == 1
    log.append_many(_leaves(4, start=1))
    assert log.maybe_checkpoint() is None  # 4 new leaves < 5, and no time has passed
    log.append_many(_leaves(1, start=5))
    by_count = log.maybe_checkpoint()
    assert by_count is not None and by_count.tree_size == 6
    assert log.maybe_checkpoint(clock.now + 60) is None  # time passed, nothing new
    log.append_many(_leaves(1, start=6))
    assert log.maybe_checkpoint(clock.now + 9) is None
    by_time = log.maybe_checkpoint(clock.now + 10)
    assert by_time is not None and by_time.tree_size == 7
    assert by_time.timestamp == int(clock.now + 10)
    assert log.latest_checkpoint() == by_time
    assert log.checkpoint_at(6) == by_count
    with pytest.raises(NotFound):
        log.checkpoint_at(3)
    for cp in (first, by_count, by_time):
        verify_checkpoint(cp.note, signing_key.public_key(), ORIGIN)
        assert parse_checkpoint(cp.note).root == log.root(cp.tree_size)
    log.consistency_proof(by_count.tree_size, by_time.tree_size).verify(by_count.root,
                                                                        by_time.root)


def test_an_empty_log_can_be_checkpointed(log: TransparencyLog,
                                          signing_key: Ed25519PrivateKey) -> None:
    cp = log.checkpoint_now()
    assert cp.tree_size == 0 and cp.root == log.root(0)
    verify_checkpoint(cp.note, signing_key.public_key(), ORIGIN)
    assert log.verifier_key.startswith(ORIGIN + "+")


def test_receipts_are_queued_with_their_rows_and_logged_by_integration(
        log: TransparencyLog, engine: Engine, tmp_path: Path) -> None:
    from casset_rights.receipts.keys import FileKeyStore
    from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

    store = ReceiptStore(engine)
    issuer = ReceiptIssuer(FileKeyStore(tmp_path / "keys"), issuer="https://rights.test")
    body = {"principal": {"kind": "public"}, "request": {"action": "listen"}}
    stored = store.store([issuer.issue("decision", body) for _ in range(3)])
    assert [r.log_index for r in stored] == [None] * 3 and log.size() == 0
    assert store.unlogged_count() == 3
    assert store.get(stored[1].jti).token == stored[1].token  # read from the queue
    done = log.integrate(max_entries=100, unique_kinds=frozenset({"receipt"}))
    assert done.count == 3 and done.oldest_ms is not None
    assert store.get(stored[1].jti).log_index == 1 and store.unlogged_count() == 0
    assert log.entry(2).data == stored[2].token.encode()
    log.inclusion_proof(leaf_hash(stored[1].token.encode())).verify(log.root())


# --- several OS processes appending at once ------------------------------------------------------


def _append_worker(url: str, schema: str | None, worker: int, rounds: int,
                   start: multiprocessing.synchronize.Event, out: multiprocessing.Queue) -> None:
    engine = make_engine(url, search_path=schema)
    log = TransparencyLog(engine, origin=ORIGIN,
                          signing_key=Ed25519PrivateKey.from_private_bytes(SEED))
    start.wait()
    got: list[int] = []
    for r in range(rounds):
        size = 1 + r % 3
        got += log.append_many([LeafInput("receipt", f"w{worker}-{r}-{i}",
                                          f"worker {worker} round {r} leaf {i}".encode())
                                for i in range(size)])
    engine.dispose()
    out.put((worker, got))


def test_concurrent_processes_append_contiguously(log: TransparencyLog, engine: Engine) -> None:
    schema = None
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar()
    url = engine.url.render_as_string(hide_password=False)
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_append_worker, args=(url, schema, w, 40, start, out))
               for w in range(2)]
    for p in workers:
        p.start()
    start.set()
    results = dict(out.get(timeout=120) for _ in workers)
    for p in workers:
        p.join(timeout=30)
        assert p.exitcode == 0
    out.close()
    out.join_thread()
    indexes = sorted(results[0] + results[1])
    size = log.size()
    assert size == 2 * sum(1 + r % 3 for r in range(40))
    assert indexes == list(range(size))  # contiguous: no gap, no duplicate
    interleaved = [i for i in range(1, size)
                   if (i in set(results[0])) != (i - 1 in set(results[0]))]
    assert interleaved, "the two writers did not overlap; the test proved nothing"
    hashes = [log.entry(i).leaf_hash for i in range(size)]
    assert log.root() == mth(hashes)


def _all_leaf_hashes(engine: Engine) -> list[bytes]:
    with engine.connect() as conn:
        return [bytes(h) for (h,) in conn.exec_driver_sql(
            "SELECT leaf_hash FROM log_leaves ORDER BY idx")]


def test_the_remembered_edge_survives_rollbacks_and_other_writers(
        log: TransparencyLog, engine: Engine, signing_key: Ed25519PrivateKey,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """An append reuses the right edge its log object computed last time only when the
    stored log still ends with that append: not after a rollback, nor after another
    writer appended the same number of different leaves."""
    other = TransparencyLog(engine, origin=ORIGIN, signing_key=signing_key)
    log.append_many(_leaves(3))
    with engine.connect() as conn:  # appended, then rolled back: never stored
        conn.execution_options(sqlite_begin="IMMEDIATE")
        trans = conn.begin()
        log.append_many_in(conn, _leaves(4, start=100), unique_kinds=frozenset({"receipt"}))
        trans.rollback()
    other.append_many(_leaves(4, start=200))  # the same size the rolled-back append had
    log.append_many(_leaves(2, start=300))
    other.append_many(_leaves(1, start=400))
    log.append_many(_leaves(5, start=500))
    import casset_rights.log.service as service

    reads: list[object] = []
    real_lookup = service._lookup
    monkeypatch.setattr(service, "_lookup", lambda conn, nodes: reads.append(nodes)
                        or real_lookup(conn, nodes))
    log.append_many(_leaves(1, start=600))  # right after its own append: the edge reused
    assert reads == []
    monkeypatch.undo()
    hashes = _all_leaf_hashes(engine)
    assert len(hashes) == 16
    assert hashes[3] == leaf_hash(b"leaf 200")  # the rolled-back leaves are not there
    assert log.root() == mth(hashes) == other.root()
    for index in (0, 3, 9, 15):
        proof_ = log.inclusion_proof(index)
        proof_.verify(mth(hashes))
