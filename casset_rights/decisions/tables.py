"""Policy versions as artists wrote them, and the head version of each policy."""

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, Text, UniqueConstraint

from casset_rights.db.metadata import metadata

policies = Table(
    "policies",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("artist_id", String(64), nullable=False, index=True),
    Column("applies_to", String(256), nullable=False),
    Column("head_version", Integer, nullable=False),
    Column("head_hash", String(80), nullable=False),
    UniqueConstraint("artist_id", "applies_to", name="uq_policies_artist_target"),
)

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("policy_id", String(128), ForeignKey("policies.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("hash", String(80), nullable=False),
    Column("source_name", String(256), nullable=False),
    Column("source_text", Text, nullable=False),
    Column("document", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
