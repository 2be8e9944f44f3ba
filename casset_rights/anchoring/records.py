"""What an anchor is, as stored (``AnchorRecord``) and as handed to a verifier (``AnchorProof``)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from sqlalchemy import Row

from casset_rights.anchoring.chain import chain_name

AnchorStatus = Literal["intent", "sent", "confirmed", "failed"]


class AnchorProof(msgspec.Struct, frozen=True, kw_only=True):
    """The part of a proof bundle that says where a root was anchored.

    ``chain`` is the chain's name (``base``, ``base-sepolia``, ``embedded``) for people;
    ``chain_id`` is what is checked.
    """

    chain_id: int
    chain: str
    contract_address: str
    tx_hash: str
    block_number: int
    root: bytes
    tree_size: int


class AnchorRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``anchors``: a root being, or having been, anchored on a chain.

    ``status``: ``intent`` (signed, recorded, maybe not sent), ``sent`` (broadcast, not yet
    seen in a block), ``confirmed`` (its ``Anchored`` event is in ``block_number``) or
    ``failed`` (mined but reverted; ``error`` says why).
    """

    id: int
    chain_id: int
    contract_address: str
    root: bytes
    tree_size: int
    status: AnchorStatus
    sender: str
    nonce: int
    tx_hash: str
    raw_tx: bytes
    from_block: int
    block_number: int | None = None
    gas_used: int | None = None
    error: str | None = None
    created_at: int = 0
    updated_at: int = 0

    @property
    def chain(self) -> str:
        return chain_name(self.chain_id)

    def proof(self) -> AnchorProof:
        """The verifier's view. Raises ValueError unless the anchor is confirmed."""
        if self.status != "confirmed" or self.block_number is None:
            raise ValueError(f"anchor {self.id} is {self.status}, not confirmed")
        return AnchorProof(chain_id=self.chain_id, chain=self.chain,
                           contract_address=self.contract_address, tx_hash=self.tx_hash,
                           block_number=self.block_number, root=self.root,
                           tree_size=self.tree_size)

    @classmethod
    def from_row(cls, row: Row[Any]) -> AnchorRecord:
        return cls(**{name: getattr(row, name) for name in cls.__struct_fields__})
