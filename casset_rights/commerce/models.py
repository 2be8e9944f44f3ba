"""What commerce answers: payments, Connect accounts, statements. Frozen msgspec
Structs; times are epoch milliseconds, amounts integer minor units."""

from __future__ import annotations

from typing import Literal

import msgspec

PaymentKind = Literal["license", "unlock", "support"]
PaymentStatus = Literal["open", "succeeded", "failed", "canceled", "refunded"]


class Split(msgspec.Struct, frozen=True, array_like=True):
    """What one artist receives of a payment (after the platform fee)."""

    artist: str
    amount: int


class PaymentRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A payment as stored: a Stripe PaymentIntent and what it buys.

    ``client_secret`` is only present in the answer that opened the payment (the payer
    confirms the intent with it); it is never stored.
    """

    id: str
    kind: PaymentKind
    intent_id: str | None
    quote_id: str | None
    payer: str
    artist_id: str
    resource: str | None
    amount: int
    currency: str
    platform_fee: int
    destination: str
    splits: tuple[Split, ...]
    message: str | None
    status: PaymentStatus
    holds_slot: bool
    hold_expires_at_ms: int
    charge_id: str | None
    grant_id: str | None
    dispute_status: str | None
    created_at_ms: int
    settled_at_ms: int | None
    receipt_id: str | None
    client_secret: str | None = None


class ConnectAccount(msgspec.Struct, frozen=True, kw_only=True):
    """An artist's Stripe Connect account and what Stripe lets it do."""

    artist_id: str
    account_id: str
    charges_enabled: bool
    payouts_enabled: bool
    details_submitted: bool
    onboarding_url: str | None = None


class IntentState(msgspec.Struct, frozen=True, kw_only=True):
    """What Stripe says of a PaymentIntent now."""

    id: str
    status: str
    amount: int
    currency: str
    client_secret: str | None
    charge_id: str | None
    metadata: dict[str, str]
    last_error: str | None = None

    @property
    def failed(self) -> bool:
        """An attempt to pay failed (the intent waits for another payment method) or
        the intent was canceled."""
        return self.status == "canceled" or (
            self.status == "requires_payment_method" and self.last_error is not None)


class ChargeState(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    payment_intent: str | None
    amount: int
    amount_refunded: int
    refunded: bool


class DisputeState(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    charge: str
    payment_intent: str | None
    status: str  # needs_response | under_review | won | lost | ...


class LedgerLine(msgspec.Struct, frozen=True, kw_only=True):
    at_ms: int
    payment_id: str
    movement: str
    account: str
    kind: str
    amount: int
    currency: str
    reference: str | None


class Statement(msgspec.Struct, frozen=True, kw_only=True):
    """An artist's ledger between two times: the balance before, every line (at most
    ``limit``; ``truncated`` says more exist), totals by kind, and the balance after,
    per currency."""

    artist_id: str
    from_ms: int
    to_ms: int
    opening: dict[str, int]
    closing: dict[str, int]
    totals: dict[str, dict[str, int]]
    lines: tuple[LedgerLine, ...]
    truncated: bool
