"""Stored receipts: the columns a query selects on, the log index and the signed token
(the one copy of the payload). A logged receipt's token is its log leaf's data, so it
is stored there only and ``token`` is NULL."""

from sqlalchemy import BigInteger, Column, String, Table, Text

from casset_rights.db.metadata import metadata

receipts = Table(
    "receipts",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("token", Text),  # NULL when logged: see log_leaves.data
    Column("iat", BigInteger, nullable=False),
    Column("principal_kind", String(16), nullable=False),
    Column("client_id", String(128)),
    Column("resource", String(256)),
    Column("outcome", String(32)),
    Column("log_index", BigInteger),
)
