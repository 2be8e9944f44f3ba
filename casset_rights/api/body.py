"""Reading request bodies: one way for every route, before any handler work.

``read_body`` runs in the app's ``before_request`` hook (``middleware.access_check``),
after the caller is counted and its token and scope checked. What it does depends on the
kind of body the route reads, its ``opt[BODY_OPT]``:

* ``json`` (the default of every handler that takes ``data``): a JSON media type
  (``application/json`` or ``application/*+json``) or 415; then ``limits.decode_json``
  under the settings' body limits (size, nesting depth, 64-bit integers, each key once).
  The parsed value is left where Litestar's data extraction reads it, so the body is
  parsed once, and only after it was measured.
* ``policy``: YAML or JSON text (``POLICY_MEDIA``) or 415; the policy reader applies the
  document limits.
* ``form``: ``application/x-www-form-urlencoded``, flat by nature; the size limit.

Every route that takes a body declares or implies one of these (a test walks the app's
routes). Refusals are domain errors (``LimitExceeded`` subclasses, ``MalformedInput``,
``UnsupportedMediaType``), rendered by ``api/problems.py`` with the limit they name.
"""

from __future__ import annotations

from typing import Any, Literal

from anyio import to_thread
from litestar import Request
from litestar.exceptions import ClientException
from litestar.types import Empty
from litestar.utils.scope.state import ScopeState

from casset_rights.api.security import header_of
from casset_rights.errors import UnsupportedMediaType
from casset_rights.limits import InputLimits, check_integer, check_size, decode_json

# ``stream``: the route streams its body itself under its own size limit (audio uploads).
BodyKind = Literal["json", "policy", "form", "stream"]
BODY_OPT = "body"
FORM = "application/x-www-form-urlencoded"
POLICY_MEDIA = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml",
                "application/json", "text/plain")
_READS_BODY = frozenset({"POST", "PUT", "PATCH"})
INLINE_BYTES = 16 * 1024  # bodies up to this size are read on the event loop


def reads(kind: BodyKind) -> dict[str, Any]:
    """A route's ``opt`` declaring the kind of body it reads (without a ``data`` argument)."""
    return {BODY_OPT: kind}


def body_kind(handler: Any) -> BodyKind | None:
    """The kind of body ``handler`` reads: declared in its ``opt``, or ``json`` for a
    handler with a ``data`` argument; None for one that reads no body."""
    declared = handler.opt.get(BODY_OPT)
    if declared is not None:
        return declared  # type: ignore[no-any-return]
    return "json" if "data" in handler.parsed_fn_signature.parameters else None


def check_path_integers(request: Request[Any, Any, Any]) -> None:
    """Integer path parameters (``/versions/{n}``, ``/log/entries/{i}``) within 64 bits,
    as every integer the service stores. Raises IntegerOutOfRange locating the parameter
    at ``/path/<name>``."""
    for name, value in request.scope["path_params"].items():
        if isinstance(value, int):
            check_integer(value, f"/path/{name}")


def is_json_media_type(media_type: str) -> bool:
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json"))


async def read_body(request: Request[Any, Any, Any], limits: InputLimits) -> None:
    """Read and check the body the route takes. Raises UnsupportedMediaType (a body in
    a media type the route does not read), InputTooLarge, InputTooDeep, DuplicateKey,
    IntegerOutOfRange, NumberOutOfRange or MalformedInput."""
    if request.method not in _READS_BODY:
        return
    kind = body_kind(request.scope["route_handler"])
    if kind is None or kind == "stream":  # a streamed body is counted by its route
        return
    # The raw headers, not ``request.content_type``/``content_length``: each built
    # Litestar's header mapping, together about 20 µs a request, more than reading a
    # typical body.
    scope = request.scope
    media_type = (header_of(scope, b"content-type") or "").split(";", 1)[0].strip().lower()
    announced = _content_length(header_of(scope, b"content-length"))
    if announced is not None:
        check_size(announced, limits)
    if kind == "form":
        return  # the form parser reads it, within the size limit; OAuth answers the rest
    if kind == "json" and not is_json_media_type(media_type) and announced != 0:
        raise UnsupportedMediaType(
            "send the body as JSON, with Content-Type: application/json"
            + (f", not {media_type}" if media_type else ""))
    if kind == "policy" and media_type not in POLICY_MEDIA:
        raise UnsupportedMediaType("send the policy as YAML (application/yaml) or JSON "
                                   "(application/json)")
    raw = await _body(request, limits)
    if kind == "json" and raw:
        # A large body is read in a worker thread: measuring and parsing 256 KB takes
        # milliseconds the event loop owes to other callers' requests.
        value = decode_json(raw, limits) if len(raw) <= INLINE_BYTES else \
            await to_thread.run_sync(decode_json, raw, limits)
        ScopeState.from_scope(request.scope).json = value


def _content_length(value: str | None) -> int | None:
    """The announced length; None when absent or not a number (the server frames the
    body; its bytes are counted as they are read). More than 18 digits is more than any
    limit: 2**63."""
    digits = (value or "").strip()
    if not (digits.isascii() and digits.isdigit()):
        return None
    return int(digits) if len(digits) <= 18 else 2**63


async def _body(request: Request[Any, Any, Any], limits: InputLimits) -> bytes:
    """The body, read from the server's messages under the size limit, and left where
    Litestar's ``Request.body`` finds it (the connection state), so it is read once.

    Litestar's own reader, an asynchronous generator that builds the header mapping to
    learn the announced length, took about a tenth of the decision route's time in the
    event loop. Raises InputTooLarge past ``limits.max_bytes`` (announced or not);
    ClientException when the client goes away before the body ends."""
    state = ScopeState.from_scope(request.scope)
    if state.body is not Empty:
        return state.body
    if not request.is_connected:
        raise ClientException("the body was read already")
    receive = request.receive
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            request.is_connected = False
            raise ClientException("the client went away before the body ended")
        if message["type"] != "http.request":
            continue
        chunk = message.get("body", b"")
        if chunk:
            total += len(chunk)
            check_size(total, limits)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    request.is_connected = False
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    state.body = body
    return body
