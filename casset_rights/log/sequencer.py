"""The sequencer: the one process that integrates the log, checkpoints it and anchors it.

Writers only queue entries (``log.pending``). Every server process runs a ``Sequencer``,
but only the one holding the lease works: on PostgreSQL a session-level advisory lock
held on a connection of its own (released by the server the moment that process or its
connection dies, so another process takes over within a lease retry), on SQLite an
exclusive lock on a file beside the database (released by the kernel when the process
dies). So exactly one integrates, checkpoints and anchors, whatever the number of
workers and machines; the rest wait to take over.

A pass integrates the queue in batches of ``batch_max`` until it is empty, then makes a
checkpoint when one is due (the log grew, and ``checkpoint_every_seconds`` passed or
``checkpoint_every_appends`` leaves arrived), hands it to the witnesses (``cosign``), and
anchors the newest checkpoint every ``anchor_every_seconds``. Between passes the thread
waits ``idle_seconds``; while the queue is longer than a batch it does not wait.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import msgspec
from sqlalchemy import Connection, Engine, text

from casset_rights.anchoring.service import AnchorService
from casset_rights.db.engine import search_path_of
from casset_rights.errors import CassetError
from casset_rights.log.checkpoint import Checkpoint
from casset_rights.log.service import TransparencyLog

logger = logging.getLogger("casset_rights.log")

def lease_key(schema: str | None) -> int:
    """The ``pg_try_advisory_lock`` key of the sequencer's lease on the log in ``schema``
    (advisory locks are per database, and each schema holds a log of its own): the first 8
    bytes of SHA-256 of ``casset_rights.sequencer:<schema>``, signed. Never the append
    lock's key (log/service.py): the lease is held on its own connection while the
    appends lock theirs."""
    digest = hashlib.sha256(f"casset_rights.sequencer:{schema or ''}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Lease(Protocol):
    """Who may sequence. ``acquire`` never blocks: True when this process holds the lease
    (it keeps it until ``release`` or its death); ``held`` checks that it still does."""

    def acquire(self) -> bool: ...

    def held(self) -> bool: ...

    def release(self) -> None: ...


class PostgresLease:
    """A session advisory lock on a connection kept for it alone."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._key = lease_key(search_path_of(engine))
        self._conn: Connection | None = None

    def acquire(self) -> bool:
        if self._conn is not None:
            return self.held()
        conn = self._engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                    {"k": self._key}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
            return True
        except Exception:  # the connection died, and the server released the lock with it
            self._drop()
            return False

    def release(self) -> None:
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._conn.commit()
        except Exception:
            logger.debug("sequencer lease: unlock failed; closing the connection frees it")
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                logger.debug("sequencer lease: closing a dead connection failed")


class FileLease:
    """An exclusive ``flock`` on ``path``: one holder among the processes of a machine,
    which is where every process of a SQLite database runs."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class SoleLease:
    """Always held: a database only this process can see (in-memory SQLite)."""

    def acquire(self) -> bool:
        return True

    def held(self) -> bool:
        return True

    def release(self) -> None:
        return None


def lease_for(engine: Engine) -> Lease:
    """The lease that fits the database: an advisory lock on PostgreSQL, a lock file
    beside a SQLite file, none for an in-memory database."""
    if engine.dialect.name == "postgresql":
        return PostgresLease(engine)
    database = engine.url.database
    if not database or database == ":memory:":
        return SoleLease()
    return FileLease(Path(database).with_name(Path(database).name + ".sequencer.lock"))


class Pass(msgspec.Struct, frozen=True, kw_only=True):
    """What one pass did: entries integrated, the oldest one's wait in the queue (ms),
    the checkpoint made (if any) and whether an anchoring run happened."""

    integrated: int = 0
    oldest_wait_ms: int | None = None
    checkpoint: Checkpoint | None = None
    anchored: bool = False


class Sequencer:
    """Integrates, checkpoints, cosigns and anchors, while it holds ``lease``.

    ``unique_kinds`` are kinds whose bytes are unique by construction (no look-up of
    duplicates). ``cosign`` is given each new checkpoint (the witnesses); it must not
    raise for a witness that is down (it logs), and anything it raises is logged.
    """

    def __init__(self, log: TransparencyLog, *, lease: Lease, anchoring: AnchorService,
                 unique_kinds: frozenset[str] = frozenset(),
                 cosign: Callable[[Checkpoint], Any] | None = None,
                 batch_max: int = 5000, idle_seconds: float = 0.1,
                 checkpoint_every_appends: int = 1000, checkpoint_every_seconds: float = 1.0,
                 anchor_every_seconds: float = 60.0, lease_retry_seconds: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.log = log
        self.anchoring = anchoring
        self._lease = lease
        self._unique_kinds = unique_kinds
        self._cosign = cosign
        self._batch_max = batch_max
        self._idle = idle_seconds
        self._every_appends = checkpoint_every_appends
        self._every_seconds = checkpoint_every_seconds
        self._anchor_every = anchor_every_seconds
        self._lease_retry = lease_retry_seconds
        self._clock = clock
        self._next_anchor = time.monotonic() + anchor_every_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._anchoring: threading.Thread | None = None  # an anchor being sent aside
        self._last_anchor_id: int | None = None

    @property
    def leading(self) -> bool:
        """Whether this process holds the lease now."""
        return self._lease.held()

    @property
    def idle_seconds(self) -> float:
        return self._idle

    # --- one pass -------------------------------------------------------------------------

    def integrate(self) -> tuple[int, int | None]:
        """Integrate the whole queue, a batch per transaction; returns how many entries
        and the oldest one's wait (ms). Callers must hold the lease (or know that no
        other sequencer runs: the CLI against a stopped service, the tests)."""
        total, oldest = 0, None
        while True:
            done = self.log.integrate(max_entries=self._batch_max,
                                      unique_kinds=self._unique_kinds)
            total += done.count
            if done.oldest_ms is not None:
                wait = int(self._clock() * 1000) - done.oldest_ms
                oldest = wait if oldest is None else max(oldest, wait)
            if done.count < self._batch_max:
                return total, oldest

    def run_once(self, *, force_checkpoint: bool = False, anchor: bool = False,
                 anchor_aside: bool = False) -> Pass:
        """One pass: integrate, checkpoint if due (or if the log grew, with
        ``force_checkpoint``), cosign it, and anchor if asked or due. With
        ``anchor_aside`` (the sequencer's thread) a due anchor runs on a thread of its own,
        one at a time: sending it costs the embedded chain about a second, and the
        log's integration must not wait for it."""
        integrated, oldest = self.integrate()
        checkpoint = self._checkpoint(force=force_checkpoint)
        if checkpoint is not None and self._cosign is not None:
            try:
                self._cosign(checkpoint)
            except Exception:
                logger.exception("cosigning checkpoint %d failed", checkpoint.tree_size)
        anchored = False
        if self.anchoring.enabled and (anchor or time.monotonic() >= self._next_anchor):
            self._next_anchor = time.monotonic() + self._anchor_every
            if not anchor_aside:
                anchored = self._anchor()
            elif self._anchoring is None or not self._anchoring.is_alive():
                self._anchoring = threading.Thread(
                    target=self._anchor, kwargs={"checkpoint_first": False},
                    name="log-anchor", daemon=True)
                self._anchoring.start()
        return Pass(integrated=integrated, oldest_wait_ms=oldest, checkpoint=checkpoint,
                    anchored=anchored)

    def catch_up(self) -> Pass:
        """Everything queued now integrated and covered by a checkpoint (the CLI, tests)."""
        return self.run_once(force_checkpoint=True)

    def _checkpoint(self, *, force: bool) -> Checkpoint | None:
        if force:
            latest = self.log.latest_checkpoint()
            if latest is not None and latest.tree_size == self.log.size():
                return None
            return self.log.checkpoint_now()
        return self.log.maybe_checkpoint()

    def _anchor(self, *, checkpoint_first: bool = True) -> bool:
        """Anchor the latest checkpoint, made first when the log grew past it (unless
        ``checkpoint_first`` is off: aside, the sequencer's thread makes checkpoints)."""
        try:
            latest = self.log.latest_checkpoint()
            if checkpoint_first and (latest is None or latest.tree_size < self.log.size()):
                self.log.checkpoint_now()
            record = self.anchoring.anchor_latest(self.log)
        except CassetError as exc:
            logger.warning("anchoring failed (%s): %s", exc.code, exc.detail)
            return False
        except Exception:
            logger.exception("anchoring failed")
            return False
        if record is not None and record.id != self._last_anchor_id:
            self._last_anchor_id = record.id
            logger.info("anchor of tree size %d on %s: %s (tx %s)", record.tree_size,
                        record.chain, record.status, record.tx_hash)
        return record is not None

    # --- the thread -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread that takes the lease when it can and then sequences
        (idempotent)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="log-sequencer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the thread after the pass under way; if this process leads, integrate
        what is still queued (a stopping server leaves the log caught up), then give the
        lease back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._anchoring is not None:
            self._anchoring.join(timeout)
            self._anchoring = None
        if self._lease.held():
            try:
                self.run_once()
            except Exception:
                logger.exception("the last pass before stopping failed; the next sequencer "
                                 "integrates what is left")
        self._lease.release()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                leading = self._lease.acquire()
            except Exception:
                logger.exception("sequencer lease: cannot ask for it")
                leading = False
            if not leading:
                self._stop.wait(self._lease_retry)
                continue
            try:
                done = self.run_once(anchor_aside=True)
            except Exception:
                logger.exception("sequencer pass failed; trying again")
                self._stop.wait(self._lease_retry)
                continue
            if done.integrated < self._batch_max:
                self._stop.wait(self._idle)
