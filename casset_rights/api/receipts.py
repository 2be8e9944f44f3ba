"""Stored receipts, fetchable by their id."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get
from litestar.params import FromPath

from casset_rights.api.deps import ServicesDep


class ReceiptController(Controller):
    path = "/v1/receipts"
    tags = ["receipts"]

    @get("/{jti:str}", summary="A stored receipt", sync_to_thread=True)
    def receipt(self, jti: FromPath[str], services: ServicesDep) -> dict[str, Any]:
        stored = services.receipts.get(jti)
        return {"jti": stored.jti, "kind": stored.kind, "receipt": stored.token,
                "payload": stored.payload, "log_index": stored.log_index}
