"""Decisions and the rights grid. Every answer carries its signed, stored receipt."""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal

import anyio

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from casset_rights.api.deps import PrincipalDep, ServicesDep, services_of
from casset_rights.api.security import caller_of
from casset_rights.policy import build_request
from casset_rights.receipts.service import Receipt


class DecisionRequestBody(msgspec.Struct, forbid_unknown_fields=True):
    action: Annotated[str, msgspec.Meta(max_length=32, description="a scope, e.g. remix")]
    resource: Annotated[str, msgspec.Meta(max_length=256,
                                          description="release:R, track:R/T or hook:R/T/H")]
    context: dict[str, Any] = {}


async def stored(services: ServicesDep, receipt: Receipt) -> Receipt:
    """Wait, without holding a thread, until the receipt is signed (it comes as a draft:
    the writer signs it, off the event loop) and committed."""
    return await services.writer.store_async(receipt)


class DecisionController(Controller):
    tags = ["decisions"]

    @post("/v1/decisions", summary="Decide one action on one resource", status_code=200)
    async def decide(self, data: JSONBody[DecisionRequestBody],
                     request: Request[Any, Any, Any]) -> dict[str, Any]:
        # The busiest route takes its services and principal from the request, not as
        # the ``services`` and ``principal`` dependencies: resolving those two costs
        # about 7 µs a request, a twentieth of this route's time in the event loop.
        services = services_of(request)
        asked = build_request(data.action, data.resource, principal=caller_of(request),
                              context=data.context)
        decisions = services.decisions
        # Held licenses and ancestors' policies may be read from the database: then decide
        # in a worker thread, so the event loop never waits on it. Otherwise the decision
        # is a few microseconds in memory, cheaper than the trip to a thread.
        if decisions.reads_database(asked):
            outcome = await anyio.to_thread.run_sync(
                partial(decisions.decide_request, asked, signed=False))
        else:
            outcome = decisions.decide_request(asked, signed=False)
        receipt = await stored(services, outcome.receipt)
        d = outcome.decision
        return {
            "decision": d.decision,
            "action": outcome.request.action,
            "resource": outcome.request.resource.id,
            "reasons": msgspec.to_builtins(d.reasons),
            "obligations": msgspec.to_builtins(d.obligations),
            "license_routes": msgspec.to_builtins(d.license_routes),
            "errors": msgspec.to_builtins(d.errors),
            "policy_hash": outcome.policy_hash,
            "manifest_hash": outcome.manifest_hash,
            "receipt": receipt.token,
            "receipt_id": receipt.jti,
        }

    @get("/v1/rights/{resource:path}", summary="Every scope's decision on a resource")
    async def grid(
        self, resource: FromPath[str], services: ServicesDep, principal: PrincipalDep,
        purpose: Annotated[Literal["commercial", "non-commercial"] | None,
                           QueryParameter()] = None,
        territory: Annotated[str | None, QueryParameter(max_length=2, min_length=2)] = None,
        excerpt_seconds: Annotated[float | None, QueryParameter(ge=0)] = None,
    ) -> dict[str, Any]:
        context = {k: v for k, v in (("purpose", purpose), ("territory", territory),
                                     ("excerpt_seconds", excerpt_seconds)) if v is not None}
        outcome = await anyio.to_thread.run_sync(partial(
            services.decisions.grid, principal=principal, resource=resource.lstrip("/"),
            context=context, signed=False))
        receipt = await stored(services, outcome.receipt)
        return {
            "resource": outcome.resource,
            "audience": principal.kind,
            "context": outcome.context,
            "scopes": {
                scope: {
                    "decision": d.decision,
                    "reasons": msgspec.to_builtins(d.reasons),
                    "obligations": msgspec.to_builtins(d.obligations),
                    "license_routes": msgspec.to_builtins(d.license_routes),
                }
                for scope, d in outcome.decisions.items()
            },
            "policy_hash": outcome.policy_hash,
            "manifest_hash": outcome.manifest_hash,
            "receipt": receipt.token,
            "receipt_id": receipt.jti,
        }
