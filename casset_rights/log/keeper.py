"""``LogKeeper``: the transparency log at work inside the service.

It logs what the service signs and stores (every receipt in the transaction that stores
it, every manifest and policy version right after it is stored), makes checkpoints when
they are due (after receipt batches, and on a background thread for the time-based
rule), runs the anchoring job on its schedule, and assembles receipt bundles.

``open_log`` builds it from settings and registers its hooks on the stores; the HTTP app
starts its thread at start-up and stops it at shut-down (``start``/``stop``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import Connection, Engine

from casset_rights.anchoring.service import AnchorService
from casset_rights.canonical import canonical_bytes
from casset_rights.errors import CassetError, Conflict, InvalidInput, NotFound
from casset_rights.log.bundle import BundleAnchor, BundleProof, ReceiptBundle
from casset_rights.log.checkpoint import (
    Checkpoint,
    parse_verifier_key,
    verifier_key,
    verify_checkpoint,
)
from casset_rights.log.service import LeafInput, LogIndex, TransparencyLog
from casset_rights.receipts.keys import KeyStore, public_key_from_jwk

if TYPE_CHECKING:
    from casset_rights.anchoring.records import AnchorRecord
    from casset_rights.config import Settings
    from casset_rights.decisions.policy_store import PolicyStore, StoredPolicy
    from casset_rights.manifests import CatalogService
    from casset_rights.manifests.records import StoredVersion
    from casset_rights.receipts.service import Receipt, ReceiptStore

logger = logging.getLogger("casset_rights.log")


class AnchorRun(msgspec.Struct, frozen=True, kw_only=True):
    """One run of checkpoint + anchoring: the checkpoint anchored (or to be) and its anchor
    record (None when anchoring is disabled)."""

    checkpoint: Checkpoint
    anchor: Any = None  # AnchorRecord; typed loosely so this module does not load web3


class LogKeeper:
    """Logs, checkpoints and anchors the service's log; builds receipt bundles.

    A checkpoint is due every ``checkpoint_every_appends`` leaves or, once the log grew,
    every ``checkpoint_every_seconds``; the anchoring job runs every
    ``anchor_every_seconds`` on the background thread (first run one period after start).
    """

    def __init__(self, log: TransparencyLog, *, anchoring: AnchorService,
                 receipts: ReceiptStore, keys: KeyStore, checkpoint_every_appends: int = 1000,
                 checkpoint_every_seconds: float = 10.0, anchor_every_seconds: float = 60.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.anchoring = anchoring
        self._receipts = receipts
        self._keys = keys
        self._every_appends = checkpoint_every_appends
        self._every_seconds = checkpoint_every_seconds
        self._anchor_every = anchor_every_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checkpointed: tuple[int, float] | None = None  # (size, timestamp) last seen
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_anchor_id: int | None = None  # logged once, not at every run

    # --- what is logged ----------------------------------------------------------------------

    def log_receipts(self, conn: Connection, receipts: Sequence[Receipt]) -> list[LogIndex]:
        """The receipt store's batch hook: append inside its transaction."""
        return self.log.append_many_in(conn, receipt_leaves(receipts), unique=True)

    def receipts_committed(self, receipts: Sequence[Receipt]) -> None:
        """The receipt store's commit hook: checkpoint if due. Never raises (the receipts
        are stored; the background thread makes the checkpoint if this one failed)."""
        sizes = [r.log_index + 1 for r in receipts if r.log_index is not None]
        if sizes:
            self._appended(max(sizes))

    def log_manifest(self, version: StoredVersion) -> None:
        """Append a new manifest version: its canonical bytes, whose SHA-256 is its hash."""
        index = self.log.append("manifest", version.hash, version.document.encode("utf-8"))
        self._appended(index + 1)

    def log_policy(self, policy: StoredPolicy) -> None:
        """Append a new policy version: the canonical bytes its hash names."""
        index = self.log.append("policy", policy.hash, canonical_bytes(policy.document))
        self._appended(index + 1)

    # --- checkpoints and anchors ---------------------------------------------------------------

    def checkpoint_if_due(self, now: float | None = None) -> Checkpoint | None:
        """Make a checkpoint if one is due (``TransparencyLog.maybe_checkpoint``)."""
        made = self.log.maybe_checkpoint(now)
        self._remember(made or self.log.latest_checkpoint())
        return made

    def latest_checkpoint(self) -> Checkpoint:
        """The newest checkpoint; the first one is made when none exists yet."""
        checkpoint = self.log.latest_checkpoint()
        if checkpoint is None:
            checkpoint = self.log.checkpoint_now()
            self._remember(checkpoint)
        return checkpoint

    def anchor_now(self) -> AnchorRun:
        """Checkpoint the log if it grew since the last checkpoint, then run the anchoring
        job once. Raises ChainUnavailable or ChainMisconfigured from the chain."""
        checkpoint = self.log.latest_checkpoint()
        if checkpoint is None or checkpoint.tree_size < self.log.size():
            checkpoint = self.log.checkpoint_now()
            self._remember(checkpoint)
        record = self.anchoring.anchor_latest(self.log)
        if record is not None:
            checkpoint = self.log.checkpoint_at(record.tree_size)
        return AnchorRun(checkpoint=checkpoint, anchor=record)

    # --- bundles --------------------------------------------------------------------------------

    def bundle(self, jti: str) -> ReceiptBundle:
        """Everything needed to verify receipt ``jti`` offline.

        The inclusion proof is against the checkpoint of the largest anchored tree that
        holds the receipt; when none is anchored yet, against the newest checkpoint that
        holds it (made now if none does), with ``anchor`` None. Raises NotFound for an
        unknown receipt, Conflict for one stored before it could be logged.
        """
        receipt = self._receipts.get(jti)
        if receipt.log_index is None:
            raise Conflict(f"receipt {jti!r} was stored without being logged, so no proof "
                           "of it exists")
        index = receipt.log_index
        anchor = self.anchoring.covering(index)
        checkpoint = self._anchored_checkpoint(anchor) if anchor is not None else None
        if checkpoint is None:
            anchor = None
            checkpoint = self.log.latest_checkpoint()
            if checkpoint is None or checkpoint.tree_size <= index:
                checkpoint = self.log.checkpoint_now()
                self._remember(checkpoint)
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

    # --- the background thread ----------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that checkpoints on time and anchors on schedule (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="log-keeper", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread, letting a run under way finish (within ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def tick(self, *, anchor: bool) -> None:
        """One pass of the thread: a checkpoint if due, and an anchoring run if asked.
        Failures are logged, not raised: the next pass tries again."""
        try:
            self.checkpoint_if_due()
        except Exception:
            logger.exception("checkpoint failed")
        if anchor and self.anchoring.enabled:
            try:
                run = self.anchor_now()
                if run.anchor is not None and run.anchor.id != self._last_anchor_id:
                    self._last_anchor_id = run.anchor.id
                    logger.info("anchor of tree size %d on %s: %s (tx %s)", run.anchor.tree_size,
                                run.anchor.chain, run.anchor.status, run.anchor.tx_hash)
            except CassetError as exc:
                logger.warning("anchoring failed (%s): %s", exc.code, exc.detail)
            except Exception:
                logger.exception("anchoring failed")

    def _run(self) -> None:
        periods = [self._every_seconds]
        if self.anchoring.enabled:
            periods.append(self._anchor_every)
        wait = min(max(min(periods), 0.05), 60.0)
        next_anchor = time.monotonic() + self._anchor_every
        while not self._stop.wait(wait):
            due = time.monotonic() >= next_anchor
            if due:
                next_anchor = time.monotonic() + self._anchor_every
            self.tick(anchor=due)

    # --- bookkeeping ----------------------------------------------------------------------------

    def _appended(self, size: int) -> None:
        """The log has at least ``size`` leaves: checkpoint if that makes one due. A cheap
        in-memory test first, so most batches touch nothing; the log decides for real."""
        now = self._clock()
        with self._lock:
            last = self._checkpointed
        if last is not None and size - last[0] < self._every_appends and (
                size <= last[0] or now - last[1] < self._every_seconds):
            return
        try:
            self.checkpoint_if_due(now)
        except Exception:
            logger.exception("checkpoint after an append failed")

    def _remember(self, checkpoint: Checkpoint | None) -> None:
        if checkpoint is None:
            return
        with self._lock:
            if self._checkpointed is None or checkpoint.tree_size >= self._checkpointed[0]:
                self._checkpointed = (checkpoint.tree_size, float(checkpoint.timestamp or 0))


def receipt_leaves(receipts: Sequence[Receipt]) -> list[LeafInput]:
    """A receipt's leaf: its compact JWS bytes, with its jti as the ref."""
    return [LeafInput("receipt", r.jti, r.token.encode()) for r in receipts]


def open_log(settings: Settings, *, engine: Engine, keys: KeyStore, receipts: ReceiptStore,
             catalog: CatalogService, policies: PolicyStore) -> LogKeeper:
    """The log, the anchoring and their keeper, with the stores' hooks registered: receipts
    are logged in the transaction that stores them, manifest and policy versions as they
    are stored. The log signs with the key store's active key, under the origin's name."""
    keeper = keep_receipts_logged(
        engine, keys=keys, receipts=receipts, origin=settings.log_origin,
        anchoring=AnchorService.from_settings(settings, engine),
        checkpoint_every_appends=settings.checkpoint_every_appends,
        checkpoint_every_seconds=settings.checkpoint_every_seconds,
        anchor_every_seconds=settings.anchor_every_seconds)
    catalog.set_on_version_stored(keeper.log_manifest)
    policies.set_on_stored(keeper.log_policy)
    return keeper


def keep_receipts_logged(engine: Engine, *, keys: KeyStore, receipts: ReceiptStore,
                         origin: str, anchoring: AnchorService, checkpoint_every_appends: int,
                         checkpoint_every_seconds: float,
                         anchor_every_seconds: float = 60.0) -> LogKeeper:
    """The log and its keeper, with ``receipts``' hooks registered: each group of
    receipts is logged in the transaction that stores it, and a checkpoint due by count
    is made after the commit (``open_log``, and the receipt store process)."""
    log = TransparencyLog(engine, origin=origin, signing_key=keys.active().private_key,
                          checkpoint_every_appends=checkpoint_every_appends,
                          checkpoint_every_seconds=checkpoint_every_seconds)
    keeper = LogKeeper(log, anchoring=anchoring, receipts=receipts, keys=keys,
                       checkpoint_every_appends=checkpoint_every_appends,
                       checkpoint_every_seconds=checkpoint_every_seconds,
                       anchor_every_seconds=anchor_every_seconds)
    receipts.set_batch_hook(keeper.log_receipts)
    receipts.set_commit_hook(keeper.receipts_committed)
    return keeper
