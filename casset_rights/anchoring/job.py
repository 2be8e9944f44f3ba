"""The anchoring job: the latest checkpoint's root on chain, once, surviving crashes.

One run (``Anchorer.anchor_latest``) first settles anchors left unfinished, then anchors
the newest checkpoint if its root is not anchored yet: one transaction per checkpoint,
whatever the number of leaves it covers (older checkpoints are covered by consistency
proofs to the anchored one).

The steps and why they are in this order:

1. ``record_intent``: sign the transaction (so its hash and nonce are known), then insert
   the row ``intent`` with the signed bytes and the chain head, *before* sending. The unique
   key (chain, contract, root) lets only one job get this far for a root.
2. ``send``: broadcast the signed bytes; the row becomes ``sent``.
3. ``settle``: find the transaction's receipt, and the row becomes ``confirmed`` (or
   ``failed`` if it reverted).

After a crash between 1 and 3 nobody knows whether the transaction went out. ``settle``
then looks, in order: for the transaction's receipt; for ``Anchored`` events of the root in
the narrow block range from the head recorded at intent time; at the account's mined
nonce: if something else used our nonce, our transaction can never be mined, so it signs
anew; otherwise it sends the *same* signed bytes again, which a chain accepts at most once.
No path sends a second, different transaction for a root while the first could still land.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Select, insert, select, update
from sqlalchemy.exc import IntegrityError

from casset_rights.anchoring.chain import AnchorChain
from casset_rights.anchoring.records import AnchorRecord, AnchorStatus
from casset_rights.anchoring.tables import anchors
from casset_rights.db.engine import writing

if TYPE_CHECKING:  # the log hands itself in; anchoring does not import it
    from casset_rights.log.service import TransparencyLog

UNSETTLED: tuple[AnchorStatus, ...] = ("intent", "sent")


class Anchorer:
    """Anchors log roots on ``chain`` and keeps the ``anchors`` table in step with it.

    ``wait_seconds`` bounds how long one call waits for a sent transaction to be mined
    (the embedded chain mines at once; on Base a block comes every 2 s); a transaction
    still unmined then stays ``sent`` and the next run settles it.
    """

    def __init__(self, engine: Engine, chain: AnchorChain, *, wait_seconds: float = 30.0,
                 poll_seconds: float = 1.0, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._chain = chain
        self._wait = wait_seconds
        self._poll = poll_seconds
        self._clock = clock

    def anchor_latest(self, log: TransparencyLog) -> AnchorRecord | None:
        """Anchor the newest checkpoint's root unless it already is (or is under way).

        Returns its record (``confirmed``, or ``sent`` if not mined within the wait), or
        None when there is no non-empty checkpoint. Raises ChainUnavailable when the
        chain cannot be reached, ChainMisconfigured when it refuses our anchors.
        """
        self.settle_unsettled()
        checkpoint = log.latest_checkpoint()
        if checkpoint is None or checkpoint.tree_size == 0:
            return None
        existing = self.find(checkpoint.root)
        if existing is not None:
            return existing
        record = self.record_intent(checkpoint.root, checkpoint.tree_size)
        if record.status != "intent":
            return record  # another job recorded this root first
        return self.settle(self.send(record))

    # --- the steps ------------------------------------------------------------------------

    def record_intent(self, root: bytes, tree_size: int) -> AnchorRecord:
        """Sign the anchor transaction and record it as ``intent``; nothing is sent.

        Returns the existing record instead when the root is already recorded.
        """
        head = self._chain.head()
        signed = self._chain.sign_anchor(root, tree_size)
        now = int(self._clock())
        try:
            with writing(self._engine) as conn:
                conn.execute(insert(anchors).values(
                    chain_id=self._chain.chain_id, contract_address=self._chain.contract_address,
                    root=root, tree_size=tree_size, status="intent", sender=signed.sender,
                    nonce=signed.nonce, tx_hash=signed.tx_hash, raw_tx=signed.raw,
                    from_block=head, created_at=now, updated_at=now))
        except IntegrityError:
            pass  # recorded by someone else: theirs is the one
        record = self.find(root)
        assert record is not None
        return record

    def send(self, record: AnchorRecord) -> AnchorRecord:
        """Broadcast the recorded transaction; ``intent`` becomes ``sent``."""
        self._chain.broadcast(record.raw_tx)
        return self._update(record, {"status": "sent"}, only_if=("intent",))

    def settle(self, record: AnchorRecord) -> AnchorRecord:
        """Bring an ``intent`` or ``sent`` record in line with the chain (see the module)."""
        deadline = time.monotonic() + self._wait
        rebroadcast = False
        while record.status in UNSETTLED:
            outcome = self._chain.outcome(record.tx_hash)
            if outcome is not None:
                anchored = any(e.root == record.root and e.tree_size == record.tree_size
                               for e in outcome.events)
                if outcome.success and anchored:
                    return self._update(record, {"status": "confirmed",
                                                 "block_number": outcome.block_number,
                                                 "gas_used": outcome.gas_used})
                return self._update(record, {"status": "failed",
                                             "block_number": outcome.block_number,
                                             "gas_used": outcome.gas_used,
                                             "error": "the anchor transaction reverted"})
            head = self._chain.head()
            events = [e for e in self._chain.anchored_events(
                record.root, from_block=record.from_block, to_block=head)
                if e.tree_size == record.tree_size]
            if events:  # anchored by an earlier signing of this same intent
                found = self._chain.outcome(events[0].tx_hash)
                return self._update(record, {
                    "status": "confirmed", "tx_hash": events[0].tx_hash,
                    "block_number": events[0].block_number,
                    "gas_used": found.gas_used if found else None})
            if not rebroadcast:
                if self._chain.confirmed_nonce() > record.nonce and (
                        self._chain.outcome(record.tx_hash) is None):
                    record = self._resign(record, head)
                self._chain.broadcast(record.raw_tx)
                record = self._update(record, {"status": "sent"}, only_if=UNSETTLED)
                rebroadcast = True
                continue
            if time.monotonic() >= deadline:
                break
            time.sleep(self._poll)
        return record

    def settle_unsettled(self) -> list[AnchorRecord]:
        """Settle every ``intent`` or ``sent`` record of this chain and contract."""
        with self._engine.connect() as conn:
            rows = conn.execute(self._mine().where(anchors.c.status.in_(UNSETTLED))
                                .order_by(anchors.c.id)).all()
        return [self.settle(AnchorRecord.from_row(row)) for row in rows]

    # --- reading --------------------------------------------------------------------------

    def find(self, root: bytes) -> AnchorRecord | None:
        """The record of ``root`` on this chain and contract, if any."""
        with self._engine.connect() as conn:
            row = conn.execute(self._mine().where(anchors.c.root == root)).first()
        return None if row is None else AnchorRecord.from_row(row)

    def latest_confirmed(self) -> AnchorRecord | None:
        """The confirmed anchor of the largest tree on this chain and contract."""
        with self._engine.connect() as conn:
            row = conn.execute(self._mine().where(anchors.c.status == "confirmed")
                               .order_by(anchors.c.tree_size.desc()).limit(1)).first()
        return None if row is None else AnchorRecord.from_row(row)

    def _mine(self) -> Select[Any]:
        return select(anchors).where(anchors.c.chain_id == self._chain.chain_id,
                                     anchors.c.contract_address == self._chain.contract_address)

    def _resign(self, record: AnchorRecord, head: int) -> AnchorRecord:
        """Our nonce went to another transaction: ours can never be mined. Sign afresh."""
        signed = self._chain.sign_anchor(record.root, record.tree_size)
        return self._update(record, {"status": "intent", "nonce": signed.nonce,
                                     "tx_hash": signed.tx_hash, "raw_tx": signed.raw,
                                     "sender": signed.sender, "from_block": head},
                            only_if=UNSETTLED)

    def _update(self, record: AnchorRecord, values: dict[str, object],
                only_if: tuple[AnchorStatus, ...] = UNSETTLED) -> AnchorRecord:
        """Change the row unless another job settled it meanwhile; returns the row as it is."""
        with writing(self._engine) as conn:
            conn.execute(update(anchors)
                         .where(anchors.c.id == record.id, anchors.c.status.in_(only_if))
                         .values(**values, updated_at=int(self._clock())))
            row = conn.execute(select(anchors).where(anchors.c.id == record.id)).one()
        return AnchorRecord.from_row(row)


def anchor_latest(engine: Engine, log: TransparencyLog, chain: AnchorChain, *,
                  wait_seconds: float = 30.0) -> AnchorRecord | None:
    """One run of the anchoring job (see ``Anchorer.anchor_latest``)."""
    return Anchorer(engine, chain, wait_seconds=wait_seconds).anchor_latest(log)
