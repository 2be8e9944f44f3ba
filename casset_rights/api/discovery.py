"""Discovery: service metadata and the JWKS."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get

from casset_rights.api.deps import ServicesDep


class DiscoveryController(Controller):
    tags = ["discovery"]

    @get("/.well-known/casset-rights", summary="Service metadata")
    async def metadata(self, services: ServicesDep) -> dict[str, Any]:
        return services.describe()

    @get("/.well-known/jwks.json", summary="Public keys of receipts, licenses and tokens",
         cache=60)
    async def jwks(self, services: ServicesDep) -> dict[str, Any]:
        return services.keys.jwks()
