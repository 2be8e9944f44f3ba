"""``create_app(settings)``: the one place that wires the HTTP service together."""

from __future__ import annotations

import gc

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.routes import HTTPRoute
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from casset_rights.api.agents import AgentExportController, terms_headers_middleware
from casset_rights.api.artist_write import RELEASE_WRITE_HANDLERS, PolicyWriteController
from casset_rights.api.audio import AudioController
from casset_rights.api.catalog import CatalogController
from casset_rights.api.commerce import ArtistMoneyController, PaymentController
from casset_rights.api.decisions import DecisionController
from casset_rights.api.discovery import DiscoveryController
from casset_rights.api.license_server import (
    LicenseServerController,
    ProtectedContentController,
    X402Controller,
)
from casset_rights.api.licenses import LicenseController
from casset_rights.api.lineage import LineageController
from casset_rights.api.lineage_owner import LineageOwnerController
from casset_rights.api.log import LogController, TiledLogController
from casset_rights.api.mcp_mount import mcp_mount
from casset_rights.api.middleware import access_check, request_id_middleware
from casset_rights.api.oauth import OAuthController
from casset_rights.api.openapi import (
    ClosedStructSchemaPlugin,
    MediaBodySchemaPlugin,
    openapi_config,
    requirement,
)
from casset_rights.api.problems import (
    database_busy_handler,
    database_data_error_handler,
    database_unavailable_handler,
    domain_error_handler,
    http_error_handler,
    undecodable_body_handler,
    unexpected_error_handler,
)
from casset_rights.api.receipts import ReceiptController
from casset_rights.api.security import needs, provide_principal
from casset_rights.auth.scopes import RIGHTS_READ
from casset_rights.config import Settings
from casset_rights.errors import CassetError
from casset_rights.services import Services, load_examples, open_services, starting_alone


def create_app(settings: Settings, *, services: Services | None = None) -> Litestar:
    """Build the Litestar app. ``services`` may be given (tests share one container);
    ``settings.load_examples`` loads the example catalog and policies on start-up."""
    owned = services is None
    container = services or open_services(settings)
    if settings.load_examples:
        with starting_alone(settings):  # workers starting together load them in turn
            load_examples(container)

    # MCP over Streamable HTTP at /mcp; its sessions run for the app's lifetime.
    mcp_endpoint, mcp_lifespan = mcp_mount(container)

    def provide_services() -> Services:
        return container

    async def on_startup() -> None:
        # A worker process starts with an empty rights index: build it, then follow writes
        # made by other processes.
        container.index.refresh()
        container.index.start()
        # On the embedded default every process runs a sequencer; the one holding the
        # lease integrates the log, checkpoints and anchors (log/sequencer.py). With a
        # queue, ``casset-rights worker`` processes do it (jobs/registry.py).
        if not settings.queue_url:
            container.sequencer.start()
        container.periodic.start()  # payment holds and idempotency keys expire on time
        # Other processes' token revocations, read by a thread: never on a request.
        container.auth.revoked.start()

    async def on_shutdown() -> None:
        container.sequencer.stop()
        container.periodic.stop()
        container.index.stop()
        container.auth.revoked.stop()
        await container.limiter.aclose()
        if owned:
            container.close()

    app = Litestar(
        route_handlers=[DiscoveryController, OAuthController, PolicyWriteController,
                        # Licenses and lineage: each route declares its OAuth scope.
                        LicenseController, LineageController, LineageOwnerController,
                        # Payments, support, unlocks, Connect, statements, Stripe webhooks.
                        PaymentController, ArtistMoneyController,
                        # Audio: each route declares its OAuth scope (api/audio.py).
                        AudioController,
                        # Reads: open to the public; a token must hold rights:read.
                        Router(path="/", opt=needs(RIGHTS_READ),
                               security=requirement(needs(RIGHTS_READ)),
                               route_handlers=[CatalogController, DecisionController,
                                               ReceiptController, LogController,
                                               TiledLogController]),
                        # After the reads: these share their paths (see artist_write).
                        *RELEASE_WRITE_HANDLERS,
                        # Agents: RSL, robots.txt, TDMRep, ODRL, deeds (casset_rights/agents);
                        # public reads, like the catalog.
                        Router(path="/", opt=needs(RIGHTS_READ),
                               security=requirement(needs(RIGHTS_READ)),
                               route_handlers=[AgentExportController,
                                               # RSL's license server; protected content.
                                               LicenseServerController,
                                               ProtectedContentController]),
                        mcp_endpoint,
                        # x402 for paid routes; declares its own scope (licenses:request).
                        X402Controller],
        # Count the caller (by client, or by address), refuse a bad token, enforce the
        # route's scope (its ``opt``): one hook, before the body is read.
        before_request=access_check,
        dependencies={
            "services": Provide(provide_services, use_cache=True, sync_to_thread=False),
            "principal": Provide(provide_principal),
        },
        # Terms headers (Content-Usage, Link rel=license, TDMRep) on catalog reads.
        middleware=[request_id_middleware, terms_headers_middleware],
        exception_handlers={
            CassetError: domain_error_handler,
            HTTPException: http_error_handler,
            UnicodeDecodeError: undecodable_body_handler,
            DataError: database_data_error_handler,
            OperationalError: database_unavailable_handler,
            PoolTimeout: database_busy_handler,
            Exception: unexpected_error_handler,
        },
        openapi_config=openapi_config(settings),
        plugins=[ClosedStructSchemaPlugin(), MediaBodySchemaPlugin()],
        request_max_body_size=settings.max_body_bytes,
        on_startup=[on_startup],
        lifespan=[mcp_lifespan],
        on_shutdown=[on_shutdown],
        debug=False,
        state=State({"services": container}),
    )
    allow_every_method(app)
    return app


def allow_every_method(app: Litestar) -> None:
    """Make ``OPTIONS`` name every method of a path. Litestar makes a path's ``OPTIONS``
    handler with its first route and, when handlers of the same path are merged into a
    new route, keeps that handler, which still reads the first route's methods: ``Allow``
    then left out the later ones (``POST /v1/releases`` beside ``GET``)."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.http_methods != {"OPTIONS"}:
                continue
            for cell in getattr(handler.fn, "__closure__", None) or ():
                if isinstance(cell.cell_contents, HTTPRoute):
                    cell.cell_contents.methods = route.methods


def app_from_environment() -> Litestar:
    """The ASGI factory for servers (granian): settings from ``CASSET_*`` variables."""
    import os

    from casset_rights.config import settings_from_env

    app = create_app(settings_from_env(os.environ))
    # After the app's own start-up, before serving: the anchoring chain made now (its
    # modules then frozen with the rest), not by the first anchor under load.
    app.on_startup.append(prepare_anchoring)
    app.on_startup.append(start_audio_workers)
    app.on_startup.append(tune_garbage_collector)
    return app


def prepare_anchoring(app: Litestar) -> None:
    """Get the anchoring chain ready (``AnchorService.prepare``): about 1.3 s of CPU once,
    which the first anchor, a minute into serving, took from the event loop (in the HTTP
    benchmark that round's p99 rose to 83 to 97 ms from about 24)."""
    app.state["services"].anchoring.prepare()


def start_audio_workers(app: Litestar) -> None:
    """Start the audio analysis workers (``audio_analysis_workers``; spawned processes
    that warm librosa up while the server starts serving) and ready the preview path
    (``AudioService.start``). In-process apps (tests, the CLI) leave analysis jobs
    queued for ``casset-rights audio analyse`` or a queue."""
    app.state["services"].audio.start()


# Young-generation collections come every this many container allocations (Python's
# default is 700). A decision allocates a few hundred; at 700, objects of the requests in
# flight (awaiting their receipt's commit) survive collections and are promoted, to be
# scanned again by the older generations' passes. Measured under wrk: about 17 µs less
# CPU a request, 10 to 15 % more decisions a second (docs/benchmarks.md).
YOUNG_COLLECTION_THRESHOLD = 50_000


def tune_garbage_collector() -> None:
    """Keep what a started server holds for its whole life (the rights index, the routes,
    the libraries) out of the cyclic garbage collector's full passes. Under load those
    otherwise walk all of it every few seconds, up to 70 ms each, with every request in
    flight waiting behind them (the worst of the decision endpoint's p99). Then collect
    the young generation less often (``YOUNG_COLLECTION_THRESHOLD``); reference counting
    still frees nearly everything a request leaves behind at once."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, older, oldest)
