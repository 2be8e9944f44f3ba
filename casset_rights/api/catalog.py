"""Catalog reads: releases and their versions, tracks and hooks."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.params import FromPath, QueryParameter

from casset_rights.manifests import MAX_PAGE, StoredVersion
from casset_rights.api.deps import ServicesDep


def version_body(stored: StoredVersion) -> dict[str, Any]:
    return {"id": stored.release_id, "artist": stored.artist_id, "version": stored.version,
            "hash": stored.hash, "previous": stored.previous, "stored_at": stored.stored_at,
            "manifest": msgspec.json.decode(stored.document)}


class CatalogController(Controller):
    path = "/v1"
    tags = ["catalog"]

    @get("/releases", summary="Releases, a page at a time", sync_to_thread=True)
    def releases(
        self, services: ServicesDep,
        cursor: Annotated[str | None, QueryParameter(
            description="next_cursor of the previous page")] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)] = 50,
        artist: Annotated[str | None, QueryParameter(description="one artist's")] = None,
    ) -> dict[str, Any]:
        page = services.catalog.list_releases(cursor=cursor, limit=limit, artist_id=artist)
        return {"items": msgspec.to_builtins(page.items), "next_cursor": page.next_cursor}

    @get("/releases/{release_id:str}", summary="The head version of a release",
         sync_to_thread=True)
    def release(self, release_id: FromPath[str], services: ServicesDep) -> dict[str, Any]:
        return version_body(services.catalog.head(release_id))

    @get("/releases/{release_id:str}/versions", summary="Every version of a release",
         sync_to_thread=True)
    def history(self, release_id: FromPath[str], services: ServicesDep) -> dict[str, Any]:
        return {"id": release_id,
                "versions": msgspec.to_builtins(services.catalog.history(release_id))}

    @get("/releases/{release_id:str}/versions/{number:int}",
         summary="One version of a release", sync_to_thread=True)
    def version(self, release_id: FromPath[str], number: FromPath[int], services: ServicesDep) -> dict[str, Any]:
        return version_body(services.catalog.version(release_id, number))

    @get("/tracks/{release_id:str}/{track:str}", summary="A track of a release head",
         sync_to_thread=True)
    def track(self, release_id: FromPath[str], track: FromPath[str], services: ServicesDep) -> dict[str, Any]:
        track_id = f"{release_id}/{track}"
        record = services.catalog.track(track_id)
        return {**msgspec.to_builtins(record),
                "hooks": msgspec.to_builtins(services.catalog.hooks(track_id))}

    @get("/hooks/{release_id:str}/{track:str}/{hook:str}", summary="A hook of a track",
         sync_to_thread=True)
    def hook(self, release_id: FromPath[str], track: FromPath[str], hook: FromPath[str], services: ServicesDep) -> dict[str, Any]:
        return msgspec.to_builtins(services.catalog.hook(f"{release_id}/{track}/{hook}"))
