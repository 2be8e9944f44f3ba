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


class UnknownContextKey(InvalidInput):
    """A context named a key the service does not know (a typo such as ``purpos``);
    ``errors`` locate each such key and name the known ones."""

    code = "unknown_context_key"


class MalformedInput(InvalidInput):
    """The input is not well-formed (JSON syntax, text encoding)."""

    code = "invalid_request"


class LimitExceeded(InvalidInput):
    """Input beyond one of the service's input limits; ``limit`` is that limit's value
    (bytes, levels or bits), ``code`` names it."""

    code = "limit_exceeded"

    def __init__(self, detail: str, *, limit: int, errors: Sequence[FieldError] = ()) -> None:
        super().__init__(detail, errors=errors)
        self.limit = limit


class InputTooLarge(LimitExceeded):
    code = "body_too_large"


class InputTooDeep(LimitExceeded):
    code = "body_too_deep"


class IntegerOutOfRange(LimitExceeded):
    """An integer beyond 64 bits (signed: -2**63 .. 2**63 - 1); ``limit`` is 64."""

    code = "integer_out_of_range"


class NumberOutOfRange(LimitExceeded):
    """A number too large for a 64-bit float (it would read as infinity)."""

    code = "number_out_of_range"


class DuplicateKey(LimitExceeded):
    """An object names the same key twice: two readers of it could disagree on what
    was meant (RFC 8259 section 4, RFC 7493). ``limit`` is 1: each key at most once."""

    code = "duplicate_key"


class UnsupportedMediaType(CassetError):
    """A body in a media type the route does not read (or with none)."""

    code = "unsupported_media_type"


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


class LicenseChallenge(CassetError):
    """Protected content the caller may not have as asked (RSL, ``Authorization:
    License``). ``challenge`` is the ``WWW-Authenticate`` value naming the license
    server; the subclass says the status: 401 without a license, 402 when one is needed
    or the one presented does not cover the use, 403 when no license is offered."""

    code = "license_required"

    def __init__(self, detail: str, *, challenge: str) -> None:
        super().__init__(detail)
        self.challenge = challenge


class LicenseMissing(LicenseChallenge):
    code = "license_missing"


class LicenseNotCovering(LicenseChallenge):
    code = "license_required"


class LicenseNotOffered(LicenseChallenge):
    code = "license_not_offered"


class PaymentRefused(CassetError):
    """An x402 payment that was not accepted (malformed, underpaid, expired, to another
    payee, on another network, replayed); nothing was settled or granted. ``reason`` is
    x402's invalid reason; ``payment_required`` the PAYMENT-REQUIRED to retry with."""

    code = "payment_refused"

    def __init__(self, detail: str, *, reason: str, payment_required: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.payment_required = payment_required


class PaymentsNotConfigured(CassetError):
    code = "payments_not_configured"


class PaymentRequired(CassetError):
    """A paid route is bought through a payment (``POST /v1/payments``), not directly."""

    code = "payment_required"


class ReceiptInvalid(CassetError):
    """A receipt or signed object failed verification; ``detail`` says exactly why."""

    code = "receipt_invalid"


class PayloadTooLarge(CassetError):
    """A request body over a limit the settings set; nothing of it was kept."""

    code = "payload_too_large"


class RangeNotSatisfiable(CassetError):
    """A ``Range`` header asking for bytes the file does not have (or several ranges)."""

    code = "range_not_satisfiable"


class LicenseRequired(CassetError):
    """The action needs a license; the error's ``extensions`` carry the license routes."""

    code = "license_required"


class ServiceUnavailable(CassetError):
    """An outside system the answer depends on cannot be reached."""

    code = "service_unavailable"


class ReceiptNotStored(ServiceUnavailable):
    """An answer's receipt was not stored in time (the database slow or unreachable), so
    the answer is not given. The receipt may still be stored later, with no answer; asking
    again is safe. ``retry_after`` is how many seconds to wait."""

    code = "receipt_not_stored"
    retry_after = 1
