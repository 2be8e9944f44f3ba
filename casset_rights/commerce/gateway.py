"""Stripe, behind a protocol: the few calls commerce makes, answered as our own structs.

``StripeGateway`` speaks to Stripe through its SDK (``stripe.StripeClient``); the base
address can point at a local server (``CASSET_STRIPE_API_BASE``). Every call that moves
money or makes an object takes an idempotency key, so a retry after a timeout replays
Stripe's first answer instead of charging, transferring or reversing twice. Stripe's
errors become PaymentProviderError (a card declined is not an error here: the intent's
status says so). The SDK's webhook verification is the only one used.
"""

from __future__ import annotations

from typing import Any, Protocol

import stripe

from casset_rights.commerce.errors import (
    PaymentProviderError,
    WebhookInvalid,
    WebhookSignatureInvalid,
)
from casset_rights.commerce.models import ChargeState, DisputeState, IntentState

# Stripe's default tolerance: a signed event older than this is refused (replays).
WEBHOOK_TOLERANCE_SECONDS = 300


class PaymentGateway(Protocol):
    def create_intent(self, *, amount: int, currency: str, metadata: dict[str, str],
                      destination: str, application_fee: int, transfer_group: str,
                      description: str, idempotency_key: str) -> IntentState: ...

    def retrieve_intent(self, intent_id: str) -> IntentState: ...

    def cancel_intent(self, intent_id: str) -> IntentState: ...

    def retrieve_charge(self, charge_id: str) -> ChargeState: ...

    def retrieve_dispute(self, dispute_id: str) -> DisputeState: ...

    def create_account(self, *, artist_id: str, idempotency_key: str) -> dict[str, Any]: ...

    def retrieve_account(self, account_id: str) -> dict[str, Any]: ...

    def create_account_link(self, *, account_id: str, refresh_url: str,
                            return_url: str) -> str: ...

    def create_transfer(self, *, amount: int, currency: str, destination: str,
                        transfer_group: str, source_charge: str | None,
                        idempotency_key: str) -> str: ...

    def reverse_transfer(self, transfer_id: str, *, idempotency_key: str) -> str: ...

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]: ...


def _id(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value.id)


def _error_code(error: Any) -> str | None:
    if not error:
        return None
    code = error.get("code") if hasattr(error, "get") else getattr(error, "code", None)
    return str(code or "payment_failed")


class StripeGateway:
    """The production gateway (``stripe`` SDK)."""

    def __init__(self, *, secret_key: str, webhook_secret: str | None,
                 api_base: str | None = None, max_network_retries: int = 2) -> None:
        self._client = stripe.StripeClient(
            secret_key, base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=max_network_retries)
        self._webhook_secret = webhook_secret

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except stripe.StripeError as exc:
            message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
            raise PaymentProviderError(f"Stripe refused to {what}: {message}") from None

    @staticmethod
    def _intent(obj: Any) -> IntentState:
        return IntentState(id=obj.id, status=obj.status, amount=int(obj.amount),
                           currency=obj.currency, client_secret=obj.client_secret,
                           charge_id=_id(getattr(obj, "latest_charge", None)),
                           metadata=obj.metadata.to_dict() if obj.metadata else {},
                           last_error=_error_code(getattr(obj, "last_payment_error", None)))

    def create_intent(self, *, amount: int, currency: str, metadata: dict[str, str],
                      destination: str, application_fee: int, transfer_group: str,
                      description: str, idempotency_key: str) -> IntentState:
        params: dict[str, Any] = {
            "amount": amount, "currency": currency, "metadata": metadata,
            "description": description, "payment_method_types": ["card"],
            # A destination charge: the licensor's account receives the amount less the
            # application fee (the platform's fee and the upstream artists' shares).
            "transfer_data": {"destination": destination},
            "application_fee_amount": application_fee,
            "transfer_group": transfer_group,
        }
        obj = self._call("create a payment", self._client.v1.payment_intents.create, params,
                         {"idempotency_key": idempotency_key})
        return self._intent(obj)

    def retrieve_intent(self, intent_id: str) -> IntentState:
        return self._intent(self._call("read a payment",
                                       self._client.v1.payment_intents.retrieve, intent_id))

    def cancel_intent(self, intent_id: str) -> IntentState:
        return self._intent(self._call("cancel a payment",
                                       self._client.v1.payment_intents.cancel, intent_id))

    def retrieve_charge(self, charge_id: str) -> ChargeState:
        obj = self._call("read a charge", self._client.v1.charges.retrieve, charge_id)
        return ChargeState(id=obj.id, payment_intent=_id(obj.payment_intent),
                           amount=int(obj.amount), amount_refunded=int(obj.amount_refunded),
                           refunded=bool(obj.refunded))

    def retrieve_dispute(self, dispute_id: str) -> DisputeState:
        obj = self._call("read a dispute", self._client.v1.disputes.retrieve, dispute_id)
        return DisputeState(id=obj.id, charge=_id(obj.charge) or "",
                            payment_intent=_id(getattr(obj, "payment_intent", None)),
                            status=obj.status)

    def create_account(self, *, artist_id: str, idempotency_key: str) -> dict[str, Any]:
        obj = self._call("create a Connect account", self._client.v1.accounts.create,
                         {"type": "express", "metadata": {"casset_artist": artist_id},
                          "capabilities": {"card_payments": {"requested": True},
                                           "transfers": {"requested": True}}},
                         {"idempotency_key": idempotency_key})
        return dict(obj.to_dict())

    def retrieve_account(self, account_id: str) -> dict[str, Any]:
        obj = self._call("read a Connect account", self._client.v1.accounts.retrieve,
                         account_id)
        return dict(obj.to_dict())

    def create_account_link(self, *, account_id: str, refresh_url: str,
                            return_url: str) -> str:
        obj = self._call("create an onboarding link", self._client.v1.account_links.create,
                         {"account": account_id, "refresh_url": refresh_url,
                          "return_url": return_url, "type": "account_onboarding"})
        return str(obj.url)

    def create_transfer(self, *, amount: int, currency: str, destination: str,
                        transfer_group: str, source_charge: str | None,
                        idempotency_key: str) -> str:
        params: dict[str, Any] = {"amount": amount, "currency": currency,
                                  "destination": destination, "transfer_group": transfer_group}
        if source_charge:  # the transfer waits for the charge's funds to be available
            params["source_transaction"] = source_charge
        obj = self._call("transfer to an artist", self._client.v1.transfers.create, params,
                         {"idempotency_key": idempotency_key})
        return str(obj.id)

    def reverse_transfer(self, transfer_id: str, *, idempotency_key: str) -> str:
        obj = self._call("reverse a transfer", self._client.v1.transfers.reversals.create,
                         transfer_id, {}, {"idempotency_key": idempotency_key})
        return str(obj.id)

    def verify_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """The event, once its ``Stripe-Signature`` verifies (the SDK checks the HMAC and
        the timestamp's tolerance). Raises WebhookSignatureInvalid or WebhookInvalid."""
        try:
            event = self._client.construct_event(payload, signature, self._webhook_secret,
                                                 tolerance=WEBHOOK_TOLERANCE_SECONDS)
        except stripe.SignatureVerificationError as exc:
            raise WebhookSignatureInvalid(f"the Stripe-Signature does not verify: "
                                          f"{exc.user_message or 'no matching signature'}") \
                from None
        except (ValueError, AttributeError, TypeError, KeyError):
            # Verified, but not an event object (the SDK builds one from any JSON).
            raise WebhookInvalid("the webhook body is not a JSON Stripe event") from None
        body = event.to_dict()
        if not isinstance(body.get("id"), str) or not isinstance(body.get("type"), str):
            raise WebhookInvalid("the webhook event has no id or type")
        return dict(body)
