"""Who is asking: the principal every decision, receipt and rate limit is about.

Requests without credentials are ``public``. Authenticated machine clients are ``agent``
or ``partner``; an artist acting on their own catalog (directly or through a partner they
authorised) is ``artist``. Only ``casset_rights.auth`` builds non-public principals.
"""

from __future__ import annotations

from typing import Literal

import msgspec

PrincipalKind = Literal["public", "agent", "partner", "artist"]
PRINCIPAL_KINDS: tuple[str, ...] = ("public", "agent", "partner", "artist")


class Principal(msgspec.Struct, frozen=True, omit_defaults=True):
    """The authenticated identity behind a request.

    ``client_id`` names the OAuth client (absent for ``public``); ``subject`` is the
    artist id for artist principals; ``attributes`` are verified facts about the client
    (a partner's verified name, an agent's declared operator and purpose) that policy
    rules can match on; ``address`` is the network address, used only for rate limits of
    ``public`` callers and never recorded in receipts.
    """

    kind: PrincipalKind = "public"
    client_id: str | None = None
    subject: str | None = None
    attributes: dict[str, str | bool | int] = msgspec.field(default_factory=dict)
    scopes: frozenset[str] = frozenset()
    address: str | None = None

    def for_receipt(self) -> dict[str, object]:
        """The part of the principal a receipt records (no network address)."""
        out: dict[str, object] = {"kind": self.kind}
        if self.client_id is not None:
            out["client_id"] = self.client_id
        if self.subject is not None:
            out["sub"] = self.subject
        if self.attributes:
            out["attributes"] = dict(self.attributes)
        return out


PUBLIC = Principal()
