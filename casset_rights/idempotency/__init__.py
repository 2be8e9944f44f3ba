"""Safe retries of writes that spend something (draft-ietf-httpapi-idempotency-key-header).

A caller names a write with a key of its choosing. The first write under a key stores
the key, a fingerprint of what was asked and the write's outcome in the write's own
transaction (``remember_in``), so the key exists exactly when the write committed. A
retry with the same key and the same input gets the stored outcome back (``replay``)
without doing anything again; the same key with other input is refused
(``IdempotencyKeyReused``). Keys are per caller: two callers never see each other's.

Services take an optional ``Claim`` and call ``replay`` before their checks and
``remember_in`` inside their write transaction; ``settled`` covers the race where two
retries arrive together (the loser's write fails on the spent quote or on the key's
primary key, and then finds the winner's outcome). Outcomes are read back with a
``msgspec.json.Decoder`` each service builds once at import: msgspec builds a type's
decoding information on first use, and two threads doing that at once for the same
type crashed the interpreter (msgspec 0.22, types with postponed annotations).

Keys do not last for ever: ``expire`` deletes those older than the retention
(``idempotency_key_retention_seconds``, a day by default), and the job
``expire-idempotency-keys`` runs it on a timer (``casset_rights.jobs.periodic``). A
retry under an expired key is a new request.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import msgspec
from sqlalchemy import Connection, Engine, delete, select

from casset_rights.canonical import canonical_bytes
from casset_rights.db.bulk import Rows, insert_rows
from casset_rights.db.engine import writing
from casset_rights.errors import InvalidInput
from casset_rights.idempotency.tables import idempotency_keys

MAX_KEY_LENGTH = 255
T = TypeVar("T")


class IdempotencyKeyReused(InvalidInput):
    """The key was used before for a different request (another operation or input)."""

    code = "idempotency_key_reused"


class Claim(msgspec.Struct, frozen=True, kw_only=True):
    """A caller's key for one write: ``owner`` (whose keys), ``key`` (theirs),
    ``operation`` (what kind of write) and ``fingerprint`` (a hash of its input)."""

    owner: str
    key: str
    operation: str
    fingerprint: str


def claim(owner: str, key: str, *, operation: str, request: Any) -> Claim:
    """A claim over ``request`` (any JSON-able value: its canonical bytes are hashed).
    Raises InvalidInput for an empty, over-long or non-printable key."""
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidInput(f"an Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable "
                           "characters")
    digest = hashlib.sha256(canonical_bytes(msgspec.to_builtins(request))).hexdigest()
    return Claim(owner=owner, key=key, operation=operation, fingerprint=digest)


def replay(conn: Connection, claim: Claim | None,
           decoder: msgspec.json.Decoder[T]) -> T | None:
    """The outcome stored under ``claim``'s key, or None when the key is new.
    Raises IdempotencyKeyReused when the key named another request."""
    if claim is None:
        return None
    k = idempotency_keys.c
    row = conn.execute(select(k.operation, k.fingerprint, k.outcome)
                       .where(k.owner == claim.owner, k.key == claim.key)).first()
    if row is None:
        return None
    if row.operation != claim.operation or row.fingerprint != claim.fingerprint:
        raise IdempotencyKeyReused(
            f"the Idempotency-Key {claim.key!r} was used for a different request "
            f"({row.operation}); use a new key for a new request")
    return decoder.decode(row.outcome)


def remember_in(conn: Connection, claim: Claim | None, outcome: Any, *,
                clock: Callable[[], float] = time.time) -> None:
    """Store ``outcome`` under ``claim``'s key in the caller's transaction. Raises
    IntegrityError when a concurrent write took the key first (``settled`` then finds
    its outcome)."""
    for found in rows(claim, outcome, clock=clock):
        insert_rows(conn, *found)


_COLUMNS = ("owner", "key", "operation", "fingerprint", "outcome", "created_at_ms")


def rows(claim: Claim | None, outcome: Any, *,
         clock: Callable[[], float] = time.time) -> list[Rows]:
    """What ``remember_in`` inserts (nothing without a claim), for a write that inserts
    it with others (``db.bulk.insert_together``)."""
    if claim is None:
        return []
    return [Rows(idempotency_keys, _COLUMNS, [(
        claim.owner, claim.key, claim.operation, claim.fingerprint,
        msgspec.json.encode(outcome).decode(), int(clock() * 1000))])]


def settled(engine: Engine, claim: Claim | None, decoder: msgspec.json.Decoder[T],
            write: Callable[[], T]) -> T:
    """``write()``, or the outcome already stored under ``claim``'s key: before the
    write, and again after a failed one (a concurrent retry under the same key may have
    won; its outcome is the answer, not the loser's error)."""
    if claim is None:  # nothing to look up: not even a connection taken for it
        return write()
    with engine.connect() as conn:
        found = replay(conn, claim, decoder)
    if found is not None:
        return found
    try:
        return write()
    except Exception:
        with engine.connect() as conn:
            found = replay(conn, claim, decoder)
        if found is None:
            raise
        return found


def expire(engine: Engine, *, retention_seconds: float,
           clock: Callable[[], float] = time.time) -> int:
    """Delete every key stored more than ``retention_seconds`` ago (by ``clock``); returns
    how many. A retry under a deleted key is a new request."""
    cutoff_ms = int((clock() - retention_seconds) * 1000)
    with writing(engine) as conn:
        deleted = conn.execute(delete(idempotency_keys)
                               .where(idempotency_keys.c.created_at_ms < cutoff_ms))
    return deleted.rowcount
