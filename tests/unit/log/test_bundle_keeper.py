"""The log keeper: checkpoints every N appends or T seconds, the background thread, and the
anchoring choices from settings (on SQLite, and on PostgreSQL when configured)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from log_support import ORIGIN, Clock
from sqlalchemy import Engine

from casset_rights.anchoring.service import AnchorService, ChainChoice
from casset_rights.errors import InvalidInput
from casset_rights.log import LeafInput, TransparencyLog
from casset_rights.log.keeper import LogKeeper
from casset_rights.receipts.keys import FileKeyStore
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

BODY = {"principal": {"kind": "public"}, "request": {"action": "listen"}}


def _keeper(engine: Engine, tmp_path: Path, *, clock: Callable[[], float],
            chain: ChainChoice = "none",
            every_appends: int = 3, every_seconds: float = 10.0,
            anchor_every: float = 60.0) -> tuple[LogKeeper, ReceiptStore, ReceiptIssuer]:
    keys = FileKeyStore(tmp_path / "keys")
    log = TransparencyLog(engine, origin=ORIGIN, signing_key=keys.active().private_key,
                          checkpoint_every_appends=every_appends,
                          checkpoint_every_seconds=every_seconds, clock=clock)
    receipts = ReceiptStore(engine)
    keeper = LogKeeper(log, anchoring=AnchorService(engine, chain=chain),
                       receipts=receipts, keys=keys, checkpoint_every_appends=every_appends,
                       checkpoint_every_seconds=every_seconds, anchor_every_seconds=anchor_every,
                       clock=clock)
    receipts.set_batch_hook(keeper.log_receipts)
    receipts.set_commit_hook(keeper.receipts_committed)
    return keeper, receipts, ReceiptIssuer(keys, issuer="https://rights.test")


def _sizes(keeper: LogKeeper) -> int | None:
    latest = keeper.log.latest_checkpoint()
    return None if latest is None else latest.tree_size


def test_a_checkpoint_every_n_appends_or_t_seconds(engine: Engine, tmp_path: Path,
                                                   clock: Clock) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=clock)
    receipts.store([issuer.issue("decision", BODY)])
    assert _sizes(keeper) == 1  # the first leaves make the first checkpoint
    receipts.store([issuer.issue("decision", BODY)])
    receipts.store([issuer.issue("decision", BODY)])
    assert _sizes(keeper) == 1  # grown by 2 < 3, and no time passed
    receipts.store([issuer.issue("decision", BODY)])
    assert _sizes(keeper) == 4  # grown by 3
    receipts.store([issuer.issue("decision", BODY)])
    assert _sizes(keeper) == 4
    clock.now += 10
    receipts.store([issuer.issue("decision", BODY)])
    assert _sizes(keeper) == 6  # grown, and 10 s passed


def test_the_thread_checkpoints_on_time_and_stops(engine: Engine, tmp_path: Path) -> None:
    keeper, _, _ = _keeper(engine, tmp_path, clock=time.time, every_appends=1000,
                           every_seconds=0.05)
    keeper.log.append_many([LeafInput("receipt", f"r{i}", f"r{i}".encode()) for i in range(3)])
    keeper.start()
    keeper.start()  # idempotent
    try:
        deadline = time.monotonic() + 10
        while _sizes(keeper) != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _sizes(keeper) == 3
    finally:
        keeper.stop()
    assert not any(t.name == "log-keeper" for t in threading.enumerate())


def test_the_thread_anchors_on_schedule(engine: Engine, tmp_path: Path) -> None:
    keeper, receipts, issuer = _keeper(engine, tmp_path, clock=time.time, chain="embedded",
                                       every_seconds=0.05, anchor_every=0.1)
    receipts.store([issuer.issue("decision", BODY) for _ in range(2)])
    keeper.start()
    try:
        deadline = time.monotonic() + 30
        while not keeper.anchoring.recent() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        keeper.stop()
    [record] = keeper.anchoring.recent()
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
