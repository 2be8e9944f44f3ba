"""OAuth clients, authorization codes, and the records of issued tokens.

Secrets, codes and refresh tokens are stored only as hashes. Access tokens are JWTs
checked without the database; their rows exist so they can be revoked, introspected,
and revoked together with the grant they came from (``grant_id``: one artist's consent
to one partner, carried through every code and refresh).
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, String, Table, Text

from casset_rights.db.metadata import metadata

oauth_clients = Table(
    "oauth_clients",
    metadata,
    Column("client_id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("name", String(200), nullable=False),
    # The artist an artist client acts for; null for agents and partners.
    Column("artist_id", String(64)),
    Column("secret_hash", String(200)),
    Column("auth_method", String(32), nullable=False),
    # JSON lists and objects, read whole with the client.
    Column("grant_types", Text, nullable=False),
    Column("redirect_uris", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("jwks", Text),
    Column("attributes", Text, nullable=False),
    Column("registration", Text, nullable=False),
    Column("created_by", String(16), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("disabled_at", BigInteger),
)

oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("client_id", String(64), ForeignKey("oauth_clients.client_id"), nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("grant_id", String(64), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("code_challenge", String(128), nullable=False),
    Column("code_challenge_method", String(8), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("used_at", BigInteger),
    # The audience the authorization named (RFC 8707): the code buys tokens for it only.
    Column("resource", Text),
)

oauth_access_tokens = Table(
    "oauth_access_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False, index=True),
    Column("subject", String(128), nullable=False),
    Column("grant_id", String(64), index=True),
    Column("scope", Text, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger),
)

oauth_refresh_tokens = Table(
    "oauth_refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("grant_id", String(64), nullable=False, index=True),
    Column("scope", Text, nullable=False),
    Column("issued_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    # Set when the token was exchanged (rotation); a second use revokes the grant.
    Column("used_at", BigInteger),
    Column("revoked_at", BigInteger),
)

# The revoked set each process keeps is refreshed by "revoked since" look-ups.
Index("ix_oauth_access_tokens_revoked_at", oauth_access_tokens.c.revoked_at)
