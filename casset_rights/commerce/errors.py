"""Commerce's domain errors, each under a base the API already maps to a status."""

from __future__ import annotations

from casset_rights.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable


class UnknownCurrency(InvalidInput):
    code = "unknown_currency"


class AmountBelowMinimum(InvalidInput):
    """The amount is below what the card networks let Stripe charge in that currency."""

    code = "amount_below_minimum"


class RouteNotPaid(InvalidInput):
    """A payment was asked for a quote whose route is not ``paid``."""

    code = "route_not_paid"


class ArtistNotPayable(Conflict):
    """The artist has no Connect account that can take charges yet (onboarding is not
    finished): their paid routes, support and unlocks wait for it."""

    code = "artist_not_payable"


class PaymentNotFound(NotFound):
    code = "unknown_payment"


class WebhookSignatureInvalid(InvalidInput):
    """The ``Stripe-Signature`` header does not verify against the webhook secret (or the
    timestamp is outside the tolerance). Nothing was recorded."""

    code = "webhook_signature_invalid"


class WebhookInvalid(InvalidInput):
    """The webhook body is not a Stripe event (signed, but not JSON or without id/type)."""

    code = "webhook_invalid"


class PaymentProviderError(ServiceUnavailable):
    """Stripe refused or could not be reached; ``detail`` carries its message. No money
    moved on our side (reservations were given back)."""

    code = "payment_provider_error"

