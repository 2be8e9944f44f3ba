"""``create_app(settings)``: the one place that wires the HTTP service together."""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin

from casset_rights.api.catalog import CatalogController
from casset_rights.api.decisions import DecisionController
from casset_rights.api.discovery import DiscoveryController
from casset_rights.api.middleware import request_id_middleware
from casset_rights.api.problems import (
    domain_error_handler, http_error_handler, unexpected_error_handler,
)
from casset_rights.api.receipts import ReceiptController
from casset_rights.api.security import provide_principal
from casset_rights.config import Settings
from casset_rights.errors import CassetError
from casset_rights.services import Services, load_examples, open_services


def create_app(settings: Settings, *, services: Services | None = None) -> Litestar:
    """Build the Litestar app. ``services`` may be given (tests share one container);
    ``settings.load_examples`` loads the example catalog and policies on start-up."""
    owned = services is None
    container = services or open_services(settings)
    if settings.load_examples:
        load_examples(container)

    def provide_services() -> Services:
        return container

    async def on_shutdown() -> None:
        if owned:
            container.close()

    return Litestar(
        route_handlers=[DiscoveryController, CatalogController, DecisionController,
                        ReceiptController],
        dependencies={
            "services": Provide(provide_services, use_cache=True, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        middleware=[request_id_middleware],
        exception_handlers={
            CassetError: domain_error_handler,
            HTTPException: http_error_handler,
            Exception: unexpected_error_handler,
        },
        openapi_config=OpenAPIConfig(
            title="Casset Rights", version="1.0.0",
            description="Rights, licenses and lineage of music releases, for machine clients.",
            path="/schema", render_plugins=[ScalarRenderPlugin()],
        ),
        request_max_body_size=settings.max_body_bytes,
        on_shutdown=[on_shutdown],
        debug=False,
        state={"services": container},
    )


def app_from_environment() -> Litestar:
    """The ASGI factory for servers (granian): settings from ``CASSET_*`` variables."""
    import os

    from casset_rights.config import settings_from_env

    return create_app(settings_from_env(os.environ))


