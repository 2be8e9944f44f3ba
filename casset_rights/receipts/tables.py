"""Stored receipts: the signed token, its payload and, once logged, its log index."""

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text

from casset_rights.db.metadata import metadata

receipts = Table(
    "receipts",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("token", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Column("iat", BigInteger, nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("client_id", String(128)),
    Column("resource", String(256)),
    Column("outcome", String(32)),
    Column("log_index", BigInteger),
    Column("seq", Integer, autoincrement=False),
)

Index("ix_receipts_resource_iat", receipts.c.resource, receipts.c.iat)
