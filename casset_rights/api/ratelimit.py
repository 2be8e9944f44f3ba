"""Rate limits on every route: a token bucket per client, and per address for ``public``.

``charge_caller`` (run for every request by ``middleware.access_check``, before
authentication is enforced, so a caller sending bad tokens is counted too) takes one
token from the caller's bucket and refuses with 429 and ``Retry-After``/``RateLimit``/
``RateLimit-Policy`` (rendered by ``problems``); ``verdict_headers`` gives the
``RateLimit`` fields the request-id middleware adds to every other answer. Limits are
per principal kind (``Settings.rate_limits``); registration has its own.
"""

from __future__ import annotations

import functools
from typing import Any

from casset_rights.api.problems import rate_limit_policy, rate_limit_state
from casset_rights.config import RateLimit, Settings
from casset_rights.errors import RateLimited
from casset_rights.principal import Principal
from casset_rights.ratelimit import Quota, RateLimiter, Verdict

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


async def charge_caller(services: Any, principal: Principal) -> Verdict | None:
    """Charge the caller's bucket (None when rate limits are off). Raises RateLimited."""
    settings: Settings = services.settings
    if not settings.rate_limits_enabled:
        return None
    key, bucket = bucket_of(principal, settings)
    return await charge(services.limiter, key, bucket)


def verdict_headers(verdict: Verdict) -> list[tuple[bytes, bytes]]:
    """The ``RateLimit``/``RateLimit-Policy`` fields of an allowed request, as ASGI
    headers (every answer carries them: the policy's value, which few buckets share, is
    encoded once)."""
    return [(b"ratelimit-policy", _policy_field(verdict.limit, verdict.window_seconds)),
            (b"ratelimit",
             rate_limit_state(verdict.remaining, verdict.reset).encode("latin-1"))]


@functools.lru_cache(maxsize=256)
def _policy_field(limit: int, window: int) -> bytes:
    return rate_limit_policy(limit, window).encode("latin-1")
