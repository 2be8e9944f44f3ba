"""``verify_anchor``: does the chain still hold this anchor? None, or an error saying why not."""

from __future__ import annotations

from casset_rights.anchoring.chain import AnchorChain, chain_name
from casset_rights.anchoring.errors import AnchorInvalid
from casset_rights.anchoring.records import AnchorProof, AnchorRecord


def verify_anchor(anchor: AnchorProof | AnchorRecord, chain: AnchorChain) -> None:
    """Check on ``chain`` that the anchor's transaction is mined, succeeded, and emitted
    ``Anchored(root, tree_size)`` from the anchor's contract in the anchor's block.

    Every message names the chain. Raises AnchorInvalid when the chain is another one or
    no longer holds the anchor (transaction missing, reverted, another root or size, moved
    to another block by a reorganisation), ChainUnavailable when the chain cannot be
    reached: in no case is an anchor called verified without the chain saying so.
    """
    if isinstance(anchor, AnchorRecord):
        if anchor.status != "confirmed":
            raise AnchorInvalid(f"the anchor of root {anchor.root.hex()} on {anchor.chain} is "
                                f"{anchor.status}, not confirmed")
        anchor = anchor.proof()
    proof = anchor
    where = f"{chain_name(proof.chain_id)} (chain id {proof.chain_id})"
    if chain.chain_id != proof.chain_id:
        raise AnchorInvalid(f"the anchor is on {where}; the chain consulted is "
                            f"{chain_name(chain.chain_id)} (chain id {chain.chain_id})")
    if chain.contract_address.lower() != proof.contract_address.lower():
        raise AnchorInvalid(f"the anchor names the contract {proof.contract_address} on "
                            f"{where}; the chain consulted watches {chain.contract_address}")
    outcome = chain.outcome(proof.tx_hash)
    if outcome is None:
        raise AnchorInvalid(f"{where} has no mined transaction {proof.tx_hash}")
    if not outcome.success:
        raise AnchorInvalid(f"the transaction {proof.tx_hash} on {where} reverted")
    if not any(e.root == proof.root and e.tree_size == proof.tree_size for e in outcome.events):
        held = ", ".join(f"root {e.root.hex()} size {e.tree_size}" for e in outcome.events)
        raise AnchorInvalid(f"the transaction {proof.tx_hash} on {where} anchored "
                            f"{held or 'nothing'}, not root {proof.root.hex()} size "
                            f"{proof.tree_size}")
    if outcome.block_number != proof.block_number:
        raise AnchorInvalid(f"the transaction {proof.tx_hash} on {where} is in block "
                            f"{outcome.block_number}, not {proof.block_number}")
