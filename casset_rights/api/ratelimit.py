"""Rate limits on every route: a token bucket per client, and per address for ``public``.

``rate_limit_guard`` (app-wide, before authentication, so a caller sending bad tokens is
counted too) takes one token from the caller's bucket and refuses with 429 and
``Retry-After``/``RateLimit``/``RateLimit-Policy`` (rendered by ``problems``).
``rate_limit_headers_middleware`` adds the ``RateLimit`` fields to every other answer.
Limits are per principal kind (``Settings.rate_limits``); registration has its own.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from casset_rights.api.problems import rate_limit_headers
from casset_rights.api.security import principal_of
from casset_rights.config import RateLimit, Settings
from casset_rights.errors import RateLimited
from casset_rights.principal import Principal
from casset_rights.ratelimit import Quota, RateLimiter, Verdict

_VERDICT_KEY = "casset_rate_limit"
_quotas: dict[tuple[int, int], Quota] = {}


def quota(limit: RateLimit) -> Quota:
    found = _quotas.get((limit.capacity, limit.per_minute))
    if found is None:
        found = _quotas[(limit.capacity, limit.per_minute)] = Quota(
            capacity=limit.capacity, per_minute=limit.per_minute)
    return found


def bucket_of(principal: Principal, settings: Settings) -> tuple[str, Quota]:
    """A client's bucket is its client id (whoever it acts for); a public caller's is its
    address."""
    if principal.kind == "public" or principal.client_id is None:
        return f"addr:{principal.address or 'unknown'}", quota(settings.rate_limits["public"])
    return f"client:{principal.client_id}", quota(settings.rate_limits[principal.kind])


async def charge(limiter: RateLimiter, key: str, bucket: Quota) -> Verdict:
    """Take one request from ``key``. Raises RateLimited when the bucket is empty."""
    verdict = await limiter.take(key, bucket)
    if not verdict.allowed:
        raise RateLimited(
            f"too many requests; try again in {verdict.retry_after} s",
            retry_after=verdict.retry_after, limit=verdict.limit, remaining=0,
            window_seconds=verdict.window_seconds)
    return verdict


async def rate_limit_guard(connection: ASGIConnection[Any, Any, Any, Any],
                           _: BaseRouteHandler) -> None:
    services = connection.app.state["services"]
    settings: Settings = services.settings
    if not settings.rate_limits_enabled:
        return
    principal, _error = principal_of(connection)
    key, bucket = bucket_of(principal, settings)
    verdict = await charge(services.limiter, key, bucket)
    connection.scope["state"][_VERDICT_KEY] = verdict  # type: ignore[typeddict-item]


def rate_limit_headers_middleware(app: ASGIApp) -> ASGIApp:
    """Echo the caller's bucket in ``RateLimit``/``RateLimit-Policy`` on answers the
    guard let through (a 429 carries its own)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_with_limits(message: Message) -> None:
            if message["type"] == "http.response.start":
                verdict = scope.get("state", {}).get(_VERDICT_KEY)
                if verdict is not None and verdict.allowed:
                    headers: list[Any] = list(message.get("headers", []))
                    for name, value in rate_limit_headers(
                            verdict.limit, verdict.remaining, verdict.reset,
                            verdict.window_seconds).items():
                        headers.append((name.lower().encode("latin-1"),
                                        value.encode("latin-1")))
                    message["headers"] = headers  # type: ignore[typeddict-unknown-key]
            await send(message)

        await app(scope, receive, send_with_limits)

    return middleware
