"""The log's verification errors: one type per thing verified, each with a stable code."""

from __future__ import annotations

from casset_rights.errors import CassetError


class ProofInvalid(CassetError):
    """An inclusion or consistency proof does not verify; ``detail`` says which check failed."""

    code = "proof_invalid"


class CheckpointInvalid(CassetError):
    """A checkpoint (signed note) is malformed, names another log, or is not signed by the key."""

    code = "checkpoint_invalid"
