"""``/mcp``: the MCP server (casset_rights/agents/mcp_server.py) over Streamable HTTP.

``mcp_mount(services)`` gives the mounted ASGI handler and the lifespan that runs the
server's session manager (without it every call is a 500, "Task group is not
initialized"). Hosts other than the issuer's and loopback get 421 (DNS-rebinding
protection of the ``mcp`` transport).

Authorization as the MCP specification asks: ``/mcp`` is a protected resource of its own
(its RFC 9728 metadata at ``/.well-known/oauth-protected-resource/mcp``). A call without
a bearer token, or with one not issued for ``/mcp`` (RFC 8707 ``resource``), is a 401
whose ``WWW-Authenticate: Bearer`` names that metadata; a token without ``rights:read``
is a 403 ``insufficient_scope``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

from litestar import Litestar
from litestar.handlers import asgi
from litestar.types import Receive, Scope, Send
from mcp.server.transport_security import TransportSecuritySettings

from casset_rights.agents.mcp_server import build_mcp
from casset_rights.api.security import bearer_token, check_access, header_of, needs
from casset_rights.auth.scopes import RIGHTS_READ
from casset_rights.errors import InvalidToken
from casset_rights.principal import Principal

OPT = needs(RIGHTS_READ, anonymous=False)


def mcp_principal(services: Any, scope: Scope) -> tuple[Principal, InvalidToken | None]:
    """Who calls ``/mcp``: the principal of a bearer token issued for it, or the public
    (with why a presented token was refused)."""
    client = scope.get("client")
    public = Principal(kind="public", address=client[0] if client else None)
    try:
        token = bearer_token(header_of(scope, b"authorization"))
        if token is None:
            return public, None
        return services.auth.authenticate(token, audience=services.auth.mcp_audience), None
    except InvalidToken as exc:
        return public, exc


def mcp_mount(services: Any) -> tuple[Any, Any]:
    """(the ``/mcp`` ASGI route handler, the app lifespan that runs the MCP sessions)."""
    server = build_mcp(services)
    host = urlsplit(services.settings.resolved_issuer).netloc
    security = TransportSecuritySettings(
        allowed_hosts=[host, "127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=[services.settings.resolved_issuer, "http://127.0.0.1:*",
                         "http://localhost:*"])
    inner = server.streamable_http_app(streamable_http_path="/", json_response=True,
                                       transport_security=security)

    @asgi("/mcp", is_mount=True, opt=OPT, copy_scope=True)
    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        check_access(*mcp_principal(services, scope), OPT)  # raises: a problem with a challenge
        await inner(scope, receive, send)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    return mcp_endpoint, lifespan
