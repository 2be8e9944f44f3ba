"""Catalog reads: releases and their versions, tracks and hooks."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from casset_rights.api.deps import ServicesDep
from casset_rights.api.openapi import PARAMS, SCOPED
from casset_rights.api.problems import problems
from casset_rights.api.schemas import (
    CURSOR_PATTERN,
    ReleaseHistory,
    ReleasePage,
    TrackOut,
    VersionOut,
)
from casset_rights.manifests import MAX_PAGE, StoredVersion
from casset_rights.manifests.records import HookRecord

FOUND = problems(*SCOPED, *PARAMS, 404)


def version_body(stored: StoredVersion) -> VersionOut:
    return VersionOut(id=stored.release_id, artist=stored.artist_id, version=stored.version,
                      hash=stored.hash, previous=stored.previous, stored_at=stored.stored_at,
                      manifest=msgspec.json.decode(stored.document))


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
         sync_to_thread=True, responses=FOUND)
    def release(self, release_id: FromPath[str], services: ServicesDep) -> VersionOut:
        return version_body(services.catalog.head(release_id))

    @get("/releases/{release_id:str}/versions", summary="Every version of a release",
         sync_to_thread=True, responses=FOUND)
    def history(self, release_id: FromPath[str], services: ServicesDep) -> ReleaseHistory:
        return ReleaseHistory(id=release_id, versions=list(services.catalog.history(release_id)))

    @get("/releases/{release_id:str}/versions/{number:int}",
         summary="One version of a release", sync_to_thread=True, responses=FOUND)
    def version(self, release_id: FromPath[str], number: FromPath[int],
                services: ServicesDep) -> VersionOut:
        return version_body(services.catalog.version(release_id, number))

    @get("/tracks/{release_id:str}/{track:str}", summary="A track of a release head",
         sync_to_thread=True, responses=FOUND)
    def track(self, release_id: FromPath[str], track: FromPath[str],
              services: ServicesDep) -> TrackOut:
        track_id = f"{release_id}/{track}"
        record = services.catalog.track(track_id)
        return TrackOut(**msgspec.structs.asdict(record),
                        hooks=list(services.catalog.hooks(track_id)))

    @get("/hooks/{release_id:str}/{track:str}/{hook:str}", summary="A hook of a track",
         sync_to_thread=True, responses=FOUND)
    def hook(self, release_id: FromPath[str], track: FromPath[str], hook: FromPath[str],
             services: ServicesDep) -> HookRecord:
        return services.catalog.hook(f"{release_id}/{track}/{hook}")
