"""Quotes, licenses, requests, revocation and held grants, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from sqlalchemy import event
from statements_sent import statements_sent
from test_licenses_support import (
    CAPPED_GROUNDING,
    FERRYMEN,
    NIGHTGLASS,
    LedgerPayments,
    PaymentDeclined,
    agent,
    partner,
    put_policy,
    with_payments,
)

from casset_rights.decisions.decide import NAMED_GRANTS
from casset_rights.errors import Forbidden, PaymentsNotConfigured, Unauthenticated
from casset_rights.licenses import LicenseService, verify_license_token
from casset_rights.licenses.errors import (
    LicenseAlreadyRevoked,
    LicenseCapReached,
    LicenseNotFound,
    QuoteExpired,
    QuoteNotFound,
    QuoteUsed,
    RequestAlreadyDecided,
    RequestNotFound,
    RouteNotOffered,
    UnknownRoute,
)
from casset_rights.policy import build_request
from casset_rights.principal import PUBLIC, Principal
from casset_rights.receipts.verify import verify_receipt
from casset_rights.services import Services

MIDNIGHT = "release:midnight-tapes"
BOT = agent("bot-1")


def _grounding(services: Services, principal: Principal = BOT) -> tuple[Any, Any]:
    quote = services.licenses.quote(principal, resource=MIDNIGHT, route="grounding")
    return quote, services.licenses.obtain(principal, quote.id).grant


def test_a_free_route_is_quoted_signed_and_granted_at_once(services: Services) -> None:
    before = services.decisions.decide(principal=BOT, action="ai-input", resource=MIDNIGHT)
    assert before.decision.decision == "license_required"
    quote = services.licenses.quote(BOT, resource=MIDNIGHT, route="grounding")
    assert quote.scopes == ("ai-input",) and quote.route.type == "free"
    assert quote.expires_at_ms - quote.created_at_ms == 15 * 60 * 1000
    jwks = services.keys.jwks()
    signed = verify_receipt(quote.token, jwks)
    assert signed["kind"] == "license-quote" and signed["jti"] == quote.id
    assert signed["route"]["policy_hash"] == quote.route.policy_hash

    grant = services.licenses.obtain(BOT, quote.id).grant
    assert grant.status == "active" and grant.scopes == ("ai-input",)
    assert grant.expires_at_ms - grant.granted_at_ms == 30 * 86_400_000
    claims = verify_license_token(grant.token, jwks)
    assert claims["jti"] == grant.id and claims["sub"] == "client:bot-1"
    assert claims["resource"] == MIDNIGHT and claims["scopes"] == ["ai-input"]
    assert services.receipts.get(grant.receipt_id).kind == "license-grant"


def test_a_free_license_is_one_transaction(services: Services) -> None:
    # The quote is read, used and the grant written on one connection, in one
    # transaction: the read takes no connection (and transaction) of its own.
    quote = services.licenses.quote(BOT, resource=MIDNIGHT, route="grounding")
    here = threading.get_ident()
    taken: list[int] = []

    def count(*_: Any) -> None:
        if threading.get_ident() == here:  # not the service's background threads
            taken.append(here)

    event.listen(services.engine, "checkout", count)
    try:
        grant = services.licenses.obtain(BOT, quote.id).grant
    finally:
        event.remove(services.engine, "checkout", count)
    assert len(taken) == 1
    assert grant is not None and grant.quote_id == quote.id
    with pytest.raises(QuoteUsed):
        services.licenses.obtain(BOT, quote.id)


def test_on_postgresql_a_free_flow_is_three_statements_and_no_transaction_block(
        services: Services) -> None:
    # The quote is one statement (quote, receipt, queue entry); the license a read, then
    # one statement (quote used, grant, receipt, queue entry), each a transaction of its
    # own: no BEGIN, no COMMIT.
    if services.engine.dialect.name != "postgresql":
        pytest.skip("on SQLite each is a transaction of several statements")
    with statements_sent(this_thread_only=True) as sent:
        quote = services.licenses.quote(BOT, resource=MIDNIGHT, route="grounding")
        quoted = list(sent)
        grant = services.licenses.obtain(BOT, quote.id).grant
    assert quoted == ["WITH"]
    assert sent[len(quoted):] == ["SELECT", "WITH"]
    assert grant is not None
    assert services.receipts.get(grant.receipt_id).kind == "license-grant"
    assert services.receipts.get(quote.id).kind == "license-quote"
    with pytest.raises(QuoteUsed):
        services.licenses.obtain(BOT, quote.id)


def test_a_held_grant_permits_with_its_obligations_and_names_the_grant(services: Services) -> None:
    _, grant = _grounding(services)
    answer = services.decisions.decide(principal=BOT, action="ai-input",
                                       resource="hook:midnight-tapes/1/chorus").decision
    assert answer.decision == "permit"
    assert [r.rule for r in answer.reasons] == [f"grant:{grant.id}"]
    assert [o.type for o in answer.obligations] == ["attribute", "link-back"]
    assert "Nightglass" in (answer.obligations[0].text or "")
    other = services.decisions.decide(principal=agent("bot-2"), action="ai-input",
                                      resource=MIDNIGHT).decision
    assert other.decision == "license_required"
    # A deny rule still wins over a license: the artist's training deny.
    train = services.decisions.decide(principal=BOT, action="ai-train", resource=MIDNIGHT)
    assert train.decision.decision == "deny"


def test_a_decision_names_at_most_the_newest_licenses_that_cover_it(
        services: Services) -> None:
    # A licensee obtaining the same free route again and again: its answers (and
    # receipts) name the most recent NAMED_GRANTS of them, in the order granted, not all.
    grants = [_grounding(services)[1] for _ in range(NAMED_GRANTS + 4)]
    answer = services.decisions.decide(principal=BOT, action="ai-input",
                                       resource="hook:midnight-tapes/1/chorus")
    newest = sorted(grants, key=lambda g: (g.granted_at_ms, g.id))[-NAMED_GRANTS:]
    assert answer.decision.decision == "permit"
    assert [r.rule for r in answer.decision.reasons] == [f"grant:{g.id}" for g in newest]
    assert [o.type for o in answer.decision.obligations] == ["attribute", "link-back"]
    signed = verify_receipt(answer.receipt.token, services.keys.jwks())
    assert [r["rule"] for r in signed["reasons"]] == [f"grant:{g.id}" for g in newest]
    # Revoked, they no longer count: the older ones are named again.
    for grant in newest[-4:]:
        services.license_desk.revoke(NIGHTGLASS, grant.id, reason="test")
    again = services.decisions.decide(principal=BOT, action="ai-input", resource=MIDNIGHT)
    assert [r.rule for r in again.decision.reasons] == [
        f"grant:{g.id}" for g in sorted(grants, key=lambda g: (g.granted_at_ms, g.id))[:-4]]


def test_a_quote_is_for_routes_the_policy_offers_you(services: Services) -> None:
    with pytest.raises(Unauthenticated):
        services.licenses.quote(PUBLIC, resource=MIDNIGHT, route="grounding")
    with pytest.raises(UnknownRoute):
        services.licenses.quote(BOT, resource=MIDNIGHT, route="no-such-route")
    with pytest.raises(RouteNotOffered, match="remix: deny"):
        services.licenses.quote(BOT, resource="hook:midnight-tapes/1/chorus",
                                route="remix-license", scopes=["remix"])
    # Without scopes the quote covers what the route offers here: not the chorus's sample.
    quote = services.licenses.quote(BOT, resource="hook:midnight-tapes/1/chorus",
                                    route="remix-license", context={"purpose": "commercial"})
    assert quote.scopes == ("remix",) and quote.route.price is not None
    with pytest.raises(RouteNotOffered, match="sample: deny"):
        services.licenses.quote(BOT, resource="hook:midnight-tapes/1/chorus",
                                route="remix-license", scopes=["remix", "sample"],
                                context={"purpose": "commercial"})


def test_a_quote_buys_one_license_only_its_holder_and_before_it_expires(services: Services) -> None:
    quote, _ = _grounding(services)
    with pytest.raises(QuoteUsed):
        services.licenses.obtain(BOT, quote.id)
    other = services.licenses.quote(BOT, resource=MIDNIGHT, route="grounding")
    with pytest.raises(QuoteNotFound):
        services.licenses.obtain(agent("thief"), other.id)
    later = LicenseService(engine=services.engine, index=services.index,
                           issuer=services.issuer, receipts=services.receipts, keys=services.keys,
                           issuer_url="http://rights.test",
                           clock=lambda: other.expires_at_ms / 1000 + 1)
    with pytest.raises(QuoteExpired):
        later.obtain(BOT, other.id)


def test_paid_routes_answer_payments_not_configured_by_default(services: Services) -> None:
    quote = services.licenses.quote(BOT, resource="hook:midnight-tapes/2/outro",
                                    route="remix-license", context={"purpose": "commercial"})
    with pytest.raises(PaymentsNotConfigured, match="payments are not configured"):
        services.licenses.obtain(BOT, quote.id)
    # Nothing was used up: the quote still buys once payments exist.
    with_payments(services, LedgerPayments({"client:bot-1": 10_000}))
    grant = services.licenses.obtain(BOT, quote.id).grant
    assert grant.payment_id and grant.route.revenue_share_percent == 10
    assert services.receipts.get(grant.receipt_id).payload["payment"]["amount"] == {
        "amount": 4900, "currency": "usd"}


def test_a_declined_payment_gives_the_quote_and_the_cap_slot_back(services: Services) -> None:
    ledger = with_payments(services, LedgerPayments({"client:bot-1": 100})).payments
    quote = services.licenses.quote(BOT, resource="hook:midnight-tapes/2/outro",
                                    route="remix-license", context={"purpose": "commercial"})
    with pytest.raises(PaymentDeclined):
        services.licenses.obtain(BOT, quote.id)
    from casset_rights.licenses import store
    with services.engine.connect() as conn:
        assert store.granted_count(conn, quote.route) == 0
        assert store.read_quote(conn, quote.id).used_at_ms is None  # type: ignore[union-attr]
    ledger.balances["client:bot-1"] = 4900
    assert services.licenses.obtain(BOT, quote.id).grant is not None


def test_partner_routes_grant_at_once_to_their_partners_only(services: Services) -> None:
    tidewater = partner("tidewater-radio")
    quote = services.licenses.quote(tidewater, resource="track:lantern-season/1",
                                    route="tidewater")
    assert set(quote.scopes) == {"listen", "sync"}
    grant = services.licenses.obtain(tidewater, quote.id).grant
    assert grant.route.type == "partner" and grant.expires_at_ms is None
    with pytest.raises(RouteNotOffered):
        services.licenses.quote(partner("harbour-fm"), resource="track:lantern-season/1",
                                route="tidewater")


def test_caps_count_every_grant_and_refuse_clearly(services: Services) -> None:
    put_policy(services, CAPPED_GROUNDING)
    results = []
    for n in range(12):
        who = agent(f"bot-{n}")
        quote = services.licenses.quote(who, resource="release:glass-hours", route="grounding-ten")
        try:
            results.append(services.licenses.obtain(who, quote.id).grant.id)
        except LicenseCapReached as exc:
            results.append(exc.code)
            assert "all 10" in exc.detail
    assert results[10:] == ["license_cap_reached"] * 2 and len(set(results[:10])) == 10


def test_request_routes_wait_for_the_artist(services: Services) -> None:
    films = partner("northlight-films")
    quote = services.licenses.quote(films, resource="track:glass-hours/1", route="sync-request")
    pending = services.licenses.obtain(films, quote.id, message="A 30 s spot, EU, 3 months").request
    assert pending.status == "pending" and pending.message.startswith("A 30 s")
    desk = services.license_desk
    assert [r.id for r in desk.requests(NIGHTGLASS, status="pending")] == [pending.id]
    with pytest.raises(RequestNotFound):  # another artist does not see it
        desk.request(FERRYMEN, pending.id)
    with pytest.raises(Forbidden):  # the requester does not approve its own request
        desk.approve(films, pending.id)
    decided, grant = desk.approve(NIGHTGLASS, pending.id, message="Go ahead.")
    assert decided.status == "approved" and decided.grant_id == grant.id
    assert decided.decision_message == "Go ahead."
    seen = desk.request(films, pending.id)
    assert seen.status == "approved" and desk.grant(films, grant.id).token == grant.token
    with pytest.raises(RequestAlreadyDecided):
        desk.refuse(NIGHTGLASS, pending.id, message="changed my mind")
    approval = services.receipts.get(grant.receipt_id)
    assert approval.kind == "license-approval"
    assert approval.payload["principal"]["sub"] == "nightglass"
    sync = services.decisions.decide(principal=films, action="sync",
                                     resource="track:glass-hours/1").decision
    assert sync.decision == "permit"


def test_a_refusal_carries_the_artists_message(services: Services) -> None:
    films = partner("northlight-films")
    quote = services.licenses.quote(films, resource="track:glass-hours/2", route="sync-request")
    pending = services.licenses.obtain(films, quote.id).request
    refused = services.license_desk.refuse(NIGHTGLASS, pending.id, message="Not for ads.")
    assert refused.status == "refused" and refused.grant_id is None
    seen = services.license_desk.request(films, pending.id)
    assert (seen.status, seen.decision_message) == ("refused", "Not for ads.")
    assert services.receipts.get(seen.decision_receipt_id).kind == "license-refusal"


def test_revocation_ends_the_license_from_now_on_only(services: Services) -> None:
    _, grant = _grounding(services)
    desk = services.license_desk
    before = datetime.now(UTC)
    with pytest.raises(LicenseNotFound):
        desk.revoke(FERRYMEN, grant.id, reason="not mine")
    with pytest.raises(Forbidden):
        desk.revoke(BOT, grant.id, reason="the licensee cannot")
    revoked = desk.revoke(NIGHTGLASS, grant.id, reason="terms changed")
    assert revoked.status == "revoked" and revoked.revocation_reason == "terms changed"
    assert services.receipts.get(revoked.revocation_receipt_id).kind == "license-revocation"
    with pytest.raises(LicenseAlreadyRevoked):
        desk.revoke(NIGHTGLASS, grant.id, reason="again")

    now = services.decisions.decide(principal=BOT, action="ai-input", resource=MIDNIGHT)
    assert now.decision.decision == "license_required"
    then = services.decisions.decide(principal=BOT, action="ai-input", resource=MIDNIGHT,
                                     context={"at": before.isoformat()})
    assert then.decision.decision == "permit"

    at_use = datetime.fromtimestamp((revoked.revoked_at_ms - 1) / 1000, UTC)
    assert desk.introspect(grant.token, at=at_use).active
    after = desk.introspect(grant.token)
    assert (after.active, after.reason) == (False, "revoked")
    earlier = desk.introspect(grant.token, at=before - timedelta(days=1))
    assert (earlier.active, earlier.reason) == (False, "not_yet_valid")


def test_introspection_checks_resource_scope_and_the_token(services: Services) -> None:
    _, grant = _grounding(services)
    desk = services.license_desk
    inside = desk.introspect(grant.token, resource="hook:midnight-tapes/2/outro", scope="ai-input")
    assert inside.active and inside.license.id == grant.id  # type: ignore[union-attr]
    assert desk.introspect(grant.token, resource="release:glass-hours").reason == \
        "resource_not_covered"
    assert desk.introspect(grant.token, scope="remix").reason == "scope_not_covered"
    assert desk.introspect(grant.token, at=datetime.now(UTC) + timedelta(days=31)).reason == \
        "expired"
    head, payload, _ = grant.token.split(".")
    forged = f"{head}.{payload}.{'A' * 86}"
    assert desk.introspect(forged).reason == "invalid_token"
    quote = services.licenses.quote(BOT, resource=MIDNIGHT, route="grounding")
    receipt_not_license = desk.introspect(quote.token)
    assert receipt_not_license.reason == "invalid_token"
    assert "wrong type" in (receipt_not_license.detail or "")


def test_listing_shows_holders_and_givers_their_own(services: Services) -> None:
    _, mine = _grounding(services)
    _, theirs = _grounding(services, agent("bot-2"))
    desk = services.license_desk
    assert [g.id for g in desk.grants(BOT)] == [mine.id]
    assert {g.id for g in desk.grants(NIGHTGLASS)} == {mine.id, theirs.id}
    assert desk.grants(FERRYMEN) == []
    with pytest.raises(LicenseNotFound):
        desk.grant(agent("bot-2"), mine.id)
    assert msgspec.to_builtins(desk.grant(NIGHTGLASS, mine.id))["id"] == mine.id


def test_a_license_holds_only_in_its_territory(services: Services) -> None:
    with_payments(services, LedgerPayments({"client:studio": 200_000}))
    studio = partner("studio")
    us = {"purpose": "commercial", "territory": "US"}
    quote = services.licenses.quote(studio, resource="track:river-engine/2",
                                    route="sync-license", context=us)
    grant = services.licenses.obtain(studio, quote.id).grant
    assert grant is not None and grant.route.territory == ("US", "CA", "GB", "IE")

    def sync(context: dict[str, str]) -> str:
        return services.decisions.decide(principal=studio, action="sync",
                                         resource="track:river-engine/2",
                                         context=context).decision.decision

    assert sync({"territory": "GB"}) == "permit"
    assert sync({"territory": "FR"}) == "license_required"  # the request route, elsewhere
    assert sync({}) == "license_required"  # not saying where is not covered
    desk = services.license_desk
    assert desk.introspect(grant.token, territory="ca").active
    assert desk.introspect(grant.token, territory="FR").reason == "territory_not_covered"


def test_a_grant_and_its_revocation_made_here_count_at_the_next_decision(
        services: Services) -> None:
    """Held licenses are read from memory; a write in this process reaches that memory
    as soon as it is committed."""
    caller = agent("bot-memory")
    request = build_request("ai-input", MIDNIGHT, principal=caller)
    assert services.decisions.decide_request(request).decision.decision == "license_required"
    _, grant = _grounding(services, caller)
    after = services.decisions.decide_request(request).decision
    assert after.decision == "permit" and after.reasons[0].rule == f"grant:{grant.id}"
    # Revoked a few milliseconds later (a fast machine revokes in the grant's millisecond
    # or the next, leaving no instant in force between them to ask about below).
    while time.time_ns() // 1_000_000 <= grant.granted_at_ms + 2:
        time.sleep(0.0002)
    services.license_desk.revoke(NIGHTGLASS, grant.id, reason="ended")
    assert services.decisions.decide_request(request).decision.decision == "license_required"
    # Time-aware: a use asked about before the revocation is still licensed.
    at = datetime.fromtimestamp((grant.granted_at_ms + 1) / 1000, UTC).isoformat()
    earlier = build_request("ai-input", MIDNIGHT, principal=caller, context={"at": at})
    assert services.decisions.decide_request(earlier).decision.decision == "permit"
