"""Catalog reads: releases and their versions, tracks and hooks.

A release version is immutable and named by its manifest hash, so every read but the
listing comes from memory (``CatalogView``) with a strong ``ETag`` derived from that
hash, and answers ``304 Not Modified`` to an ``If-None-Match`` that names it. A numbered
version never changes (``Cache-Control: public, max-age=31536000, immutable``); a head,
its history, tracks and hooks change when a new version is stored (``no-cache``: keep
it, revalidate before use). Encoded answers are kept by ETag, so a repeated read is a
dictionary look-up (``CatalogView.remembered``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, get
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter
from litestar.types import ASGIApp, Receive, Scope, Send

from casset_rights.api.deps import ServicesDep, services_of
from casset_rights.api.openapi import PARAMS, SCOPED
from casset_rights.api.problems import problems
from casset_rights.api.schemas import (
    CURSOR_PATTERN,
    ReleaseHistory,
    ReleasePage,
    TrackOut,
    VersionOut,
)
from casset_rights.api.security import header_of
from casset_rights.errors import NotFound
from casset_rights.manifests import MAX_PAGE, StoredVersion
from casset_rights.manifests.records import HookRecord

FOUND = problems(*SCOPED, *PARAMS, 404)
IMMUTABLE = b"public, max-age=31536000, immutable"
REVALIDATE = b"public, no-cache"
MAX_VERSION = 2**31 - 1  # a manifest's version, as its schema bounds it


class _VersionOut(VersionOut):
    """``VersionOut`` as encoded: the stored canonical document copied, not re-read."""

    manifest: msgspec.Raw  # type: ignore[assignment]


class CachedAnswer:
    """A 200 or 304 answer with its validator, as a bare ASGI app (see ``JSONAnswer``)."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status,
                    "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


_encode = msgspec.json.encode


def matches(if_none_match: str | None, etag: bytes) -> bool:
    """Whether an ``If-None-Match`` field names ``etag`` (RFC 9110 13.1.2: weak
    comparison, ``*`` matches any current representation)."""
    if not if_none_match:
        return False
    wanted = etag.decode("latin-1")
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False


def answer(request: Request[Any, Any, Any], etag: str, cache_control: bytes,
           encode: Callable[[], bytes]) -> CachedAnswer:
    tag = f'"{etag}"'.encode("latin-1")
    # The scope's header list read directly: ``request.headers`` builds a Headers object
    # for this one look-up.
    if matches(header_of(request.scope, b"if-none-match"), tag):
        return CachedAnswer(304, [(b"etag", tag), (b"cache-control", cache_control)], b"")
    body = services_of(request).catalog_view.remembered(tag, encode)
    return CachedAnswer(200, [(b"content-type", b"application/json"),
                              (b"content-length", str(len(body)).encode()),
                              (b"etag", tag), (b"cache-control", cache_control)], body)


def version_body(stored: StoredVersion) -> _VersionOut:
    return _VersionOut(id=stored.release_id, artist=stored.artist_id, version=stored.version,
                       hash=stored.hash, previous=stored.previous, stored_at=stored.stored_at,
                       manifest=msgspec.Raw(stored.document.encode()))


def _spec(schema: type, what: str) -> dict[int, ResponseSpec]:
    return {200: ResponseSpec(schema, description=what + "; ETag, and 304 to a matching "
                              "If-None-Match"),
            304: ResponseSpec(None, description="Not modified: the ETag named is current"),
            **FOUND}


class CatalogController(Controller):
    path = "/v1"
    tags = ["catalog"]

    @get("/releases", summary="Releases, a page at a time", sync_to_thread=True,
         responses=problems(*SCOPED, *PARAMS))
    def releases(
        self, services: ServicesDep,
        cursor: Annotated[str | None, QueryParameter(
            description="next_cursor of the previous page", pattern=CURSOR_PATTERN)] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        artist: Annotated[str | None, QueryParameter(description="one artist's")] = None,
    ) -> ReleasePage:
        page = services.catalog.list_releases(cursor=cursor, limit=limit, artist_id=artist)
        return ReleasePage(items=list(page.items), next_cursor=page.next_cursor)

    @get("/releases/{release_id:str}", summary="The head version of a release",
         responses=_spec(VersionOut, "The head version"))
    async def release(self, release_id: FromPath[str],
                      request: Request[Any, Any, Any]) -> ASGIApp:
        head = services_of(request).catalog_view.head(release_id)
        return answer(request, head.hash, REVALIDATE, lambda: _encode(version_body(head)))

    @get("/releases/{release_id:str}/versions", summary="Every version of a release",
         responses=_spec(ReleaseHistory, "The versions, oldest first"))
    async def history(self, release_id: FromPath[str],
                      request: Request[Any, Any, Any]) -> ASGIApp:
        versions = services_of(request).catalog_view.history(release_id)
        return answer(request, f"{versions[-1].hash}.versions", REVALIDATE,
                      lambda: _encode(ReleaseHistory(id=release_id, versions=list(versions))))

    @get("/releases/{release_id:str}/versions/{number:int}",
         summary="One version of a release", responses=_spec(VersionOut, "The version"))
    async def version(self, release_id: FromPath[str], number: FromPath[int],
                      request: Request[Any, Any, Any]) -> ASGIApp:
        if not 1 <= number <= MAX_VERSION:  # no manifest has it (schemas/manifest.schema.json)
            raise NotFound(f"release {release_id!r} has no version {number}")
        stored = services_of(request).catalog_view.version(release_id, number)
        return answer(request, stored.hash, IMMUTABLE, lambda: _encode(version_body(stored)))

    @get("/tracks/{release_id:str}/{track:str}", summary="A track of a release head",
         responses=_spec(TrackOut, "The track and its hooks"))
    async def track(self, release_id: FromPath[str], track: FromPath[str],
                    request: Request[Any, Any, Any]) -> ASGIApp:
        view = services_of(request).catalog_view.track(release_id, track)
        return answer(request, f"{view.manifest_hash}.track.{track}", REVALIDATE,
                      lambda: _encode(TrackOut(**msgspec.structs.asdict(view.track),
                                               hooks=list(view.hooks))))

    @get("/hooks/{release_id:str}/{track:str}/{hook:str}", summary="A hook of a track",
         responses=_spec(HookRecord, "The hook"))
    async def hook(self, release_id: FromPath[str], track: FromPath[str], hook: FromPath[str],
                   request: Request[Any, Any, Any]) -> ASGIApp:
        view = services_of(request).catalog_view.hook(release_id, track, hook)
        return answer(request, f"{view.manifest_hash}.hook.{track}.{hook}", REVALIDATE,
                      lambda: _encode(view.hook))
