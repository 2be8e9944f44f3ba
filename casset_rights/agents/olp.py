"""RSL's license server: the Open License Protocol (OLP) on our license routes.

* ``token``: the OAuth token endpoint of OLP (``{server}/token``). A client authenticated
  with its OAuth client credentials asks for a license on a ``resource`` (the URL of the
  asset, as an RSL ``content`` names it) with ``grant_type=client_credentials``, or with
  OLP's ``grant_type=rsl`` and the RSL ``<license>`` element it accepts. The license is
  quoted and obtained through ``LicenseService`` (free routes at once, paid routes once
  paid, request routes as a request to the artist); the answer's ``access_token`` is the
  license token (``token_type: License``).
* ``introspect``: RFC 7662 over ``LicenseDesk.introspect``, for a resource URL and a use.
* ``require_license``: the check of protected content. ``Authorization: License <token>``
  that covers the resource and use lets it through, as does a use the engine permits;
  otherwise ``LicenseMissing`` (401), ``LicenseNotCovering`` (402) or ``LicenseNotOffered``
  (403), each with a ``WWW-Authenticate: License`` challenge naming this server.

Errors of the token and introspection endpoints are ``OlpError``: RFC 6749 section 5.2
error codes and an HTTP status, rendered as OAuth JSON errors by the API.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from casset_rights.agents import rsl
from casset_rights.agents.terms import resource_of_path
from casset_rights.auth.credentials import check_secret
from casset_rights.errors import (
    CassetError,
    LicenseMissing,
    LicenseNotCovering,
    LicenseNotOffered,
    PaymentRefused,
    PaymentsNotConfigured,
)
from casset_rights.policy import SCOPES, build_request
from casset_rights.principal import Principal
from casset_rights.resources import ResourceRef

MAX_LICENSE_XML = 16 * 1024
GRANT_TYPES = ("client_credentials", "rsl")


class OlpError(Exception):
    def __init__(self, error: str, description: str, *, status: int = 400,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status
        self.headers = headers or {}


@dataclass(frozen=True)
class LicenseServer:
    licenses: Any  # LicenseService
    desk: Any  # LicenseDesk
    decisions: Any  # DecisionService
    base: str
    x402: Any = None  # X402Checkout, for paid routes

    @property
    def url(self) -> str:
        return f"{self.base}/olp"

    def challenge(self, error: str | None = None, detail: str | None = None) -> str:
        """A ``WWW-Authenticate: License`` value naming this license server."""
        parts = [f'License realm="{self.base}"', f'server="{self.url}"']
        if error:
            parts.append(f'error="{error}"')
        if detail:
            parts.append('error_description="' + detail.replace('"', "'")[:200] + '"')
        return ", ".join(parts)

    # -- the token endpoint --------------------------------------------------------------

    def token(self, principal: Principal, *, grant_type: str | None, resource: str | None,
              license_xml: str | None, quote_id: str | None = None,
              payment_signature: str | None = None) -> dict[str, Any]:
        """A license for ``resource`` as an OAuth token answer. A paid route answers 402
        ``payment_required`` with x402's ``PAYMENT-REQUIRED`` and the quote to pay; the
        retry names that ``quote`` and carries ``PAYMENT-SIGNATURE``. Raises OlpError."""
        if quote_id and payment_signature:
            return self._paid_token(principal, quote_id, payment_signature)
        if grant_type not in GRANT_TYPES:
            raise OlpError("unsupported_grant_type",
                           "grant_type is client_credentials or rsl")
        if grant_type == "rsl" and not license_xml:
            raise OlpError("invalid_request", "grant_type=rsl needs the RSL license element")
        ref = self.resource_ref(resource)
        route = self._route(principal, ref, license_xml)
        try:
            quote = self.licenses.quote(principal, resource=ref.id, route=route)
            obtained = self.licenses.obtain(principal, quote.id)
        except PaymentsNotConfigured as exc:
            if self.x402 is None:
                raise OlpError("payment_required", exc.detail, status=402) from None
            url = f"{self.url}/token"
            raise OlpError(
                "payment_required",
                f"route {route!r} costs {quote.route.price.amount / 100:.2f} "
                f"{quote.route.price.currency.upper()}: pay with x402 (PAYMENT-REQUIRED) and "
                f"post again with quote={quote.id} and a PAYMENT-SIGNATURE header",
                status=402, headers={"PAYMENT-REQUIRED": self.x402.payment_required(
                    quote, url=url), "Casset-Quote": quote.id}) from None
        except CassetError as exc:
            raise OlpError("invalid_grant", f"{exc.code}: {exc.detail}") from None
        if obtained.grant is None:
            raise OlpError("authorization_pending",
                           f"the artist decides on request {obtained.request.id}; "
                           f"ask again when it is approved")
        return token_answer(obtained.grant)

    def _paid_token(self, principal: Principal, quote_id: str,
                    payment_signature: str) -> dict[str, Any]:
        if self.x402 is None:
            raise OlpError("payment_required", "x402 is turned off on this service", status=402)
        try:
            paid = self.x402.pay(principal, quote_id, payment_signature, url=f"{self.url}/token")
        except PaymentRefused as exc:
            raise OlpError("payment_required", exc.detail, status=402,
                           headers={"PAYMENT-REQUIRED": exc.payment_required}) from None
        except CassetError as exc:
            raise OlpError("invalid_grant", f"{exc.code}: {exc.detail}") from None
        return {**token_answer(paid.grant), "transaction": paid.settlement.transaction}

    def resource_ref(self, resource: str | None) -> ResourceRef:
        """The resource an asset URL of this service names. Raises OlpError
        (``invalid_target``) for any other URL."""
        if not resource or not resource.startswith(self.base + "/"):
            raise OlpError("invalid_target", f"resource must be an asset URL under {self.base}")
        ref = resource_of_path(resource[len(self.base):].split("?", 1)[0])
        if ref is None:
            raise OlpError("invalid_target", "resource names no release, track or hook here")
        return ref

    def _route(self, principal: Principal, ref: ResourceRef, license_xml: str | None) -> str:
        offered = self._offered(principal, ref)
        wanted: set[str] | None = None
        if license_xml:
            named, wanted = _read_license(license_xml)
            if named is not None:
                if named not in offered:
                    raise OlpError("invalid_grant", f"route {named!r} is not offered to you "
                                                    f"on {ref.id}")
                return named
        candidates = [name for name, scopes in offered.items()
                      if wanted is None or wanted <= scopes]
        if len(candidates) != 1:
            listed = ", ".join(sorted(offered)) or "none"
            raise OlpError("invalid_request",
                           f"name one license (its m:route) of those offered to you on "
                           f"{ref.id}: {listed}")
        return candidates[0]

    def _offered(self, principal: Principal, ref: ResourceRef) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        try:
            for scope in SCOPES:
                decision, _ = self.decisions.evaluate(
                    build_request(scope, ref, principal=principal))
                for route in decision.license_routes:
                    out.setdefault(route.name, set()).add(scope)
        except CassetError as exc:
            raise OlpError("invalid_target", exc.detail) from None
        return out

    # -- introspection -------------------------------------------------------------------

    def introspect(self, token: str | None, *, resource: str | None,
                   scope: str | None) -> dict[str, Any]:
        """RFC 7662: ``{"active": false}`` for any token that is not in force for the
        resource and use asked about. Raises OlpError for a malformed question."""
        if not token:
            raise OlpError("invalid_request", "token is required")
        ref = self.resource_ref(resource) if resource else None
        try:
            found = self.desk.introspect(token, resource=ref.id if ref else None, scope=scope)
        except CassetError as exc:
            raise OlpError("invalid_request", exc.detail) from None
        if not found.active:
            return {"active": False}
        grant = found.license
        return {"active": True, "token_type": "License", "client_id": grant.licensee,
                "scope": " ".join(grant.scopes), "jti": grant.id, "iss": self.base,
                "exp": None if grant.expires_at_ms is None else grant.expires_at_ms // 1000,
                "resource": grant.resource, "route": grant.route.name}

    # -- protected content ---------------------------------------------------------------

    def require_license(self, principal: Principal, authorization: str | None, *,
                        ref: ResourceRef, use: str) -> str:
        """Let ``principal`` have ``ref`` for ``use``, or raise a License challenge.
        Returns how: ``"permitted"`` (the policy permits it) or the license id."""
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() == "license":
            token = value.strip()
            if not token or " " in token:
                raise LicenseMissing("Authorization: License needs one license token",
                                     challenge=self.challenge("invalid_token"))
            found = self.desk.introspect(token, resource=ref.id, scope=use)
            if found.active:
                return str(found.license.id)
            detail = found.detail or found.reason or "the license is not in force"
            raise LicenseNotCovering(f"{found.reason}: {detail}",
                                     challenge=self.challenge(found.reason, detail))
        decision, _ = self.decisions.evaluate(build_request(use, ref, principal=principal))
        if decision.decision == "permit":
            return "permitted"
        routes = ", ".join(r.name for r in decision.license_routes)
        if decision.decision == "license_required":
            detail = (f"{use} of {ref.id} needs a license ({routes}); obtain one from "
                      f"{self.url}/token and send it as Authorization: License")
            if principal.kind == "public":
                raise LicenseMissing(detail, challenge=self.challenge())
            raise LicenseNotCovering(detail, challenge=self.challenge("license_required"))
        if principal.kind == "public" and not authorization:
            raise LicenseMissing(f"{use} of {ref.id} is not open to the public",
                                 challenge=self.challenge())
        raise LicenseNotOffered(f"{use} of {ref.id} is not permitted and no license is "
                                "offered for it", challenge=self.challenge("not_offered"))


def client_principal(auth: Any, client_id: str, secret: str) -> Principal | None:
    """The principal of an OAuth client authenticated by its secret, or None (after the
    same work either way: a wrong id is not told from a wrong secret by time)."""
    client = auth.clients.find(client_id) if client_id else None
    if client is None or client.disabled_at is not None:
        check_secret(secret, None)
        return None
    if not client.check_client_secret(secret):
        return None
    return Principal(kind=client.kind, client_id=client.client_id, subject=client.artist_id,
                     attributes=dict(client.attributes), scopes=client.machine_scopes)


def token_answer(grant: Any) -> dict[str, Any]:
    answer: dict[str, Any] = {"access_token": grant.token, "token_type": "License",
                              "scope": " ".join(grant.scopes), "license_id": grant.id,
                              "receipt_id": grant.receipt_id}
    if grant.expires_at_ms is not None:
        answer["expires_in"] = max(0, (grant.expires_at_ms - grant.granted_at_ms) // 1000)
    return answer


def _read_license(text: str) -> tuple[str | None, set[str]]:
    """(the route a license names, the scopes it permits) from an RSL ``<license>``
    element. Raises OlpError for anything else (size, DTDs, not RSL)."""
    if len(text) > MAX_LICENSE_XML or "<!" in text:
        raise OlpError("invalid_request", "license must be one RSL <license> element of at "
                                          f"most {MAX_LICENSE_XML} bytes, without a DTD")
    try:
        element = ET.fromstring(text)
    except ET.ParseError as exc:
        raise OlpError("invalid_request", f"license is not XML: {exc}") from None
    if element.tag != f"{{{rsl.RSL_NS}}}license":
        raise OlpError("invalid_request", "license must be an RSL <license> element "
                                          f"(namespace {rsl.RSL_NS})")
    scopes: set[str] = set()
    for permits in element.findall(f"{{{rsl.RSL_NS}}}permits[@type='usage']"):
        tokens = rsl.expand_tokens(permits.text or "")
        scopes.update(s for s, granted in rsl.RSL_TOKENS.items() if set(granted) & tokens)
    for permits in element.findall(f"{{{rsl.MUSIC_NS}}}permits[@type='usage']"):
        scopes.update(t.strip() for t in (permits.text or "").split(",") if t.strip() in SCOPES)
    return element.get(f"{{{rsl.MUSIC_NS}}}route"), scopes
