"""The sequencer: receipts and records queued with their writes, integrated in batches by
the one process holding the lease, checkpointed every N appends or T seconds, anchored on
schedule (on SQLite, and on PostgreSQL when configured)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from log_support import ORIGIN, Clock
from sqlalchemy import Engine, inspect, text

from casset_rights.anchoring.service import AnchorService, ChainChoice
from casset_rights.errors import InvalidInput
from casset_rights.log import LeafInput, TransparencyLog, leaf_hash
from casset_rights.log.errors import EntryPending
from casset_rights.log.keeper import LogKeeper, keeper_for
from casset_rights.log.sequencer import FileLease, PostgresLease, lease_for
from casset_rights.log_queue import enqueue_in, pending_count
from casset_rights.receipts.keys import FileKeyStore
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

BODY = {"principal": {"kind": "public"}, "request": {"action": "listen"}}


def _keeper(engine: Engine, tmp_path: Path, *, clock: Callable[[], float],
            chain: ChainChoice = "none", every_appends: int = 3, every_seconds: float = 10.0,
            anchor_every: float = 60.0, batch_max: int = 5000,
            ) -> tuple[LogKeeper, ReceiptStore, ReceiptIssuer]:
    keys = FileKeyStore(tmp_path / "keys")
    log = TransparencyLog(engine, origin=ORIGIN, signing_key=keys.active().private_key,
                          checkpoint_every_appends=every_appends,
                          checkpoint_every_seconds=every_seconds, clock=clock)
    receipts = ReceiptStore(engine)
    keeper = keeper_for(log, anchoring=AnchorService(engine, chain=chain), receipts=receipts,
                        keys=keys, checkpoint_every_appends=every_appends,
                        checkpoint_every_seconds=every_seconds,
                        anchor_every_seconds=anchor_every, batch_max=batch_max,
                        idle_seconds=0.01, clock=clock)
    return keeper, receipts, ReceiptIssuer(keys, issuer="https://rights.test")


def _sizes(keeper: LogKeeper) -> int | None:
    latest = keeper.log.latest_checkpoint()
    return None if latest is None else latest.tree_size


def test_a_stored_receipt_waits_in_the_queue_until_the_sequencer_logs_it(
        engine: Engine, tmp_path: Path, clock: Clock) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=clock)
    [stored] = receipts.store([issuer.issue("decision", BODY)])
    assert receipts.get(stored.jti).log_index is None
    assert receipts.get(stored.jti).token == stored.token
    assert keeper.log.size() == 0
    with pytest.raises(EntryPending) as pending:
        keeper.bundle(stored.jti)
    assert pending.value.code == "log_pending" and pending.value.retry_after >= 1
    done = keeper.sequencer.catch_up()
    assert done.integrated == 1 and done.checkpoint is not None
    logged = receipts.get(stored.jti)
    assert logged.log_index == 0 and logged.token == stored.token  # now read from the leaf
    assert keeper.log.entry(0).data == stored.token.encode()
    with engine.connect() as conn:
        assert pending_count(conn) == 0
        # Stored once, and the row untouched by logging: it held the leaf's hash from
        # the start, and no copy of the token.
        assert "token" not in {c["name"] for c in inspect(engine).get_columns("receipts")}
        assert conn.execute(text("SELECT leaf_hash FROM receipts")).scalar() == leaf_hash(
            stored.token.encode())
    assert keeper.bundle(stored.jti).leaf_index == 0


def test_a_rolled_back_write_queues_nothing(engine: Engine, tmp_path: Path,
                                            clock: Clock) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=clock)
    with pytest.raises(RuntimeError), engine.begin() as conn:
        receipts.store_in(conn, [issuer.issue("decision", BODY)])
        raise RuntimeError("the write this receipt went with failed")
    assert keeper.sequencer.catch_up().integrated == 0
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM receipts")).scalar() == 0


def test_batches_keep_the_queue_order_and_the_same_bytes_keep_their_index(
        engine: Engine, tmp_path: Path, clock: Clock) -> None:
    keeper, _, _ = _keeper(engine, tmp_path, clock=clock, batch_max=4)
    entries = [LeafInput("manifest", f"m{i}", f"manifest {i}".encode()) for i in range(10)]
    with engine.begin() as conn:
        enqueue_in(conn, entries)
        enqueue_in(conn, [entries[3]])  # queued twice: logged once
    assert keeper.sequencer.integrate()[0] == 11
    assert keeper.log.size() == 10
    assert [keeper.log.entry(i).ref for i in range(10)] == [f"m{i}" for i in range(10)]
    with engine.connect() as conn:
        assert pending_count(conn) == 0


def test_a_bad_entry_is_refused_before_anything_is_queued(engine: Engine) -> None:
    with pytest.raises(InvalidInput), engine.begin() as conn:
        enqueue_in(conn, [LeafInput("ok", "r", b"x"), LeafInput("Bad Kind", "r", b"x")])
    with engine.connect() as conn:
        assert pending_count(conn) == 0


def test_a_checkpoint_every_n_appends_or_t_seconds(engine: Engine, tmp_path: Path,
                                                   clock: Clock) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=clock)

    def store_and_pass() -> None:
        receipts.store([issuer.issue("decision", BODY)])
        keeper.sequencer.run_once()

    store_and_pass()
    assert _sizes(keeper) == 1  # the first leaves make the first checkpoint
    store_and_pass()
    store_and_pass()
    assert _sizes(keeper) == 1  # grown by 2 < 3, and no time passed
    store_and_pass()
    assert _sizes(keeper) == 4  # grown by 3
    store_and_pass()
    assert _sizes(keeper) == 4
    clock.now += 10
    store_and_pass()
    assert _sizes(keeper) == 6  # grown, and 10 s passed


def test_the_thread_integrates_and_checkpoints_on_time_and_stops(engine: Engine,
                                                                 tmp_path: Path) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=time.time, every_appends=1000,
                                       every_seconds=0.05)
    stored = receipts.store([issuer.issue("decision", BODY) for _ in range(3)])
    keeper.sequencer.start()
    keeper.sequencer.start()  # idempotent
    try:
        deadline = time.monotonic() + 10
        while _sizes(keeper) != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _sizes(keeper) == 3
        assert keeper.bundle(stored[2].jti).leaf_index == 2
    finally:
        keeper.sequencer.stop()
    assert not any(t.name == "log-sequencer" for t in threading.enumerate())


def test_the_thread_anchors_on_schedule(engine: Engine, tmp_path: Path) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=time.time, chain="embedded",
                                       every_seconds=0.05, anchor_every=0.1)
    receipts.store([issuer.issue("decision", BODY) for _ in range(2)])
    keeper.sequencer.start()
    try:
        deadline = time.monotonic() + 30
        while not keeper.anchoring.recent() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.sequencer.stop()
    [record] = keeper.anchoring.recent()[-1:]
    assert record.status == "confirmed" and record.tree_size == 2
    assert keeper.anchoring.target() == (record.chain_id, record.contract_address)


def test_anchoring_disabled(engine: Engine, tmp_path: Path, clock: Clock) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=clock, chain="none")
    receipts.store([issuer.issue("decision", BODY)])
    run = keeper.anchor_now()
    assert run.anchor is None and run.checkpoint.tree_size == 1
    assert keeper.anchoring.target() is None and not keeper.anchoring.enabled
    with pytest.raises(InvalidInput, match="disabled"):
        keeper.anchoring.chain  # noqa: B018


def test_one_lease_holder_at_a_time_and_the_next_takes_over(engine: Engine) -> None:
    """Two processes' leases on one database: one holds it; when it lets go (or dies:
    its connection or file descriptor goes with it), the other gets it."""
    first, second = lease_for(engine), lease_for(engine)
    if engine.dialect.name == "sqlite":
        assert isinstance(first, FileLease)
    else:
        assert isinstance(first, PostgresLease)
    try:
        assert first.acquire() and first.held()
        assert not second.acquire() and not second.held()
        first.release()
        assert not first.held()
        assert second.acquire() and second.held()
        assert not first.acquire()
    finally:
        first.release()
        second.release()


@pytest.mark.postgres
def test_a_leader_whose_connection_dies_loses_the_lease(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("the advisory-lock lease is PostgreSQL's")
    leader, other = PostgresLease(engine), PostgresLease(engine)
    try:
        assert leader.acquire()
        assert leader._conn is not None
        pid = leader._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        leader._conn.commit()
        with engine.begin() as conn:  # what a crash or a network cut does to its session
            conn.execute(text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        assert other.acquire()
        assert not leader.held()
    finally:
        leader.release()
        other.release()


def test_base_needs_its_settings_and_makes_a_json_rpc_chain(engine: Engine,
                                                            tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="CASSET_CHAIN_RPC_URL, CASSET_CHAIN_CONTRACT_ADDRESS"):
        AnchorService(engine, chain="base", key_file=tmp_path / "k")
    key = tmp_path / "anchor.key"
    key.write_text("0x" + "11" * 32)
    address = "0x" + "ab" * 20
    service = AnchorService(engine, chain="base-sepolia", rpc_url="http://127.0.0.1:9",
                            contract_address=address, key_file=key)
    from casset_rights.anchoring.rpc import JsonRpcChain

    assert isinstance(service.chain, JsonRpcChain)
    # Known without asking the endpoint (which is not there).
    assert service.target() == (84532, service.chain.contract_address)
    assert service.chain.contract_address.lower() == address
