"""The log's verification errors: one type per thing verified, each with a stable code."""

from __future__ import annotations

from casset_rights.errors import CassetError, NotYet


class ProofInvalid(CassetError):
    """An inclusion or consistency proof does not verify; ``detail`` says which check failed."""

    code = "proof_invalid"


class CheckpointInvalid(CassetError):
    """A checkpoint (signed note) is malformed, names another log, or is not signed by the key."""

    code = "checkpoint_invalid"


class EntryPending(NotYet):
    """A record is stored and queued for the log, but not yet integrated or covered by a
    signed checkpoint; ``retry_after`` is how many seconds to wait before asking again."""

    code = "log_pending"
