"""Domain errors and HTTP errors as RFC 9457 problem details.

This module holds the one table from domain error to HTTP status. Every problem carries
``type``, ``title``, ``status``, ``detail`` and a stable ``code``; validation problems add
``errors``, each with a JSON Pointer. An unexpected exception is a 500 with no internals,
logged with the request id.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from casset_rights import errors as e
from casset_rights.commerce import errors as commerce_errors

logger = logging.getLogger("casset_rights.api")

PROBLEM_BASE = "https://casset.example/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"

# Most specific first: the first class in an error's MRO that is listed decides.
STATUS: dict[type[e.CassetError], int] = {
    e.InputTooLarge: 413,
    e.MalformedInput: 400,
    e.InvalidInput: 422,
    e.LicenseMissing: 401,
    e.LicenseNotCovering: 402,
    e.LicenseNotOffered: 403,
    e.PaymentRefused: 402,
    e.NotFound: 404,
    e.Conflict: 409,
    e.Unauthenticated: 401,
    e.Forbidden: 403,
    e.RateLimited: 429,
    e.PaymentsNotConfigured: 501,
    e.PaymentRequired: 402,
    # Stripe's webhook contract: a delivery that does not verify is a 400.
    commerce_errors.WebhookSignatureInvalid: 400,
    commerce_errors.WebhookInvalid: 400,
    commerce_errors.PaymentProviderError: 502,
    e.ReceiptInvalid: 422,
    e.ServiceUnavailable: 503,
    e.UnsupportedMediaType: 415,
    e.PayloadTooLarge: 413,
    e.LicenseRequired: 402,
    e.RangeNotSatisfiable: 416,
}

TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Unauthenticated",
    402: "Payment required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    416: "Range not satisfiable",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    501: "Not configured",
    503: "Service unavailable",
}

HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def problem(
    status: int, *, code: str, detail: str, errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None, request_id: str | None = None,
    limit: int | None = None, extensions: Mapping[str, Any] | None = None,
) -> Response[bytes]:
    """An RFC 9457 problem response; ``limit`` (an extension member) is the value of the
    input limit a refused request went beyond."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code.replace("_", "-"),
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if limit is not None:
        body["limit"] = limit
    if errors:
        body["errors"] = errors
    # RFC 9457 extension members an error carries (a decision's license routes, the two
    # hashes of a mismatch); never the five standard members.
    for key, value in (extensions or {}).items():
        body.setdefault(key, value)
    if request_id:
        body["request_id"] = request_id
    headers = dict(headers or {})
    if status == 413:
        # The body was refused before it was read to its end: what is left of it is still
        # on the connection, so the connection ends with this answer (RFC 9112 section 9.6)
        # rather than a client sending its next request after unread bytes.
        headers["Connection"] = "close"
    return Response(
        msgspec.json.encode(body), status_code=status, media_type=PROBLEM_MEDIA_TYPE,
        headers=headers,
    )


def status_of(error: e.CassetError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 400


def _request_id(request: Request[Any, Any, Any]) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def bearer_challenge(request: Request[Any, Any, Any], error: str | None) -> str:
    """RFC 6750's challenge, naming the protected resource's metadata (RFC 9728 section
    5.1): ``/mcp``'s own under ``/mcp``, the API's elsewhere, so a client that knows only
    the standards finds the authorization server from the 401."""
    services = request.scope["litestar_app"].state["services"]
    # The path as sent: a mounted app (``/mcp``) sees only what follows its mount.
    sent = request.scope.get("raw_path") or request.scope["path"].encode()
    path = "mcp" if sent.split(b"?")[0].rstrip(b"/") in (b"/mcp",) or sent.startswith(
        b"/mcp/") else "v1"
    metadata = f"{services.settings.resolved_issuer}/.well-known/oauth-protected-resource/{path}"
    return "Bearer " + (f'error="{error}", ' if error else "") + f'resource_metadata="{metadata}"'


def domain_error_handler(request: Request[Any, Any, Any], exc: e.CassetError) -> Response[bytes]:
    status = status_of(exc)
    headers: dict[str, str] = {}
    if isinstance(exc, e.RateLimited):
        headers = rate_limit_headers(exc.limit, exc.remaining, exc.retry_after, exc.window_seconds)
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, (e.NotYet, e.ReceiptNotStored)):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, e.Unauthenticated):
        # No error code when no token was sent (RFC 6750 section 3.1).
        headers["WWW-Authenticate"] = bearer_challenge(
            request, "invalid_token" if isinstance(exc, e.InvalidToken) else None)
    if isinstance(exc, e.InsufficientScope):
        headers["WWW-Authenticate"] = bearer_challenge(request, "insufficient_scope")
    if isinstance(exc, e.LicenseChallenge):  # RSL: a License token is what is missing
        headers["WWW-Authenticate"] = exc.challenge
    if isinstance(exc, e.PaymentRefused):  # x402: what to pay, to try again
        headers["PAYMENT-REQUIRED"] = exc.payment_required
    errors = [msgspec.to_builtins(fe) for fe in exc.errors] or None
    limit = exc.limit if isinstance(exc, e.LimitExceeded) else None
    return problem(status, code=exc.code, detail=exc.detail, errors=errors, headers=headers,
                   request_id=_request_id(request), limit=limit,
                   extensions=getattr(exc, "extensions", None))


def rate_limit_headers(limit: int, remaining: int, reset: int, window: int) -> dict[str, str]:
    """The IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers)."""
    return {"RateLimit-Policy": rate_limit_policy(limit, window),
            "RateLimit": rate_limit_state(remaining, reset)}


def rate_limit_policy(limit: int, window: int) -> str:
    """The ``RateLimit-Policy`` field's value."""
    return f'"default";q={limit};w={window}'


def rate_limit_state(remaining: int, reset: int) -> str:
    """The ``RateLimit`` field's value."""
    return f'"default";r={max(remaining, 0)};t={max(reset, 0)}'


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    status = exc.status_code
    if isinstance(exc, ValidationException) or status == 400:
        errors = _validation_errors(exc.extra)
        detail = "the request does not match the expected shape"
        if not errors:
            detail = str(exc.detail) or detail
        return problem(400 if not errors else 422, code="invalid_request", detail=detail,
                       errors=errors, request_id=_request_id(request))
    code = HTTP_CODES.get(status, "http_error")
    detail = str(exc.detail) if exc.detail else TITLES.get(status, "error")
    limit = request.app.state["services"].settings.max_body_bytes if status == 413 else None
    return problem(status, code=code, detail=detail, headers=dict(exc.headers or {}),
                   request_id=_request_id(request), limit=limit)


def undecodable_body_handler(request: Request[Any, Any, Any],
                             exc: UnicodeDecodeError) -> Response[bytes]:
    """A body that is not UTF-8 is the client's error, not ours."""
    return problem(400, code="invalid_request",
                   detail=f"the request body is not valid UTF-8 (byte {exc.start})",
                   request_id=_request_id(request))


def database_data_error_handler(request: Request[Any, Any, Any],
                                exc: DataError) -> Response[bytes]:
    """PostgreSQL refuses some text that JSON, paths and forms can carry (a NUL character
    above all): that is the request's fault, answered as such wherever the text went.
    Any other data error is ours."""
    if "NUL" in str(exc.orig):
        return problem(400, code="invalid_request",
                       detail="text must not contain the NUL character (U+0000)",
                       request_id=_request_id(request))
    return unexpected_error_handler(request, exc)


def database_unavailable_handler(request: Request[Any, Any, Any],
                                 exc: OperationalError) -> Response[bytes]:
    """The database cannot be reached, or cannot write (a server restarting, a full disk):
    nothing of the request was committed, and asking again shortly is safe. Logged, as
    whoever runs the service needs to know."""
    request_id = _request_id(request)
    logger.error("database unavailable (request %s): %s", request_id,
                 str(exc.orig).splitlines()[0] if exc.orig else exc)
    return problem(503, code="database_unavailable",
                   detail="the database is unavailable; nothing was stored: try again shortly",
                   headers={"Retry-After": "1"}, request_id=request_id)


def database_busy_handler(request: Request[Any, Any, Any],
                          exc: PoolTimeout) -> Response[bytes]:
    """No database connection came free within ``database_pool_timeout_seconds``: every
    one is busy (a database slow to answer, or more requests than connections). Nothing
    of the request was done; asking again shortly is safe. Logged."""
    request_id = _request_id(request)
    logger.error("database busy (request %s): %s", request_id, exc)
    return problem(503, code="database_busy",
                   detail="no database connection was free in time; nothing was stored: "
                          "try again shortly",
                   headers={"Retry-After": "1"}, request_id=request_id)


def unexpected_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    request_id = _request_id(request)
    logger.exception("unexpected error (request %s)", request_id, exc_info=exc)
    return problem(500, code="internal_error",
                   detail="an unexpected error occurred; it has been logged",
                   request_id=request_id)


def _validation_errors(extra: Any) -> list[dict[str, Any]]:
    """Litestar's msgspec validation extras as JSON-Pointer located errors."""
    out: list[dict[str, Any]] = []
    if not isinstance(extra, list):
        return out
    for item in extra:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid"))
        key = str(item.get("key") or "")
        pointer = _pointer_from_message(message) or (f"/{key}" if key else "")
        out.append({"pointer": pointer, "message": message.split(" - at `")[0]})
    return out


def _pointer_from_message(message: str) -> str:
    """msgspec says ``... - at `$.a.b[0]``; turn that path into ``/a/b/0``."""
    marker = " - at `$"
    if marker not in message:
        return ""
    path = message.split(marker, 1)[1].rstrip("`")
    parts: list[str] = []
    for chunk in path.replace("[", ".").replace("]", "").split("."):
        if chunk:
            parts.append(chunk.replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(parts) if parts else ""


# The documentation side: the problem document's schema, and the answers routes declare.


class ProblemError(msgspec.Struct, frozen=True, omit_defaults=True):
    """One located failure of a request (or of a policy or manifest it carried)."""

    pointer: Annotated[str, msgspec.Meta(
        description="RFC 6901 JSON Pointer into the submitted document; empty for the "
                    "whole document")]
    message: str
    line: Annotated[int, msgspec.Meta(description="1-based, for YAML or JSON text")] | None = None
    column: int | None = None
    severity: Literal["error", "warning"] = "error"


class Problem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document: every error answer of the API but OAuth's own."""

    type: Annotated[str, msgspec.Meta(description="a URI naming the kind of problem")]
    title: str
    status: Annotated[int, msgspec.Meta(ge=400, le=599)]
    detail: Annotated[str, msgspec.Meta(description="what went wrong with this request")]
    code: Annotated[str, msgspec.Meta(description="stable, machine-readable: e.g. "
                                      "not_found, invalid_request, insufficient_scope")]
    errors: list[ProblemError] | None = None
    limit: Annotated[int, msgspec.Meta(
        description="the input limit the request went beyond (size, depth, range)")] | None = None
    request_id: Annotated[str, msgspec.Meta(
        description="also in the X-Request-Id header; quote it when reporting")] | None = None


PROBLEM_DESCRIPTIONS: dict[int, str] = {
    400: "The request cannot be read: malformed JSON or form, text that is not UTF-8, "
         "a NUL character",
    401: "No bearer token where one is needed, or a token that is expired, revoked or "
         "not ours (WWW-Authenticate says which)",
    402: "Payment or a license is needed first: the problem says which (x402's "
         "PAYMENT-REQUIRED header, or a license route to obtain)",
    403: "The token lacks the route's scope, or the caller may not do this",
    404: "Nothing of that id, or nothing the caller may see",
    405: "The path is another route's, which takes another method (the license id "
         "'introspect' is POST /v1/licenses/introspect)",
    409: "The state forbids it: already used, decided, revoked, or changed concurrently",
    413: "The request body is larger than the service accepts",
    415: "The body's content type is not one the route reads",
    416: "The Range asked for lies outside the file, or names several ranges",
    422: "The request is well formed but invalid: each failure located by a JSON Pointer",
    429: "Too many requests: Retry-After and RateLimit say when to come back",
    501: "The route needs a part this service has not configured (payments)",
    502: "The payment provider failed or refused the call; nothing was charged here",
    503: "A part the answer depends on (receipt storage, a cache) cannot be reached; retry",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """The problem answers a route declares: ``responses=problems(404, 409)``."""
    return {status: ResponseSpec(Problem, description=PROBLEM_DESCRIPTIONS[status],
                                 media_type=PROBLEM_MEDIA_TYPE, generate_examples=False)
            for status in sorted(set(statuses))}
