"""Token-bucket arithmetic, shared by every store so they answer alike.

A bucket holds up to ``capacity`` tokens and gains ``per_minute / 60`` tokens a second;
a request takes one. The state is two numbers, the tokens left and when they were
counted, so a store only has to keep those and apply ``take`` atomically.
"""

from __future__ import annotations

import math

import msgspec

from casset_rights.errors import InvalidInput


class Quota(msgspec.Struct, frozen=True):
    """``capacity`` requests at once, refilled at ``per_minute`` requests a minute."""

    capacity: int
    per_minute: int

    def __post_init__(self) -> None:
        if self.capacity < 1 or self.per_minute < 1:
            raise InvalidInput("a rate limit needs capacity >= 1 and per_minute >= 1")

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0

    @property
    def window_seconds(self) -> int:
        """How long an empty bucket takes to fill: the ``w`` of ``RateLimit-Policy``."""
        return max(1, math.ceil(self.capacity / self.per_second))


class Verdict(msgspec.Struct, frozen=True):
    """The answer to one request. ``retry_after`` (seconds, >= 1) is set when refused;
    ``reset`` is the seconds until the bucket is full again."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    window_seconds: int
    retry_after: int = 0


def refill(tokens: float, counted_at: float, now: float, quota: Quota) -> float:
    """The tokens in a bucket at ``now`` that held ``tokens`` at ``counted_at``.
    A clock that went backwards adds nothing."""
    return min(float(quota.capacity), tokens + max(0.0, now - counted_at) * quota.per_second)


def take(tokens: float, counted_at: float, now: float, quota: Quota) -> tuple[float, Verdict]:
    """Take one token if there is one. Returns the tokens left and the verdict."""
    tokens = refill(tokens, counted_at, now, quota)
    allowed = tokens >= 1.0
    if allowed:
        tokens -= 1.0
    return tokens, verdict_for(tokens, quota, allowed=allowed)


def verdict_for(tokens: float, quota: Quota, *, allowed: bool) -> Verdict:
    """The verdict for a bucket left with ``tokens`` after the request."""
    retry_after = 0 if allowed else max(1, math.ceil((1.0 - tokens) / quota.per_second))
    return Verdict(
        allowed=allowed, limit=quota.capacity, remaining=max(0, math.floor(tokens)),
        reset=max(0, math.ceil((quota.capacity - tokens) / quota.per_second)),
        window_seconds=quota.window_seconds, retry_after=retry_after,
    )
