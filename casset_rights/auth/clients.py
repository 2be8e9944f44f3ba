"""OAuth clients: agents, partner platforms and artists' own clients.

``OAuthClient`` is what authlib asks about a client (it implements authlib's
``ClientMixin`` methods); ``ClientStore`` keeps clients in the database. A secret is
returned once, when the client is made, and only its hash is stored.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from casset_rights.auth.credentials import check_secret, hash_secret, new_secret
from casset_rights.auth.registration import SECRET_METHODS
from casset_rights.auth.scopes import KIND_SCOPES, scope_set, scope_text
from casset_rights.auth.tables import oauth_clients
from casset_rights.db.engine import writing
from casset_rights.errors import Conflict, InvalidInput, NotFound

CLIENT_ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")
AttributeValue = str | bool | int


class OAuthClient(msgspec.Struct, frozen=True, kw_only=True):
    client_id: str
    kind: str
    name: str
    auth_method: str
    grant_types: tuple[str, ...]
    redirect_uris: tuple[str, ...]
    scope: str
    attributes: dict[str, AttributeValue]
    created_by: str
    created_at: int
    artist_id: str | None = None
    secret_hash: str | None = None
    jwks: dict[str, Any] | None = None
    registration: dict[str, Any] = msgspec.field(default_factory=dict)
    disabled_at: int | None = None

    @property
    def machine_scopes(self) -> frozenset[str]:
        """What this client may hold in its own name (client_credentials)."""
        return scope_set(self.scope) & KIND_SCOPES[self.kind]

    # -- authlib's ClientMixin ------------------------------------------------------------

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        # Every authorization request names its redirect URI; none is assumed.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The scope to grant for ``scope`` (all registered when absent); None, which
        authlib answers with ``invalid_scope``, when any asked scope is not registered."""
        registered = scope_set(self.scope)
        asked = scope_set(scope) or registered
        return scope_text(asked) if asked <= registered else None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string comparison: no normalisation, no prefix or pattern matching.
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return check_secret(client_secret, self.secret_hash)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # A secret is the credential whether sent in the header or the body; a client
        # registered for private_key_jwt has no secret and must sign.
        if self.auth_method in SECRET_METHODS:
            return method in SECRET_METHODS
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


class NewClient(msgspec.Struct, frozen=True):
    """A client just made, with its secret in clear (shown once, never stored)."""

    client: OAuthClient
    secret: str | None


class ClientStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    def create(self, *, kind: str, name: str, created_by: str, auth_method: str,
               grant_types: list[str], scope: str, redirect_uris: list[str] | None = None,
               attributes: dict[str, AttributeValue] | None = None,
               artist_id: str | None = None, jwks: dict[str, Any] | None = None,
               registration: dict[str, Any] | None = None,
               client_id: str | None = None) -> NewClient:
        """Store a client whose metadata the caller has checked (``registration``).

        Raises InvalidInput for a malformed ``client_id``, Conflict when it is taken.
        """
        if client_id is not None and not CLIENT_ID.match(client_id):
            raise InvalidInput("a client id is 3 to 64 lower-case letters, digits and dashes")
        client_id = client_id or f"{kind}-{secrets.token_hex(10)}"
        secret = new_secret() if auth_method in SECRET_METHODS else None
        client = OAuthClient(
            client_id=client_id, kind=kind, name=name, auth_method=auth_method,
            grant_types=tuple(grant_types), redirect_uris=tuple(redirect_uris or ()),
            scope=scope_text(scope_set(scope)), attributes=dict(attributes or {}),
            created_by=created_by, created_at=int(self._clock()), artist_id=artist_id,
            secret_hash=hash_secret(secret) if secret else None, jwks=jwks,
            registration=dict(registration or {}))
        try:
            with writing(self._engine) as conn:
                conn.execute(insert(oauth_clients).values(_row(client)))
        except IntegrityError:
            raise Conflict(f"client id {client_id!r} is taken") from None
        return NewClient(client=client, secret=secret)

    def find(self, client_id: str) -> OAuthClient | None:
        """The client, or None when it does not exist or was disabled."""
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        with self._engine.connect() as conn:
            row = conn.execute(select(oauth_clients)
                               .where(oauth_clients.c.client_id == client_id)).first()
        if row is None or row.disabled_at is not None:
            return None
        return _client(row)

    def get(self, client_id: str) -> OAuthClient:
        """Raises NotFound for an unknown or disabled client."""
        client = self.find(client_id)
        if client is None:
            raise NotFound(f"no client {client_id!r}")
        return client

    def disable(self, client_id: str) -> None:
        """Refuse the client from now on (its tokens are revoked by the caller)."""
        with writing(self._engine) as conn:
            done = conn.execute(update(oauth_clients)
                                .where(oauth_clients.c.client_id == client_id,
                                       oauth_clients.c.disabled_at.is_(None))
                                .values(disabled_at=int(self._clock()))).rowcount
        if done != 1:
            raise NotFound(f"no client {client_id!r}")


def _row(client: OAuthClient) -> dict[str, Any]:
    enc = msgspec.json.encode
    return {
        "client_id": client.client_id, "kind": client.kind, "name": client.name,
        "artist_id": client.artist_id, "secret_hash": client.secret_hash,
        "auth_method": client.auth_method, "grant_types": enc(client.grant_types).decode(),
        "redirect_uris": enc(client.redirect_uris).decode(), "scope": client.scope,
        "jwks": enc(client.jwks).decode() if client.jwks is not None else None,
        "attributes": enc(client.attributes).decode(),
        "registration": enc(client.registration).decode(),
        "created_by": client.created_by, "created_at": client.created_at,
        "disabled_at": client.disabled_at,
    }


def _client(row: Any) -> OAuthClient:
    dec = msgspec.json.decode
    return OAuthClient(
        client_id=row.client_id, kind=row.kind, name=row.name, auth_method=row.auth_method,
        grant_types=tuple(dec(row.grant_types)), redirect_uris=tuple(dec(row.redirect_uris)),
        scope=row.scope, attributes=dec(row.attributes), created_by=row.created_by,
        created_at=row.created_at, artist_id=row.artist_id, secret_hash=row.secret_hash,
        jwks=dec(row.jwks) if row.jwks else None, registration=dec(row.registration),
        disabled_at=row.disabled_at)
