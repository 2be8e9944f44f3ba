"""Who is asking, and what the route lets them do.

* ``principal_of(scope)`` turns the bearer token (RFC 6750, ``Authorization: Bearer``)
  into the request's Principal once per request; no token means ``public``, identified
  by its address for rate limits only. A refused token is remembered with the public
  principal, so the rate limit can still count the caller before the 401.
* ``needs(scope)`` is what a route declares in its ``opt``: the OAuth scope a token must
  hold. ``check_access`` enforces it (run for every request by
  ``casset_rights.api.middleware.access_check``): a refused token is a 401
  ``invalid_token``; a token without the scope a 403 ``insufficient_scope`` problem
  naming it; ``anonymous=False`` also refuses callers without a token (401).
* ``provide_principal`` is the ``principal`` dependency controllers declare;
  ``caller_of(request)`` gives the same principal without Litestar's dependency
  injection, for the one route whose every microsecond counts (``POST /v1/decisions``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request
from litestar.types import Scope

from casset_rights.api.deps import ServicesDep
from casset_rights.errors import CassetError, InsufficientScope, InvalidToken, Unauthenticated
from casset_rights.principal import Principal

_STATE_KEY = "casset_principal"
SCOPE_OPT = "oauth_scope"
ANONYMOUS_OPT = "anonymous"


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


def header_of(scope: Scope, name: bytes) -> str | None:
    """The first value of the request header ``name`` (lowercase, as ASGI gives names)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


def principal_of(scope: Scope) -> tuple[Principal, CassetError | None]:
    """The request's principal and, when a presented token was refused, why."""
    state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    known = state.get(_STATE_KEY)
    if known is not None:
        return known  # type: ignore[no-any-return]
    client = scope.get("client")
    address = client[0] if client else None
    public = Principal(kind="public", address=address)
    result: tuple[Principal, CassetError | None]
    try:
        token = bearer_token(header_of(scope, b"authorization"))
        if token is None:
            result = (public, None)
        else:
            auth = scope["litestar_app"].state["services"].auth
            result = (auth.authenticate(token, address=address), None)
    except InvalidToken as exc:
        result = (public, exc)
    state[_STATE_KEY] = result
    return result


def needs(scope: str, *, anonymous: bool = True) -> dict[str, Any]:
    """The ``opt`` of a route that needs the OAuth ``scope``.

    With ``anonymous`` (read routes), callers without a token pass as ``public``; a
    caller that presents a token is held to what the token allows.
    """
    return {SCOPE_OPT: scope, ANONYMOUS_OPT: anonymous}


def check_access(principal: Principal, error: CassetError | None,
                 opt: Mapping[str, Any]) -> None:
    """Raise unless the caller may use a route with this ``opt``: a refused token never
    may; a route that ``needs`` a scope wants a token holding it (or, when it allows
    ``anonymous`` callers, no token at all)."""
    if error is not None:
        raise error
    scope = opt.get(SCOPE_OPT)
    if scope is None:
        return
    if principal.kind == "public":
        if opt.get(ANONYMOUS_OPT, True):
            return
        raise Unauthenticated(f"this route needs a bearer token with the scope {scope}")
    if scope not in principal.scopes:
        raise InsufficientScope(f"this route needs the scope {scope}; the token has "
                                f"{' '.join(sorted(principal.scopes)) or 'none'}",
                                scope=scope)


async def provide_principal(request: Request[Any, Any, Any],
                            services: ServicesDep) -> Principal:
    # ``services`` is taken so Litestar resolves the two dependencies one after the
    # other: independent ones are gathered in a task group per request, which cost
    # about a fifth of the event loop's time under load.
    del services
    return caller_of(request)


def caller_of(request: Request[Any, Any, Any]) -> Principal:
    """The request's principal, as the ``principal`` dependency gives it (raises the
    refused token's error; ``access_check`` has raised it before any handler runs)."""
    principal, error = principal_of(request.scope)
    if error is not None:
        raise error
    return principal
