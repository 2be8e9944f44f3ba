"""The ``process`` receipt writer: receipts stored and logged by a child process.

Real child processes on the test database (SQLite file, then PostgreSQL): receipts from
threads and from an event loop, the log they land in, a child that dies, a store that
fails, closing with receipts in flight, and the decision API served with it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient
from sqlalchemy import Engine, func, select

from casset_rights.config import settings_from_env
from casset_rights.errors import ServiceUnavailable
from casset_rights.log import merkle
from casset_rights.log.bundle import decode_bundle, verify_receipt_bundle
from casset_rights.log.service import TransparencyLog
from casset_rights.log.tables import log_leaves
from casset_rights.receipts.keys import FileKeyStore
from casset_rights.receipts.service import Receipt, ReceiptIssuer, ReceiptStore
from casset_rights.receipts.sink import RESTART_PAUSE_SECONDS, ProcessReceiptWriter
from casset_rights.receipts.verify import verify_receipt
from casset_rights.receipts.tables import receipts as receipts_table
from casset_rights.services import open_services, open_writer


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    return settings_from_env({}, data_dir=tmp_path / "data", load_examples=True,
                             issuer="http://rights.test", receipt_writer="process")


@pytest.fixture
def keys(settings: Any) -> FileKeyStore:
    return FileKeyStore(settings.keys_dir)


@pytest.fixture
def writer(settings: Any, engine: Engine, keys: FileKeyStore) -> Any:
    made = open_writer(settings, engine, ReceiptStore(engine), keys)
    assert isinstance(made, ProcessReceiptWriter)
    yield made
    made.close()


def _receipts(keys: FileKeyStore, n: int, kind: str = "decision") -> list[Receipt]:
    issuer = ReceiptIssuer(keys, issuer="http://rights.test")
    return [issuer.issue(kind, {"principal": {"kind": "public"},
                                "request": {"action": "listen", "resource": f"release:r{i}"},
                                "decision": "permit"}) for i in range(n)]


def _log_root_matches_leaves(engine: Engine, keys: FileKeyStore) -> int:
    log = TransparencyLog(engine, origin="test", signing_key=keys.active().private_key)
    with engine.connect() as conn:
        leaves = [row.leaf_hash for row in
                  conn.execute(select(log_leaves.c.leaf_hash).order_by(log_leaves.c.idx))]
    assert log.root() == merkle.root_of(leaves)
    return len(leaves)


def test_receipts_from_threads_are_stored_and_logged_in_order(
        writer: ProcessReceiptWriter, engine: Engine, keys: FileKeyStore) -> None:
    receipts = _receipts(keys, 40)
    futures = [writer.submit(r) for r in receipts]
    stored = [f.result(timeout=30) for f in futures]
    assert [s.jti for s in stored] == [r.jti for r in receipts]
    assert sorted(s.log_index for s in stored) == list(range(40))  # type: ignore[type-var]
    store = ReceiptStore(engine)
    for s in stored:
        again = store.get(s.jti)
        assert again.token == s.token and again.log_index == s.log_index
    assert _log_root_matches_leaves(engine, keys) == 40


def test_receipts_from_a_loop_are_answered_on_the_loop_without_a_thread(
        writer: ProcessReceiptWriter, engine: Engine, keys: FileKeyStore) -> None:
    receipts = _receipts(keys, 300)

    async def main() -> list[Receipt]:
        writer.attach(asyncio.get_running_loop())
        results = await asyncio.gather(*(writer.store_async(r) for r in receipts))
        assert writer._reader is None  # read by add_reader, not by a thread
        writer.detach()
        return list(results)

    stored = asyncio.run(main())
    assert {s.jti for s in stored} == {r.jti for r in receipts}
    assert sorted(s.log_index for s in stored) == list(range(300))  # type: ignore[type-var]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(receipts_table)).scalar() == 300
    # After detach, the next receipt starts a child read by a thread.
    later = writer.submit(_receipts(keys, 1)[0]).result(timeout=30)
    assert later.log_index == 300


def test_the_child_signs_drafts_with_the_key_the_parent_publishes(
        settings: Any, engine: Engine, keys: FileKeyStore) -> None:
    published = keys.jwks()
    writer = open_writer(settings, engine, ReceiptStore(engine), keys)
    FileKeyStore(settings.keys_dir).rotate()  # the folder's active key changes meanwhile
    issuer = ReceiptIssuer(keys, issuer="http://rights.test")
    drafts = [issuer.draft("decision", {"principal": {"kind": "public"}, "decision": "deny"})
              for _ in range(5)]
    try:
        stored = [f.result(timeout=30) for f in [writer.submit(d) for d in drafts]]
    finally:
        writer.close()
    for draft, receipt in zip(drafts, stored, strict=True):
        assert verify_receipt(receipt.token, published) == draft.payload
        assert ReceiptStore(engine).get(draft.jti).token == receipt.token
    assert _log_root_matches_leaves(engine, keys) == 5
    with engine.connect() as conn:  # each token is stored once, as its log leaf's data
        assert conn.execute(select(receipts_table.c.token)).scalars().all() == [None] * 5
        leaves = conn.execute(select(log_leaves.c.data)).scalars()
        assert sorted(bytes(d).decode() for d in leaves) == sorted(r.token for r in stored)


def test_a_dead_child_fails_what_it_held_and_the_next_receipt_starts_another(
        writer: ProcessReceiptWriter, keys: FileKeyStore) -> None:
    first = writer.submit(_receipts(keys, 1)[0]).result(timeout=30)
    assert first.log_index == 0
    pid = writer.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # hold it, so the next receipt is surely in flight
    in_flight = writer.submit(_receipts(keys, 1)[0])
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(ServiceUnavailable):
        in_flight.result(timeout=30)
    deadline = time.monotonic() + 30
    while writer.pid == pid and time.monotonic() < deadline:  # the reader saw it die
        time.sleep(0.01)
    time.sleep(RESTART_PAUSE_SECONDS)
    after = writer.submit(_receipts(keys, 1)[0]).result(timeout=30)
    assert writer.pid not in (None, pid)
    assert after.log_index == 1  # the lost receipt was never stored nor logged


def test_a_failed_store_fails_its_batch_only(writer: ProcessReceiptWriter,
                                             keys: FileKeyStore) -> None:
    receipt = _receipts(keys, 1)[0]
    assert writer.submit(receipt).result(timeout=30).log_index == 0
    duplicate = writer.submit(receipt)  # same jti: the primary key refuses it
    with pytest.raises(ServiceUnavailable, match="storing receipts failed"):
        duplicate.result(timeout=30)
    assert writer.submit(_receipts(keys, 1)[0]).result(timeout=30).log_index == 1


def test_close_stores_what_was_sent(settings: Any, engine: Engine,
                                    keys: FileKeyStore) -> None:
    writer = open_writer(settings, engine, ReceiptStore(engine), keys)
    futures = [writer.submit(r) for r in _receipts(keys, 50)]
    writer.close()
    assert all(f.done() for f in futures)
    assert sorted(f.result().log_index for f in futures) == list(range(50))
    with pytest.raises(ServiceUnavailable):
        writer.submit(_receipts(keys, 1)[0]).result(timeout=5)


def test_decisions_over_http_with_the_process_writer(settings: Any, engine: Engine) -> None:
    from casset_rights.app import create_app

    services = open_services(settings, engine=engine, migrate=False)
    assert isinstance(services.writer, ProcessReceiptWriter)
    from casset_rights.services import load_examples

    load_examples(services)
    app = create_app(msgspec.structs.replace(settings, load_examples=False), services=services)
    try:
        with TestClient(app, base_url="http://rights.test") as client:
            # Started with the app, not by the first receipt: no request waits for it.
            assert services.writer.pid is not None
            answers = [client.post("/v1/decisions", json=body).json() for body in (
                {"action": "preview", "resource": "hook:midnight-tapes/1/chorus"},
                {"action": "remix", "resource": "hook:glass-hours/2/drop",
                 "context": {"purpose": "commercial"}},
                {"action": "ai-train", "resource": "release:midnight-tapes"})]
            assert [a["decision"] for a in answers] == ["permit", "license_required", "deny"]
            assert services.writer._reader is None  # answers read on the app's loop
            for answer in answers:
                stored = client.get(f"/v1/receipts/{answer['receipt_id']}").json()
                assert stored["receipt"] == answer["receipt"]
            bundle = decode_bundle(
                client.get(f"/v1/receipts/{answers[0]['receipt_id']}/bundle").content)
            steps: list[Any] = []
            verify_receipt_bundle(bundle, jwks=client.get("/.well-known/jwks.json").json(),
                                  log_key=client.get("/v1/log/checkpoint").json()["verifier_key"],
                                  check_anchor=False, report=steps.append)
            assert [s.status for s in steps][:3] == ["ok", "ok", "ok"]
    finally:
        services.log_keeper.stop()
        services.writer.close()


def test_whole_frames_are_taken_and_a_partial_one_waits() -> None:
    from casset_rights.receipts.sink import take_frames

    framed = b"".join(len(p).to_bytes(4, "little") + p for p in (b"one", b"", b"three"))
    buffer = bytearray(framed[:-2])
    assert take_frames(buffer) == [b"one", b""]
    buffer += framed[-2:]
    assert take_frames(buffer) == [b"three"] and buffer == bytearray()


def test_frames_longer_than_one_read_arrive_whole(keys: FileKeyStore) -> None:
    """The child reads its pipe in pieces of ``_READ_BYTES``: a group far larger than one
    piece reaches the store whole, and its answer (longer than a piece too) reads back."""
    import threading

    from casset_rights.receipts import sink

    batch = _receipts(keys, 500)
    request = sink.frame(msgspec.msgpack.encode((7, batch)))
    assert len(request) > 3 * sink._READ_BYTES
    to_child, child_in = os.pipe()[::-1]
    child_out, from_child = os.pipe()
    seen: list[list[Receipt]] = []

    def store(group: Any) -> list[Receipt]:
        seen.append(list(group))
        return [msgspec.structs.replace(r, log_index=i) for i, r in enumerate(group)]

    child = threading.Thread(target=sink.serve, args=(child_in, from_child, store))
    child.start()
    sink.write_all(to_child, request)  # the pipe holds less: the child reads as it comes
    reply = msgspec.msgpack.decode(sink.read_frame(child_out), type=sink.BatchReply)
    os.close(to_child)
    child.join(timeout=30)
    for fd in (child_in, child_out, from_child):
        os.close(fd)
    assert seen == [batch]
    assert reply.batch == 7 and reply.indexes == list(range(500))
    assert reply.tokens == [r.token for r in batch]


def test_the_wal_starts_again_while_groups_keep_coming(tmp_path: Path) -> None:
    """Continuous group commits with a background checkpoint: the store's thread catching
    up between groups lets the write-ahead log restart, so it stays small."""
    from casset_rights.db.engine import make_engine
    from casset_rights.receipts.sink import WalKeeper

    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    keeper = WalKeeper(engine, background_seconds=0.01, restart_seconds=0.0)
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (i INTEGER PRIMARY KEY, b BLOB)")
    wal = tmp_path / "wal.db-wal"
    largest = 0
    for group in range(400):  # 400 groups of 16 rows of 2 KB: about 13 MB of pages
        with engine.begin() as conn:
            conn.exec_driver_sql("INSERT INTO t (b) VALUES " + ", ".join(["(?)"] * 16),
                                 tuple(os.urandom(2048) for _ in range(16)))
        keeper.between_groups()
        largest = max(largest, wal.stat().st_size)
    engine.dispose()
    assert largest < 8 * 2**20, f"the WAL grew to {largest} bytes"  # 30 MB without


def test_settling_passes_again_until_a_pass_is_short(tmp_path: Path) -> None:
    """Before the store's thread catches up, the checkpoint thread passes again while a
    pass takes longer than ``settled_seconds`` (each copies what was written during the
    one before), at most ``settle_passes`` times. Real passes on a real database; the
    clock says how long they took."""
    from casset_rights.db.engine import make_engine
    from casset_rights.receipts.sink import WalKeeper

    engine = make_engine(f"sqlite:///{tmp_path / 'settle.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE t (i INTEGER PRIMARY KEY, b BLOB)")
        conn.exec_driver_sql("INSERT INTO t (b) VALUES (?)", (os.urandom(4096),))
    # Passes of 30, 6 and then 1 ms: the third is short enough.
    ticks = iter([0.0, 0.030, 1.0, 1.006, 2.0, 2.001])
    shortening = WalKeeper(engine, background_seconds=3600, settled_seconds=0.002,
                           clock=lambda: next(ticks))
    assert shortening.settle() == 3
    # Every pass takes a second: it gives up after settle_passes.
    seconds = iter(float(i) for i in range(100))
    slow = WalKeeper(engine, background_seconds=3600, settle_passes=4,
                     clock=lambda: next(seconds))
    assert slow.settle() == 4
    with engine.connect() as conn:  # and the passes were real: nothing is left to copy
        busy, log, copied = conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    assert busy == 0 and log == copied
    engine.dispose()
