"""Decisions and the rights grid. Every answer carries its signed, stored receipt."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody, Parameter, QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send

from casset_rights.api.context import asked_context
from casset_rights.api.deps import ServicesDep, services_of
from casset_rights.api.openapi import BODY, PARAMS, SCOPED
from casset_rights.api.problems import problems
from casset_rights.api.schemas import (
    RESOURCE_DESCRIPTION,
    RESOURCE_PATTERN,
    TERRITORY_PATTERN,
    Context,
    MusicScope,
    ResourceField,
    RightsGrid,
    ScopeDecision,
)
from casset_rights.api.security import caller_of
from casset_rights.errors import FieldError, InvalidInput, UnknownResource
from casset_rights.policy import CONTEXT_KEYS, build_request
from casset_rights.policy.decision import (
    DecisionValue,
    LicenseRoute,
    Obligation,
    Reason,
    RuleError,
)
from casset_rights.receipts.service import Receipt
from casset_rights.resources import parse_resource


class DecisionRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    action: MusicScope
    resource: ResourceField
    context: Context = {}


class DecisionAnswer(msgspec.Struct):
    """The answer of ``POST /v1/decisions``."""

    decision: DecisionValue
    action: str
    resource: str
    reasons: tuple[Reason, ...]
    obligations: tuple[Obligation, ...]
    license_routes: tuple[LicenseRoute, ...]
    errors: tuple[RuleError, ...]
    policy_hash: str
    manifest_hash: str
    receipt: Annotated[str, msgspec.Meta(description="the signed receipt, a compact JWS")]
    receipt_id: Annotated[str, msgspec.Meta(description="its jti: GET /v1/receipts/{jti}")]
    warnings: Annotated[tuple[FieldError, ...], msgspec.Meta(
        description="context keys left out under Prefer: handling=lenient")]


class JSONAnswer:
    """A 200 answer with a JSON body encoded already, as a bare ASGI app.

    A handler that returns a value has Litestar build a ``Response``, then an
    ``ASGIResponse`` with its header containers, for the one start and one body message
    this sends: on the decision endpoint that was 145 against 123 µs of CPU a request in
    process. The headers the app's middleware adds (the request id, rate-limit fields)
    are added to these as to any answer; errors are raised, as usual, before it exists.
    """

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(self.body)).encode())]})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


_encode = msgspec.json.encode
# A path parameter's pattern, for the document (the value arrives with its leading '/').
ResourcePath = Annotated[str, Parameter(
    description=RESOURCE_DESCRIPTION, schema_extra={"pattern": RESOURCE_PATTERN})]


def resource_in_path(resource: str) -> str:
    """The resource id a path names. A path naming no resource is answered 404, as one
    naming a resource that does not exist: raises UnknownResource."""
    value = resource.lstrip("/")
    try:
        parse_resource(value)
    except InvalidInput:
        raise UnknownResource(f"no resource {value!r}") from None
    return value


async def stored(services: ServicesDep, receipt: Receipt) -> Receipt:
    """Wait, without holding a thread, until the receipt is committed; ReceiptNotStored
    (503) when that takes longer than ``receipt_wait_seconds``."""
    return await services.writer.stored(receipt)


class DecisionController(Controller):
    tags = ["decisions"]

    @post("/v1/decisions", summary="Decide one action on one resource", status_code=200,
          responses={200: ResponseSpec(DecisionAnswer, description="The decision, with its "
                                       "receipt signed and stored", generate_examples=False),
                     **problems(*SCOPED, *BODY, 404, 503)})
    async def decide(self, data: JSONBody[DecisionRequestBody],
                     request: Request[Any, Any, Any]) -> ASGIApp:
        # The busiest route takes its services and principal from the request, not as
        # the ``services`` and ``principal`` dependencies: resolving those two costs
        # about 7 µs a request, a twentieth of this route's time in the event loop.
        services = services_of(request)
        context, warnings = asked_context(request, data.context)
        asked = build_request(data.action, data.resource, principal=caller_of(request),
                              context=context)
        # Deciding reads memory only (held licenses and ancestors included), then signs
        # the receipt: tens of microseconds on the event loop, cheaper than any trip to a
        # thread.
        outcome = services.decisions.decide_request(asked)
        receipt = await stored(services, outcome.receipt)
        d = outcome.decision
        return JSONAnswer(_encode(DecisionAnswer(
            decision=d.decision, action=outcome.request.action,
            resource=outcome.request.resource.id, reasons=d.reasons,
            obligations=d.obligations, license_routes=d.license_routes, errors=d.errors,
            policy_hash=outcome.policy_hash, manifest_hash=outcome.manifest_hash,
            receipt=receipt.token, receipt_id=receipt.jti, warnings=warnings)))

    @get("/v1/rights/{resource:path}", summary="Every scope's decision on a resource",
         responses={200: ResponseSpec(RightsGrid, description="Every scope's decision, "
                                      "under one receipt signed and stored",
                                      generate_examples=False),
                    **problems(*SCOPED, *PARAMS, 404, 503)})
    async def grid(
        self, resource: ResourcePath, request: Request[Any, Any, Any],
        purpose: Annotated[Literal["commercial", "non-commercial"] | None,
                           QueryParameter()] = None,
        territory: Annotated[str | None, QueryParameter(pattern=TERRITORY_PATTERN)] = None,
        excerpt_seconds: Annotated[float | None, QueryParameter(
            ge=0, schema_extra={"minimum": 0})] = None,
        at: Annotated[str | None, QueryParameter(
            max_length=64, description="RFC 3339 date-time with a timezone",
            schema_extra={"format": "date-time"})] = None,
    ) -> ASGIApp:
        # As the decision route: services and principal from the request, the answer
        # encoded here (JSONAnswer), not by Litestar's dependency and response layers.
        services = services_of(request)
        principal = caller_of(request)
        # The query is the context: a parameter that is not a context key is refused (or
        # a warning, under Prefer: handling=lenient), as an unknown key of a body's context.
        asked = {k: v for k, v in request.query_params.items() if k not in CONTEXT_KEYS}
        _, warnings = asked_context(request, asked, pointer="/query")
        context = {k: v for k, v in (("purpose", purpose), ("territory", territory),
                                     ("excerpt_seconds", excerpt_seconds), ("at", at))
                   if v is not None}
        outcome = services.decisions.grid(principal=principal,
                                          resource=resource_in_path(resource),
                                          context=context)
        receipt = await stored(services, outcome.receipt)
        return JSONAnswer(_encode(RightsGrid(
            resource=outcome.resource, audience=principal.kind, context=outcome.context,
            scopes={scope: ScopeDecision(decision=d.decision, reasons=list(d.reasons),
                                         obligations=list(d.obligations),
                                         license_routes=list(d.license_routes))
                    for scope, d in outcome.decisions.items()},
            policy_hash=outcome.policy_hash, manifest_hash=outcome.manifest_hash,
            receipt=receipt.token, receipt_id=receipt.jti, warnings=list(warnings))))
