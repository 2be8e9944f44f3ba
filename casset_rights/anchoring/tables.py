"""Anchors: one row per log root written (or being written) to a chain's anchor contract.

The row is inserted *before* the transaction is broadcast (status ``intent``, with the
signed transaction, its nonce and the chain head at that moment), so a crash at any point
leaves enough to settle it later without ever anchoring a root twice; the unique key on
(chain, contract, root) enforces that last part even between concurrent jobs.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from casset_rights.db.metadata import metadata

anchors = Table(
    "anchors",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chain_id", BigInteger, nullable=False),
    Column("contract_address", String(42), nullable=False),  # EIP-55 checksummed
    Column("root", LargeBinary(32), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("status", String(16), nullable=False),  # intent | sent | confirmed | failed
    Column("sender", String(42), nullable=False),
    Column("nonce", BigInteger, nullable=False),
    Column("tx_hash", String(66), nullable=False),  # of the signed transaction, known at intent
    Column("raw_tx", LargeBinary, nullable=False),
    Column("from_block", BigInteger, nullable=False),  # the chain head when the intent was made
    Column("block_number", BigInteger),
    Column("gas_used", BigInteger),
    Column("error", Text),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    UniqueConstraint("chain_id", "contract_address", "root", name="uq_anchors_chain_root"),
)
