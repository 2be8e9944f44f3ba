"""A state change and its receipt commit together or not at all, on SQLite and PostgreSQL.

The database itself refuses the receipt: a trigger on ``receipts`` raises for one kind of
receipt, inside the transaction that also carries the change. Each test then checks that
nothing of the change was committed (no row, the quote unused, the request pending, the
edge in force, nothing queued for the log), drops the trigger, and retries the same call,
which works.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from test_licenses_support import FERRYMEN, NIGHTGLASS, LedgerPayments, agent, with_payments

from casset_rights.licenses.tables import (
    license_grants,
    license_quotes,
    license_requests,
)
from casset_rights.lineage import ParentLink
from casset_rights.lineage.tables import lineage_edges, lineage_proposals
from casset_rights.log.tables import log_leaves
from casset_rights.log_queue import log_pending
from casset_rights.receipts.tables import receipts
from casset_rights.services import Services

MIDNIGHT = "release:midnight-tapes"
OUTRO = "hook:midnight-tapes/2/outro"
INTRO = "hook:glass-hours/1/intro"
FUN = {"purpose": "non-commercial"}
BOT = agent("bot-1")


@contextmanager
def receipts_refused(engine: Engine, kind: str) -> Iterator[None]:
    """While open, the database refuses to store receipts of ``kind``."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text(
                "CREATE TRIGGER refuse_receipt BEFORE INSERT ON receipts "
                f"WHEN NEW.kind = '{kind}' "
                "BEGIN SELECT RAISE(ABORT, 'receipt storage refused'); END"))
        else:
            conn.execute(text(
                "CREATE FUNCTION refuse_receipt() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'receipt storage refused'; END $$"))
            conn.execute(text(
                "CREATE TRIGGER refuse_receipt BEFORE INSERT ON receipts FOR EACH ROW "
                f"WHEN (NEW.kind = '{kind}') EXECUTE FUNCTION refuse_receipt()"))
    try:
        yield
    finally:
        with engine.begin() as conn:
            if engine.dialect.name == "sqlite":
                conn.execute(text("DROP TRIGGER refuse_receipt"))
            else:
                conn.execute(text("DROP TRIGGER refuse_receipt ON receipts"))
                conn.execute(text("DROP FUNCTION refuse_receipt()"))


def counts(services: Services) -> dict[str, int]:
    tables = {"quotes": license_quotes, "grants": license_grants,
              "requests": license_requests, "edges": lineage_edges,
              "receipts": receipts, "leaves": log_leaves, "queued": log_pending}
    with services.engine.connect() as conn:
        return {name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for name, t in tables.items()}


def refused_then_retried(services: Services, kind: str, write: Callable[[], Any]) -> Any:
    """``write`` fails while ``kind`` receipts are refused, leaving every table as it
    was; the same call afterwards succeeds and stores its receipt."""
    before = counts(services)
    with receipts_refused(services.engine, kind), \
            pytest.raises(DBAPIError, match="receipt storage refused"):
        write()
    assert counts(services) == before
    done = write()
    with services.engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(receipts)
                              .where(receipts.c.kind == kind)).scalar_one()
    assert stored >= 1
    return done


def test_a_quote_without_its_receipt_is_not_stored(services: Services) -> None:
    quote = refused_then_retried(services, "license-quote", lambda: services.licenses.quote(
        BOT, resource=MIDNIGHT, route="grounding"))
    assert services.licenses.get_quote(BOT, quote.id).used_at_ms is None


def test_a_grant_without_its_receipt_leaves_the_quote_unspent(services: Services) -> None:
    quote = services.licenses.quote(BOT, resource=MIDNIGHT, route="grounding")
    obtained = refused_then_retried(services, "license-grant",
                                    lambda: services.licenses.obtain(BOT, quote.id))
    assert obtained.grant is not None
    assert services.receipts.get(obtained.grant.receipt_id).kind == "license-grant"
    answer = services.decisions.decide(principal=BOT, action="ai-input", resource=MIDNIGHT)
    assert answer.decision.decision == "permit"


def test_a_paid_grant_without_its_receipt_is_refunded_and_can_be_retried(
        services: Services) -> None:
    ledger = LedgerPayments({"client:bot-1": 4900})
    with_payments(services, ledger)
    quote = services.licenses.quote(BOT, resource=OUTRO, route="remix-license",
                                    context={"purpose": "commercial"})
    obtained = refused_then_retried(services, "license-grant",
                                    lambda: services.licenses.obtain(BOT, quote.id))
    assert obtained.grant is not None and obtained.grant.payment_id
    assert len(ledger.refunds) == 1 and ledger.balances["client:bot-1"] == 0  # paid once
    from casset_rights.licenses import store
    with services.engine.connect() as conn:  # the failed try gave its cap slot back
        assert quote.route.cap is not None and store.granted_count(conn, quote.route) == 1


def test_a_request_and_its_decisions_commit_with_their_receipts(services: Services) -> None:
    films = agent("films")
    quote = services.licenses.quote(films, resource="track:glass-hours/1", route="sync-request")
    pending = refused_then_retried(services, "license-request", lambda: services.licenses.obtain(
        films, quote.id, message="a spot")).request
    desk = services.license_desk
    request, grant = refused_then_retried(services, "license-approval", lambda: desk.approve(
        NIGHTGLASS, pending.id, message="yes"))
    assert request.status == "approved" and desk.request(films, pending.id).grant_id == grant.id
    revoked = refused_then_retried(services, "license-revocation", lambda: desk.revoke(
        NIGHTGLASS, grant.id, reason="the spot ran long"))
    assert revoked.status == "revoked" and desk.grant(NIGHTGLASS, grant.id).status == "revoked"
    other = services.licenses.quote(films, resource="track:glass-hours/2", route="sync-request")
    second = services.licenses.obtain(films, other.id).request
    refused = refused_then_retried(services, "license-refusal", lambda: desk.refuse(
        NIGHTGLASS, second.id, message="not this one"))
    assert refused.status == "refused"


def test_a_derivative_and_its_withdrawal_commit_with_their_receipts(services: Services) -> None:
    link = ParentLink(resource=OUTRO, relationship="remix")
    done = refused_then_retried(services, "derivative", lambda: services.lineage.register(
        NIGHTGLASS, child=INTRO, parents=[link], context=FUN))
    assert done.created == (True,)
    withdrawn = refused_then_retried(services, "derivative-withdrawal",
                                     lambda: services.lineage.withdraw(
                                         NIGHTGLASS, child=INTRO, parent=OUTRO,
                                         relationship="remix", reason="a mistake"))
    assert withdrawn.withdrawn_at_ms is not None
    assert [e.withdrawal_receipt_id for e in services.lineage.history(INTRO)] == [
        withdrawn.withdrawal_receipt_id]


def test_accepting_or_declining_a_proposal_commits_with_its_receipt(
        services: Services) -> None:
    proposals = services.lineage_proposals
    river = "hook:river-engine/1/intro"
    link = ParentLink(resource=OUTRO, relationship="remix")
    first = proposals.propose(BOT, child=river, parents=[link], context=FUN)

    def pending() -> list[str]:
        with services.engine.connect() as conn:
            return list(conn.execute(select(lineage_proposals.c.id)
                                     .where(lineage_proposals.c.status == "pending")).scalars())

    _, registration = refused_then_retried(services, "derivative",
                                           lambda: proposals.accept(FERRYMEN, first.id))
    assert registration.created == (True,) and pending() == []
    second = proposals.propose(BOT, child="hook:river-engine/1/intro",
                               parents=[ParentLink(resource=OUTRO, relationship="sample")],
                               context=FUN)
    declined = refused_then_retried(services, "derivative-proposal-declined",
                                    lambda: proposals.decline(FERRYMEN, second.id,
                                                              message="no sample in it"))
    assert declined.status == "declined" and pending() == []
