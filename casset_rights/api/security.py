"""Who is asking: the ``principal`` dependency every controller may declare.

Until a bearer token is presented the caller is ``public``, identified for rate limits
by its address only.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from casset_rights.principal import Principal


async def provide_principal(request: Request[Any, Any, Any]) -> Principal:
    client = request.client
    return Principal(kind="public", address=client.host if client else None)
