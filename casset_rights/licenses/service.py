"""Acting on ``license_required``: quotes, and the licenses they turn into.

* ``quote`` checks that the policy offers the named route to this principal for every
  scope asked about (in this context), and answers a signed offer valid for 15 minutes.
* ``obtain`` turns a quote into a license at once for ``free`` and ``partner`` routes,
  into a pending request for ``request`` routes (the artist decides, ``ArtistDesk``),
  and through the payment provider for ``paid`` routes (``NoPayments`` answers
  ``payments_not_configured``).

A grant is written in one transaction that uses the quote and takes a slot under the
route's cap, both by conditional updates, so concurrent buyers of a capped route get
exactly ``cap`` licenses and clear ``license_cap_reached`` refusals for the rest. Every
quote, grant and request produces a signed receipt, stored in the same transaction as
the rows it vouches for: when the receipt cannot be stored, nothing is (the quote stays
unused and can be tried again).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine

from casset_rights import idempotency
from casset_rights.db.bulk import Rows, insert_together
from casset_rights.db.engine import one_statement, writing
from casset_rights.decisions.index import RightsIndex
from casset_rights.errors import InvalidInput, PaymentsNotConfigured, Unauthenticated
from casset_rights.idempotency import Claim
from casset_rights.licenses import store
from casset_rights.licenses.errors import (
    LicenseCapReached,
    QuoteExpired,
    QuoteNotFound,
    QuoteUsed,
    RouteNotOffered,
    UnknownRoute,
)
from casset_rights.licenses.models import (
    QUOTE_TTL_SECONDS,
    Grant,
    LicenseRequest,
    Obtained,
    Quote,
    licensee_key,
    rfc3339,
)
from casset_rights.licenses.payments import NoPayments, Payment, Payments, format_money
from casset_rights.licenses.tokens import sign_license
from casset_rights.policy import LicenseRoute, authorize, build_request
from casset_rights.principal import Principal
from casset_rights.receipts.keys import KeyStore
from casset_rights.receipts.service import Receipt, ReceiptIssuer, ReceiptStore

DAY_MS = 86_400_000
# Built once, here: see casset_rights.idempotency on why not per call.
OBTAINED = msgspec.json.Decoder(Obtained)


def principal_from(record: Mapping[str, Any]) -> Principal:
    """The principal a stored ``for_receipt()`` record describes."""
    return Principal(kind=record.get("kind", "public"), client_id=record.get("client_id"),
                     subject=record.get("sub"), attributes=dict(record.get("attributes", {})))


def require_licensee(principal: Principal) -> str:
    key = licensee_key(principal)
    if key is None:
        raise Unauthenticated("licenses are held by authenticated clients and artists; "
                              "present an access token")
    return key


class LicenseService:
    def __init__(self, *, engine: Engine, index: RightsIndex, issuer: ReceiptIssuer,
                 receipts: ReceiptStore, keys: KeyStore, issuer_url: str,
                 payments: Payments | None = None,
                 quote_ttl_seconds: int = QUOTE_TTL_SECONDS,
                 clock: Callable[[], float] = time.time,
                 on_grants_changed: Callable[[Grant], None] | None = None) -> None:
        """``on_grants_changed(grant)`` hears, once committed, of every grant written or
        changed (the in-memory held licenses hold a new one at once, and read a changed
        one again)."""
        self._engine = engine
        self._on_grants_changed = on_grants_changed
        self._index = index
        self._issuer = issuer
        self._receipts = receipts
        self._keys = keys
        self._issuer_url = issuer_url
        self.payments: Payments = payments or NoPayments()
        self._quote_ttl_ms = quote_ttl_seconds * 1000
        self._clock = clock

    @property
    def engine(self) -> Engine:
        return self._engine

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def record(self, kind: str, body: dict[str, Any]) -> Receipt:
        """Sign a receipt now (its jti can go into the rows it vouches for)."""
        return self._issuer.issue(kind, body)

    def store_receipt_in(self, conn: Connection, receipt: Receipt) -> None:
        """Store ``receipt`` inside the transaction on ``conn`` that makes the change it
        vouches for: both commit or neither does (the log's sequencer takes it from the
        queue afterwards)."""
        self._receipts.store_in(conn, [receipt])

    def grants_changed(self, grant: Grant) -> None:
        """``grant`` was written or changed (and committed)."""
        if self._on_grants_changed is not None:
            self._on_grants_changed(grant)

    # -- quotes -----------------------------------------------------------------------

    def quote(self, principal: Principal, *, resource: str, route: str,
              scopes: Sequence[str] | None = None,
              context: Mapping[str, Any] | None = None) -> Quote:
        """A signed offer of ``route`` for ``scopes`` (default: every scope the route
        is offered for here) on ``resource``, valid for 15 minutes.

        Raises Unauthenticated for the public, UnknownResource, UnknownScope,
        InvalidInput (context), UnknownRoute when no policy of the resource defines the
        route, and RouteNotOffered when the policy does not answer this principal with
        that route for a scope (it permits, denies or offers other routes).
        """
        licensee = require_licensee(principal)
        # The resource and context are checked once; each scope is then asked in turn.
        probe = build_request("listen", resource, principal=principal, context=context)
        resolved = self._index.resolve(probe.resource)
        defined = [p.routes[route] for p in resolved.chain if route in p.routes]
        if not defined:
            raise UnknownRoute(f"no policy of {probe.resource.id} defines a route {route!r}")
        strict = bool(scopes)
        wanted = tuple(dict.fromkeys(scopes)) if scopes else defined[-1].scopes
        offered: LicenseRoute | None = None
        covered: list[str] = []
        refusals: list[str] = []
        for scope in wanted:
            request = build_request(scope, probe.resource, principal=principal,
                                    context=probe.context)
            decision = authorize(resolved.chain, request)
            match = next((r for r in decision.license_routes if r.name == route), None)
            if match is None:
                routes = ", ".join(r.name for r in decision.license_routes) or "none"
                refusals.append(f"{scope}: {decision.decision} (routes: {routes})")
            else:
                offered = match
                covered.append(scope)
        if offered is None or (strict and refusals):
            raise RouteNotOffered(f"route {route!r} is not offered to you on "
                                  f"{probe.resource.id} for " + "; ".join(refusals))
        if offered.type == "partner" and principal.client_id not in (offered.partners or ()):
            raise RouteNotOffered(f"route {route!r} is a standing agreement with "
                                  f"{', '.join(offered.partners or ())}")
        now = self.now_ms()
        context_doc = msgspec.to_builtins(probe.context)
        scope_list = tuple(covered)
        receipt = self.record("license-quote", {
            "principal": principal.for_receipt(),
            "request": {"action": "license-quote", "resource": probe.resource.id,
                        "context": context_doc},
            "status": "quoted",
            "scopes": list(scope_list),
            "route": msgspec.to_builtins(offered),
            "policy_hash": offered.policy_hash,
            "manifest_hash": resolved.release.manifest_hash,
            "expires_at": rfc3339(now + self._quote_ttl_ms),
        })
        quote = Quote(id=receipt.jti, licensee=licensee, principal=principal.for_receipt(),
                      artist_id=resolved.release.artist_id, resource=probe.resource.id,
                      scopes=scope_list, route=offered,
                      manifest_hash=resolved.release.manifest_hash, context=context_doc,
                      created_at_ms=now, expires_at_ms=now + self._quote_ttl_ms,
                      token=receipt.token)
        # The quote, its receipt and the receipt's queue entry: one statement, on
        # PostgreSQL a transaction of its own.
        with one_statement(self._engine) as conn:
            insert_together(conn, [store.quote_rows(quote), *self._receipts.rows([receipt])])
        return quote

    def get_quote(self, principal: Principal, quote_id: str) -> Quote:
        """Raises QuoteNotFound for an unknown quote or another licensee's."""
        with self._engine.connect() as conn:
            return self._quote_in(conn, principal, quote_id)

    @staticmethod
    def _quote_in(conn: Connection, principal: Principal, quote_id: str) -> Quote:
        licensee = require_licensee(principal)
        quote = store.read_quote(conn, quote_id)
        if quote is None or quote.licensee != licensee:
            raise QuoteNotFound(f"no quote {quote_id!r}")
        return quote

    # -- licenses ---------------------------------------------------------------------

    def obtain(self, principal: Principal, quote_id: str, *,
               message: str | None = None, claim: Claim | None = None) -> Obtained:
        """Turn a quote into a license (free, partner, paid) or a pending request.

        With ``claim`` (an idempotency key), the outcome is stored with the write and a
        retry under the same key answers it again instead of ``QuoteUsed``.

        Raises Unauthenticated, QuoteNotFound, QuoteExpired, QuoteUsed,
        LicenseCapReached, RouteNotOffered (a partner route for another client),
        PaymentsNotConfigured (a paid route without a payment provider) and
        IdempotencyKeyReused (the key named another request).
        """
        require_licensee(principal)
        return idempotency.settled(self._engine, claim, OBTAINED,
                                   lambda: self._obtain(principal, quote_id, message, claim))

    def _obtain(self, principal: Principal, quote_id: str, message: str | None,
                claim: Claim | None) -> Obtained:
        def remember(conn: Connection, grant: Grant) -> None:
            idempotency.remember_in(conn, claim,
                                    Obtained(grant=grant, receipt_id=grant.receipt_id))

        # A free or partner route without a cap is granted on the connection that read
        # the quote, in one statement (on PostgreSQL a transaction of its own): the quote
        # marked used, unless it was already (then nothing is written), the grant, its
        # receipt with the receipt's queue entry, and the idempotency key's outcome. A
        # capped route takes a slot in the grant's transaction (``grant``). The other
        # routes go on once the read is over: a request is stored for the artist, a price
        # collected outside any transaction.
        granted: Grant | None = None
        with one_statement(self._engine) as conn:
            quote = self._quote_in(conn, principal, quote_id)
            now = self.now_ms()
            if quote.used_at_ms is not None:
                raise QuoteUsed(f"quote {quote_id!r} was already used")
            if now >= quote.expires_at_ms:
                raise QuoteExpired(f"quote {quote_id!r} expired at "
                                   f"{rfc3339(quote.expires_at_ms)}; ask for a new one")
            route = quote.route
            if route.type == "partner" and principal.client_id not in (route.partners or ()):
                raise RouteNotOffered(f"route {route.name!r} is for its partners only")
            if route.type in ("free", "partner") and route.cap is None:
                granted, receipt = self._signed_grant(quote, acting=principal)
                self._write_grant(conn, granted, receipt, also=idempotency.rows(
                    claim, Obtained(grant=granted, receipt_id=granted.receipt_id)))
        if granted is not None:
            self.grants_changed(granted)
            return Obtained(grant=granted, receipt_id=granted.receipt_id)
        if route.type in ("free", "partner"):
            grant = self.grant(quote, acting=principal, in_transaction=remember)
            return Obtained(grant=grant, receipt_id=grant.receipt_id)
        if route.type == "request":
            pending = self._open_request(principal, quote, message, now, claim)
            return Obtained(request=pending, receipt_id=pending.receipt_id)
        grant = self.collect_then_grant(quote, payer=principal, acting=principal,
                                        in_transaction=remember)
        return Obtained(grant=grant, receipt_id=grant.receipt_id)

    def grant(self, quote: Quote, *, acting: Principal, request_id: str | None = None,
              payment: Payment | None = None, use_quote: bool = True, take_slot: bool = True,
              in_transaction: Callable[[Connection, Grant], None] | None = None,
              receipt_kind: str = "license-grant",
              receipt_extra: Mapping[str, Any] | None = None) -> Grant:
        """Write the license for ``quote`` and its receipt (``acting`` signs for it).

        In the grant's one transaction: the quote used (``use_quote``) and the grant
        inserted with its receipt, a slot under the route's cap taken (``take_slot``; both
        are off when ``collect_then_grant`` reserved them before a payment), and
        ``in_transaction`` run (an approval marks its request there). Raises QuoteUsed
        and LicenseCapReached; neither writes anything.
        """
        grant, receipt = self._signed_grant(quote, acting=acting, request_id=request_id,
                                            payment=payment, receipt_kind=receipt_kind,
                                            receipt_extra=receipt_extra)
        with writing(self._engine) as conn:
            self._write_grant(conn, grant, receipt, use_quote=use_quote, take_slot=take_slot,
                              in_transaction=in_transaction)
        self.grants_changed(grant)
        return grant

    def _signed_grant(self, quote: Quote, *, acting: Principal, request_id: str | None = None,
                      payment: Payment | None = None, receipt_kind: str = "license-grant",
                      receipt_extra: Mapping[str, Any] | None = None
                      ) -> tuple[Grant, Receipt]:
        """The license for ``quote``, its token signed, and the receipt vouching for it."""
        grant = self._new_grant(quote, request_id=request_id, payment=payment)
        body: dict[str, Any] = {
            "principal": acting.for_receipt(),
            "request": {"action": receipt_kind, "resource": grant.resource},
            "status": "granted",
            "license": grant_summary(grant),
            "license_token_sha256": hashlib.sha256(grant.token.encode()).hexdigest(),
        }
        if payment is not None:
            body["payment"] = {"id": payment.id, "provider": payment.provider,
                               "amount": msgspec.to_builtins(payment.amount)}
        receipt = self.record(receipt_kind, {**body, **(receipt_extra or {})})
        return msgspec.structs.replace(grant, receipt_id=receipt.jti), receipt

    def _write_grant(self, conn: Connection, grant: Grant, receipt: Receipt, *,
                     use_quote: bool = True, take_slot: bool = True,
                     also: Sequence[Rows] = (),
                     in_transaction: Callable[[Connection, Grant], None] | None = None
                     ) -> None:
        """``grant``, its receipt and ``also`` (an idempotency outcome) in one statement,
        behind the quote's use (``use_quote``: nothing is written when the quote was
        used), then a slot under the route's cap (``take_slot``) and ``in_transaction``,
        in the transaction on ``conn``. With no cap and no ``in_transaction`` the
        statement is all there is, so ``conn`` may be in autocommit
        (``db.engine.one_statement``). Raises QuoteUsed and LicenseCapReached."""
        guard = store.quote_use(grant.quote_id, now_ms=grant.granted_at_ms) if use_quote \
            else None
        if not insert_together(conn, [store.grant_rows(grant), *self._receipts.rows([receipt]),
                                      *also], guard=guard):
            raise QuoteUsed(f"quote {grant.quote_id!r} was already used")
        if take_slot and not store.take_slot(conn, grant.route):
            raise cap_reached(grant.route)
        if in_transaction is not None:
            in_transaction(conn, grant)

    def _new_grant(self, quote: Quote, *, request_id: str | None,
                   payment: Payment | None) -> Grant:
        now = self.now_ms()
        term = quote.route.term_days
        grant = Grant(id="lic_" + uuid.uuid4().hex, quote_id=quote.id, request_id=request_id,
                      licensee=quote.licensee, principal=quote.principal,
                      artist_id=quote.artist_id, resource=quote.resource, scopes=quote.scopes,
                      route=quote.route, manifest_hash=quote.manifest_hash,
                      payment_id=payment.id if payment else None, status="active",
                      granted_at_ms=now,
                      expires_at_ms=None if term is None else now + term * DAY_MS,
                      revoked_at_ms=None, revocation_reason=None, token="", receipt_id="")
        token = sign_license(grant, self._keys.active(), issuer=self._issuer_url)
        return msgspec.structs.replace(grant, token=token)

    def collect_then_grant(self, quote: Quote, *, payer: Principal, acting: Principal,
                           use_quote: bool = True, request_id: str | None = None,
                           **grant_options: Any) -> Grant:
        """A priced license: reserve (the quote and a cap slot), collect the price, then
        write the grant with its receipt. A failed payment gives the reservation back; a
        grant (or its receipt) that cannot be stored after the payment is refunded and
        the reservation given back too, so the same quote can be tried again. Raises
        PaymentsNotConfigured first of all when there is no payment provider."""
        self.require_payments(quote)
        price = quote.route.price
        if price is None:
            raise InvalidInput(f"route {quote.route.name!r} has no price to collect")
        with writing(self._engine) as conn:
            if use_quote and not store.use_quote(conn, quote.id, now_ms=self.now_ms()):
                raise QuoteUsed(f"quote {quote.id!r} was already used")
            if not store.take_slot(conn, quote.route):
                raise cap_reached(quote.route)
        try:
            payment = self.payments.collect(
                quote_id=quote.id, amount=price,
                payer=payer, description=f"{quote.route.name} on {quote.resource}")
        except BaseException:
            self._release(quote, use_quote=use_quote)
            raise
        try:
            return self.grant(quote, acting=acting, payment=payment, request_id=request_id,
                              use_quote=False, take_slot=False, **grant_options)
        except BaseException:
            self.payments.refund(payment, reason="the license could not be stored")
            self._release(quote, use_quote=use_quote)
            raise

    def _release(self, quote: Quote, *, use_quote: bool) -> None:
        """Give back what ``collect_then_grant`` reserved: the quote and the cap slot."""
        with writing(self._engine) as conn:
            if use_quote:
                store.unuse_quote(conn, quote.id)
            store.give_back_slot(conn, quote.route)

    def require_payments(self, quote: Quote) -> None:
        if not self.payments.configured:
            price = quote.route.price
            cost = f": {format_money(price)}" if price is not None else ""
            raise PaymentsNotConfigured(
                f"payments are not configured on this service, so route {quote.route.name!r} "
                f"({quote.route.type}{cost}) cannot be licensed yet; free, partner and "
                "request routes work")

    def _open_request(self, principal: Principal, quote: Quote, message: str | None,
                      now: int, claim: Claim | None) -> LicenseRequest:
        receipt = self.record("license-request", {
            "principal": principal.for_receipt(),
            "request": {"action": "license-request", "resource": quote.resource},
            "status": "pending",
            "quote": quote.id,
            "scopes": list(quote.scopes),
            "route": msgspec.to_builtins(quote.route),
            "message": message,
        })
        request = LicenseRequest(
            id="req_" + uuid.uuid4().hex, quote_id=quote.id, licensee=quote.licensee,
            principal=quote.principal, artist_id=quote.artist_id, resource=quote.resource,
            scopes=quote.scopes, route=quote.route, message=message, status="pending",
            created_at_ms=now, decided_at_ms=None, decision_message=None, grant_id=None,
            receipt_id=receipt.jti)
        with writing(self._engine) as conn:
            if not store.use_quote(conn, quote.id, now_ms=now):
                raise QuoteUsed(f"quote {quote.id!r} was already used")
            store.insert_request(conn, request)
            idempotency.remember_in(conn, claim,
                                    Obtained(request=request, receipt_id=receipt.jti))
            self.store_receipt_in(conn, receipt)
        return request


def cap_reached(route: LicenseRoute) -> LicenseCapReached:
    return LicenseCapReached(
        f"route {route.name!r} of policy {route.policy!r} has given all {route.cap} of the "
        "licenses its cap allows")


def grant_summary(grant: Grant) -> dict[str, Any]:
    """What a receipt records of a license."""
    return {
        "id": grant.id, "licensee": grant.licensee, "licensor": grant.artist_id,
        "resource": grant.resource, "scopes": list(grant.scopes),
        "route": msgspec.to_builtins(grant.route), "quote": grant.quote_id,
        "request": grant.request_id, "manifest_hash": grant.manifest_hash,
        "granted_at": rfc3339(grant.granted_at_ms), "expires_at": rfc3339(grant.expires_at_ms),
    }
