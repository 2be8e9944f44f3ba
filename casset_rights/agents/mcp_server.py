"""The MCP server (``mcp`` 2.x ``MCPServer``): the rights service as tools and resources.

Tools: ``rights_grid``, ``decide``, ``quote``, ``obtain_license`` (paid routes through
x402: ``payment_signature``), ``lineage`` and
``verify_receipt``, each with a typed (pydantic) result, so every answer carries
``structuredContent`` and an output schema. Resources: the releases (``casset://releases``
and each release's deed, ``casset://releases/{release_id}``) and the policies
(``casset://policies/{policy_id}``, an ODRL Offer).

Who calls: ``principal_of(ctx)``. Over HTTP (mounted at ``/mcp``) it is the bearer token
of the request (an OAuth access token from ``/oauth/token``), or the public; over stdio
(``casset-rights mcp``) the principal the command was started as. Decisions and quotes
are signed and stored like the HTTP API's. A domain error is a tool error (``is_error``)
whose text starts with its code; wrong arguments are refused by the input schema.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

import anyio
import msgspec
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from casset_rights.errors import CassetError, InvalidToken, PaymentsNotConfigured
from casset_rights.principal import PUBLIC, Principal
from casset_rights.receipts.verify import verify_receipt as verify_token

PrincipalOf = Callable[[Context], Principal]

Purpose = Literal["commercial", "non-commercial"]
ResourceId = Field(description="release:R, track:R/T or hook:R/T/H", max_length=200)


class ScopeDecision(BaseModel):
    decision: Literal["permit", "deny", "license_required"]
    obligations: list[str] = []
    license_routes: list[str] = []


class Grid(BaseModel):
    resource: str
    audience: str
    scopes: dict[str, ScopeDecision]
    policy_hash: str
    receipt: str
    receipt_id: str


class DecisionAnswer(BaseModel):
    decision: Literal["permit", "deny", "license_required"]
    action: str
    resource: str
    reasons: list[dict[str, Any]]
    obligations: list[dict[str, Any]]
    license_routes: list[dict[str, Any]]
    receipt: str
    receipt_id: str


class QuoteAnswer(BaseModel):
    quote_id: str
    resource: str
    route: str
    route_type: str
    scopes: list[str]
    price: dict[str, Any] | None
    expires_at_ms: int
    token: str


class LicenseAnswer(BaseModel):
    status: Literal["granted", "requested"]
    receipt_id: str
    grant: dict[str, Any] | None = None
    request: dict[str, Any] | None = None
    transaction: str | None = None  # the x402 settlement of a paid route


class Verification(BaseModel):
    valid: bool
    error: str | None = None
    payload: dict[str, Any] | None = None


def http_principal(services: Any) -> PrincipalOf:
    """The principal of an HTTP call: its bearer token, or the public. A bad token is a
    tool error, never the public."""
    def principal_of(ctx: Context) -> Principal:
        headers = ctx.headers or {}
        value = headers.get("authorization") or ""
        scheme, _, token = value.partition(" ")
        if not value:
            return PUBLIC
        if scheme.lower() != "bearer" or not token:
            raise ToolError("invalid_token: send an OAuth access token as Bearer")
        try:
            return services.auth.authenticate(  # type: ignore[no-any-return]
                token.strip(), audience=services.auth.mcp_audience)
        except InvalidToken as exc:
            raise ToolError(f"{exc.code}: {exc.detail}") from None
    return principal_of


def build_mcp(services: Any, *, principal_of: PrincipalOf | None = None) -> MCPServer:
    """The MCP server over ``services``. ``principal_of`` defaults to the HTTP bearer."""
    who = principal_of or http_principal(services)
    mcp = MCPServer(name="casset-rights", title="Casset Rights",
                    instructions="Ask what you may do with a release, track or hook; get a "
                                 "quote and a license; verify receipts. Terms of each release: "
                                 "the resource casset://releases/{release_id}.")

    async def run(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return await anyio.to_thread.run_sync(partial(function, *args, **kwargs))
        except CassetError as exc:
            raise ToolError(f"{exc.code}: {exc.detail}") from None

    async def stored(receipt: Any) -> Any:
        return await run(services.writer.stored_blocking, receipt)

    def context_of(purpose: str | None, territory: str | None,
                   excerpt_seconds: float | None) -> dict[str, Any]:
        return {k: v for k, v in (("purpose", purpose), ("territory", territory),
                                  ("excerpt_seconds", excerpt_seconds)) if v is not None}

    @mcp.tool(description="Every scope's decision on a resource for you, with a signed receipt.")
    async def rights_grid(ctx: Context, resource: str = ResourceId,
                          purpose: Purpose | None = None) -> Grid:
        principal = who(ctx)
        outcome = await run(services.decisions.grid, principal=principal, resource=resource,
                            context=context_of(purpose, None, None))
        receipt = await stored(outcome.receipt)
        return Grid(resource=outcome.resource, audience=principal.kind,
                    scopes={s: ScopeDecision(decision=d.decision,
                                             obligations=[o.type for o in d.obligations],
                                             license_routes=[r.name for r in d.license_routes])
                            for s, d in outcome.decisions.items()},
                    policy_hash=outcome.policy_hash, receipt=receipt.token,
                    receipt_id=receipt.jti)

    @mcp.tool(description="May I do this? One decision with its reasons, obligations, "
                          "license routes and a signed receipt.")
    async def decide(ctx: Context, action: str = Field(max_length=40),
                     resource: str = ResourceId, purpose: Purpose | None = None,
                     territory: str | None = Field(None, min_length=2, max_length=2),
                     excerpt_seconds: float | None = Field(None, ge=0)) -> DecisionAnswer:
        outcome = await run(services.decisions.decide, principal=who(ctx), action=action,
                            resource=resource,
                            context=context_of(purpose, territory, excerpt_seconds))
        receipt = await stored(outcome.receipt)
        d = msgspec.to_builtins(outcome.decision)
        return DecisionAnswer(decision=outcome.decision.decision, action=action,
                              resource=outcome.request.resource.id,
                              reasons=d.get("reasons", []), obligations=d.get("obligations", []),
                              license_routes=d.get("license_routes", []),
                              receipt=receipt.token, receipt_id=receipt.jti)

    @mcp.tool(description="A signed quote for a license route on a resource (needs a token).")
    async def quote(ctx: Context, resource: str = ResourceId,
                    route: str = Field(max_length=64),
                    scopes: list[str] | None = None,
                    purpose: Purpose | None = None) -> QuoteAnswer:
        q = await run(services.licenses.quote, who(ctx), resource=resource, route=route,
                      scopes=scopes, context=context_of(purpose, None, None))
        return QuoteAnswer(quote_id=q.id, resource=q.resource, route=q.route.name,
                           route_type=q.route.type, scopes=list(q.scopes),
                           price=msgspec.to_builtins(q.route.price),
                           expires_at_ms=q.expires_at_ms, token=q.token)

    @mcp.tool(description="Turn a quote into a license (free and paid routes) or a request "
                          "to the artist (request routes). A paid route is paid with x402: "
                          "the first call fails with payment_required and the PAYMENT-REQUIRED "
                          "value; call again with payment_signature (PAYMENT-SIGNATURE).")
    async def obtain_license(ctx: Context, quote_id: str = Field(max_length=100),
                             message: str | None = Field(None, max_length=2000),
                             payment_signature: str | None = Field(None, max_length=16_384)
                             ) -> LicenseAnswer:
        principal = who(ctx)
        checkout = services.x402
        url = f"{services.agents.base}/mcp"
        if payment_signature is not None:
            if checkout is None:
                raise ToolError("payments_not_configured: x402 is turned off on this service")
            paid = await run(checkout.pay, principal, quote_id, payment_signature, url=url)
            return LicenseAnswer(status="granted", receipt_id=paid.grant.receipt_id,
                                 grant=msgspec.to_builtins(paid.grant),
                                 transaction=paid.settlement.transaction)
        try:
            obtained = await anyio.to_thread.run_sync(
                partial(services.licenses.obtain, principal, quote_id, message=message))
        except PaymentsNotConfigured as exc:
            if checkout is None:
                raise ToolError(f"{exc.code}: {exc.detail}") from None
            quote = await run(services.licenses.get_quote, principal, quote_id)
            required = await run(checkout.payment_required, quote, url=url)
            raise ToolError(f"payment_required: pay with x402 and call obtain_license again "
                            f"with payment_signature. PAYMENT-REQUIRED: {required}") from None
        except CassetError as exc:
            raise ToolError(f"{exc.code}: {exc.detail}") from None
        if obtained.grant is not None:
            return LicenseAnswer(status="granted", receipt_id=obtained.receipt_id,
                                 grant=msgspec.to_builtins(obtained.grant))
        return LicenseAnswer(status="requested", receipt_id=obtained.receipt_id,
                             request=msgspec.to_builtins(obtained.request))

    @mcp.tool(description="The lineage of a resource: what it derives from, or what "
                          "derives from it.")
    async def lineage(ctx: Context, resource: str = ResourceId,
                      direction: Literal["ancestors", "descendants"] = "ancestors"
                      ) -> dict[str, Any]:
        view = await run(services.lineage.lineage, resource, direction=direction)
        return msgspec.to_builtins(view)  # type: ignore[no-any-return]

    @mcp.tool(description="Check a receipt (JWS) against this service's published keys.")
    async def verify_receipt(receipt: str = Field(max_length=100_000)) -> Verification:
        try:
            payload = verify_token(receipt.strip(), services.keys.jwks())
        except CassetError as exc:
            return Verification(valid=False, error=exc.detail)
        return Verification(valid=True, payload=payload)

    @mcp.resource("casset://releases", name="releases", mime_type="application/json",
                  description="Every release: id, title, artist and its terms URL.")
    def releases() -> str:
        return msgspec.json.encode([
            {"id": r.release_id, "title": r.title, "artist": r.artist_id,
             "uri": f"casset://releases/{r.release_id}",
             "terms": f"{services.agents.base}/r/{r.release_id}"}
            for r in services.index.all_releases()]).decode()

    @mcp.resource("casset://releases/{release_id}", name="release-deed",
                  mime_type="application/json",
                  description="A release's deed: its terms for every audience and purpose.")
    def release(release_id: str) -> str:
        return msgspec.json.encode(services.agents.deed(release_id)).decode()

    @mcp.resource("casset://policies/{policy_id}", name="policy", mime_type="application/ld+json",
                  description="An artist policy as an ODRL 2.2 Offer.")
    def policy(policy_id: str) -> str:
        return msgspec.json.encode(services.agents.policy_offer(policy_id)).decode()

    return mcp
