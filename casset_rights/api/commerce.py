"""Commerce over HTTP: payments for paid routes, support and unlocks, Connect onboarding,
artists' statements, and Stripe's webhooks.

Paying: ``POST /v1/payments`` turns a paid quote into a Stripe PaymentIntent (its
``client_secret`` is for the payer to confirm it with Stripe); the license is granted
when the payment succeeds (Stripe's webhook, or ``POST /v1/payments/{id}/confirm``).
Without Stripe keys every route here answers 501 ``payments_not_configured``.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.concurrency import sync_to_thread
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter

from casset_rights.api.body import reads
from casset_rights.api.deps import PrincipalDep, ServicesDep
from casset_rights.api.licenses import license_body
from casset_rights.api.openapi import (
    BODY,
    PARAMS,
    SCOPED,
    MediaBody,
    document_body,
    read_by_hand,
    requirement,
)
from casset_rights.api.problems import problems
from casset_rights.api.schemas import LicenseOut
from casset_rights.api.security import needs
from casset_rights.auth.scopes import LICENSES_MANAGE, LICENSES_REQUEST, RIGHTS_READ
from casset_rights.commerce import ConnectAccount, PaymentRecord, Statement
from casset_rights.commerce.wiring import Commerce
from casset_rights.errors import Forbidden, InvalidInput, PaymentsNotConfigured
from casset_rights.licenses import rfc3339
from casset_rights.limits import utc_instant
from casset_rights.principal import Principal
from casset_rights.services import Services

REQUEST = needs(LICENSES_REQUEST, anonymous=False)
MANAGE = needs(LICENSES_MANAGE, anonymous=False)
OPEN = needs(RIGHTS_READ)  # Stripe presents no token; the signature is the credential
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Currency = Annotated[str, msgspec.Meta(min_length=3, max_length=3, pattern="^[A-Za-z]{3}$")]
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# Every route needs Stripe (501 without it) and may meet its failure (502).
PAYING = (*SCOPED, 501, 502)


class PayBody(msgspec.Struct, forbid_unknown_fields=True):
    quote_id: Id


class SupportBody(msgspec.Struct, forbid_unknown_fields=True):
    amount: Annotated[int, msgspec.Meta(ge=1, le=99_999_999, description="minor units")]
    currency: Currency
    message: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class UnlockBody(msgspec.Struct, forbid_unknown_fields=True):
    route: Annotated[str, msgspec.Meta(min_length=1, max_length=64,
                                       description="a paid route offering listen")]


class ConnectBody(msgspec.Struct, forbid_unknown_fields=True):
    refresh_url: Annotated[str, msgspec.Meta(max_length=2000, pattern="^https?://")]
    return_url: Annotated[str, msgspec.Meta(max_length=2000, pattern="^https?://")]


class PaymentOut(msgspec.Struct, kw_only=True):
    id: str
    kind: str
    status: str
    amount: int
    currency: str
    platform_fee: int
    payee: str
    resource: str | None
    quote_id: str | None
    payment_intent: str | None
    client_secret: str | None
    license_id: str | None
    dispute_status: str | None
    splits: list[list[Any]]
    hold_expires_at: str | None
    created_at: str | None
    settled_at: str | None
    receipt_id: str | None
    license: LicenseOut | None = None


class ConnectOut(msgspec.Struct, kw_only=True):
    artist_id: str
    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    onboarding_url: str | None


class LineOut(msgspec.Struct, kw_only=True):
    at: str | None
    payment_id: str
    movement: str
    account: str
    kind: str
    amount: int
    currency: str
    reference: str | None


class StatementOut(msgspec.Struct, kw_only=True):
    artist_id: str
    from_: str | None = msgspec.field(name="from")
    to: str | None
    opening: dict[str, int]
    closing: dict[str, int]
    totals: dict[str, dict[str, int]]
    lines: list[LineOut]
    truncated: bool


class StatementCsv(MediaBody):
    """An artist's statement as CSV: a header row, then one row per line (at,
    payment_id, movement, account, kind, amount, currency, reference)."""

    format = None


class WebhookOut(msgspec.Struct, kw_only=True):
    received: bool
    event_id: str
    type: str
    duplicate: bool
    outcome: str


def commerce_of(services: Services) -> Commerce:
    if services.commerce is None:
        raise PaymentsNotConfigured(
            "payments are not configured on this service (no Stripe keys): paid routes, "
            "support, unlocks, Connect onboarding and statements need them; free, partner "
            "and request routes work")
    return services.commerce


def payment_out(p: PaymentRecord, *, license: LicenseOut | None = None) -> PaymentOut:
    return PaymentOut(
        id=p.id, kind=p.kind, status=p.status, amount=p.amount, currency=p.currency,
        platform_fee=p.platform_fee, payee=p.artist_id, resource=p.resource,
        quote_id=p.quote_id, payment_intent=p.intent_id, client_secret=p.client_secret,
        license_id=p.grant_id, dispute_status=p.dispute_status,
        splits=[[s.artist, s.amount] for s in p.splits],
        hold_expires_at=rfc3339(p.hold_expires_at_ms) if p.status == "open" else None,
        created_at=rfc3339(p.created_at_ms), settled_at=rfc3339(p.settled_at_ms),
        receipt_id=p.receipt_id, license=license)


def connect_out(a: ConnectAccount) -> ConnectOut:
    return ConnectOut(artist_id=a.artist_id, account_id=a.account_id,
                      charges_enabled=a.charges_enabled, payouts_enabled=a.payouts_enabled,
                      details_submitted=a.details_submitted, onboarding_url=a.onboarding_url)


def require_artist(principal: Principal, artist_id: str) -> None:
    if principal.kind != "artist" or principal.subject != artist_id:
        raise Forbidden(f"only artist {artist_id!r} may do this")


def _ms(value: datetime | None, default: int) -> int:
    if value is None:
        return default
    if value.tzinfo is None:
        raise InvalidInput("from and to are RFC 3339 times with a timezone")
    return int(utc_instant(value, "/query").timestamp() * 1000)


class PaymentController(Controller):
    path = "/v1/payments"
    tags = ("commerce",)

    @post("", summary="Pay for a paid quote (a Stripe PaymentIntent)", opt=REQUEST,
          status_code=201, sync_to_thread=True, security=requirement(REQUEST),
          responses=problems(*PAYING, *BODY, 404, 409, 503))
    def pay(self, data: JSONBody[PayBody], services: ServicesDep,
            principal: PrincipalDep) -> PaymentOut:
        return payment_out(commerce_of(services).checkout.open_for_quote(principal,
                                                                         data.quote_id))

    @get("/{payment_id:str}", summary="One of your payments", opt=REQUEST,
         sync_to_thread=True, security=requirement(REQUEST),
         responses=problems(*PAYING, *PARAMS, 404))
    def get_payment(self, payment_id: FromPath[str], services: ServicesDep,
                    principal: PrincipalDep) -> PaymentOut:
        return payment_out(commerce_of(services).checkout.get(principal, payment_id))

    @post("/{payment_id:str}/confirm", summary="Check the payment with Stripe and act on it",
          opt={**REQUEST, **reads("json")}, status_code=200, sync_to_thread=True,
          security=requirement(REQUEST), responses=problems(*PAYING, *BODY, 404, 409))
    def confirm(self, payment_id: FromPath[str], services: ServicesDep,
                principal: PrincipalDep) -> PaymentOut:
        record = commerce_of(services).checkout.confirm(principal, payment_id)
        grant = None
        if record.grant_id is not None:
            found = services.license_desk.grant(principal, record.grant_id)
            grant = license_body(found, principal, now_ms=services.licenses.now_ms())
        return payment_out(record, license=grant)

    # The body is read (and held to the JSON limits) before the handler; the handler
    # verifies the signature over the exact bytes received.
    @post("/webhooks/stripe", summary="Stripe's webhook (signed events)",
          opt={**OPEN, **reads("json")}, status_code=200, security=requirement(OPEN),
          operation_class=read_by_hand(document_body(
              "A Stripe event, signed in the Stripe-Signature header", ("application/json",))),
          responses=problems(*PAYING, *BODY))
    async def stripe_webhook(self, request: Request[Any, Any, Any],
                             services: ServicesDep) -> WebhookOut:
        commerce = commerce_of(services)
        payload = await request.body()
        signature = request.headers.get("stripe-signature")
        outcome = await sync_to_thread(commerce.webhooks.receive, payload, signature)
        return WebhookOut(received=True, event_id=outcome.event_id, type=outcome.type,
                          duplicate=outcome.duplicate, outcome=outcome.outcome)


StatementFormat = Annotated[Literal["json", "csv"], QueryParameter()]


class ArtistMoneyController(Controller):
    path = "/v1"
    tags = ("commerce",)

    @post("/artists/{artist_id:str}/support", summary="Support an artist directly",
          opt=REQUEST, status_code=201, sync_to_thread=True, security=requirement(REQUEST),
          responses=problems(*PAYING, *BODY, 404, 409, 503))
    def support(self, artist_id: FromPath[str], data: JSONBody[SupportBody],
                request: Request[Any, Any, Any], services: ServicesDep,
                principal: PrincipalDep) -> PaymentOut:
        key = request.headers.get("idempotency-key")
        if key is not None and not 1 <= len(key) <= 255:
            raise InvalidInput("Idempotency-Key is 1 to 255 characters")
        record = commerce_of(services).checkout.open_support(
            principal, artist_id, amount=data.amount, currency=data.currency,
            message=data.message, idempotency_key=key)
        return payment_out(record)

    @post("/releases/{release_id:str}/unlock", summary="Unlock a release (buy listen)",
          opt=REQUEST, status_code=201, sync_to_thread=True, security=requirement(REQUEST),
          responses=problems(*PAYING, *BODY, 404, 409, 503))
    def unlock(self, release_id: FromPath[str], data: JSONBody[UnlockBody],
               services: ServicesDep, principal: PrincipalDep) -> PaymentOut:
        commerce = commerce_of(services)
        quote = services.licenses.quote(principal, resource=f"release:{release_id}",
                                        route=data.route, scopes=["listen"])
        return payment_out(commerce.checkout.open_for_quote(principal, quote.id,
                                                            kind="unlock"))

    @post("/artists/{artist_id:str}/connect", summary="Your Stripe Connect account and "
          "an onboarding link", opt=MANAGE, status_code=200, sync_to_thread=True,
          security=requirement(MANAGE), responses=problems(*PAYING, *BODY, 503))
    def connect(self, artist_id: FromPath[str], data: JSONBody[ConnectBody],
                services: ServicesDep, principal: PrincipalDep) -> ConnectOut:
        commerce = commerce_of(services)
        require_artist(principal, artist_id)
        account = commerce.payouts.onboard(artist_id, principal=principal.for_receipt(),
                                           refresh_url=data.refresh_url,
                                           return_url=data.return_url)
        return connect_out(account)

    @get("/artists/{artist_id:str}/statement", summary="Your ledger between two times",
         opt=MANAGE, sync_to_thread=True, security=requirement(MANAGE),
         operation_class=read_by_hand(also=((200, "application/json", "StatementOut"),)),
         responses={200: ResponseSpec(StatementCsv, media_type=CSV_MEDIA_TYPE,
                                      description="The statement: JSON, or CSV (format=csv "
                                                  "or Accept: text/csv)",
                                      generate_examples=False),
                    **problems(*PAYING, *PARAMS)})
    def statement(self, artist_id: FromPath[str], services: ServicesDep,
                  principal: PrincipalDep, request: Request[Any, Any, Any],
                  from_: Annotated[datetime | None, QueryParameter(name="from")] = None,
                  to: Annotated[datetime | None, QueryParameter()] = None,
                  format: StatementFormat = "json",
                  limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000,
                  ) -> Response[StatementOut]:
        """JSON (the schema here), or CSV with ``format=csv`` or ``Accept: text/csv``:
        one row per line, columns at, payment_id, movement, account, kind, amount,
        currency, reference."""
        require_artist(principal, artist_id)
        now = services.licenses.now_ms()
        from_ms, to_ms = _ms(from_, 0), _ms(to, now + 1)
        if to_ms <= from_ms:
            raise InvalidInput("to must be after from")
        found = commerce_of(services).payouts.statement(artist_id, from_ms=from_ms,
                                                        to_ms=to_ms, limit=limit)
        wants_csv = format == "csv" or "text/csv" in request.headers.get("accept", "")
        if wants_csv:
            return Response(statement_csv(found),  # type: ignore[arg-type]
                            media_type=CSV_MEDIA_TYPE)
        return Response(statement_out(found))


def statement_out(s: Statement) -> StatementOut:
    return StatementOut(
        artist_id=s.artist_id, from_=rfc3339(s.from_ms), to=rfc3339(s.to_ms),
        opening=s.opening, closing=s.closing, totals=s.totals, truncated=s.truncated,
        lines=[LineOut(at=rfc3339(x.at_ms), payment_id=x.payment_id, movement=x.movement,
                       account=x.account, kind=x.kind, amount=x.amount, currency=x.currency,
                       reference=x.reference) for x in s.lines])


def statement_csv(s: Statement) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["at", "payment_id", "movement", "account", "kind", "amount",
                     "currency", "reference"])
    for x in s.lines:
        writer.writerow([rfc3339(x.at_ms), x.payment_id, x.movement, x.account, x.kind,
                         x.amount, x.currency, x.reference or ""])
    return out.getvalue()


