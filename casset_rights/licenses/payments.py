"""Payments for paid routes: the protocol, and the embedded default that has none.

A payment provider collects the quoted price from the licensee before a paid grant is
written. The grant's slot under the route's cap is reserved first, so a buyer is never
charged for a license a concurrent buyer took; a refund covers a grant that could not be
stored after the payment. With Stripe configured, ``PaidThroughCheckout`` sends the
payer to the commerce package's payments; without it ``NoPayments`` answers every paid
route with ``payments_not_configured``.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from casset_rights.errors import PaymentRequired, PaymentsNotConfigured
from casset_rights.policy import Money
from casset_rights.principal import Principal

logger = logging.getLogger("casset_rights.licenses")


class Payment(msgspec.Struct, frozen=True):
    """A collected payment: the provider's id for it and what was collected."""

    id: str
    amount: Money
    provider: str


class Payments(Protocol):
    """Where money for paid routes is collected."""

    name: str

    @property
    def configured(self) -> bool: ...

    def collect(self, *, quote_id: str, amount: Money, payer: Principal,
                description: str) -> Payment:
        """Collect ``amount`` from ``payer`` for the quote (idempotent per ``quote_id``
        until refunded: after a refund, the quote's next collect charges again).
        Raises PaymentsNotConfigured, or a CassetError saying why the payment failed."""
        ...

    def refund(self, payment: Payment, *, reason: str) -> None:
        """Give a collected payment back (the grant could not be stored)."""
        ...


class NoPayments:
    """The embedded default: no payment provider. Paid routes answer, clearly, that
    payments are not configured (HTTP 501); free, partner and request routes work."""

    name = "none"
    configured = False

    def collect(self, *, quote_id: str, amount: Money, payer: Principal,
                description: str) -> Payment:
        raise PaymentsNotConfigured(
            f"payments are not configured on this service, so paid routes cannot be "
            f"licensed yet ({description}: {format_money(amount)}); free, partner and "
            f"request routes work")

    def refund(self, payment: Payment, *, reason: str) -> None:
        raise PaymentsNotConfigured("payments are not configured on this service")


class PaidThroughCheckout:
    """Paid routes when Stripe is configured: they are paid for with a PaymentIntent the
    payer confirms (``casset_rights.commerce``), so a direct ``obtain`` of a paid quote
    answers ``payment_required`` (402) naming the way (nothing is reserved or charged)."""

    name = "stripe"
    configured = True

    def collect(self, *, quote_id: str, amount: Money, payer: Principal,
                description: str) -> Payment:
        raise PaymentRequired(
            f"{description} costs {format_money(amount)}: open a payment with POST "
            f"/v1/payments {{\"quote_id\": \"{quote_id}\"}}, confirm its PaymentIntent "
            "with Stripe, and the license is granted when the payment succeeds")

    def refund(self, payment: Payment, *, reason: str) -> None:
        """Never called: ``collect`` collects nothing."""


def format_money(money: Money) -> str:
    """``4900 usd`` reads ``49.00 USD`` (two minor digits; enough for the currencies the
    policy language accepts today)."""
    whole, minor = divmod(money.amount, 100)
    return f"{whole}.{minor:02d} {money.currency.upper()}"
