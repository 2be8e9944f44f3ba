"""What ``authorize`` answers: the decision, the reasons, obligations, routes and errors.

All of these are frozen msgspec Structs, ready to be put in a receipt or an API response
(``msgspec.to_builtins``).
"""

from __future__ import annotations

from typing import Literal

import msgspec

DecisionValue = Literal["permit", "deny", "license_required"]


class _Out(msgspec.Struct, frozen=True, omit_defaults=True):
    pass


class Reason(_Out, frozen=True, kw_only=True):
    """A rule that decided (or ``rule="default-deny"`` with no policy or level)."""

    policy: str | None = None
    rule: str
    effect: Literal["permit", "deny", "route"]
    level: Literal["artist", "release", "track", "hook"] | None = None


class Obligation(_Out, frozen=True):
    """A duty that comes with a permit; ``text`` is the rendered attribution for
    ``attribute``."""

    type: Literal["attribute", "link-back", "register-derivative", "report-use"]
    text: str | None = None


class Money(_Out, frozen=True):
    amount: int
    currency: str


class LicenseRoute(_Out, frozen=True):
    """A route an asker can act on: what a licensing module turns into a quote.

    ``scopes`` are every scope the policy routes here (the license may cover them all);
    ``policy_hash`` binds the offer to the policy version that made it.
    """

    name: str
    policy: str
    policy_hash: str
    type: Literal["free", "paid", "request", "partner"]
    scopes: tuple[str, ...]
    price: Money | None = None
    term_days: int | None = None
    territory: tuple[str, ...] | None = None
    cap: int | None = None
    revenue_share_percent: int | float | None = None
    note: str | None = None
    partners: tuple[str, ...] | None = None
    obligations: tuple[str, ...] = ()
    description: str | None = None


class RuleError(_Out, frozen=True):
    """A rule that failed while being evaluated; it was skipped."""

    policy: str
    rule: str
    message: str


class Decision(msgspec.Struct, frozen=True):
    """The answer to one request. Tuples are in a stable order (by level, then policy
    and rule id; obligations in their documented order; routes by name), so the same
    policies give an equal Decision whatever order their rules were written in."""

    decision: DecisionValue
    reasons: tuple[Reason, ...] = ()
    obligations: tuple[Obligation, ...] = ()
    license_routes: tuple[LicenseRoute, ...] = ()
    errors: tuple[RuleError, ...] = ()

    @property
    def permitted(self) -> bool:
        return self.decision == "permit"


DEFAULT_DENY_REASON = Reason(rule="default-deny", effect="deny")
