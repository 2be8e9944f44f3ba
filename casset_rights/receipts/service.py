"""Issuing and storing receipts.

A receipt is a compact JWS (EdDSA, ``typ: casset-receipt+jws``) over a payload with
``iss``, ``iat``, ``jti``, the principal, what was asked and what was answered. Every
decision, quote, grant, approval, refusal and revocation gets one.

Receipts are written by ``ReceiptWriter``: requests hand their receipt to one writer
thread and wait for the commit; one transaction stores every receipt that arrived while
the previous one committed (group commit), so a busy service pays one commit per batch,
not per request, and no answer is given before its receipt is durable.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, insert, select, update

from casset_rights.errors import NotFound
from casset_rights.receipts.jws import sign_compact
from casset_rights.receipts.keys import KeyStore
from casset_rights.receipts.tables import receipts

RECEIPT_TYP = "casset-receipt+jws"


class Receipt(msgspec.Struct, frozen=True):
    jti: str
    kind: str
    token: str
    payload: dict[str, Any]
    log_index: int | None = None


class ReceiptIssuer:
    """Signs receipt payloads with the key store's active key."""

    def __init__(self, key_store: KeyStore, *, issuer: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = key_store
        self._issuer = issuer
        self._clock = clock

    def issue(self, kind: str, body: dict[str, Any]) -> Receipt:
        """Sign ``body`` (which must carry ``principal``) as a receipt of ``kind``."""
        jti = uuid.uuid4().hex
        payload = {"iss": self._issuer, "iat": int(self._clock()), "jti": jti,
                   "kind": kind, **body}
        token = sign_compact(payload, self._keys.active(), typ=RECEIPT_TYP)
        return Receipt(jti=jti, kind=kind, token=token, payload=payload)


# Called inside the storing transaction with the receipts just inserted; returns their
# log indexes (the transparency log subscribes here).
BatchHook = Callable[[Connection, Sequence[Receipt]], Sequence[int] | None]


def _row(receipt: Receipt) -> dict[str, Any]:
    p = receipt.payload
    principal = p.get("principal") or {}
    request = p.get("request") or {}
    return {
        "jti": receipt.jti,
        "kind": receipt.kind,
        "token": receipt.token,
        "payload": msgspec.json.encode(p).decode(),
        "iat": p["iat"],
        "principal_kind": principal.get("kind", "public"),
        "client_id": principal.get("client_id"),
        "resource": request.get("resource"),
        "outcome": p.get("decision") or p.get("status"),
    }


class ReceiptStore:
    """Receipts in the database, written in batches through ``store``."""

    def __init__(self, engine: Engine, *, on_batch: BatchHook | None = None) -> None:
        self._engine = engine
        self._on_batch = on_batch

    def set_batch_hook(self, hook: BatchHook | None) -> None:
        self._on_batch = hook

    def store(self, batch: Sequence[Receipt]) -> list[Receipt]:
        """Store receipts in one transaction; returns them with their log indexes."""
        if not batch:
            return []
        with self._engine.begin() as conn:
            conn.execute(insert(receipts), [_row(r) for r in batch])
            indexes = self._on_batch(conn, batch) if self._on_batch else None
            if indexes:
                for receipt, index in zip(batch, indexes, strict=True):
                    conn.execute(update(receipts).where(receipts.c.jti == receipt.jti)
                                 .values(log_index=index))
        if not indexes:
            return list(batch)
        return [msgspec.structs.replace(r, log_index=i) for r, i in zip(batch, indexes, strict=True)]

    def get(self, jti: str) -> Receipt:
        """Raises NotFound when no receipt has that id."""
        with self._engine.connect() as conn:
            row = conn.execute(select(receipts).where(receipts.c.jti == jti)).first()
        if row is None:
            raise NotFound(f"no receipt {jti!r}")
        return Receipt(jti=row.jti, kind=row.kind, token=row.token,
                       payload=msgspec.json.decode(row.payload), log_index=row.log_index)


class ReceiptWriter:
    """One thread that stores receipts in groups; ``submit`` returns a future."""

    _STOP = object()

    def __init__(self, store: ReceiptStore, *, batch_max: int = 256) -> None:
        self._store = store
        self._batch_max = batch_max
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="receipt-writer", daemon=True)
        self._thread.start()

    def submit(self, receipt: Receipt) -> concurrent.futures.Future[Receipt]:
        future: concurrent.futures.Future[Receipt] = concurrent.futures.Future()
        self._queue.put((receipt, future))
        return future

    def close(self) -> None:
        """Store what is queued, then stop the thread."""
        self._queue.put(self._STOP)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is self._STOP:
                return
            batch = [item]
            while len(batch) < self._batch_max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is self._STOP:
                    stopping = True
                    break
                batch.append(nxt)
            try:
                stored = self._store.store([r for r, _ in batch])
            except Exception as exc:  # every waiter learns the batch failed
                for _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, future), receipt in zip(batch, stored, strict=True):
                future.set_result(receipt)
