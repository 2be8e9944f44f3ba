"""Every request: a request id, who is asking, and whether the route lets them.

* ``request_id_middleware`` gives each HTTP request an id (the caller's
  ``X-Request-Id`` when it sends a sane one), keeps it in the scope state for logs and
  problems, and adds ``X-Request-Id`` and the ``RateLimit`` fields (when a bucket was
  charged) to the answer, problems included.
* ``access_check`` (the app's ``before_request`` hook, run before the body is read) finds
  the principal (``security.principal_of``), charges the rate limit before a refused
  token is turned away, so a caller sending bad tokens is counted too
  (``ratelimit.charge_caller``), then enforces the route's declared scope
  (``security.check_access`` on the handler's ``opt``). Errors become problems through
  the app's exception handlers.

This is what three route guards and two middlewares did: Litestar copies the route
handler for each guard it calls, which cost more than the checks themselves.
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from casset_rights.api.body import check_path_integers, read_body
from casset_rights.api.deps import services_of
from casset_rights.api.ratelimit import charge_caller, verdict_headers
from casset_rights.api.security import check_access, header_of, principal_of
from casset_rights.ids import random_hex

_HEADERS_KEY = "casset_response_headers"


def request_id_middleware(app: ASGIApp) -> ASGIApp:

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        given = header_of(scope, b"x-request-id") or ""
        request_id = given if 0 < len(given) <= 64 and given.isprintable() \
            else random_hex(16)
        extra = [(b"x-request-id", request_id.encode("latin-1"))]
        state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
        state["request_id"] = request_id
        state[_HEADERS_KEY] = extra

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]  # type: ignore[typeddict-unknown-key]
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware


async def access_check(request: Request[Any, Any, Any]) -> None:
    scope = request.scope
    principal, error = principal_of(scope)
    services = services_of(request)
    verdict = await charge_caller(services, principal)
    if verdict is not None:
        headers = scope["state"].get(_HEADERS_KEY)  # type: ignore[typeddict-item]
        if headers is not None:
            headers.extend(verdict_headers(verdict))
    check_access(principal, error, scope["route_handler"].opt)
    check_path_integers(request)
    await read_body(request, services.settings.body_limits)
