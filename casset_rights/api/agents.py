"""The agent-facing exports: RSL documents, robots.txt, TDMRep, ODRL offers, and the
terms headers (``Content-Usage``, ``Link rel=license``, ``tdm-reservation`` /
``tdm-policy``) on every response that serves a release, track or hook.

All of it comes from ``services.agents`` (casset_rights/agents), which derives it from
the compiled policies; nothing here is written by hand.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import FromPath
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from casset_rights.agents import odrl, rsl
from casset_rights.agents.deed import Deed
from casset_rights.agents.terms import resource_of_path
from casset_rights.api.agent_schemas import OdrlOffer, ProtectedResourceMetadata, TdmRepRules
from casset_rights.api.deed_page import PAGE_HEADERS, deed_page
from casset_rights.api.deps import ServicesDep
from casset_rights.api.openapi import PARAMS, SCOPED, MediaBody, read_by_hand
from casset_rights.api.problems import problems
from casset_rights.api.schemas import RESOURCE_DESCRIPTION, RESOURCE_PATTERN, id_path
from casset_rights.auth.scopes import MACHINE_SCOPES
from casset_rights.errors import CassetError

_RSL_HEADERS = {"cache-control": "public, max-age=60"}
PAGE_MEDIA_TYPE = "text/html; charset=utf-8"
ResourcePath = id_path(RESOURCE_PATTERN, RESOURCE_DESCRIPTION)


class RslDocument(MediaBody):
    """An RSL 1.0 document (XML, application/rsl+xml): the licenses of the content it
    names, and this service's license server."""

    format = None


class DeedPage(MediaBody):
    """The deed as an HTML page for people: no script, nothing loaded from elsewhere."""

    format = None


def rsl_answers(*statuses: int) -> dict[int, ResponseSpec]:
    return {200: ResponseSpec(RslDocument, media_type=rsl.MEDIA_TYPE, generate_examples=False,
                              description="The RSL document"), **problems(*SCOPED, *statuses)}


def odrl_answers() -> dict[int, ResponseSpec]:
    return {200: ResponseSpec(OdrlOffer, media_type=odrl.MEDIA_TYPE, generate_examples=False,
                              description="The ODRL Offer (JSON-LD)"),
            **problems(*SCOPED, *PARAMS, 404)}


def _rsl_response(document: rsl.RslDocument) -> Response[bytes]:
    return Response(document.xml, media_type=rsl.MEDIA_TYPE, headers=_RSL_HEADERS)


class AgentExportController(Controller):
    tags = ("agents",)

    @get("/rsl.xml", summary="RSL 1.0 licenses of every release (application/rsl+xml)",
         sync_to_thread=False, media_type=rsl.MEDIA_TYPE, responses=rsl_answers())
    def rsl_service(self, services: ServicesDep) -> Response[bytes]:
        return _rsl_response(services.agents.rsl())

    @get("/artists/{artist:str}/rsl.xml", summary="RSL 1.0 licenses of an artist's releases",
         sync_to_thread=False, media_type=rsl.MEDIA_TYPE, responses=rsl_answers(*PARAMS, 404))
    def rsl_artist(self, artist: FromPath[str], services: ServicesDep) -> Response[bytes]:
        return _rsl_response(services.agents.rsl(artist=artist))

    @get("/r/{release:str}/rsl.xml", summary="RSL 1.0 licenses of a release",
         sync_to_thread=False, media_type=rsl.MEDIA_TYPE, responses=rsl_answers(*PARAMS, 404))
    def rsl_release(self, release: FromPath[str], services: ServicesDep) -> Response[bytes]:
        return _rsl_response(services.agents.rsl(release=release))

    @get("/r/{release:str}", summary="The deed of a release: its terms for people "
         "(text/html) or as JSON (Accept: application/json)", sync_to_thread=True,
         operation_class=read_by_hand(also=((200, "application/json", "Deed"),)),
         responses={200: ResponseSpec(DeedPage, media_type=PAGE_MEDIA_TYPE,
                                      description="The deed: an HTML page, or JSON "
                                                  "(Accept: application/json)",
                                      generate_examples=False),
                    **problems(*SCOPED, *PARAMS, 404)})
    def deed(self, release: FromPath[str], request: Request[Any, Any, Any],
             services: ServicesDep) -> Response[Deed]:
        deed = services.agents.deed(release)
        wanted = request.accept.best_match(["text/html", "application/json"],
                                           default="text/html")
        if wanted == "application/json":
            return Response(deed, headers={"vary": "Accept"})
        return Response(deed_page(deed), media_type="text/html",  # type: ignore[arg-type]
                        headers=PAGE_HEADERS)

    @get("/.well-known/oauth-protected-resource", sync_to_thread=False,
         summary="OAuth protected-resource metadata (RFC 9728) of the API",
         responses=problems(*SCOPED))
    def protected_api(self, services: ServicesDep) -> ProtectedResourceMetadata:
        return _protected(services, "")

    @get("/.well-known/oauth-protected-resource/{resource_path:path}", sync_to_thread=False,
         summary="OAuth protected-resource metadata (RFC 9728) of /v1 or /mcp",
         responses=problems(*SCOPED, *PARAMS, 404))
    def protected_resource(self, resource_path: FromPath[str],
                           services: ServicesDep) -> ProtectedResourceMetadata:
        return _protected(services, resource_path.strip("/"))

    @get("/robots.txt", summary="robots.txt with AI usage preferences and the RSL license",
         sync_to_thread=False, media_type="text/plain", responses=problems(*SCOPED))
    def robots(self, services: ServicesDep) -> str:
        return services.agents.robots_txt()

    @get("/.well-known/tdmrep.json", summary="W3C TDMRep rules per resource path",
         sync_to_thread=False,
         responses={200: ResponseSpec(TdmRepRules, description="The rules",
                                      generate_examples=False), **problems(*SCOPED)})
    def tdmrep(self, services: ServicesDep) -> list[dict[str, Any]]:
        return services.agents.tdmrep()

    @get("/odrl/policies/{policy_id:str}", summary="A policy as an ODRL 2.2 Offer (JSON-LD)",
         sync_to_thread=False, responses=odrl_answers())
    def policy_offer(self, policy_id: FromPath[str], services: ServicesDep) -> Response[Any]:
        return Response(services.agents.policy_offer(policy_id), media_type=odrl.MEDIA_TYPE)

    @get("/odrl/tdm/{resource:path}", summary="The TDMRep policy of a resource (ODRL Offer)",
         sync_to_thread=False, responses=odrl_answers())
    def tdm_offer(self, resource: ResourcePath, services: ServicesDep) -> Response[Any]:
        return Response(services.agents.tdm_offer(resource.lstrip("/")),
                        media_type=odrl.MEDIA_TYPE)


def _protected(services: Any, path: str) -> ProtectedResourceMetadata:
    # The MCP tools read, quote and license: what an agent may hold (and so ask for).
    scopes = (sorted(MACHINE_SCOPES) if path.strip("/") == "mcp"
              else services.auth.metadata()["scopes_supported"])
    return msgspec.convert(services.agents.protected_resource(
        path, issuer=services.auth.issuer_url, scopes=scopes), ProtectedResourceMetadata)


def terms_headers_middleware(app: ASGIApp) -> ASGIApp:
    """Add the terms headers to every successful GET/HEAD of a release, track, hook or
    deed. A resource the index does not hold gets none (its answer is a 404 anyway)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        ref = None
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            ref = resource_of_path(scope["path"])
        if ref is None:
            await app(scope, receive, send)
            return
        services = scope["litestar_app"].state["services"]

        async def send_with_terms(message: Message) -> None:
            if message["type"] == "http.response.start" and 200 <= message["status"] < 300:
                try:
                    extra = services.agents.headers(ref)
                except CassetError:
                    extra = []
                message["headers"] = [*message.get("headers", ()), *extra]  # type: ignore[typeddict-unknown-key]
            await send(message)

        await app(scope, receive, send_with_terms)

    return middleware
