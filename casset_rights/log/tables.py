"""The log's tables: leaves, the hashes of complete aligned subtrees, and checkpoints.

Rows are only ever inserted. ``log_nodes`` holds, for every subtree completed so far, the
hash of leaves ``[idx·2^level, (idx+1)·2^level)`` (level 0 are the leaf hashes), written in
the same transaction as the leaves; any root or proof is a fold of O(log n) of them.

Both tables are keyed by one integer that only grows (``merkle.position`` for the nodes),
so an append writes at the right edge of each: keyed by ``(level, idx)``, the nodes of
one append landed on a page per level. On SQLite the keys are ``INTEGER PRIMARY KEY``,
the table's own row id, with no separate index to write.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from casset_rights.db.metadata import metadata

# BIGINT on PostgreSQL; on SQLite INTEGER, which makes a lone primary key the row id.
RowKey = BigInteger().with_variant(Integer(), "sqlite")

log_leaves = Table(
    "log_leaves",
    metadata,
    Column("idx", RowKey, primary_key=True, autoincrement=False),
    # Unique: appending the same bytes twice returns the first index (idempotent append).
    Column("leaf_hash", LargeBinary(32), nullable=False, unique=True),
    # What the leaf is and which record it logs (a receipt's jti, a manifest's hash); no
    # query looks leaves up by these, so they carry no index (a receipt's leaf is found
    # by ``receipts.log_index``).
    Column("kind", String(32), nullable=False),
    Column("ref", String(256), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_at", BigInteger, nullable=False),  # unix seconds
)

log_nodes = Table(
    "log_nodes",
    metadata,
    Column("pos", RowKey, primary_key=True, autoincrement=False),  # merkle.position
    Column("hash", LargeBinary(32), nullable=False),
)

log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("origin", String(256), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("timestamp", BigInteger, nullable=False),  # unix seconds, also in the note
    Column("key_name", String(256), nullable=False),
    Column("note", Text, nullable=False),
)

Index("ix_log_checkpoints_tree_size", log_checkpoints.c.tree_size)
