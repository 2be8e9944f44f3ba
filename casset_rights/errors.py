"""Domain errors: a stable ``code`` and a human ``detail``, never an HTTP status.

The HTTP layer (``casset_rights.api.problems``) owns the one table that maps each error
class to a status and renders RFC 9457 problem details. Domain code raises these and
nothing else for expected failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import msgspec


class FieldError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One located validation failure.

    ``pointer`` is an RFC 6901 JSON Pointer into the submitted document; ``line`` and
    ``column`` (1-based) are given when the source text was YAML or JSON read from a file.
    """

    pointer: str
    message: str
    line: int | None = None
    column: int | None = None
    severity: str = "error"


class CassetError(Exception):
    """The base of every expected failure. ``code`` is stable and documented."""

    code: ClassVar[str] = "error"

    def __init__(self, detail: str, *, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors: tuple[FieldError, ...] = tuple(errors)


class InvalidInput(CassetError):
    """The request or document is malformed or fails validation."""

    code = "invalid_input"


class PolicyInvalid(InvalidInput):
    """A policy file failed validation; ``errors`` holds every located error."""

    code = "policy_invalid"


class ManifestInvalid(InvalidInput):
    """A release manifest failed validation; ``errors`` holds every located error."""

    code = "manifest_invalid"


class UnknownScope(InvalidInput):
    code = "unknown_scope"


class NotFound(CassetError):
    code = "not_found"


class UnknownResource(NotFound):
    code = "unknown_resource"


class Conflict(CassetError):
    code = "conflict"


class NotYet(Conflict):
    """What was asked for will exist shortly (e.g. a receipt's log proof before the
    sequencer integrated it); ``retry_after`` is how many seconds to wait."""

    code = "not_yet"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class StaleVersion(Conflict):
    """A new manifest version did not name the current head as ``previous``."""

    code = "stale_version"


class Unauthenticated(CassetError):
    code = "unauthenticated"


class InvalidToken(Unauthenticated):
    """A bearer token was presented and refused (RFC 6750 ``invalid_token``); ``detail``
    says why: expired, not yet valid, wrong audience or issuer, bad signature, revoked."""

    code = "invalid_token"


class Forbidden(CassetError):
    code = "forbidden"


class InsufficientScope(Forbidden):
    """The token lacks the OAuth scope the route needs; ``scope`` names it."""

    code = "insufficient_scope"

    def __init__(self, detail: str, *, scope: str | None = None) -> None:
        super().__init__(detail)
        self.scope = scope


class RateLimited(CassetError):
    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after: int, limit: int, remaining: int = 0,
                 window_seconds: int = 60) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.window_seconds = window_seconds


class PaymentsNotConfigured(CassetError):
    code = "payments_not_configured"


class ReceiptInvalid(CassetError):
    """A receipt or signed object failed verification; ``detail`` says exactly why."""

    code = "receipt_invalid"


class ServiceUnavailable(CassetError):
    """An outside system the answer depends on cannot be reached."""

    code = "service_unavailable"
