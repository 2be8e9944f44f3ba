"""Payments for paid routes: the protocol, and the embedded default that has none.

A payment provider collects the quoted price from the licensee before a paid grant is
written. The grant's slot under the route's cap is reserved first, so a buyer is never
charged for a license a concurrent buyer took; a refund covers a grant that could not be
stored after the payment. The production provider (Stripe)
belongs to the commerce package; until it exists ``NoPayments`` answers every paid route
with ``payments_not_configured``.
"""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from casset_rights.errors import PaymentsNotConfigured
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


def format_money(money: Money) -> str:
    """``4900 usd`` reads ``49.00 USD`` (two minor digits; enough for the currencies the
    policy language accepts today)."""
    whole, minor = divmod(money.amount, 100)
    return f"{whole}.{minor:02d} {money.currency.upper()}"
