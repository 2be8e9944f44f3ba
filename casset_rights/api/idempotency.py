"""The ``Idempotency-Key`` request header (draft-ietf-httpapi-idempotency-key-header).

Routes that spend something (obtaining a license with a quote, approving a request,
revoking a license, declaring or withdrawing lineage edges) take the header: the same
key with the same request answers the first outcome again; the same key with another
request is a 422 problem (``idempotency_key_reused``). Without the header the route
behaves as before.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar.params import HeaderParameter

from casset_rights.idempotency import MAX_KEY_LENGTH, Claim, claim
from casset_rights.licenses.service import require_licensee
from casset_rights.principal import Principal

IdempotencyKey = Annotated[str | None, HeaderParameter(
    name="Idempotency-Key", required=False, min_length=1, max_length=MAX_KEY_LENGTH,
    description="a key of your choosing: a retry with the same key and request answers "
                "the first outcome again instead of doing the write twice")]


def claim_of(principal: Principal, key: str | None, *, operation: str,
             request: Any) -> Claim | None:
    """The claim for ``key`` (None without one). Raises Unauthenticated for the public
    and InvalidInput for a malformed key."""
    if key is None:
        return None
    return claim(require_licensee(principal), key, operation=operation, request=request)
