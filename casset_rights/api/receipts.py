"""Stored receipts, fetchable by their id."""

from __future__ import annotations

from litestar import Controller, get

from casset_rights.api.deps import ServicesDep
from casset_rights.api.openapi import PARAMS, SCOPED
from casset_rights.api.problems import problems
from casset_rights.api.schemas import ReceiptIdPath, StoredReceipt


class ReceiptController(Controller):
    path = "/v1/receipts"
    tags = ["receipts"]

    @get("/{jti:str}", summary="A stored receipt", sync_to_thread=True,
         responses=problems(*SCOPED, *PARAMS, 404))
    def receipt(self, jti: ReceiptIdPath, services: ServicesDep) -> StoredReceipt:
        stored = services.receipts.get(jti)
        return StoredReceipt(jti=stored.jti, kind=stored.kind, receipt=stored.token,
                             payload=stored.payload, log_index=stored.log_index)
