"""Token introspection (RFC 7662) and revocation (RFC 7009).

A client introspects and revokes only its own tokens. An access token is found by its
verified ``jti`` (the JWT's signature is checked first: an unverified claim never selects
a record); a refresh token by its hash. Revoking a refresh token revokes its whole grant,
access tokens included (RFC 7009 section 2.1).
"""

from __future__ import annotations

from typing import Any

import msgspec
from authlib.oauth2.rfc7009 import RevocationEndpoint as _RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint as _IntrospectionEndpoint

from casset_rights.auth.grants import TOKEN_AUTH_METHODS
from casset_rights.auth.tokens import AccessTokenRecord, RefreshTokenRecord
from casset_rights.errors import InvalidToken


class _FindToken:
    server: Any

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        # The hint is only a hint (RFC 7009 section 2.1): look in both places.
        if token_type_hint != "refresh_token" and token_string.count(".") == 2:
            record = self._access(token_string)
            if record is not None:
                return record
        if len(token_string) <= 512:
            return self.server.tokens.refresh(token_string)
        return None

    def _access(self, token_string: str) -> AccessTokenRecord | None:
        try:
            claims = self.server.validator.claims(token_string)
        except InvalidToken:
            return None
        record: AccessTokenRecord | None = self.server.tokens.access(claims["jti"])
        if record is None:
            return None
        return msgspec.structs.replace(record, audience=claims["aud"])


class IntrospectionEndpoint(_FindToken, _IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def check_permission(self, token: Any, client: Any, request: Any) -> bool:
        return bool(token.check_client(client))

    def introspect_token(self, token: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "active": True, "client_id": token.client_id, "scope": token.scope,
            "token_type": "Bearer" if isinstance(token, AccessTokenRecord) else "refresh_token",
            "iat": token.issued_at, "exp": token.expires_at, "iss": self.server.issuer_url,
        }
        if isinstance(token, AccessTokenRecord):
            body.update(sub=token.subject, jti=token.jti,
                        aud=token.audience or self.server.audience)
        elif isinstance(token, RefreshTokenRecord):
            body.update(sub=token.artist_id)
        return body


class RevocationEndpoint(_FindToken, _RevocationEndpoint):
    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS

    def revoke_token(self, token: Any, request: Any) -> None:
        if isinstance(token, AccessTokenRecord):
            self.server.tokens.revoke_access(token.jti)
        elif isinstance(token, RefreshTokenRecord):
            self.server.tokens.revoke_grant(token.grant_id)
