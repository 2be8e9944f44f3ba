"""Idempotency keys: one row per (caller, key), written in the transaction of the write it
names, holding a fingerprint of the request and the write's outcome to replay."""

from sqlalchemy import BigInteger, Column, Index, PrimaryKeyConstraint, String, Table, Text

from casset_rights.db.metadata import metadata

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    # The caller's licensee key (``client:<id>`` or ``artist:<id>``): keys are per caller.
    Column("owner", String(200), nullable=False),
    Column("key", String(255), nullable=False),
    # What was asked: the operation and a hash of its input (sha256 hex).
    Column("operation", String(64), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    # The outcome, msgspec JSON of the service's result, replayed as it was.
    Column("outcome", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    PrimaryKeyConstraint("owner", "key"),
)
# The sweep deletes by age (``casset_rights.idempotency.expire``).
Index("ix_idempotency_keys_created_at_ms", idempotency_keys.c.created_at_ms)
