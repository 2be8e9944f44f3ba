"""Access tokens (RFC 9068 JWTs) and refresh tokens: minting and their records.

An access token is a JWT signed by the service's active Ed25519 key (published in
``/.well-known/jwks.json``), ``typ: at+jwt``, with ``iss``, ``sub``, ``aud``,
``client_id``, ``scope``, ``jti``, ``iat`` and ``exp``; the principal kind and the
client's verified attributes ride along as ``casset_kind`` and ``casset_attributes`` so
the request path needs no database. Each issued token is recorded (by ``jti``) so it can
be revoked and introspected. Refresh tokens are opaque, stored hashed, and rotate: each
is good for one exchange, and a second exchange revokes the whole grant.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import jwt
import msgspec
from sqlalchemy import Engine, insert, select, update

from casset_rights.auth.credentials import lookup_hash
from casset_rights.auth.revocation import RevokedTokens
from casset_rights.auth.tables import oauth_access_tokens, oauth_refresh_tokens
from casset_rights.db.engine import writing
from casset_rights.receipts.keys import KeyStore

ACCESS_TOKEN_TYP = "at+jwt"
# The one algorithm access tokens are signed with; validation accepts nothing else.
ACCESS_TOKEN_ALG = "EdDSA"
KIND_CLAIM = "casset_kind"
ATTRIBUTES_CLAIM = "casset_attributes"


class MintedToken(msgspec.Struct, frozen=True):
    token: str
    jti: str
    issued_at: int
    expires_at: int


class AccessTokenIssuer:
    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def mint(self, *, client_id: str, subject: str, kind: str, scope: str,
             attributes: dict[str, Any], audience: str | None = None) -> MintedToken:
        """A signed access token for ``audience`` (the API's unless another is named)."""
        key = self._keys.active()
        now = int(self._clock())
        jti = uuid.uuid4().hex
        claims: dict[str, Any] = {
            "iss": self._issuer, "sub": subject, "aud": audience or self._audience,
            "client_id": client_id, "scope": scope, "jti": jti, "iat": now,
            "exp": now + self.ttl_seconds, KIND_CLAIM: kind,
        }
        if attributes:
            claims[ATTRIBUTES_CLAIM] = attributes
        token = jwt.encode(claims, key.private_key, algorithm=ACCESS_TOKEN_ALG,
                           headers={"typ": ACCESS_TOKEN_TYP, "kid": key.kid})
        return MintedToken(token=token, jti=jti, issued_at=now, expires_at=now + self.ttl_seconds)


class _TokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    grant_id: str | None
    scope: str
    issued_at: int
    expires_at: int
    revoked_at: int | None = None

    # -- authlib's TokenMixin (introspection and revocation ask these) --------------------

    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_at - self.issued_at

    def is_expired(self) -> bool:
        return self.expires_at <= time.time()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class AccessTokenRecord(_TokenRecord, frozen=True, kw_only=True):
    jti: str
    subject: str
    token_type: str = "access_token"
    audience: str | None = None  # not stored: read from the token's verified ``aud``


class RefreshTokenRecord(_TokenRecord, frozen=True, kw_only=True):
    token_hash: str
    artist_id: str
    grant_id: str
    used_at: int | None = None
    token_type: str = "refresh_token"

    def is_revoked(self) -> bool:
        return self.revoked_at is not None or self.used_at is not None


class Exchange(msgspec.Struct, frozen=True):
    """Presenting a refresh token: the record when it was fresh; ``reused_grant`` names
    the grant to revoke when it had been exchanged before."""

    record: RefreshTokenRecord | None
    reused_grant: str | None = None


class TokenStore:
    """Records of issued tokens; every revocation also reaches ``revoked`` at once."""

    def __init__(self, engine: Engine, *, revoked: RevokedTokens, refresh_ttl_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._revoked = revoked
        self._refresh_ttl = refresh_ttl_seconds
        self._clock = clock

    # -- access tokens -------------------------------------------------------------------

    def record_access(self, minted: MintedToken, *, client_id: str, subject: str,
                      scope: str, grant_id: str | None) -> None:
        with writing(self._engine) as conn:
            conn.execute(insert(oauth_access_tokens).values(
                jti=minted.jti, client_id=client_id, subject=subject, grant_id=grant_id,
                scope=scope, issued_at=minted.issued_at, expires_at=minted.expires_at))

    def access(self, jti: str) -> AccessTokenRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(oauth_access_tokens)
                               .where(oauth_access_tokens.c.jti == jti)).first()
        return None if row is None else AccessTokenRecord(
            jti=row.jti, client_id=row.client_id, subject=row.subject, grant_id=row.grant_id,
            scope=row.scope, issued_at=row.issued_at, expires_at=row.expires_at,
            revoked_at=row.revoked_at)

    def revoke_access(self, jti: str) -> None:
        self._revoke_access_where(oauth_access_tokens.c.jti == jti)

    # -- refresh tokens ------------------------------------------------------------------

    def save_refresh(self, token: str, *, client_id: str, artist_id: str, grant_id: str,
                     scope: str) -> None:
        now = int(self._clock())
        with writing(self._engine) as conn:
            conn.execute(insert(oauth_refresh_tokens).values(
                token_hash=lookup_hash(token), client_id=client_id, artist_id=artist_id,
                grant_id=grant_id, scope=scope, issued_at=now,
                expires_at=now + self._refresh_ttl))

    def refresh(self, token: str) -> RefreshTokenRecord | None:
        """The record of a refresh token, whatever its state (for introspection)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(oauth_refresh_tokens).where(
                oauth_refresh_tokens.c.token_hash == lookup_hash(token))).first()
        return None if row is None else _refresh(row)

    def exchange(self, token: str, *, client_id: str) -> Exchange:
        """Use a refresh token once (rotation). A token of another client is left alone;
        one that was exchanged before reports its grant for revocation."""
        now = int(self._clock())
        key = lookup_hash(token)
        t = oauth_refresh_tokens
        with writing(self._engine) as conn:
            claimed = conn.execute(
                update(t).where(t.c.token_hash == key, t.c.client_id == client_id,
                                t.c.used_at.is_(None), t.c.revoked_at.is_(None),
                                t.c.expires_at > now)
                .values(used_at=now)).rowcount
            row = conn.execute(select(t).where(t.c.token_hash == key)).first()
        if row is None or row.client_id != client_id:
            return Exchange(record=None)
        if claimed == 1:
            return Exchange(record=_refresh(row))
        if row.used_at is not None and row.revoked_at is None:
            return Exchange(record=None, reused_grant=row.grant_id)
        return Exchange(record=None)

    # -- whole grants and clients --------------------------------------------------------

    def revoke_grant(self, grant_id: str) -> None:
        """Revoke every access and refresh token that came from one consent."""
        with writing(self._engine) as conn:
            conn.execute(update(oauth_refresh_tokens)
                         .where(oauth_refresh_tokens.c.grant_id == grant_id,
                                oauth_refresh_tokens.c.revoked_at.is_(None))
                         .values(revoked_at=int(self._clock())))
        self._revoke_access_where(oauth_access_tokens.c.grant_id == grant_id)

    def revoke_client(self, client_id: str) -> None:
        """Revoke every token of a client (when it is disabled)."""
        with writing(self._engine) as conn:
            conn.execute(update(oauth_refresh_tokens)
                         .where(oauth_refresh_tokens.c.client_id == client_id,
                                oauth_refresh_tokens.c.revoked_at.is_(None))
                         .values(revoked_at=int(self._clock())))
        self._revoke_access_where(oauth_access_tokens.c.client_id == client_id)

    def _revoke_access_where(self, condition: Any) -> None:
        now = int(self._clock())
        t = oauth_access_tokens
        with writing(self._engine) as conn:
            rows: Sequence[Any] = conn.execute(
                select(t.c.jti, t.c.expires_at)
                .where(condition, t.c.revoked_at.is_(None), t.c.expires_at > now)).all()
            if rows:
                conn.execute(update(t).where(t.c.jti.in_([r.jti for r in rows]))
                             .values(revoked_at=now))
        for row in rows:
            self._revoked.add(row.jti, row.expires_at)


def _refresh(row: Any) -> RefreshTokenRecord:
    return RefreshTokenRecord(
        token_hash=row.token_hash, client_id=row.client_id, artist_id=row.artist_id,
        grant_id=row.grant_id, scope=row.scope, issued_at=row.issued_at,
        expires_at=row.expires_at, used_at=row.used_at, revoked_at=row.revoked_at)
