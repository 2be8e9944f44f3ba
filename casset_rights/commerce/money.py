"""Currencies Stripe charges in, and the smallest amount it will charge in each.

Amounts are integers in the currency's minor unit (cents; yen for zero-decimal
currencies), as Stripe takes them. The minimums are Stripe's published minimum charge
amounts (docs.stripe.com/currencies#minimum-and-maximum-charge-amounts) for the
currencies this service accepts.
"""

from __future__ import annotations

from casset_rights.commerce.errors import AmountBelowMinimum, UnknownCurrency

# currency -> smallest chargeable amount in minor units
MINIMUM_CHARGE: dict[str, int] = {
    "usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "nzd": 50, "chf": 50,
    "sgd": 50, "brl": 50, "inr": 50, "jpy": 50, "dkk": 250, "nok": 300, "sek": 300,
    "pln": 200, "czk": 1500, "hkd": 400, "mxn": 1000,
}
MAXIMUM_CHARGE = 99_999_999  # Stripe's eight-digit limit on an amount


def check_charge(amount: int, currency: str) -> str:
    """The lowercase currency when ``amount`` of it can be charged. Raises
    UnknownCurrency or AmountBelowMinimum (also for amounts above Stripe's maximum)."""
    code = currency.lower()
    minimum = MINIMUM_CHARGE.get(code)
    if minimum is None:
        raise UnknownCurrency(f"{currency!r} is not a currency this service charges in "
                              f"(one of {', '.join(sorted(MINIMUM_CHARGE))})")
    if amount < minimum:
        raise AmountBelowMinimum(f"{amount} is below the smallest charge in {code} "
                                 f"({minimum} minor units)")
    if amount > MAXIMUM_CHARGE:
        raise AmountBelowMinimum(f"{amount} is above the largest charge ({MAXIMUM_CHARGE})")
    return code


def platform_fee(amount: int, fee_bps: int) -> int:
    """The platform's fee on ``amount``, in basis points, rounded down (the artist side
    keeps the odd unit)."""
    return amount * fee_bps // 10_000
