"""After the quote: what artists and licensees do with licenses and requests.

* Artists list the requests waiting for them, approve (the license is written then) or
  refuse with a message, list the licenses they gave and revoke one with a reason.
* Licensees list what they hold and read a request's outcome.
* Anyone holding a license token can have it introspected (``introspect``).

Visibility: a license or request is seen by its licensee and by the artist who gave it;
anyone else is told it does not exist (NotFound), so ids do not leak. Revocation is
time-aware: it ends the license from now on; a use before it stays licensed (the
introspection of ``at`` an earlier time says the license was active then).
"""

from __future__ import annotations

from datetime import datetime

import msgspec
from sqlalchemy import Connection

from casset_rights import idempotency
from casset_rights.db.engine import writing
from casset_rights.errors import Forbidden, ReceiptInvalid
from casset_rights.idempotency import Claim
from casset_rights.licenses import store
from casset_rights.licenses.errors import (
    LicenseAlreadyRevoked,
    LicenseNotFound,
    RequestAlreadyDecided,
    RequestNotFound,
)
from casset_rights.licenses.models import (
    Grant,
    Introspection,
    LicenseRequest,
    licensee_key,
    rfc3339,
)
from casset_rights.licenses.service import (
    LicenseService,
    grant_summary,
    principal_from,
    require_licensee,
)
from casset_rights.licenses.tokens import verify_license_token
from casset_rights.policy import check_scope, parse_resource
from casset_rights.principal import Principal
from casset_rights.receipts.keys import KeyStore

MAX_LIST = 500
# Built once, here: see casset_rights.idempotency on why not per call.
APPROVAL = msgspec.json.Decoder(tuple[LicenseRequest, Grant])
GRANT = msgspec.json.Decoder(Grant)


def _artist_of(principal: Principal) -> str | None:
    return principal.subject if principal.kind == "artist" else None


class LicenseDesk:
    def __init__(self, licenses: LicenseService, *, keys: KeyStore, issuer_url: str) -> None:
        self._licenses = licenses
        self._engine = licenses.engine
        self._keys = keys
        self._issuer_url = issuer_url

    # -- reading ----------------------------------------------------------------------

    def grants(self, principal: Principal, *, status: str | None = None,
               limit: int = 100) -> list[Grant]:
        """Licenses the principal holds and, for an artist, the ones it gave."""
        licensee = require_licensee(principal)
        with self._engine.connect() as conn:
            return store.list_grants(conn, licensee=licensee, artist_id=_artist_of(principal),
                                     status=status, limit=min(limit, MAX_LIST))

    def grant(self, principal: Principal, grant_id: str) -> Grant:
        """Raises LicenseNotFound unless the principal holds or gave the license."""
        with self._engine.connect() as conn:
            grant = store.read_grant(conn, grant_id)
        if grant is None or not self._sees(principal, grant.licensee, grant.artist_id):
            raise LicenseNotFound(f"no license {grant_id!r}")
        return grant

    def requests(self, principal: Principal, *, status: str | None = None,
                 limit: int = 100) -> list[LicenseRequest]:
        """Requests the principal made and, for an artist, the ones made to it."""
        licensee = require_licensee(principal)
        with self._engine.connect() as conn:
            return store.list_requests(conn, licensee=licensee,
                                       artist_id=_artist_of(principal), status=status,
                                       limit=min(limit, MAX_LIST))

    def request(self, principal: Principal, request_id: str) -> LicenseRequest:
        """Raises RequestNotFound unless the principal made the request or is asked."""
        with self._engine.connect() as conn:
            found = store.read_request(conn, request_id)
        if found is None or not self._sees(principal, found.licensee, found.artist_id):
            raise RequestNotFound(f"no license request {request_id!r}")
        return found

    @staticmethod
    def _sees(principal: Principal, licensee: str, artist_id: str) -> bool:
        return licensee_key(principal) == licensee or _artist_of(principal) == artist_id

    def _addressed(self, artist: Principal, request_id: str) -> LicenseRequest:
        found = self.request(artist, request_id)
        if _artist_of(artist) != found.artist_id:
            raise Forbidden("only the artist asked decides a license request")
        if found.status != "pending":
            raise RequestAlreadyDecided(f"license request {request_id!r} was already "
                                        f"{found.status}")
        return found

    # -- deciding ---------------------------------------------------------------------

    def approve(self, artist: Principal, request_id: str, *, message: str | None = None,
                claim: Claim | None = None) -> tuple[LicenseRequest, Grant]:
        """Approve a pending request: the license is written now (its term starts now),
        under the route's cap; a priced request route collects its price first. With
        ``claim``, a retry under the same key answers the first approval again.
        Raises RequestNotFound, Forbidden, RequestAlreadyDecided, LicenseCapReached,
        PaymentsNotConfigured, IdempotencyKeyReused."""
        require_licensee(artist)
        return idempotency.settled(
            self._engine, claim, APPROVAL,
            lambda: self._approve(artist, request_id, message, claim))

    def _approve(self, artist: Principal, request_id: str, message: str | None,
                 claim: Claim | None) -> tuple[LicenseRequest, Grant]:
        pending = self._addressed(artist, request_id)
        licenses = self._licenses
        with self._engine.connect() as conn:
            quote = store.read_quote(conn, pending.quote_id)
        assert quote is not None  # a request keeps its quote (foreign key)
        now = licenses.now_ms()

        def approved(grant: Grant) -> LicenseRequest:
            return msgspec.structs.replace(
                pending, status="approved", decided_at_ms=now, decision_message=message,
                grant_id=grant.id, decision_receipt_id=grant.receipt_id)

        def mark(conn: Connection, grant: Grant) -> None:
            if not store.decide_request(conn, request_id, status="approved", now_ms=now,
                                        message=message, grant_id=grant.id,
                                        receipt_id=grant.receipt_id):
                raise RequestAlreadyDecided(f"license request {request_id!r} was already decided")
            idempotency.remember_in(conn, claim, (approved(grant), grant))

        extra = {"license_request": request_id, "message": message}
        if quote.route.price is not None:
            grant = licenses.collect_then_grant(
                quote, payer=principal_from(pending.principal), acting=artist,
                use_quote=False, request_id=request_id, in_transaction=mark,
                receipt_kind="license-approval", receipt_extra=extra)
        else:
            grant = licenses.grant(quote, acting=artist, request_id=request_id,
                                   use_quote=False, in_transaction=mark,
                                   receipt_kind="license-approval", receipt_extra=extra)
        return approved(grant), grant

    def refuse(self, artist: Principal, request_id: str, *, message: str) -> LicenseRequest:
        """Refuse a pending request with a message the requester reads.
        Raises RequestNotFound, Forbidden, RequestAlreadyDecided."""
        pending = self._addressed(artist, request_id)
        licenses = self._licenses
        receipt = licenses.record("license-refusal", {
            "principal": artist.for_receipt(),
            "request": {"action": "license-refusal", "resource": pending.resource},
            "status": "refused",
            "license_request": request_id,
            "licensee": pending.licensee,
            "message": message,
        })
        with writing(self._engine) as conn:
            if not store.decide_request(conn, request_id, status="refused",
                                        now_ms=licenses.now_ms(), message=message,
                                        grant_id=None, receipt_id=receipt.jti):
                raise RequestAlreadyDecided(f"license request {request_id!r} was already decided")
            licenses.store_receipt_in(conn, receipt)
        return self.request(artist, request_id)

    def revoke(self, artist: Principal, grant_id: str, *, reason: str,
               claim: Claim | None = None) -> Grant:
        """End a license from now on. Uses before now stay licensed. With ``claim``, a
        retry under the same key answers the first revocation again.
        Raises LicenseNotFound, Forbidden (the licensee cannot revoke),
        LicenseAlreadyRevoked and IdempotencyKeyReused."""
        require_licensee(artist)
        return idempotency.settled(self._engine, claim, GRANT,
                                   lambda: self._revoke(artist, grant_id, reason, claim))

    def _revoke(self, artist: Principal, grant_id: str, reason: str,
                claim: Claim | None) -> Grant:
        grant = self.grant(artist, grant_id)
        if _artist_of(artist) != grant.artist_id:
            raise Forbidden("only the artist who gave a license revokes it")
        licenses = self._licenses
        now = licenses.now_ms()
        receipt = licenses.record("license-revocation", {
            "principal": artist.for_receipt(),
            "request": {"action": "license-revocation", "resource": grant.resource},
            "status": "revoked",
            "license": grant_summary(grant),
            "revoked_at": rfc3339(now),
            "reason": reason,
        })
        revoked = msgspec.structs.replace(grant, status="revoked", revoked_at_ms=now,
                                          revocation_reason=reason,
                                          revocation_receipt_id=receipt.jti)
        with writing(self._engine) as conn:
            if not store.revoke_grant(conn, grant_id, now_ms=now, reason=reason,
                                      receipt_id=receipt.jti):
                raise LicenseAlreadyRevoked(f"license {grant_id!r} was already revoked")
            idempotency.remember_in(conn, claim, revoked)
            licenses.store_receipt_in(conn, receipt)
        licenses.grants_changed(revoked)
        return revoked

    # -- introspection ----------------------------------------------------------------

    def introspect(self, token: str, *, resource: str | None = None, scope: str | None = None,
                   territory: str | None = None, at: datetime | None = None) -> Introspection:
        """Was the license in force at ``at`` (default now), for ``resource`` (or a part
        of it) and ``scope``, in ``territory``? Never raises for a bad token (the answer
        is ``active: false`` with the reason); raises UnknownScope and InvalidInput for a
        malformed scope or resource asked about."""
        at_ms = int(at.timestamp() * 1000) if at is not None else self._licenses.now_ms()
        asked = parse_resource(resource) if resource is not None else None
        if scope is not None:
            check_scope(scope)
        when = rfc3339(at_ms) or ""
        try:
            claims = verify_license_token(token, self._keys.jwks())
        except ReceiptInvalid as exc:
            return Introspection(active=False, at=when, reason="invalid_token", detail=exc.detail)
        if claims.get("iss") != self._issuer_url:
            return Introspection(active=False, at=when, reason="invalid_token",
                                 detail=f"issued by {claims.get('iss')!r}, not this service")
        with self._engine.connect() as conn:
            grant = store.read_grant(conn, str(claims["jti"]))
        if grant is None or grant.token != token.strip():
            return Introspection(active=False, at=when, reason="unknown_license",
                                 detail="this service holds no such license")
        active, reason = grant.status_at(at_ms)
        detail = None
        limits = grant.route.territory
        if active and asked is not None and not parse_resource(grant.resource).contains(asked):
            active, reason = False, "resource_not_covered"
            detail = f"the license covers {grant.resource}, not {asked.id}"
        elif active and scope is not None and scope not in grant.scopes:
            active, reason = False, "scope_not_covered"
            detail = f"the license covers {', '.join(grant.scopes)}, not {scope}"
        elif active and limits is not None and territory is not None \
                and territory.upper() not in limits:
            active, reason = False, "territory_not_covered"
            detail = f"the license is valid in {', '.join(limits)}"
        return Introspection(active=active, at=when, reason=None if active else reason,
                             detail=detail, license=grant)
