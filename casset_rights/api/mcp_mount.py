"""``/mcp``: the MCP server (casset_rights/agents/mcp_server.py) over Streamable HTTP.

``mcp_mount(services)`` gives the mounted ASGI handler and the lifespan that runs the
server's session manager (without it every call is a 500, "Task group is not
initialized"). Hosts other than the issuer's and loopback get 421 (DNS-rebinding
protection of the ``mcp`` transport).
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
from casset_rights.api.security import needs
from casset_rights.auth.scopes import RIGHTS_READ


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

    @asgi("/mcp", is_mount=True, opt=needs(RIGHTS_READ), copy_scope=True)
    async def mcp_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await inner(scope, receive, send)  # type: ignore[arg-type]

    @asynccontextmanager
    async def lifespan(_app: Litestar) -> AsyncIterator[None]:
        async with server.session_manager.run():
            yield

    return mcp_endpoint, lifespan
