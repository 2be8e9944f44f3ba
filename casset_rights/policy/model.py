"""The policy document as msgspec Structs, and its one serialized form.

These models are what ``parse`` returns after the schema has accepted a document; they
do not re-check what ``schemas/policy.schema.json`` and the validator check.
``serialize(policy)`` gives the canonical JSON document (defaults left out), and
``parse(serialize(p)) == p`` for every policy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

Effect = Literal["permit", "deny", "route"]
Purpose = Literal["commercial", "non-commercial"]
Target = Literal["hooks", "tracks", "releases"]
ObligationType = Literal["attribute", "link-back", "register-derivative", "report-use"]
RouteType = Literal["free", "paid", "request", "partner"]
Expectation = Literal["permit", "deny", "license_required"]
AttributeValue = str | bool | int

PURPOSES: tuple[str, ...] = ("commercial", "non-commercial")
TARGETS: dict[str, str] = {"releases": "release", "tracks": "track", "hooks": "hook"}
OBLIGATION_TYPES: tuple[ObligationType, ...] = (
    "attribute", "link-back", "register-derivative", "report-use")
ROUTE_TYPES: tuple[str, ...] = ("free", "paid", "request", "partner")


class _Model(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    pass


class AudienceMatch(_Model, frozen=True):
    """An audience item matching principals by kind and/or verified attributes."""

    kind: Literal["public", "agent", "partner", "artist"] | None = None
    attributes: dict[str, AttributeValue] = {}


# "any", or a list of kind names, "client:<id>" strings and AudienceMatch objects.
Audience = Literal["any"] | tuple[str | AudienceMatch, ...]


class TerritoryCondition(_Model, frozen=True):
    """ISO 3166-1 alpha-2 codes; exactly one of ``in_`` (``in``) or ``not_in``."""

    in_: tuple[str, ...] | None = msgspec.field(default=None, name="in")
    not_in: tuple[str, ...] | None = None


class ExcerptCondition(_Model, frozen=True):
    """Bounds (inclusive) on the excerpt length in seconds."""

    min: int | float | None = None
    max: int | float | None = None


class TimeWindow(_Model, frozen=True):
    """``from`` (inclusive) and ``until`` (exclusive), timezone-aware."""

    from_: datetime | None = msgspec.field(default=None, name="from")
    until: datetime | None = None


class Conditions(_Model, frozen=True):
    purpose: Purpose | tuple[Purpose, ...] | None = None
    territory: TerritoryCondition | None = None
    excerpt_seconds: ExcerptCondition | None = None
    between: TimeWindow | None = None


class Rule(_Model, frozen=True):
    """One rule: exactly one of ``permit``, ``deny`` or ``route`` (with ``for_``)."""

    id: str
    permit: tuple[str, ...] | None = None
    deny: tuple[str, ...] | None = None
    route: str | None = None
    for_: tuple[str, ...] | None = msgspec.field(default=None, name="for")
    to: Audience = "any"
    on: Target | None = None
    when: Conditions | None = None
    obligations: tuple[ObligationType, ...] = ()
    description: str | None = None

    @property
    def effect(self) -> Effect:
        if self.deny is not None:
            return "deny"
        return "permit" if self.permit is not None else "route"

    @property
    def scopes(self) -> tuple[str, ...]:
        return self.permit or self.deny or self.for_ or ()


class Price(_Model, frozen=True):
    """``amount`` in minor units of ``currency`` (ISO 4217, lowercase: ``usd``)."""

    amount: int
    currency: str


class Route(_Model, frozen=True):
    """How to obtain a right by license; which fields apply depends on ``type``."""

    type: RouteType
    price: Price | None = None
    term_days: int | None = None
    territory: tuple[str, ...] | None = None
    cap: int | None = None
    revenue_share_percent: int | float | None = None
    note: str | None = None
    partners: tuple[str, ...] | None = None
    obligations: tuple[ObligationType, ...] = ()
    description: str | None = None


class PolicyTestPrincipal(_Model, frozen=True):
    """Who asks in a policy test, when a bare kind or ``client:<id>`` is not enough."""

    kind: Literal["public", "agent", "partner", "artist"] = "agent"
    client_id: str | None = None
    attributes: dict[str, AttributeValue] = {}


class PolicyTestRequest(_Model, frozen=True):
    action: str
    resource: str
    as_: str | PolicyTestPrincipal = msgspec.field(default="public", name="as")
    context: dict[str, Any] = {}


class PolicyTest(_Model, frozen=True):
    request: PolicyTestRequest
    expect: Expectation
    name: str | None = None


class Policy(_Model, frozen=True):
    """A policy file: ``policy`` is its id; ``applies_to`` is ``artist`` or a resource id."""

    policy: str
    artist: str
    applies_to: str
    rules: tuple[Rule, ...]
    routes: dict[str, Route] = {}
    attribution: str | None = None
    description: str | None = None
    tests: tuple[PolicyTest, ...] = ()


def to_policy(document: dict[str, Any]) -> Policy:
    """Build the model from a schema-valid document (a ``$schema`` member is dropped).

    Raises msgspec.ValidationError only if the document bypassed the schema.
    """
    if "$schema" in document:
        document = {k: v for k, v in document.items() if k != "$schema"}
    # Not strict: JSON Schema counts 4900.0 as an integer, so the model takes it as 4900.
    return msgspec.convert(document, Policy, strict=False)


def serialize(policy: Policy) -> dict[str, Any]:
    """The policy as a JSON-compatible document: what ``content_hash`` names.

    Defaults are left out, datetimes are RFC 3339 text, and ``parse`` of the result gives
    back an equal policy.
    """
    # Through JSON so lists are lists (``to_builtins`` keeps tuples, which JSON Schema
    # validators do not take for arrays).
    return msgspec.json.decode(msgspec.json.encode(policy), type=dict[str, Any])
