"""``LogKeeper``: the transparency log as the service reads it, and its wiring.

The keeper answers for the log: the newest checkpoint, receipt bundles (everything a
verifier needs offline), which key signed a checkpoint. It never writes the log: writers
queue entries (``log.pending``) with their records, and the one ``Sequencer``
(``log.sequencer``) integrates, checkpoints and anchors. ``open_log`` builds the log, the
keeper and the sequencer from settings.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from sqlalchemy import Engine

from casset_rights.anchoring.service import AnchorService
from casset_rights.errors import CassetError, InvalidInput, NotFound
from casset_rights.log.bundle import BundleAnchor, BundleProof, ReceiptBundle
from casset_rights.log.checkpoint import (
    Checkpoint,
    parse_verifier_key,
    verifier_key,
    verify_checkpoint,
)
from casset_rights.log.errors import EntryPending
from casset_rights.log.sequencer import Lease, Sequencer, SoleLease, lease_for
from casset_rights.log.service import TransparencyLog
from casset_rights.receipts.keys import KeyStore, public_key_from_jwk

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from casset_rights.anchoring.records import AnchorRecord
    from casset_rights.config import Settings
    from casset_rights.log.witness_client import Cosigner


class StoredReceipt(Protocol):
    """A stored receipt as the keeper reads it (read-only: receipts are frozen)."""

    @property
    def jti(self) -> str: ...

    @property
    def token(self) -> str: ...

    @property
    def log_index(self) -> int | None: ...


class ReceiptLedger(Protocol):
    """Where receipts are kept (``receipts.ReceiptStore``): their leaf kind and ``get``
    (raises NotFound)."""

    leaf_kind: str

    def get(self, jti: str) -> StoredReceipt: ...

logger = logging.getLogger("casset_rights.log")


class AnchorRun(msgspec.Struct, frozen=True, kw_only=True):
    """One run of checkpoint + anchoring: the checkpoint anchored (or to be) and its anchor
    record (None when anchoring is disabled)."""

    checkpoint: Checkpoint
    anchor: Any = None  # AnchorRecord; typed loosely so this module does not load web3


class LogKeeper:
    """Reads the service's log for its answers: checkpoints, bundles, signers.

    ``retry_after_seconds`` is what a caller asking for the bundle of a receipt not yet
    integrated and checkpointed is told to wait (the sequencer's checkpoint period).
    """

    def __init__(self, log: TransparencyLog, *, anchoring: AnchorService,
                 receipts: ReceiptLedger, keys: KeyStore, sequencer: Sequencer,
                 retry_after_seconds: int = 1) -> None:
        self.log = log
        self.anchoring = anchoring
        self.sequencer = sequencer
        self._receipts = receipts
        self._keys = keys
        self._retry_after = retry_after_seconds

    def latest_checkpoint(self) -> Checkpoint:
        """The newest checkpoint; the first one (of the empty log) is made when none
        exists yet."""
        checkpoint = self.log.latest_checkpoint()
        if checkpoint is None:
            checkpoint = self.log.checkpoint_now()
        return checkpoint

    def anchor_now(self) -> AnchorRun:
        """Integrate what is queued, checkpoint the log if it grew, then run the anchoring
        job once (the ``anchor`` command). Raises ChainUnavailable or ChainMisconfigured
        from the chain."""
        self.sequencer.catch_up()
        checkpoint = self.latest_checkpoint()
        record = self.anchoring.anchor_latest(self.log)
        if record is not None:
            checkpoint = self.log.checkpoint_at(record.tree_size)
        return AnchorRun(checkpoint=checkpoint, anchor=record)

    # --- bundles --------------------------------------------------------------------------------

    def bundle(self, jti: str) -> ReceiptBundle:
        """Everything needed to verify receipt ``jti`` offline.

        The inclusion proof is against the checkpoint of the largest anchored tree that
        holds the receipt; when none is anchored yet, against the newest checkpoint, with
        ``anchor`` None. Raises NotFound for an unknown receipt, EntryPending (with the
        seconds to wait) while it is not yet integrated or no checkpoint covers it.
        """
        receipt = self._receipts.get(jti)
        if receipt.log_index is None:
            raise EntryPending(f"receipt {jti!r} is stored and queued for the log; its "
                               "proof exists once the sequencer integrates it",
                               retry_after=self._retry_after)
        index = receipt.log_index
        anchor = self.anchoring.covering(index)
        checkpoint = self._anchored_checkpoint(anchor) if anchor is not None else None
        if checkpoint is None:
            anchor = None
            checkpoint = self.log.latest_checkpoint()
            if checkpoint is None or checkpoint.tree_size <= index:
                raise EntryPending(f"receipt {jti!r} is in the log at {index}; no signed "
                                   "checkpoint covers it yet", retry_after=self._retry_after)
        proof = self.log.inclusion_proof(index, checkpoint.tree_size)
        return ReceiptBundle(
            jti=receipt.jti, receipt=receipt.token, leaf_index=index,
            leaf_hash=proof.leaf_hash,
            inclusion_proof=BundleProof(tree_size=proof.tree_size, hashes=proof.hashes),
            checkpoint=checkpoint.note, log_origin=self.log.origin,
            log_key=self.signer_of(checkpoint.note),
            anchor=None if anchor is None else BundleAnchor.of(anchor),
            jwks=self._keys.jwks())

    def _anchored_checkpoint(self, anchor: AnchorRecord) -> Checkpoint | None:
        try:
            checkpoint = self.log.checkpoint_at(anchor.tree_size)
        except NotFound:
            return None
        return checkpoint if checkpoint.root == anchor.root else None

    def signer_of(self, note: str) -> str:
        """The verifier key of the service key that signed ``note`` (the log's own key,
        or an older one still published). Raises InvalidInput when none did."""
        candidates = [self.log.verifier_key]
        for jwk in self._keys.jwks()["keys"]:
            try:
                candidates.append(verifier_key(self.log.key_name, public_key_from_jwk(jwk)))
            except ValueError:
                continue
        for candidate in candidates:
            name, public = parse_verifier_key(candidate)
            try:
                verify_checkpoint(note, public, self.log.origin, key_name=name)
            except CassetError:
                continue
            return candidate
        raise InvalidInput("no published key signed this checkpoint")


def open_log(settings: Settings, *, engine: Engine, keys: KeyStore,
             receipts: ReceiptLedger, log_key: Ed25519PrivateKey,
             cosigner: Cosigner | None = None) -> LogKeeper:
    """The log, its anchoring, its sequencer (leased as ``lease_for`` the database says)
    and the keeper that reads them, from settings. The log signs with its own key
    (``log/identity.py``), under the origin's name; the sequencer has ``cosigner``'s
    witnesses cosign each new checkpoint."""
    log = TransparencyLog(engine, origin=settings.log_origin, signing_key=log_key,
                          checkpoint_every_appends=settings.checkpoint_every_appends,
                          checkpoint_every_seconds=settings.checkpoint_every_seconds)
    return keeper_for(log, anchoring=AnchorService.from_settings(settings, engine),
                      receipts=receipts, keys=keys, lease=lease_for(engine),
                      cosign=None if cosigner is None else cosigner.publisher(log),
                      batch_max=settings.sequencer_batch_max,
                      idle_seconds=settings.sequencer_idle_seconds,
                      checkpoint_every_appends=settings.checkpoint_every_appends,
                      checkpoint_every_seconds=settings.checkpoint_every_seconds,
                      anchor_every_seconds=settings.anchor_every_seconds)


def keeper_for(log: TransparencyLog, *, anchoring: AnchorService, receipts: ReceiptLedger,
               keys: KeyStore, lease: Lease | None = None,
               **sequencer_options: Any) -> LogKeeper:
    """A keeper of ``log`` with its sequencer; the receipts' leaves are unique by
    construction (a receipt's bytes hold its id). Without ``lease`` the sequencer always
    leads: only for a database no other process sequences (the tests, tools)."""
    sequencer = Sequencer(log, lease=lease or SoleLease(), anchoring=anchoring,
                          unique_kinds=frozenset({receipts.leaf_kind}), **sequencer_options)
    seconds = sequencer_options.get("checkpoint_every_seconds", 1.0)
    return LogKeeper(log, anchoring=anchoring, receipts=receipts, keys=keys,
                     sequencer=sequencer, retry_after_seconds=max(1, round(seconds)))
