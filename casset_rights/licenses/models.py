"""What the licensing service answers: quotes, grants, requests and introspection results.

All are frozen msgspec Structs; ``msgspec.to_builtins`` gives their JSON form. Times are
epoch milliseconds (``*_ms``); the API renders them as RFC 3339 as well.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from casset_rights.policy import LicenseRoute
from casset_rights.principal import Principal

RequestStatus = Literal["pending", "approved", "refused"]
GrantStatus = Literal["active", "revoked", "expired", "suspended"]

QUOTE_TTL_SECONDS = 15 * 60


def licensee_key(principal: Principal) -> str | None:
    """Who holds a license: ``artist:<id>`` for an artist (whichever client acts for
    them), ``client:<id>`` for an agent or partner; ``None`` for the public, who hold
    none."""
    if principal.kind == "artist" and principal.subject:
        return f"artist:{principal.subject}"
    if principal.kind in ("agent", "partner") and principal.client_id:
        return f"client:{principal.client_id}"
    return None


def rfc3339(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class Quote(msgspec.Struct, frozen=True, kw_only=True):
    """A signed, expiring offer of ``route`` for ``scopes`` on ``resource``.

    ``token`` is the quote's receipt (a JWS, ``kind: license-quote``); ``id`` its jti.
    """

    id: str
    licensee: str
    principal: dict[str, Any]
    artist_id: str
    resource: str
    scopes: tuple[str, ...]
    route: LicenseRoute
    manifest_hash: str
    context: dict[str, Any]
    created_at_ms: int
    expires_at_ms: int
    token: str
    used_at_ms: int | None = None

    @property
    def price(self) -> Any:
        return self.route.price


class Grant(msgspec.Struct, frozen=True, kw_only=True):
    """A license: the stored record behind a license token.

    ``status`` is the stored status (``active``, ``revoked``, or ``suspended`` while its
    payment is disputed: ``revoked_at_ms`` then says since when); ``status_at`` gives the
    status at any time, expiry included.
    """

    id: str
    quote_id: str
    request_id: str | None
    licensee: str
    principal: dict[str, Any]
    artist_id: str
    resource: str
    scopes: tuple[str, ...]
    route: LicenseRoute
    manifest_hash: str
    payment_id: str | None
    status: Literal["active", "revoked", "suspended"]
    granted_at_ms: int
    expires_at_ms: int | None
    revoked_at_ms: int | None
    revocation_reason: str | None
    token: str
    receipt_id: str
    revocation_receipt_id: str | None = None

    def status_at(self, at_ms: int) -> tuple[bool, str]:
        """Whether the license was in force at ``at_ms``, and why not: ``not_yet_valid``,
        ``revoked`` (at or after the revocation) or ``expired``."""
        if at_ms < self.granted_at_ms:
            return False, "not_yet_valid"
        if self.revoked_at_ms is not None and at_ms >= self.revoked_at_ms:
            return False, "suspended" if self.status == "suspended" else "revoked"
        if self.expires_at_ms is not None and at_ms >= self.expires_at_ms:
            return False, "expired"
        return True, "active"

    def current_status(self, now_ms: int) -> GrantStatus:
        if self.status in ("revoked", "suspended"):
            return self.status
        if self.expires_at_ms is not None and now_ms >= self.expires_at_ms:
            return "expired"
        return "active"


class LicenseRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request-route license waiting for (or answered by) the artist."""

    id: str
    quote_id: str
    licensee: str
    principal: dict[str, Any]
    artist_id: str
    resource: str
    scopes: tuple[str, ...]
    route: LicenseRoute
    message: str | None
    status: RequestStatus
    created_at_ms: int
    decided_at_ms: int | None
    decision_message: str | None
    grant_id: str | None
    receipt_id: str
    decision_receipt_id: str | None = None


class Obtained(msgspec.Struct, frozen=True, kw_only=True):
    """What ``obtain`` gives: a grant (free, partner and paid routes) or a pending
    request (request routes). ``receipt_id`` names the receipt of this step."""

    grant: Grant | None = None
    request: LicenseRequest | None = None
    receipt_id: str


class Introspection(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The answer about a license token, in the spirit of RFC 7662.

    ``active`` says whether the license was in force at ``at`` for the resource and scope
    asked about; ``reason`` says why not (``invalid_token``, ``unknown_license``,
    ``not_yet_valid``, ``revoked``, ``expired``, ``resource_not_covered``,
    ``scope_not_covered``, ``territory_not_covered``).
    """

    active: bool
    at: str
    reason: str | None = None
    detail: str | None = None
    license: Grant | None = None
