"""Who is asking, and what the route lets them do.

* ``principal_of(connection)`` turns the bearer token (RFC 6750, ``Authorization:
  Bearer``) into the request's Principal once per request; no token means ``public``,
  identified by its address for rate limits only. A refused token is remembered with the
  public principal, so the rate limit can still count the caller before the 401.
* ``authentication_guard`` (app-wide) answers that 401 (``invalid_token``).
* ``requires_scope(scope)`` is the guard a route declares: a token without the scope is a
  403 ``insufficient_scope`` problem naming it; ``anonymous=False`` also refuses callers
  without a token (401).
* ``provide_principal`` is the ``principal`` dependency controllers declare.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from casset_rights.api.deps import ServicesDep
from casset_rights.errors import CassetError, InsufficientScope, InvalidToken, Unauthenticated
from casset_rights.principal import Principal

_STATE_KEY = "casset_principal"
Guard = Any


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None for no header or another
    scheme (Basic belongs to the token endpoint). Raises InvalidToken for ``Bearer``
    without a token."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    if not token or " " in token:
        raise InvalidToken("the Authorization header carries no bearer token")
    return token


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) \
        -> tuple[Principal, CassetError | None]:
    """The request's principal and, when a presented token was refused, why."""
    state = connection.scope.setdefault("state", {})  # type: ignore[typeddict-item]
    known = state.get(_STATE_KEY)
    if known is not None:
        return known  # type: ignore[no-any-return]
    address = connection.client.host if connection.client else None
    public = Principal(kind="public", address=address)
    result: tuple[Principal, CassetError | None]
    try:
        token = bearer_token(connection.headers.get("authorization"))
        if token is None:
            result = (public, None)
        else:
            auth = connection.app.state["services"].auth
            result = (auth.authenticate(token, address=address), None)
    except InvalidToken as exc:
        result = (public, exc)
    state[_STATE_KEY] = result
    return result


async def authentication_guard(connection: ASGIConnection[Any, Any, Any, Any],
                               _: BaseRouteHandler) -> None:
    """Refuse a request whose bearer token was refused (401 ``invalid_token``)."""
    _, error = principal_of(connection)
    if error is not None:
        raise error


def requires_scope(scope: str, *, anonymous: bool = True) -> Guard:
    """The guard of a route that needs the OAuth ``scope``.

    With ``anonymous`` (read routes), callers without a token pass as ``public``; a
    caller that presents a token is held to what the token allows.
    """

    async def guard(connection: ASGIConnection[Any, Any, Any, Any],
                    _: BaseRouteHandler) -> None:
        principal, error = principal_of(connection)
        if error is not None:
            raise error
        if principal.kind == "public":
            if anonymous:
                return
            raise Unauthenticated(f"this route needs a bearer token with the scope {scope}")
        if scope not in principal.scopes:
            raise InsufficientScope(f"this route needs the scope {scope}; the token has "
                                    f"{' '.join(sorted(principal.scopes)) or 'none'}",
                                    scope=scope)

    guard.__name__ = f"requires_scope[{scope}]"
    guard.oauth_scope = scope  # type: ignore[attr-defined]
    return guard


async def provide_principal(request: Request[Any, Any, Any],
                            services: ServicesDep) -> Principal:
    # ``services`` is taken so Litestar resolves the two dependencies one after the
    # other: independent ones are gathered in a task group per request, which cost
    # about a fifth of the event loop's time under load.
    del services
    principal, error = principal_of(request)
    if error is not None:
        raise error
    return principal
