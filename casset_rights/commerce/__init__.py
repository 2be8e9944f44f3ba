"""Commerce: paid licenses, support and unlocks through Stripe, artists paid through
Connect, revenue split up the lineage graph, and a double-entry ledger.

The package is domain code (no Litestar). ``wiring.open_commerce`` builds it from
settings; without Stripe keys there is no commerce service and the HTTP layer answers
the payment routes with ``payments_not_configured`` (501).
"""

from casset_rights.commerce.models import ConnectAccount, PaymentRecord, Statement

__all__ = ["ConnectAccount", "PaymentRecord", "Statement"]
