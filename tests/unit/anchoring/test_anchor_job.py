"""The anchoring job on the embedded chain: once per root, one transaction per checkpoint,
and crash recovery exercised for real (steps run separately, the "dead" process's work left
half done), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, update
from web3 import Web3

from casset_rights.anchoring.chain import Web3AnchorChain
from casset_rights.anchoring.embedded import EmbeddedChain
from casset_rights.anchoring.errors import ChainMisconfigured
from casset_rights.anchoring.job import Anchorer, anchor_latest
from casset_rights.anchoring.tables import anchors
from casset_rights.anchoring.verify import verify_anchor
from casset_rights.log import LeafInput, TransparencyLog


def _grow(log: TransparencyLog, n: int, start: int = 0) -> None:
    log.append_many([LeafInput("receipt", f"r{i}", f"receipt {i}".encode())
                     for i in range(start, start + n)])


def _events(chain: EmbeddedChain, root: bytes) -> int:
    return len(chain.anchored_events(root, from_block=0, to_block=chain.head()))


def test_nothing_to_anchor_without_a_checkpoint(anchorer: Anchorer, log: TransparencyLog) -> None:
    assert anchorer.anchor_latest(log) is None
    log.checkpoint_now()  # the empty tree is not worth a transaction
    assert anchorer.anchor_latest(log) is None


def test_the_latest_checkpoint_is_anchored_once(anchorer: Anchorer, log: TransparencyLog,
                                                chain: EmbeddedChain) -> None:
    _grow(log, 500)
    log.checkpoint_now()
    _grow(log, 3, start=500)
    checkpoint = log.checkpoint_now()
    nonce = chain.confirmed_nonce()
    record = anchorer.anchor_latest(log)
    assert record is not None and record.status == "confirmed"
    assert (record.root, record.tree_size) == (checkpoint.root, 503)
    assert record.chain == "embedded" and record.block_number is not None
    assert chain.confirmed_nonce() == nonce + 1  # one transaction for 503 leaves, 2 checkpoints
    # Measured: about 23,500 gas (21,000 intrinsic, calldata, one LOG2).
    assert record.gas_used is not None and 21_000 < record.gas_used < 25_000
    again = anchorer.anchor_latest(log)
    assert again == record
    assert chain.confirmed_nonce() == nonce + 1 and _events(chain, checkpoint.root) == 1
    verify_anchor(record, chain)


def test_each_new_checkpoint_gets_its_own_anchor(engine: Engine, log: TransparencyLog,
                                                 chain: EmbeddedChain) -> None:
    _grow(log, 4)
    log.checkpoint_now()
    first = anchor_latest(engine, log, chain)
    _grow(log, 4, start=4)
    second_cp = log.checkpoint_now()
    second = anchor_latest(engine, log, chain)
    assert first and second and first.id != second.id and second.root == second_cp.root
    assert Anchorer(engine, chain).latest_confirmed() == second
    log.consistency_proof(first.tree_size, second.tree_size).verify(first.root, second.root)


def test_crash_after_sending_before_recording_it(engine: Engine, log: TransparencyLog,
                                                 chain: EmbeddedChain) -> None:
    _grow(log, 7)
    checkpoint = log.checkpoint_now()
    dying = Anchorer(engine, chain)
    intent = dying.record_intent(checkpoint.root, checkpoint.tree_size)
    chain.broadcast(intent.raw_tx)  # the transaction went out; the process died right here
    assert dying.find(checkpoint.root).status == "intent"  # type: ignore[union-attr]
    nonce = chain.confirmed_nonce()

    record = Anchorer(engine, chain).anchor_latest(log)  # the next run, in a new process
    assert record is not None and record.status == "confirmed"
    assert record.tx_hash == intent.tx_hash
    assert chain.confirmed_nonce() == nonce  # nothing was sent again
    assert _events(chain, checkpoint.root) == 1


def test_crash_after_recording_the_intent_before_sending(engine: Engine, log: TransparencyLog,
                                                         chain: EmbeddedChain) -> None:
    _grow(log, 2)
    checkpoint = log.checkpoint_now()
    intent = Anchorer(engine, chain).record_intent(checkpoint.root, checkpoint.tree_size)
    record = Anchorer(engine, chain).anchor_latest(log)
    assert record is not None and record.status == "confirmed"
    assert record.tx_hash == intent.tx_hash  # the same signed bytes were sent
    assert _events(chain, checkpoint.root) == 1


def test_a_stale_intent_whose_nonce_was_used_elsewhere_is_signed_again(
        engine: Engine, log: TransparencyLog, chain: EmbeddedChain) -> None:
    _grow(log, 3)
    checkpoint = log.checkpoint_now()
    intent = Anchorer(engine, chain).record_intent(checkpoint.root, checkpoint.tree_size)
    # Meanwhile the operator's account spent that nonce on another transaction.
    other = chain.sign_anchor(b"\x99" * 32, 1, nonce=intent.nonce)
    chain.broadcast(other.raw)
    record = Anchorer(engine, chain).anchor_latest(log)
    assert record is not None and record.status == "confirmed"
    assert record.tx_hash != intent.tx_hash and record.nonce == intent.nonce + 1
    assert _events(chain, checkpoint.root) == 1
    verify_anchor(record, chain)


def test_reconciles_from_events_when_the_mined_transaction_is_not_the_recorded_one(
        engine: Engine, log: TransparencyLog, chain: EmbeddedChain) -> None:
    _grow(log, 5)
    checkpoint = log.checkpoint_now()
    anchorer = Anchorer(engine, chain)
    intent = anchorer.record_intent(checkpoint.root, checkpoint.tree_size)
    chain.broadcast(intent.raw_tx)
    # The row holds a later signing that never went out (a crash inside a re-signing).
    later = chain.sign_anchor(checkpoint.root, checkpoint.tree_size)
    with engine.begin() as conn:
        conn.execute(update(anchors).where(anchors.c.id == intent.id)
                     .values(tx_hash=later.tx_hash, raw_tx=later.raw, nonce=later.nonce))
    nonce = chain.confirmed_nonce()
    record = Anchorer(engine, chain).anchor_latest(log)
    assert record is not None and record.status == "confirmed"
    assert record.tx_hash == intent.tx_hash  # found by its Anchored event from from_block on
    assert chain.confirmed_nonce() == nonce and _events(chain, checkpoint.root) == 1
    verify_anchor(record, chain)


def test_two_jobs_recording_the_same_root_share_one_record(engine: Engine, log: TransparencyLog,
                                                           chain: EmbeddedChain) -> None:
    _grow(log, 2)
    checkpoint = log.checkpoint_now()
    a = Anchorer(engine, chain).record_intent(checkpoint.root, checkpoint.tree_size)
    b = Anchorer(engine, chain).record_intent(checkpoint.root, checkpoint.tree_size)
    assert a == b


def test_a_verify_only_chain_cannot_anchor(chain: EmbeddedChain, tester_w3: Web3) -> None:
    with pytest.raises(ChainMisconfigured, match="no signing key"):
        Web3AnchorChain(tester_w3, None, chain.contract_address).sign_anchor(b"\x01" * 32, 1)
