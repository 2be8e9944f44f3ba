"""The typed answers of the HTTP API, as msgspec Structs: what the OpenAPI document
describes and what the routes encode. Domain records that are already the answer
(``ReleaseSummary``, ``LicenseRoute``, ``Node``, ``Share``, ``DryRun`` ...) are used as
they are; these add the shapes the API builds around them.

Fields that appear only sometimes default to ``UNSET`` and are left out of the answer
(never sent as ``null``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from casset_rights.decisions.dry_run import DryRun
from casset_rights.errors import FieldError
from casset_rights.lineage import ParentLink
from casset_rights.lineage.royalties import Share
from casset_rights.lineage.view import Node
from casset_rights.manifests import ReleaseSummary
from casset_rights.manifests.records import HookRecord, TrackRecord, VersionInfo
from casset_rights.policy import SCOPES
from casset_rights.policy.decision import (
    DecisionValue,
    LicenseRoute,
    Money,
    Obligation,
    Reason,
)

Time = Annotated[str, msgspec.Meta(description="RFC 3339, UTC")]
Epoch = Annotated[int, msgspec.Meta(description="seconds since the epoch")]
ReceiptId = Annotated[str, msgspec.Meta(description="a receipt's jti: GET /v1/receipts/{jti}")]


class Answer(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


# Discovery


class ServiceIndex(Answer):
    """``GET /``: where to start."""

    service: str
    description: str
    metadata: str
    openapi: str
    reference: str
    oauth_server: str
    jwks: str
    documentation: Annotated[list[str], msgspec.Meta(
        description="the guides, files of the source repository")]


class TransparencyLogMetadata(Answer):
    """Where the log is served as C2SP tlog-tiles, its identity and its witnesses."""

    origin: str
    verifier_key: str
    tlog_tiles_prefix: str
    checkpoint: str
    witnesses: list[str]


class ServiceMetadata(Answer):
    """``/.well-known/casset-rights``."""

    service: str
    issuer: str
    version: str
    scopes: list[str]
    decisions: list[DecisionValue]
    receipt_format: dict[str, str]
    jwks_uri: str
    openapi: str
    endpoints: dict[str, str]
    license_token_format: dict[str, str]
    resource_ids: dict[str, str]
    transparency_log: TransparencyLogMetadata


class JWK(Answer):
    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class JWKS(Answer):
    keys: list[JWK]


class AuthServerMetadata(Answer):
    """RFC 8414 authorization server metadata."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    introspection_endpoint: str
    revocation_endpoint: str
    registration_endpoint: str
    jwks_uri: str
    scopes_supported: list[str]
    response_types_supported: list[str]
    response_modes_supported: list[str]
    grant_types_supported: list[str]
    code_challenge_methods_supported: list[str]
    token_endpoint_auth_methods_supported: list[str]
    token_endpoint_auth_signing_alg_values_supported: list[str]
    introspection_endpoint_auth_methods_supported: list[str]
    revocation_endpoint_auth_methods_supported: list[str]
    access_token_signing_alg_values_supported: list[str]
    resource: str
    service_documentation: str


# Catalog


class VersionOut(Answer):
    """A release version: its manifest (RFC 8785 canonical JSON, named by ``hash``)."""

    id: str
    artist: str
    version: int
    hash: str
    previous: str | None
    stored_at: Epoch
    manifest: Annotated[dict[str, Any], msgspec.Meta(
        description="the manifest document (schemas/manifest.schema.json)")]


class ReleasePage(Answer):
    items: list[ReleaseSummary]
    next_cursor: Annotated[str | None, msgspec.Meta(
        description="pass as cursor for the next page; null on the last")]


class ReleaseHistory(Answer):
    id: str
    versions: list[VersionInfo]


class TrackOut(TrackRecord, kw_only=True):
    """A track and its hooks."""

    hooks: list[HookRecord]


# Decisions and receipts


class ScopeDecision(Answer):
    decision: DecisionValue
    reasons: list[Reason]
    obligations: list[Obligation]
    license_routes: list[LicenseRoute]


class RightsGrid(Answer):
    """``GET /v1/rights/{resource}``: every scope's decision, under one receipt."""

    resource: str
    audience: str
    context: dict[str, Any]
    scopes: dict[str, ScopeDecision]
    policy_hash: str
    manifest_hash: str
    receipt: Annotated[str, msgspec.Meta(description="the signed receipt, a compact JWS")]
    receipt_id: ReceiptId
    warnings: Annotated[list[FieldError], msgspec.Meta(
        description="query parameters left out (Prefer: handling=lenient)")]


class StoredReceipt(Answer):
    jti: str
    kind: str
    receipt: Annotated[str, msgspec.Meta(description="the compact JWS")]
    payload: Annotated[dict[str, Any], msgspec.Meta(description="its verified claims")]
    log_index: Annotated[int | None, msgspec.Meta(
        description="its leaf in the transparency log; null until integrated")]


# Licenses


class Party(Answer):
    """Who holds or asked for a license, as its receipt records them."""

    kind: Literal["public", "agent", "partner", "artist"]
    client_id: str | UnsetType = UNSET
    sub: str | UnsetType = UNSET
    attributes: dict[str, str | bool | int] | UnsetType = UNSET


class QuoteOut(Answer):
    id: str
    quote: Annotated[str, msgspec.Meta(description="the signed quote, a compact JWS")]
    resource: str
    scopes: list[str]
    route: LicenseRoute
    price: Money | None
    context: dict[str, Any]
    created_at: Time
    expires_at: Time
    used: bool
    receipt_id: ReceiptId
    warnings: Annotated[list[FieldError], msgspec.Meta(
        description="context keys left out (Prefer: handling=lenient)")] \
        | UnsetType = UNSET


class LicenseOut(Answer):
    id: str
    status: Literal["active", "revoked", "expired"]
    licensee: Party
    licensor: str
    resource: str
    scopes: list[str]
    route: LicenseRoute
    granted_at: Time
    expires_at: Time | None
    revoked_at: Time | None
    revocation_reason: str | None
    quote_id: str
    request_id: str | None
    payment_id: str | None
    manifest_hash: str
    receipt_id: ReceiptId
    revocation_receipt_id: str | None
    token: Annotated[str, msgspec.Meta(
        description="the license token (JWS); shown to its licensee only")] | UnsetType = UNSET
    token_type: str | UnsetType = UNSET


class RequestOut(Answer):
    id: str
    status: Literal["pending", "approved", "refused"]
    requester: Party
    licensor: str
    resource: str
    scopes: list[str]
    route: LicenseRoute
    message: str | None
    created_at: Time
    decided_at: Time | None
    decision_message: str | None
    license_id: str | None
    quote_id: str
    receipt_id: ReceiptId
    decision_receipt_id: str | None
    license: LicenseOut | UnsetType = UNSET


class Granted(Answer):
    """``POST /v1/licenses`` on a free, paid or partner route: the license (201)."""

    status: Literal["granted"]
    license: LicenseOut


class Pending(Answer):
    """``POST /v1/licenses`` on a request route: the request the artist will answer (202)."""

    status: Literal["pending"]
    request: RequestOut


class LicenseList(Answer):
    items: list[LicenseOut]


class RequestList(Answer):
    items: list[RequestOut]


class IntrospectionOut(Answer):
    """RFC 7662's members (``active``, ``scope``, ``client_id``, ``sub``, ``exp``, ``iat``,
    ``nbf``, ``jti``, ``token_type``) and the license itself; only ``active`` and ``at``
    when the token names no license."""

    active: bool
    at: Time
    reason: Annotated[str, msgspec.Meta(
        description="why not active: invalid_token, unknown_license, not_yet_valid, "
                    "revoked, expired, resource_not_covered, scope_not_covered, "
                    "territory_not_covered")] | UnsetType = UNSET
    detail: str | UnsetType = UNSET
    token_type: str | UnsetType = UNSET
    jti: str | UnsetType = UNSET
    sub: str | UnsetType = UNSET
    client_id: str | None | UnsetType = UNSET
    scope: str | UnsetType = UNSET
    iat: int | UnsetType = UNSET
    nbf: int | UnsetType = UNSET
    exp: int | UnsetType = UNSET
    status: Literal["issued", "revoked"] | UnsetType = UNSET
    license_id: str | UnsetType = UNSET
    licensee: Party | UnsetType = UNSET
    licensor: str | UnsetType = UNSET
    resource: str | UnsetType = UNSET
    scopes: list[str] | UnsetType = UNSET
    route: LicenseRoute | UnsetType = UNSET
    obligations: list[str] | UnsetType = UNSET
    granted_at: Time | UnsetType = UNSET
    expires_at: Time | None | UnsetType = UNSET
    revoked_at: Time | None | UnsetType = UNSET
    revocation_reason: str | None | UnsetType = UNSET


# Lineage


class EdgeOut(Answer):
    id: str
    child: str
    parent: str
    relationship: str
    grant: str | None
    revenue_share_percent: float
    child_artist: str
    parent_artist: str
    registered_at: Time
    receipt_id: str | None
    withdrawn_at: Annotated[Time | None, msgspec.Meta(
        description="when its owner withdrew it; null while in force")]
    withdrawal_receipt_id: str | None
    depth: int


class RegisteredEdge(EdgeOut):
    created: Annotated[bool, msgspec.Meta(description="false: the edge was there already")]


class RegistrationOut(Answer):
    child: str
    receipt_id: str | None
    edges: list[RegisteredEdge]
    warnings: Annotated[list[FieldError], msgspec.Meta(
        description="context keys left out (Prefer: handling=lenient)")] \
        | UnsetType = UNSET


class EdgeHistory(Answer):
    """Every edge ever declared for a derivative, withdrawn ones too."""

    child: str
    edges: list[EdgeOut]


class ProposalOut(Answer):
    """Parents proposed for another artist's derivative, and the owner's answer."""

    id: str
    status: Literal["pending", "accepted", "declined"]
    child: str
    child_artist: str
    parents: list[ParentLink]
    context: dict[str, Any]
    proposer: Party
    message: str | None
    created_at: Time
    decided_at: Time | None
    decision_message: str | None
    decision_receipt_id: str | None
    warnings: list[FieldError] | UnsetType = UNSET
    registration: Annotated[RegistrationOut, msgspec.Meta(
        description="the edges declared by accepting it")] | UnsetType = UNSET


class ProposalList(Answer):
    items: list[ProposalOut]


class RoyaltiesOut(Answer):
    revenue: int
    currency: str | None
    method: str
    shares: list[Share]


class LineageOut(Answer):
    resource: str
    direction: Literal["ancestors", "descendants"]
    depth: int
    nodes: list[Node]
    edges: list[EdgeOut]
    attribution: list[str]
    truncated: bool
    royalties: RoyaltiesOut | UnsetType = UNSET


# The artist's policies


class PolicyOut(Answer):
    id: str
    artist: str
    applies_to: str
    version: int
    hash: str
    created_at: Epoch
    changed: Annotated[bool, msgspec.Meta(description="false: the same text was the head")]
    source: str | UnsetType = UNSET
    document: dict[str, Any] | UnsetType = UNSET


class ValidationReport(Answer):
    """``POST /v1/policies/{id}:validate``: every error and warning located, and for a
    valid policy what the change would newly permit or deny."""

    policy: str
    valid: bool
    errors: list[FieldError]
    warnings: list[FieldError]
    changes: DryRun | None
    applies_to: str | UnsetType = UNSET


# OAuth (RFC 6749, 7591, 7662): answers in OAuth's own JSON


class OAuthError(Answer):
    """An OAuth error (RFC 6749 section 5.2)."""

    error: Annotated[str, msgspec.Meta(
        description="invalid_request, invalid_client, invalid_grant, unauthorized_client, "
                    "unsupported_grant_type, invalid_scope, invalid_client_metadata, ...")]
    error_description: str | UnsetType = UNSET
    error_uri: str | UnsetType = UNSET


class TokenAnswer(Answer):
    """An access token (RFC 6749 section 5.1); a refresh token for authorization codes."""

    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int
    scope: str
    refresh_token: str | UnsetType = UNSET


class TokenIntrospection(Answer):
    """RFC 7662: ``active`` false alone for a token that is not (or no longer) valid."""

    active: bool
    client_id: str | UnsetType = UNSET
    scope: str | UnsetType = UNSET
    token_type: str | UnsetType = UNSET
    iat: int | UnsetType = UNSET
    exp: int | UnsetType = UNSET
    iss: str | UnsetType = UNSET
    sub: str | None | UnsetType = UNSET
    jti: str | UnsetType = UNSET
    aud: str | UnsetType = UNSET


class ClientRegistration(Answer):
    """An agent's registration (RFC 7591 client metadata; ``operator`` and ``purpose`` are
    this service's, recorded as attributes policies match on). Other RFC 7591 members are
    read as that RFC says."""

    client_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    operator: Annotated[str, msgspec.Meta(min_length=1, max_length=200,
                                          description="who runs the agent")]
    purpose: Annotated[str, msgspec.Meta(pattern="^[a-z0-9][a-z0-9-]{0,63}$",
                                         description="e.g. search, assistant")]
    token_endpoint_auth_method: Literal[
        "client_secret_basic", "client_secret_post"] | UnsetType = UNSET
    grant_types: Annotated[list[Literal["client_credentials"]],
                           msgspec.Meta(min_length=1, max_length=1)] | UnsetType = UNSET


class ClientInformation(Answer):
    """The registered client (RFC 7591 section 3.2.1); the secret is shown once."""

    client_id: str
    client_id_issued_at: int
    client_name: str
    token_endpoint_auth_method: str
    grant_types: list[str]
    response_types: list[str]
    redirect_uris: list[str]
    scope: str
    operator: str | None
    purpose: str | None
    client_secret: str | UnsetType = UNSET
    client_secret_expires_at: int | UnsetType = UNSET
    jwks: dict[str, Any] | UnsetType = UNSET


class TokenForm(Answer):
    """The token request (RFC 6749 sections 4.1.3, 4.4.2 and 6), form-encoded; the client
    authenticates with HTTP Basic, or ``client_id`` and ``client_secret`` in the form, or
    a signed assertion (RFC 7523)."""

    grant_type: Literal["client_credentials", "authorization_code", "refresh_token"]
    scope: str | UnsetType = UNSET
    code: str | UnsetType = UNSET
    redirect_uri: str | UnsetType = UNSET
    code_verifier: str | UnsetType = UNSET
    refresh_token: str | UnsetType = UNSET
    client_id: str | UnsetType = UNSET
    client_secret: str | UnsetType = UNSET
    client_assertion_type: str | UnsetType = UNSET
    client_assertion: str | UnsetType = UNSET


class TokenReferenceForm(Answer):
    """Introspection (RFC 7662) and revocation (RFC 7009) requests, form-encoded."""

    token: str
    token_type_hint: Literal["access_token", "refresh_token"] | UnsetType = UNSET
    client_id: str | UnsetType = UNSET
    client_secret: str | UnsetType = UNSET


class ConsentForm(Answer):
    """The consent page's form: the authorization request again, and the artist's answer."""

    response_type: Literal["code"]
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    code_challenge_method: Literal["S256"]
    decision: Literal["approve", "deny"]
    artist_client_id: str
    artist_secret: str


# Request fields shared by several bodies and paths: their exact shapes, so a client and a
# fuzzer know what is accepted (each is checked again by the domain).

_SEGMENT = "[a-z0-9][a-z0-9._-]{0,63}"
RESOURCE_PATTERN = (f"^((release:)?{_SEGMENT}|(track:)?{_SEGMENT}/{_SEGMENT}"
                    f"|(hook:)?{_SEGMENT}/{_SEGMENT}/{_SEGMENT})$")
RESOURCE_DESCRIPTION = "release:R, track:R/T or hook:R/T/H (the kind may be left out)"
ResourceField = Annotated[str, msgspec.Meta(pattern=RESOURCE_PATTERN,
                                            description=RESOURCE_DESCRIPTION)]
HOOK_PATTERN = f"^(hook:)?{_SEGMENT}/{_SEGMENT}/{_SEGMENT}$"
HookField = Annotated[str, msgspec.Meta(pattern=HOOK_PATTERN, description="hook:R/T/H")]
TERRITORY_PATTERN = "^[A-Za-z]{2}$"
CONTEXT_SCHEMA: dict[str, Any] = {
    "purpose": {"oneOf": [{"enum": ["commercial", "non-commercial"]}, {"type": "null"}]},
    "territory": {"oneOf": [{"type": "string", "pattern": TERRITORY_PATTERN,
                             "description": "ISO 3166-1 alpha-2"}, {"type": "null"}]},
    "excerpt_seconds": {"oneOf": [{"type": "number", "minimum": 0}, {"type": "null"}]},
    "at": {"oneOf": [{"type": "string", "format": "date-time",
                      "description": "RFC 3339, with a timezone: decide as of then"},
                     {"type": "null"}]},
}
Context = Annotated[dict[str, Any], msgspec.Meta(extra_json_schema={
    "description": "the circumstances of the use: another key is refused (422 "
                   "unknown_context_key), or left out with a warning under Prefer: "
                   "handling=lenient",
    "extra": {"properties": CONTEXT_SCHEMA, "additional_properties": False}})]


def id_path(pattern: str, description: str) -> Any:
    """A path parameter's pattern, for the document only: any other value is answered
    404, as an id that does not exist."""
    from litestar.params import Parameter

    return Annotated[str, Parameter(description=description, schema_extra={"pattern": pattern})]


CURSOR_PATTERN = f"^after:{_SEGMENT}$"
ReceiptIdPath = id_path("^[0-9a-f]{32}$", "a receipt's jti (32 hex digits)")
QuoteIdPath = id_path("^[0-9a-f]{32}$", "a quote's id (its receipt's jti)")
LicenseIdPath = id_path("^lic_[0-9a-f]{32}$", "a license's id")
RequestIdPath = id_path("^req_[0-9a-f]{32}$", "a license request's id")

# A scope of the policy language (the music scopes, not OAuth's): the domain refuses others.
MusicScope = Annotated[str, msgspec.Meta(extra_json_schema={
    "description": "a scope of the policy language", "extra": {"enum": list(SCOPES)}})]
