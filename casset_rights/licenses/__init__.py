"""Licenses: acting on ``license_required``.

* ``LicenseService``: quotes (signed offers valid 15 minutes) and the licenses they turn
  into (free and partner routes at once, request routes through the artist, paid routes
  through ``Payments``; ``NoPayments`` by default).
* ``LicenseDesk``: artists approve, refuse and revoke; licensees and artists list and
  read; anyone introspects a license token.
* ``HeldGrants``: every licensee's grants in memory, so a decision counts the licenses
  the asker holds without reading the database (``decisions.decide``).
* License tokens (``casset-license+jws``) are checked offline with
  ``verify_license_token`` and live with ``LicenseDesk.introspect``.

See docs/licenses-and-lineage.md.
"""

from casset_rights.licenses.desk import LicenseDesk
from casset_rights.licenses.held import HeldGrants
from casset_rights.licenses.models import (
    Grant,
    Introspection,
    LicenseRequest,
    Obtained,
    Quote,
    licensee_key,
    rfc3339,
)
from casset_rights.licenses.payments import NoPayments, Payment, Payments
from casset_rights.licenses.service import LicenseService
from casset_rights.licenses.tokens import LICENSE_TYP, verify_license_token

__all__ = [
    "LICENSE_TYP", "Grant", "HeldGrants", "Introspection", "LicenseDesk", "LicenseRequest",
    "LicenseService", "NoPayments", "Obtained", "Payment", "Payments", "Quote",
    "licensee_key", "rfc3339", "verify_license_token",
]
