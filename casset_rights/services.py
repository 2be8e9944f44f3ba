"""The service container: every domain service, built once from ``Settings``.

``open_services`` is the one place that chooses between embedded defaults and production
parts (SQLite or PostgreSQL, in-process or Redis, the test chain or Base). The HTTP app
and the CLI both use it, so they behave alike.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from casset_rights.agents.service import AgentTerms
from casset_rights.agents.x402pay import X402Checkout, open_x402
from casset_rights.anchoring.service import AnchorService
from casset_rights.audio import AudioService, open_audio
from casset_rights.auth.service import AuthService, open_auth
from casset_rights.commerce.wiring import HOLD_SWEEP_SECONDS, Commerce, open_commerce
from casset_rights.config import Settings
from casset_rights.db.engine import make_engine
from casset_rights.db.migrate import upgrade
from casset_rights.decisions.catalog_view import CatalogView
from casset_rights.decisions.index import RightsIndex
from casset_rights.decisions.policy_store import PolicyStore
from casset_rights.decisions.service import DecisionService
from casset_rights.filelock import exclusive
from casset_rights.jobs.periodic import Every, PeriodicJobs
from casset_rights.jobs.queue import JobQueue, open_queue
from casset_rights.jobs.registry import job_function
from casset_rights.licenses import HeldGrants, LicenseDesk, LicenseService
from casset_rights.licensing import open_licensing
from casset_rights.lineage import LineageIndex, LineageProposals, LineageService
from casset_rights.log.checkpoint import verifier_key
from casset_rights.log.identity import open_log_identity
from casset_rights.log.keeper import LogKeeper, open_log
from casset_rights.log.sequencer import Sequencer
from casset_rights.log.service import TransparencyLog
from casset_rights.log.witness_client import Cosigner, open_cosigner
from casset_rights.manifests import CatalogService, load_catalog_directory
from casset_rights.policy import SCOPES
from casset_rights.ratelimit import RateLimiter, rate_limiter
from casset_rights.receipts.keys import FileKeyStore, KeyStore
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore, ReceiptWriter, Writer

logger = logging.getLogger("casset_rights")


@dataclass
class Services:
    settings: Settings
    engine: Engine
    keys: KeyStore
    issuer: ReceiptIssuer
    receipts: ReceiptStore
    writer: Writer
    catalog: CatalogService
    policies: PolicyStore
    index: RightsIndex
    catalog_view: CatalogView
    decisions: DecisionService
    auth: AuthService
    limiter: RateLimiter
    licenses: LicenseService
    license_desk: LicenseDesk
    lineage: LineageService
    lineage_proposals: LineageProposals
    log: TransparencyLog
    anchoring: AnchorService
    log_keeper: LogKeeper
    sequencer: Sequencer
    jobs: JobQueue
    audio: AudioService
    agents: AgentTerms  # RSL, AI preferences, TDMRep, ODRL (casset_rights/agents)
    x402: X402Checkout | None  # paid routes paid by agents (agents/x402pay.py)
    cosigner: Cosigner
    # Jobs run on a timer in the server (expiring payment holds and idempotency keys).
    periodic: PeriodicJobs
    extras: dict[str, Any] = field(default_factory=dict)
    # Payments through Stripe; None without Stripe keys (payment routes answer 501).
    commerce: Commerce | None = None

    def describe(self) -> dict[str, Any]:
        """The service metadata published at ``/.well-known/casset-rights``."""
        base = self.settings.resolved_issuer
        return {
            "service": self.settings.service_name,
            "issuer": base,
            "version": "v1",
            "scopes": list(SCOPES),
            "decisions": ["permit", "deny", "license_required"],
            "receipt_format": {"type": "JWS compact", "alg": "EdDSA",
                               "typ": "casset-receipt+jws"},
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "openapi": f"{base}/schema/openapi.json",
            "endpoints": {
                "releases": f"{base}/v1/releases",
                "decisions": f"{base}/v1/decisions",
                "rights": f"{base}/v1/rights/{{resource}}",
                "receipts": f"{base}/v1/receipts/{{jti}}",
                "receipt_bundle": f"{base}/v1/receipts/{{jti}}/bundle",
                "log_checkpoint": f"{base}/v1/log/checkpoint",
                "log_anchors": f"{base}/v1/log/anchors",
                "license_quotes": f"{base}/v1/licenses/quotes",
                "licenses": f"{base}/v1/licenses",
                "license_introspection": f"{base}/v1/licenses/introspect",
                "derivatives": f"{base}/v1/derivatives",
                "derivative_proposals": f"{base}/v1/derivatives/proposals",
                "lineage": f"{base}/v1/lineage/{{resource}}",
                "previews": f"{base}/v1/previews",
                "track_audio": f"{base}/v1/tracks/{{release}}/{{track}}/audio",
                "track_analysis": f"{base}/v1/tracks/{{release}}/{{track}}/analysis",
                "c2pa_trust_anchor": f"{base}/.well-known/c2pa-trust-anchor.pem",
            },
            # The log as C2SP tlog-tiles under this prefix (checkpoint, tiles, entry
            # bundles), its identity, and the witnesses that cosign its checkpoints.
            "transparency_log": {
                "origin": self.log.origin,
                "verifier_key": self.log.verifier_key,
                "tlog_tiles_prefix": f"{base}/tlog",
                "checkpoint": f"{base}/tlog/checkpoint",
                "witnesses": [k.verifier_key for k in self.cosigner.keys],
            },
            "license_token_format": {"type": "JWS compact", "alg": "EdDSA",
                                     "typ": "casset-license+jws"},
            "resource_ids": {"release": "release:R", "track": "track:R/T",
                             "hook": "hook:R/T/H"},
        }

    def close(self) -> None:
        self.periodic.stop()
        self.index.stop()
        self.audio.close()
        self.sequencer.stop()
        self.jobs.close()
        self.writer.close()
        self.auth.close()
        self.engine.dispose()


def open_services(settings: Settings, *, engine: Engine | None = None,
                  migrate: bool = True) -> Services:
    """Build every service. Creates the data folder and keys on first start and, with
    ``migrate``, brings the database schema up to date. ``engine`` replaces the one the
    settings name (the tests pass theirs, schema already in place). Processes opening
    the same data folder at once (server workers, a ``casset-rights worker``) take turns
    (``starting_alone``)."""
    with starting_alone(settings):
        return _open_services(settings, engine=engine, migrate=migrate)


def _open_services(settings: Settings, *, engine: Engine | None,
                   migrate: bool) -> Services:
    engine = engine or make_engine(settings.resolved_database_url,
                                   pool_timeout=settings.database_pool_timeout_seconds)
    if migrate:
        upgrade(engine)
    keys = FileKeyStore(settings.keys_dir)
    issuer = ReceiptIssuer(keys, issuer=settings.resolved_issuer)
    receipts = ReceiptStore(engine)
    # The log's identity: its own key, made (or adopted) before anything signs with it.
    log_key = open_log_identity(settings.log_dir, engine=engine, keys=keys,
                                origin=settings.log_origin)
    cosigner = open_cosigner(settings, log_verifier_key=verifier_key(
        settings.log_origin, log_key.public_key()))
    # The writer's thread keeps one connection of its own: taking one from the pool for
    # each batch cost a check-out and, on its return, a ROLLBACK round trip.
    writer = ReceiptWriter(ReceiptStore(engine, keep_connection=True),
                           batch_max=settings.receipt_batch_max,
                           batch_wait_ms=settings.receipt_batch_wait_ms,
                           wait_seconds=settings.receipt_wait_seconds)
    catalog = CatalogService(engine)
    policies = PolicyStore(engine)
    held = HeldGrants(engine)
    graph = LineageIndex(engine)
    index = RightsIndex(catalog=catalog, policies=policies, followers=(held, graph),
                        engine=engine)
    decisions = DecisionService(index=index, issuer=issuer, grants=held, lineage=graph)
    auth = open_auth(settings, engine=engine, keys=keys)
    log_keeper = open_log(settings, engine=engine, keys=keys, receipts=receipts,
                          log_key=log_key, cosigner=cosigner)
    licenses, license_desk, lineage, lineage_proposals = open_licensing(
        settings, engine=engine, index=index, decisions=decisions, issuer=issuer,
        receipts=receipts, keys=keys, held=held, graph=graph)
    # The jobs run in this process (embedded default) get these services as context.
    context: dict[str, Any] = {}
    jobs = open_queue(settings.queue_url, functions=job_function, context=context,
                      name=settings.queue_name)
    commerce = open_commerce(settings, engine=engine, licenses=licenses, issuer=issuer,
                             receipts=receipts)
    schedule = [Every("expire-idempotency-keys", settings.idempotency_sweep_seconds)]
    if commerce is not None:
        schedule.append(Every("expire-payment-holds", HOLD_SWEEP_SECONDS))
    periodic = PeriodicJobs(schedule, functions=job_function, context=context)
    # Analysis runs on a shared queue when there is one; otherwise in the audio
    # service's own worker processes (the inline queue's threads would run librosa in
    # the server process).
    audio = open_audio(settings, engine=engine, catalog=catalog, index=index,
                       decisions=decisions, queue=jobs if settings.queue_url else None)
    services = Services(settings=settings, engine=engine, keys=keys, issuer=issuer,
                    receipts=receipts, writer=writer, catalog=catalog, policies=policies,
                    index=index, catalog_view=CatalogView(catalog=catalog, index=index),
                    decisions=decisions, auth=auth,
                    limiter=rate_limiter(settings), licenses=licenses,
                    license_desk=license_desk, lineage=lineage,
                    lineage_proposals=lineage_proposals, log=log_keeper.log,
                    anchoring=log_keeper.anchoring, log_keeper=log_keeper,
                    sequencer=log_keeper.sequencer, jobs=jobs, commerce=commerce,
                    audio=audio,
                    agents=AgentTerms(index=index, catalog=catalog,
                                      base=settings.resolved_issuer,
                                      analyses=finished_analyses(audio)),
                    x402=open_x402(settings, licenses=licenses), cosigner=cosigner,
                    periodic=periodic)
    context["services"] = services
    return services


def finished_analyses(audio: AudioService) -> Callable[[str], dict[str, Any] | None]:
    """The result of an audio blob's finished analysis, or None (the deed's waveforms)."""
    def result(content_hash: str) -> dict[str, Any] | None:
        state = audio.records.analysis(content_hash)
        return state.result if state is not None and state.state == "done" else None
    return result


@contextlib.contextmanager
def starting_alone(settings: Settings) -> Iterator[None]:
    """Processes that start on one data folder take turns through what a first start
    makes (an exclusive lock on ``<data>/.starting``): the keys, the log's identity, the
    witness's state, and the examples when they are loaded. Server workers start at
    once: unguarded, two on a new folder could each make a receipt key and each claim
    ``ACTIVE``, and load the examples into the same tables at the same time. The one
    that waits finds them made.
    Not reentrant: a process holding it that takes it again waits for itself."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with exclusive(settings.data_dir / ".starting"):
        yield


def load_examples(services: Services) -> None:
    """Load the example catalog and policies named in settings (idempotent)."""
    s = services.settings
    if s.catalog_dir and Path(s.catalog_dir).is_dir():
        stored = load_catalog_directory(services.catalog, Path(s.catalog_dir))
        logger.info("catalog: %d manifest versions from %s", len(stored), s.catalog_dir)
    if s.policies_dir and Path(s.policies_dir).is_dir():
        stored_policies = services.policies.load_directory(Path(s.policies_dir))
        logger.info("policies: %d from %s", len(stored_policies), s.policies_dir)
    services.index.refresh(force=True)
