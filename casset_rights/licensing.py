"""Building licensing and lineage from settings.

``open_licensing`` is what ``open_services`` calls: it chooses the payment provider and
builds the services; their writes tell the in-memory read models decisions use
(``HeldGrants``, ``LineageIndex``) once committed, so the next decision here sees them.
"""

from __future__ import annotations

from sqlalchemy import Engine

from casset_rights.config import Settings
from casset_rights.decisions.index import RightsIndex
from casset_rights.decisions.service import DecisionService
from casset_rights.licenses.desk import LicenseDesk
from casset_rights.licenses.held import HeldGrants, held_grant
from casset_rights.licenses.payments import NoPayments, PaidThroughCheckout, Payments
from casset_rights.licenses.service import LicenseService
from casset_rights.lineage.proposals import LineageProposals
from casset_rights.lineage.refiner import LineageIndex
from casset_rights.lineage.service import LineageService
from casset_rights.receipts.keys import KeyStore
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore


def payments_from_settings(settings: Settings) -> Payments:
    """The payment provider for paid routes: Stripe when its key is set (paid routes are
    then bought through ``POST /v1/payments``); otherwise none, and paid routes answer
    501 ``payments_not_configured``."""
    if settings.stripe_secret_key:
        return PaidThroughCheckout()
    return NoPayments()


def open_licensing(settings: Settings, *, engine: Engine, index: RightsIndex,
                   decisions: DecisionService, issuer: ReceiptIssuer,
                   receipts: ReceiptStore, keys: KeyStore, held: HeldGrants,
                   graph: LineageIndex) -> tuple[LicenseService, LicenseDesk,
                                                 LineageService, LineageProposals]:
    issuer_url = settings.resolved_issuer
    licenses = LicenseService(engine=engine, index=index, issuer=issuer, receipts=receipts,
                              keys=keys, issuer_url=issuer_url,
                              payments=payments_from_settings(settings),
                              quote_ttl_seconds=settings.license_quote_ttl_seconds,
                              on_grants_changed=lambda grant: held.hold(
                                  grant.licensee, held_grant(grant)))
    desk = LicenseDesk(licenses, keys=keys, issuer_url=issuer_url)
    lineage = LineageService(engine=engine, index=index, decisions=decisions, issuer=issuer,
                             receipts=receipts, on_registered=lambda release: graph.reload_key(
                                 "lineage_edges", release))
    proposals = LineageProposals(lineage, engine=engine, issuer=issuer, receipts=receipts)
    return licenses, desk, lineage, proposals
