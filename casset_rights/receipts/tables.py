"""Stored receipts: the columns a query selects on, and the hash of the receipt's log
leaf. The signed token (the one copy of the payload) is not here: it is the data of the
receipt's entry in the log's queue until the sequencer logs it, then of its leaf, found
by this hash (``ReceiptStore.get``)."""

from sqlalchemy import BigInteger, Column, LargeBinary, String, Table

from casset_rights.db.metadata import metadata

receipts = Table(
    "receipts",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    # SHA-256(0x00 || token): the leaf's hash (log_leaves.leaf_hash, unique there).
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Column("iat", BigInteger, nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("client_id", String(128)),
    Column("resource", String(256)),
    Column("outcome", String(32)),
)
