"""The transparency log: RFC 9162 Merkle hashing, proofs, and signed checkpoints.

Public surface::

    TransparencyLog(engine, origin=..., signing_key=...)   # append, proofs, checkpoints
    verify_inclusion(...) / verify_consistency(...)         # -> None or raise ProofInvalid
    parse_checkpoint(note) / verify_checkpoint(note, public_key, origin)
"""

from casset_rights.log.checkpoint import (
    Checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    verifier_key,
    verify_checkpoint,
)
from casset_rights.log.errors import CheckpointInvalid, ProofInvalid
from casset_rights.log.merkle import (
    EMPTY_ROOT,
    leaf_hash,
    node_hash,
    root_of,
    verify_consistency,
    verify_inclusion,
)
from casset_rights.log.service import (
    ConsistencyProof,
    InclusionProof,
    LogEntry,
    LogIndex,
    TransparencyLog,
)
from casset_rights.log_queue import LeafInput

__all__ = [
    "EMPTY_ROOT", "Checkpoint", "CheckpointInvalid", "ConsistencyProof", "InclusionProof",
    "LeafInput", "LogEntry", "LogIndex", "ProofInvalid", "TransparencyLog", "leaf_hash",
    "node_hash", "parse_checkpoint", "parse_verifier_key", "root_of", "verifier_key",
    "verify_checkpoint", "verify_consistency", "verify_inclusion",
]
