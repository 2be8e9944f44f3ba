"""Anchoring errors, each with a stable code."""

from __future__ import annotations

from casset_rights.errors import CassetError, ServiceUnavailable


class AnchorInvalid(CassetError):
    """The chain does not hold the anchor as claimed (another chain or contract, a missing
    or failed transaction, another root in the event); ``detail`` says which."""

    code = "anchor_invalid"


class ChainUnavailable(ServiceUnavailable):
    """The chain's JSON-RPC endpoint cannot be reached or did not answer in time."""

    code = "chain_unavailable"


class ChainMisconfigured(CassetError):
    """The chain answers but is not the one configured: another chain id, no anchor
    contract at the address, or a signing key that does not own the contract."""

    code = "chain_misconfigured"
