"""Anchoring log roots on Base: the contract, the chains, the job and verification.

Importing this package is cheap; web3 loads with the modules that need it::

    from casset_rights.anchoring.embedded import EmbeddedChain        # the default
    from casset_rights.anchoring.rpc import JsonRpcChain              # Base / Base Sepolia
    from casset_rights.anchoring.job import Anchorer, anchor_latest   # the job
    from casset_rights.anchoring.verify import verify_anchor
"""
