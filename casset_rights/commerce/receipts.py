"""Receipts of money state changes, stored in the change's own transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from casset_rights.receipts.service import Receipt, ReceiptIssuer, ReceiptStore

# Changes Stripe tells us of (webhooks) are signed for by the service, on Stripe's word.
PROVIDER = {"kind": "service", "client_id": "stripe"}


class MoneyReceipts:
    """Signs a receipt and stores it with ``ReceiptStore.store_in`` inside the caller's
    transaction: the change and its receipt commit together or not at all."""

    def __init__(self, issuer: ReceiptIssuer, store: ReceiptStore) -> None:
        self._issuer = issuer
        self._store = store

    def issue(self, kind: str, body: dict[str, Any]) -> Receipt:
        return self._issuer.issue(kind, body)

    def store_in(self, conn: Connection, receipt: Receipt) -> Receipt:
        return self._store.store_in(conn, [receipt])[0]

    def record(self, conn: Connection, kind: str, *, principal: dict[str, Any] | None,
               resource: str | None, status: str, **body: Any) -> Receipt:
        """Sign and store a receipt of ``kind`` in ``conn``'s transaction."""
        receipt = self.issue(kind, {"principal": principal or PROVIDER,
                                    "request": {"action": kind, "resource": resource},
                                    "status": status, **body})
        return self.store_in(conn, receipt)
