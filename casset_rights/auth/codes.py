"""Authorization codes: one artist's consent to one partner, redeemable once.

A code is stored as its SHA-256. Redeeming claims it with a conditional update, so two
concurrent redemptions cannot both win; a code presented again after it was redeemed
revokes every token issued from it (RFC 6749 section 4.1.2), since one of the two
presenters is not who the artist consented to.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import msgspec
from sqlalchemy import Engine, insert, select, update

from casset_rights.auth.credentials import lookup_hash
from casset_rights.auth.tables import oauth_codes
from casset_rights.db.engine import writing


class AuthorizationCode(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    artist_id: str
    grant_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    code_challenge_method: str
    expires_at: int
    resource: str | None = None  # the audience consented for (RFC 8707)

    # -- authlib's AuthorizationCodeMixin -------------------------------------------------

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class Redemption(msgspec.Struct, frozen=True):
    """The outcome of presenting a code: the code when it was fresh, else why not;
    ``reused_grant`` names the grant to revoke when the code had been redeemed before."""

    code: AuthorizationCode | None
    reused_grant: str | None = None


class CodeStore:
    def __init__(self, engine: Engine, *, ttl_seconds: int,
                 clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._ttl = ttl_seconds
        self._clock = clock

    def save(self, code: str, *, client_id: str, artist_id: str, redirect_uri: str,
             scope: str, code_challenge: str, code_challenge_method: str,
             resource: str | None = None) -> AuthorizationCode:
        """Store a new code, bound to ``resource`` (the audience its tokens are for); its
        grant id starts the family of tokens it leads to."""
        now = int(self._clock())
        record = AuthorizationCode(
            client_id=client_id, artist_id=artist_id, grant_id=uuid.uuid4().hex,
            redirect_uri=redirect_uri, scope=scope, code_challenge=code_challenge,
            code_challenge_method=code_challenge_method, expires_at=now + self._ttl,
            resource=resource)
        with writing(self._engine) as conn:
            conn.execute(insert(oauth_codes).values(
                code_hash=lookup_hash(code), created_at=now, **msgspec.structs.asdict(record)))
        return record

    def redeem(self, code: str, *, client_id: str) -> Redemption:
        """Claim ``code`` for ``client_id``. A code of another client is not touched (so
        a stolen code presented by the wrong client cannot burn the right one's)."""
        now = int(self._clock())
        key = lookup_hash(code)
        with writing(self._engine) as conn:
            claimed = conn.execute(
                update(oauth_codes)
                .where(oauth_codes.c.code_hash == key, oauth_codes.c.client_id == client_id,
                       oauth_codes.c.used_at.is_(None), oauth_codes.c.expires_at > now)
                .values(used_at=now)).rowcount
            row = conn.execute(select(oauth_codes).where(oauth_codes.c.code_hash == key)).first()
        if row is None or row.client_id != client_id:
            return Redemption(code=None)
        if claimed == 1:
            return Redemption(code=_code(row))
        if row.used_at is not None:
            return Redemption(code=None, reused_grant=row.grant_id)
        return Redemption(code=None)  # expired


def _code(row: object) -> AuthorizationCode:
    return AuthorizationCode(**{f: getattr(row, f) for f in AuthorizationCode.__struct_fields__})
