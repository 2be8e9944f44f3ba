"""Issuing and storing receipts.

A receipt is a compact JWS (EdDSA, ``typ: casset-receipt+jws``) over a payload with
``iss``, ``iat``, ``jti``, the principal, what was asked and what was answered. Every
decision, quote, grant, approval, refusal and revocation gets one, signed with the active
key where it is issued.

Receipts are written by ``ReceiptWriter``: requests hand their receipt to one writer
thread and wait for the commit; one transaction stores every receipt that arrived while
the previous one committed (group commit), so a busy service pays one commit per batch,
not per request, and no answer is given before its receipt is durable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import msgspec
from sqlalchemy import Connection, Engine, column, select, table

from casset_rights.db.bulk import COPY_FROM_ROWS, Rows, insert_rows, insert_together
from casset_rights.errors import NotFound, ReceiptNotStored
from casset_rights.ids import random_hex
from casset_rights.log_queue import (
    LeafInput,
    leaf_hash,
    log_pending,
    pending_count,
    pending_rows,
)
from casset_rights.receipts.jws import read_unverified, sign_compact
from casset_rights.receipts.keys import KeyStore
from casset_rights.receipts.tables import receipts

RECEIPT_TYP = "casset-receipt+jws"
# The log leaf kind of receipts; their bytes hold a unique id (``jti``).
RECEIPT_LEAF_KIND = "receipt"
# The log's leaves, as far as reading a logged receipt's token needs them: the log
# package owns the table (log/tables.py) and imports this package's keys, so this one
# names the table rather than import it.
_leaves = table("log_leaves", column("idx"), column("leaf_hash"), column("data"))


class Receipt(msgspec.Struct, frozen=True):
    """A receipt: ``token`` is the compact JWS of ``payload``."""

    jti: str
    kind: str
    token: str
    payload: dict[str, Any]
    log_index: int | None = None


def new_receipt_id() -> str:
    """A receipt id: 32 hex digits, the first 12 the milliseconds since the epoch and the
    other 20 random (80 bits), as in a UUIDv7. Ids issued later sort later, so each new
    receipt lands at the right edge of the receipts' and the log's indexes instead of on
    a random page of each: a group commit then rewrites a few pages, not one per index
    and receipt. Eighty random bits keep ids unguessable."""
    return f"{time.time_ns() // 1_000_000:012x}{random_hex(10)}"


class ReceiptIssuer:
    """Makes receipt payloads and signs them with the key store's active key."""

    def __init__(self, key_store: KeyStore, *, issuer: str,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = key_store
        self._issuer = issuer
        self._clock = clock

    def issue(self, kind: str, body: dict[str, Any]) -> Receipt:
        """A receipt of ``kind`` over ``body`` (which must carry ``principal``), signed
        on the caller's thread: a receipt writer's group then only stores, and every
        answer waiting on the group waits that much less (docs/benchmarks.md)."""
        jti = new_receipt_id()
        payload = {"iss": self._issuer, "iat": int(self._clock()), "jti": jti,
                   "kind": kind, **body}
        key = self._keys.active()
        return Receipt(jti=jti, kind=kind, payload=payload,
                       token=sign_compact(payload, key, typ=RECEIPT_TYP))


_COLUMNS = ("jti", "kind", "leaf_hash", "iat", "principal_kind", "client_id", "resource",
            "outcome")


def _row(receipt: Receipt, data: bytes) -> tuple[Any, ...]:
    p = receipt.payload
    principal = p.get("principal") or {}
    request = p.get("request") or {}
    return (receipt.jti, receipt.kind, leaf_hash(data), p["iat"],
            principal.get("kind", "public"), principal.get("client_id"),
            request.get("resource"), p.get("decision") or p.get("status"))


def receipt_leaves(batch: Sequence[Receipt]) -> list[LeafInput]:
    """A receipt's leaf: its compact JWS bytes, with its jti as the ref."""
    return [LeafInput(RECEIPT_LEAF_KIND, r.jti, r.token.encode()) for r in batch]


class ReceiptStore:
    """Receipts in the database, each queued for the transparency log as it is stored.

    It stores signed receipts. A receipt's token is stored once: as its queue entry's
    data until the sequencer logs it, then as its leaf's data (the sequencer moves it in
    one transaction). The receipt's row holds what queries select on and the leaf's
    hash, which finds the leaf (``log_leaves.leaf_hash`` is unique), so logging a
    receipt writes nothing to its row. With ``keep_connection`` the store keeps one
    connection between batches instead of taking one from the pool for each; a batch
    that fails closes it.
    """

    leaf_kind = RECEIPT_LEAF_KIND
    # The most receipts a batch stores as one statement on PostgreSQL. Past about 20,
    # parsing the statement's parameters costs psycopg more than the round trips it
    # saves (docs/benchmarks.md); ``db.bulk`` copies more rows than this too.
    ONE_STATEMENT = COPY_FROM_ROWS

    def __init__(self, engine: Engine, *, keep_connection: bool = False) -> None:
        self._engine = engine
        self._keep = keep_connection
        self._kept: Connection | None = None

    def store(self, batch: Sequence[Receipt]) -> list[Receipt]:
        """Store receipts in one transaction of their own; returns them. On PostgreSQL
        a batch of at most ``ONE_STATEMENT`` receipts is one statement on a connection in
        autocommit (``db.bulk.insert_together``): no ``BEGIN`` or ``COMMIT`` to send, and
        less of the server's CPU a receipt than two ``COPY`` in a transaction
        (docs/benchmarks.md); a larger one is copied in a transaction."""
        if not batch:
            return []
        with self._connection() as conn:
            if conn.dialect.name != "postgresql":
                with conn.begin():
                    return self.store_in(conn, batch)
            if len(batch) <= self.ONE_STATEMENT:
                insert_together(conn, self.rows(batch))
                return list(batch)
            # The connection is in autocommit: psycopg's own transaction block.
            with conn.connection.driver_connection.transaction():  # type: ignore[union-attr]
                return self.store_in(conn, batch)

    def store_in(self, conn: Connection, batch: Sequence[Receipt]) -> list[Receipt]:
        """Store receipts inside the caller's transaction on ``conn``, so a state change
        and its receipt commit together or not at all; returns them. Each is queued for
        the log in the same transaction (plain inserts: no lock). Raises whatever the
        database raises (the caller's transaction then rolls back with the change it
        carried)."""
        if not batch:
            return []
        for rows in self.rows(batch):
            insert_rows(conn, *rows)
        return list(batch)

    @staticmethod
    def rows(batch: Sequence[Receipt]) -> list[Rows]:
        """What storing ``batch`` inserts (its rows and their queue entries), for a write
        that inserts them with others (``db.bulk.insert_together``)."""
        leaves = receipt_leaves(batch)
        return [Rows(receipts, _COLUMNS, [_row(r, leaf.data)
                                          for r, leaf in zip(batch, leaves, strict=True)]),
                pending_rows(leaves)]

    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        if self._keep and self._kept is not None:
            conn = self._kept
        else:
            # Write transactions, as ``db.engine.writing`` begins them (the write lock at
            # BEGIN) on SQLite; autocommit on PostgreSQL (``store``). The connection may
            # be kept between batches.
            conn = self._engine.connect()
            conn.execution_options(**(
                {"isolation_level": "AUTOCOMMIT"} if conn.dialect.name == "postgresql"
                else {"sqlite_begin": "IMMEDIATE"}))
        try:
            yield conn
        except BaseException:
            self._kept = None  # a failed batch may have left it broken: start afresh
            conn.close()
            raise
        if self._keep:
            self._kept = conn
        else:
            conn.close()

    def close(self) -> None:
        """Give back the kept connection, if any."""
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def get(self, jti: str) -> Receipt:
        """The receipt, with its log index once it is logged. Raises NotFound when no
        receipt has that id."""
        # One statement, so one snapshot: the sequencer moves the token from the queue
        # to the leaf in one transaction, and this sees it in exactly one of the two.
        leaf, waiting = _leaves.alias("leaf"), log_pending.alias("waiting")
        query = (select(receipts.c.kind, leaf.c.idx, leaf.c.data,
                        waiting.c.data.label("queued"))
                 .select_from(receipts
                              .outerjoin(leaf, leaf.c.leaf_hash == receipts.c.leaf_hash)
                              .outerjoin(waiting, (waiting.c.ref == receipts.c.jti)
                                         & (waiting.c.kind == RECEIPT_LEAF_KIND)))
                 .where(receipts.c.jti == jti))
        with self._engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise NotFound(f"no receipt {jti!r}")
        data = row.data if row.data is not None else row.queued
        if data is None:  # the tables were altered by hand
            raise LookupError(f"receipt {jti!r} is neither in the log nor queued for it")
        token = bytes(data).decode("ascii")
        return Receipt(jti=jti, kind=row.kind, token=token,
                       payload=read_unverified(token)[1], log_index=row.idx)

    def unlogged_count(self) -> int:
        """How many stored receipts are not in the log yet."""
        with self._engine.connect() as conn:
            return pending_count(conn, RECEIPT_LEAF_KIND)


class Writer(Protocol):
    """What stores receipts that go with no other write (decisions): ``ReceiptWriter``.
    It takes signed receipts and answers with each stored (queued for the log in the same
    transaction), or raises ReceiptNotStored when that did not happen in time."""

    async def stored(self, receipt: Receipt) -> Receipt: ...

    def stored_blocking(self, receipt: Receipt) -> Receipt: ...

    def close(self) -> None: ...


class ReceiptWriter:
    """One thread that stores receipts in groups.

    After the first receipt of a batch arrives the writer waits ``batch_wait_ms`` for
    more, then takes what came (at most ``batch_max``) and commits it at once: a commit costs far
    more than a row, so under load the wait buys throughput, and when idle it bounds the
    added latency. ``stored`` waits on the event loop, settled with one wake-up per batch;
    ``stored_blocking`` waits in a thread.

    A receipt waits at most ``wait_seconds`` for its group's commit. Past that its caller
    gets ReceiptNotStored (a 503 with ``Retry-After``), so no answer waits on a database
    that has stopped answering; a receipt not yet taken into a group by then is never
    stored. While a group has been writing for longer than ``wait_seconds``, new receipts
    are refused at once instead of queueing behind it.
    """

    _STOP = object()

    def __init__(self, store: ReceiptStore, *, batch_max: int = 256,
                 batch_wait_ms: float = 2.0, wait_seconds: float = 5.0) -> None:
        self._store = store
        self._batch_max = batch_max
        self._batch_wait = batch_wait_ms / 1000.0
        self._wait_seconds = wait_seconds
        # When the group being written was taken (time.monotonic); 0 while none is.
        self._busy_since = 0.0
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="receipt-writer", daemon=True)
        self._thread.start()

    async def stored(self, receipt: Receipt) -> Receipt:
        """``receipt`` committed, waited for without holding a thread. Raises
        ReceiptNotStored after ``wait_seconds``, or at once while the writer is stuck."""
        self._refuse_if_stuck()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Receipt] = loop.create_future()
        self._queue.put((receipt, future))
        expiry = loop.call_later(self._wait_seconds, self._expire, future)
        try:
            return await future
        finally:
            expiry.cancel()

    def stored_blocking(self, receipt: Receipt) -> Receipt:
        """``receipt`` committed, waited for in this thread; raises as
        ``stored`` does."""
        self._refuse_if_stuck()
        future: concurrent.futures.Future[Receipt] = concurrent.futures.Future()
        self._queue.put((receipt, future))
        try:
            return future.result(timeout=self._wait_seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()  # left out of the next group, unless one took it already
            raise self._not_stored() from None

    def close(self) -> None:
        """Store what is queued, then stop the thread."""
        self._queue.put(self._STOP)
        self._thread.join(timeout=30)

    def stuck_for(self) -> float:
        """How long the group being written has taken so far (0 when none is)."""
        since = self._busy_since
        return time.monotonic() - since if since else 0.0

    def _refuse_if_stuck(self) -> None:
        if self.stuck_for() > self._wait_seconds:
            raise self._not_stored()

    def _not_stored(self) -> ReceiptNotStored:
        return ReceiptNotStored(
            f"the receipt was not stored within {self._wait_seconds:g} s (the database is "
            "slow or unreachable), so no answer is given without it: try again shortly")

    def _expire(self, future: asyncio.Future[Receipt]) -> None:
        if not future.done():
            future.set_exception(self._not_stored())

    def _collect(self, first: Any) -> tuple[list[Any], bool]:
        # Sleep through the window, then take what came: waiting on the queue instead
        # woke this thread (and took the GIL from the event loop) once per receipt.
        if self._batch_wait > 0:
            time.sleep(self._batch_wait)
        batch = [first] if _waited_for(first) else []
        while len(batch) < self._batch_max:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is self._STOP:
                return batch, True
            if _waited_for(nxt):
                batch.append(nxt)
        return batch, False

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                item = self._queue.get()
                if item is self._STOP:
                    return
                batch, stopping = self._collect(item)
                if not batch:
                    continue
                self._busy_since = time.monotonic()
                try:
                    stored: list[Any] = self._store.store([r for r, _ in batch])
                    failure: BaseException | None = None
                except Exception as exc:  # every waiter learns the batch failed
                    stored, failure = [None] * len(batch), exc
                finally:
                    self._busy_since = 0.0
                settle([f for _, f in batch], stored, failure)
        finally:
            self._store.close()


def _waited_for(item: tuple[Receipt, Any]) -> bool:
    """Whether someone still waits for this receipt: one given up on (its wait expired)
    is not stored."""
    future = item[1]
    if isinstance(future, concurrent.futures.Future):
        return future.set_running_or_notify_cancel()
    return not future.done()


def settle(futures: list[Any], results: list[Any], failure: BaseException | None) -> None:
    """Resolve thread and asyncio futures from any thread: one wake-up per event loop."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Any, Any]]] = {}
    for future, result in zip(futures, results, strict=True):
        if isinstance(future, asyncio.Future):
            by_loop.setdefault(future.get_loop(), []).append((future, result))
        elif failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(result)
    try:
        here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:
        here = None
    for loop, pairs in by_loop.items():
        if loop is here:  # on that loop already: no wake-up needed
            _settle_in_loop(pairs, failure)
            continue
        with contextlib.suppress(RuntimeError):  # the loop closed while the batch was written
            loop.call_soon_threadsafe(_settle_in_loop, pairs, failure)


def _settle_in_loop(pairs: list[tuple[Any, Any]], failure: BaseException | None) -> None:
    for future, result in pairs:
        if future.done():
            continue
        if failure is not None:
            future.set_exception(failure)
        else:
            future.set_result(result)
