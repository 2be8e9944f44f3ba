"""The typed answers of the agent-facing routes (casset_rights/agents builds them as
plain JSON documents, in the shapes their standards give): RFC 9728 metadata, W3C TDMRep
rules, ODRL offers, RSL's license server (OAuth's token and introspection answers) and
x402's granted license. They are what the OpenAPI document says of those answers."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from casset_rights.api.openapi import MediaBody
from casset_rights.api.schemas import Answer, LicenseOut, TokenIntrospection


class ProtectedResourceMetadata(Answer):
    """OAuth protected-resource metadata (RFC 9728)."""

    resource: str
    authorization_servers: list[str]
    scopes_supported: list[str]
    bearer_methods_supported: list[str]
    resource_name: str
    resource_documentation: str


class TdmRepRule(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A W3C TDMRep rule: a path, whether text and data mining is reserved (1) or not
    (0), and the ODRL policy that offers it."""

    location: str
    tdm_reservation: Literal[0, 1] = msgspec.field(name="tdm-reservation")
    tdm_policy: str | UnsetType = msgspec.field(name="tdm-policy", default=UNSET)


class TdmRepRules(MediaBody):
    """The W3C TDMRep rules of the service (/.well-known/tdmrep.json), one per resource
    path."""

    items = TdmRepRule


class OdrlOffer(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An ODRL 2.2 Offer in JSON-LD, its context inline: permissions (with the duties
    that obtain them), prohibitions and their constraints, in the ODRL vocabulary and
    this service's music profile (or the TDMRep profile)."""

    context: dict[str, Any] = msgspec.field(name="@context")
    type: Literal["Offer"]
    uid: str
    profile: str
    assigner: dict[str, str]
    target: dict[str, str] | UnsetType = UNSET
    conflict: Literal["prohibit"] | UnsetType = UNSET
    permission: list[dict[str, Any]] | UnsetType = UNSET
    prohibition: list[dict[str, Any]] | UnsetType = UNSET


class OlpTokenAnswer(Answer):
    """RSL's license server: a license token, as OAuth answers a token (RFC 6749 section
    5.1); ``transaction`` names the x402 settlement of a paid route."""

    access_token: str
    token_type: Literal["License"]
    scope: str
    license_id: str
    receipt_id: str | None
    expires_in: int | UnsetType = UNSET
    transaction: str | UnsetType = UNSET


class OlpIntrospection(TokenIntrospection):
    """RFC 7662 for a license token: ``active`` alone when it is not in force for the
    resource and use asked about; ``exp`` null for a license without an end."""

    exp: int | None | UnsetType = UNSET
    resource: str | UnsetType = UNSET
    route: str | UnsetType = UNSET


class PaidLicense(Answer):
    """A license paid with x402: the settlement's transaction and network, and the
    license (``PAYMENT-RESPONSE`` carries the settlement too)."""

    status: Literal["granted"]
    transaction: str
    network: str
    license: LicenseOut
