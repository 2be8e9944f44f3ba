"""Discovery: where to start, service metadata and the JWKS."""

from __future__ import annotations

import msgspec
from litestar import Controller, get

from casset_rights.api.deps import ServicesDep
from casset_rights.api.openapi import EVERY
from casset_rights.api.problems import problems
from casset_rights.api.schemas import JWKS, ServiceIndex, ServiceMetadata
from casset_rights.auth.service import METADATA_PATH

DOCUMENTATION = ["README.md", "docs/oauth.md", "docs/licenses-and-lineage.md",
                 "docs/policy-language.md", "docs/transparency-log.md"]


class DiscoveryController(Controller):
    tags = ["discovery"]

    @get("/", summary="Where to start: the metadata, the OpenAPI document, the reference",
         responses=problems(*EVERY), cache=60)
    async def index(self, services: ServicesDep) -> ServiceIndex:
        base = services.settings.resolved_issuer
        return ServiceIndex(
            service=services.settings.service_name,
            description="The rights layer of Casset: ask what you may do with a release, "
                        "track or hook; obtain licenses over OAuth; every answer signed "
                        "and logged.",
            metadata=f"{base}/.well-known/casset-rights", openapi=f"{base}/schema/openapi.json",
            reference=f"{base}/schema", oauth_server=base + METADATA_PATH,
            jwks=f"{base}/.well-known/jwks.json",
            documentation=DOCUMENTATION)

    @get("/.well-known/casset-rights", summary="Service metadata",
         responses=problems(*EVERY))
    async def metadata(self, services: ServicesDep) -> ServiceMetadata:
        return msgspec.convert(services.describe(), ServiceMetadata)

    @get("/.well-known/jwks.json", summary="Public keys of receipts, licenses and tokens",
         cache=60, responses=problems(*EVERY))
    async def jwks(self, services: ServicesDep) -> JWKS:
        return msgspec.convert(services.keys.jwks(), JWKS)
