"""Commerce's jobs on the queue (``casset_rights.jobs.registry``)."""

from __future__ import annotations

from typing import Any


def expire_payment_holds(context: dict[str, Any]) -> dict[str, Any]:
    """End the payment holds past their time (``Checkout.expire_holds``); idempotent.
    Without Stripe configured there are none."""
    commerce = context["services"].commerce
    ended = 0 if commerce is None else commerce.checkout.expire_holds()
    return {"ended": ended}
