"""Artists paid through Connect: destination charges with the platform fee, the lineage
split as transfers in one transfer group (held for an artist not onboarded, paid when
Stripe enables them), fans' unlocks and support, and the artists' statements."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from commerce_helpers import (  # noqa: F401 (double and settings are fixtures)
    auth,
    deliver,
    double,
    onboard,
    pay,
    payer_sdk,
    settings,
)
from stripe_double.server import StripeDouble

from casset_rights.commerce import ledger
from casset_rights.lineage.graph import Edge, edge_row, insert_edges
from casset_rights.resources import parse_resource

UNLOCK_POLICY = """\
policy: mara-quell-low-orbit-unlock
artist: mara-quell
applies_to: release:low-orbit
rules:
  - id: unlock-to-listen
    route: listen-unlock
    for: [listen]
    to: [agent, partner]
routes:
  listen-unlock:
    type: paid
    price: { amount: 1000, currency: usd }
    term_days: 365
"""


def derive(services: Any, child: str, child_artist: str, parent: str, parent_artist: str,
           ppm: int) -> None:
    """A registered derivative edge (what POST /v1/derivatives stores)."""
    edge = Edge(child=child, parent=parent, relationship="sample", child_artist=child_artist,
                parent_artist=parent_artist, grant_id=None, revenue_share_ppm=ppm,
                registered_by=f"artist:{child_artist}", registered_at_ms=1)
    with services.engine.begin() as conn:
        insert_edges(conn, [edge_row(edge, child=parse_resource(child),
                                     parent=parse_resource(parent))])


def unlocked(oauth: Any, double: StripeDouble, services: Any) -> dict[str, Any]:
    http = oauth.http
    services.policies.put(UNLOCK_POLICY, source_name="unlock.yaml")
    services.index.refresh(force=True)
    derive(services, "release:low-orbit", "mara-quell", "release:midnight-tapes",
           "nightglass", 200_000)
    derive(services, "release:low-orbit", "mara-quell", "release:river-engine",
           "the-ferrymen", 100_000)
    onboard(http, double, oauth.token(oauth.artist("mara-quell")), "mara-quell")
    onboard(http, double, oauth.token(oauth.artist("nightglass")), "nightglass")
    fan = oauth.token(oauth.agent(client_id="fan-radio"))
    answer = http.post("/v1/releases/low-orbit/unlock", headers=auth(fan),
                       json={"route": "listen-unlock"})
    assert answer.status_code == 201, answer.text
    payment = answer.json()
    assert payment["kind"] == "unlock"
    assert pay(double, payment["payment_intent"]) == "succeeded"
    delivery = double.wait_for("payment_intent.succeeded", payment["payment_intent"])
    assert deliver(http, delivery).status_code == 200
    return {"fan": fan, "payment": payment}


def test_an_unlock_is_a_destination_charge_split_up_the_lineage_graph(
        oauth: Any, double: StripeDouble, services: Any) -> None:
    http = oauth.http
    done = unlocked(oauth, double, services)
    payment, fan = done["payment"], done["fan"]
    # 1000 less the 10 % fee: 900, split 630 / 180 / 90 (20 % and 10 % upstream).
    assert payment["splits"] == [["mara-quell", 630], ["nightglass", 180],
                                 ["the-ferrymen", 90]]
    intent = payer_sdk(double).v1.payment_intents.retrieve(payment["payment_intent"])
    assert intent.application_fee_amount == 370  # the fee and the upstream shares
    assert intent.transfer_data["destination"] in double.accounts
    assert intent.transfer_group == payment["id"]
    group = [t for t in double.transfers.values() if t["transfer_group"] == payment["id"]]
    assert [(t["amount"]) for t in group] == [180]  # The Ferrymen are not onboarded yet
    # The engine honours the unlock as it honours a license.
    decision = http.post("/v1/decisions", headers=auth(fan), json={
        "action": "listen", "resource": "track:low-orbit/1"}).json()
    assert decision["decision"] == "permit"

    onboard(http, double, oauth.token(oauth.artist("the-ferrymen")), "the-ferrymen")
    group = [t for t in double.transfers.values() if t["transfer_group"] == payment["id"]]
    assert sorted(t["amount"] for t in group) == [90, 180]
    with services.engine.connect() as conn:
        assert ledger.payment_balance(conn, payment["id"]) == 0


def test_statements_for_the_artist_in_json_and_csv(oauth: Any, double: StripeDouble,
                                                   services: Any) -> None:
    http = oauth.http
    unlocked(oauth, double, services)
    token = oauth.token(oauth.artist("nightglass"))
    answer = http.get("/v1/artists/nightglass/statement", headers=auth(token),
                      params={"from": "2020-01-01T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    statement = answer.json()
    assert statement["closing"] == {"usd": 180} and statement["opening"] == {}
    assert [(x["kind"], x["amount"]) for x in statement["lines"]] == [
        ("share_held", 180), ("transfer", -180), ("transfer", 180)]
    as_csv = http.get("/v1/artists/nightglass/statement", headers=auth(token),
                      params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["amount"]) for r in rows] == [180, -180, 180]
    later = http.get("/v1/artists/nightglass/statement", headers=auth(token),
                     params={"from": "2099-01-01T00:00:00Z", "to": "2099-02-01T00:00:00Z"})
    assert later.json()["opening"] == {"usd": 180} and later.json()["lines"] == []
    other = http.get("/v1/artists/mara-quell/statement", headers=auth(token))
    assert other.status_code == 403
    bad = http.get("/v1/artists/nightglass/statement", headers=auth(token),
                   params={"from": "2030-01-01T00:00:00Z", "to": "2020-01-01T00:00:00Z"})
    assert bad.status_code == 422


def test_a_fan_supports_an_artist_with_a_message(oauth: Any, double: StripeDouble,
                                                 services: Any) -> None:
    http = oauth.http
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    fan = oauth.token(oauth.agent(client_id="fan-club"))
    headers = {**auth(fan), "Idempotency-Key": f"support-{uuid.uuid4().hex}"}
    body = {"amount": 500, "currency": "usd", "message": "for the last record"}
    first = http.post("/v1/artists/nightglass/support", headers=headers, json=body)
    assert first.status_code == 201, first.text
    again = http.post("/v1/artists/nightglass/support", headers=headers, json=body)
    assert again.json()["id"] == first.json()["id"]
    intent = first.json()["payment_intent"]
    assert again.json()["payment_intent"] == intent
    assert pay(double, intent) == "succeeded"
    assert deliver(http, double.wait_for("payment_intent.succeeded", intent)).status_code == 200
    paid = http.get(f"/v1/payments/{first.json()['id']}", headers=auth(fan)).json()
    assert paid["status"] == "succeeded" and paid["license_id"] is None
    receipt = http.get(f"/v1/receipts/{paid['receipt_id']}").json()
    assert receipt["kind"] == "payment-succeeded"
    statement = http.get("/v1/artists/nightglass/statement",
                         headers=auth(oauth.token(oauth.artist("nightglass")))).json()
    assert statement["totals"] == {"usd": {"support_share": 450}}


def test_bad_support_is_refused_with_a_stable_code_and_no_money_moves(
        oauth: Any, double: StripeDouble) -> None:
    http = oauth.http
    fan = oauth.token(oauth.agent(client_id="fan-bad"))
    nobody = http.post("/v1/artists/the-ferrymen/support", headers=auth(fan),
                       json={"amount": 500, "currency": "usd"})
    assert nobody.status_code == 409 and nobody.json()["code"] == "artist_not_payable"
    onboard(http, double, oauth.token(oauth.artist("nightglass")))
    for body, code in [({"amount": 10, "currency": "usd"}, "amount_below_minimum"),
                       ({"amount": 500, "currency": "xyz"}, "unknown_currency")]:
        answer = http.post("/v1/artists/nightglass/support", headers=auth(fan), json=body)
        assert answer.status_code == 422 and answer.json()["code"] == code
    before = len(double.requests)
    assert http.post("/v1/artists/nightglass/support", headers=auth(fan),
                     json={"amount": -5, "currency": "usd"}).status_code in (400, 422)
    assert len(double.requests) == before
