"""Helpers for the licensing and lineage database tests (no tests here).

``LedgerPayments`` stands in for the payment provider (Stripe, which commerce will
bring): prepaid balances per payer, one charge per quote, refunds. It implements the
``Payments`` protocol the way a provider would, so the paid paths run our real code.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from casset_rights.errors import CassetError
from casset_rights.licenses import LicenseService, Payment
from casset_rights.licenses.models import licensee_key
from casset_rights.policy import Money
from casset_rights.principal import Principal

NIGHTGLASS = Principal(kind="artist", client_id="nightglass-app", subject="nightglass")
FERRYMEN = Principal(kind="artist", client_id="ferrymen-app", subject="the-ferrymen")
MARA = Principal(kind="artist", client_id="mara-app", subject="mara-quell")


def agent(client_id: str = "agent-1") -> Principal:
    return Principal(kind="agent", client_id=client_id, attributes={"operator": "Example"})


def partner(client_id: str) -> Principal:
    return Principal(kind="partner", client_id=client_id)


class PaymentDeclined(CassetError):
    code = "payment_declined"


class LedgerPayments:
    """Prepaid balances (minor units per currency); a charge per quote, at most once."""

    name = "ledger"
    configured = True

    def __init__(self, balances: dict[str, int] | None = None) -> None:
        self.balances: dict[str, int] = dict(balances or {})
        self.charges: dict[str, Payment] = {}
        self._payer: dict[str, str] = {}  # quote id -> account charged
        self.refunds: list[str] = []
        self._lock = threading.Lock()

    def collect(self, *, quote_id: str, amount: Money, payer: Principal,
                description: str) -> Payment:
        account = licensee_key(payer) or "public"
        with self._lock:
            if quote_id in self.charges:
                return self.charges[quote_id]
            if self.balances.get(account, 0) < amount.amount:
                raise PaymentDeclined(f"{account} cannot pay {amount.amount} {amount.currency}")
            self.balances[account] -= amount.amount
            payment = Payment(id="pay_" + uuid.uuid4().hex[:12], amount=amount,
                              provider=self.name)
            self.charges[quote_id] = payment
            self._payer[quote_id] = account
            return payment

    def refund(self, payment: Payment, *, reason: str) -> None:
        with self._lock:
            self.refunds.append(payment.id)
            for quote_id, charge in list(self.charges.items()):
                if charge.id == payment.id:  # the money goes back; a retry pays again
                    del self.charges[quote_id]
                    self.balances[self._payer[quote_id]] += charge.amount.amount


def with_payments(services: Any, payments: Any) -> LicenseService:
    """The container's license service, paying through ``payments``."""
    services.licenses.payments = payments
    return services.licenses  # type: ignore[no-any-return]


CAPPED_GROUNDING = """\
policy: nightglass-glass-hours
artist: nightglass
applies_to: release:glass-hours
rules:
  - id: grounding-for-ten
    route: grounding-ten
    for: [ai-input]
    to: [agent, partner]
routes:
  grounding-ten:
    type: free
    term_days: 30
    cap: 10
    obligations: [attribute]
"""


def put_policy(services: Any, text: str, name: str = "test-policy.yaml") -> None:
    services.policies.put(text, source_name=name)
    services.index.refresh(force=True)


def paid_license(services: Any, principal: Principal, *, resource: str, route: str,
                 context: dict[str, Any] | None = None, balance: int = 10_000_000) -> Any:
    """A paid grant through a ledger that can afford it."""
    ledger = services.licenses.payments
    if not isinstance(ledger, LedgerPayments):
        ledger = LedgerPayments()
        with_payments(services, ledger)
    ledger.balances[licensee_key(principal) or "public"] = balance
    quote = services.licenses.quote(principal, resource=resource, route=route, context=context)
    return services.licenses.obtain(principal, quote.id).grant
