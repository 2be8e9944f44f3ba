"""Building commerce from settings.

With ``stripe_secret_key`` set, ``open_commerce`` builds the Stripe gateway and the
services; without it there is no commerce (``None``) and the payment routes answer
``payments_not_configured``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from casset_rights.commerce.checkout import Checkout
from casset_rights.commerce.gateway import PaymentGateway, StripeGateway
from casset_rights.commerce.payouts import Payouts
from casset_rights.commerce.receipts import MoneyReceipts
from casset_rights.commerce.webhooks import Webhooks
from casset_rights.config import Settings
from casset_rights.licenses.service import LicenseService
from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

# How often the server expires payment holds (the job ``expire-payment-holds``, run by
# ``casset_rights.jobs.periodic``).
HOLD_SWEEP_SECONDS = 60.0


@dataclass
class Commerce:
    checkout: Checkout
    payouts: Payouts
    webhooks: Webhooks
    gateway: PaymentGateway


def open_commerce(settings: Settings, *, engine: Engine, licenses: LicenseService,
                  issuer: ReceiptIssuer, receipts: ReceiptStore,
                  gateway: PaymentGateway | None = None) -> Commerce | None:
    """Commerce on Stripe, or None without a Stripe secret key."""
    if gateway is None:
        if not settings.stripe_secret_key:
            return None
        gateway = StripeGateway(secret_key=settings.stripe_secret_key or "",
                                webhook_secret=settings.stripe_webhook_secret,
                                api_base=settings.stripe_api_base)
    money_receipts = MoneyReceipts(issuer, receipts)
    payouts = Payouts(engine=engine, gateway=gateway, receipts=money_receipts)
    checkout = Checkout(engine=engine, licenses=licenses, gateway=gateway, payouts=payouts,
                        receipts=money_receipts, fee_bps=settings.platform_fee_bps,
                        hold_seconds=settings.payment_hold_seconds)
    webhooks = Webhooks(engine=engine, gateway=gateway, checkout=checkout, payouts=payouts,
                        grants_changed=licenses.grants_changed,
                        receipts=money_receipts)
    return Commerce(checkout=checkout, payouts=payouts, webhooks=webhooks, gateway=gateway)
