"""Licensing tables: quotes, grants, pending requests and the per-route grant counters.

Times are epoch milliseconds (``*_ms``): revocation is time-aware, and a use recorded a
few hundred milliseconds before a revocation must still read as licensed.
JSON columns (``scopes``, ``terms``, ``context``) hold canonical-enough msgspec JSON;
the fields queried on (licensee, resource, artist, status) are columns of their own.
"""

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

from casset_rights.db.metadata import metadata

RESOURCE_ID = 210  # "hook:" + three 64-character segments and two slashes

license_quotes = Table(
    "license_quotes",
    metadata,
    # The id is the jti of the quote's signed receipt: the receipt *is* the signed offer.
    Column("id", String(64), primary_key=True),
    Column("licensee", String(200), nullable=False),
    Column("principal", Text, nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("resource", String(RESOURCE_ID), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("route_name", String(64), nullable=False),
    Column("route_type", String(16), nullable=False),
    Column("policy_id", String(128), nullable=False),
    Column("policy_hash", String(80), nullable=False),
    Column("manifest_hash", String(80), nullable=False),
    Column("terms", Text, nullable=False),
    Column("context", Text, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger, nullable=False),
    # Set once, by a conditional update: a quote buys at most one license.
    Column("used_at_ms", BigInteger),
    Column("token", Text, nullable=False),
)

Index("ix_license_quotes_licensee", license_quotes.c.licensee, license_quotes.c.created_at_ms)

license_requests = Table(
    "license_requests",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("quote_id", String(64), ForeignKey("license_quotes.id"), nullable=False, unique=True),
    Column("licensee", String(200), nullable=False),
    Column("principal", Text, nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("resource", String(RESOURCE_ID), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("route_name", String(64), nullable=False),
    Column("policy_id", String(128), nullable=False),
    Column("policy_hash", String(80), nullable=False),
    Column("terms", Text, nullable=False),
    Column("message", Text),  # what the requester tells the artist
    Column("status", String(16), nullable=False),  # pending | approved | refused
    Column("created_at_ms", BigInteger, nullable=False),
    Column("decided_at_ms", BigInteger),
    Column("decision_message", Text),  # what the artist answers
    Column("grant_id", String(64)),
    Column("receipt_id", String(64), nullable=False),
    Column("decision_receipt_id", String(64)),
)

Index("ix_license_requests_artist_status", license_requests.c.artist_id,
      license_requests.c.status, license_requests.c.created_at_ms)
Index("ix_license_requests_licensee", license_requests.c.licensee,
      license_requests.c.created_at_ms)

license_grants = Table(
    "license_grants",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("quote_id", String(64), ForeignKey("license_quotes.id"), nullable=False, unique=True),
    Column("request_id", String(64)),
    # ``client:<id>`` for agents and partners, ``artist:<id>`` for artists.
    Column("licensee", String(200), nullable=False),
    Column("principal", Text, nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("resource", String(RESOURCE_ID), nullable=False),
    Column("scopes", Text, nullable=False),
    Column("route_name", String(64), nullable=False),
    Column("route_type", String(16), nullable=False),
    Column("policy_id", String(128), nullable=False),
    Column("policy_hash", String(80), nullable=False),
    Column("manifest_hash", String(80), nullable=False),
    Column("terms", Text, nullable=False),
    Column("payment_id", String(128)),
    Column("status", String(16), nullable=False),  # active | revoked (expiry is computed)
    Column("granted_at_ms", BigInteger, nullable=False),
    Column("expires_at_ms", BigInteger),
    Column("revoked_at_ms", BigInteger),
    Column("revocation_reason", Text),
    Column("token", Text, nullable=False),
    Column("receipt_id", String(64), nullable=False),
    Column("revocation_receipt_id", String(64)),
)

# The held-grants refiner asks: this licensee's grants on these (enclosing) resources.
Index("ix_license_grants_licensee_resource", license_grants.c.licensee,
      license_grants.c.resource)
Index("ix_license_grants_artist", license_grants.c.artist_id, license_grants.c.granted_at_ms)

license_route_counts = Table(
    "license_route_counts",
    metadata,
    # A route's cap counts every grant it ever gave, across policy versions.
    Column("policy_id", String(128), nullable=False),
    Column("route_name", String(64), nullable=False),
    Column("granted", Integer, nullable=False),
    PrimaryKeyConstraint("policy_id", "route_name"),
)
