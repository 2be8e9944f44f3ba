"""Receipts stored by a child process: the ``process`` receipt writer.

Under load the receipt writer thread and the event loop fight over the GIL: every
statement the writer sends releases it and must win it back from a busy loop, and the
switching costs more than the writes. ``ProcessReceiptWriter`` hands receipts to a child
process instead (``python -m casset_rights.receipts.sink``), which owns its own
connection, signs the drafts among them, stores each group of receipts and appends them
to the transparency log in one transaction (as ``ReceiptStore.store`` does in-process),
and answers with their tokens and log indexes. Signing there, not on the event loop,
takes a fifth of a decision's work off the loop, in a process that runs beside it. The
request waits for that answer: no answer is given before its receipt is signed and
committed, as with the thread writer.

The protocol is length-prefixed msgpack frames on the child's stdin and stdout:

* parent to child: first a ``SinkConfig``, then ``(batch id, [Receipt, ...])`` frames;
* child to parent: ``(batch id, [log index, ...] | None, error | None, [token, ...])``
  for each batch.

The child stores every frame waiting in its pipe in one transaction (group commit).
When the child dies, the receipts in flight fail (``ServiceUnavailable``, a 503) and the
next receipt starts a new child. ``close`` lets the child finish what it was sent. On
SQLite the child makes the WAL checkpoints on a thread of its own, outside the
receipts' commits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from casset_rights.errors import ServiceUnavailable
from casset_rights.receipts.service import Receipt, settle

logger = logging.getLogger("casset_rights.receipts")

_LENGTH = struct.Struct("<I")
_PIPE_BYTES = 1 << 20  # a large pipe, so a frame of receipts rarely blocks the loop
# Each read asks for at most this much: a 1 MB request made the C library map fresh
# memory for every read and shrink and unmap it after (three system calls a read, on
# both sides of the pipe); 64 KB is served from the heap, and a longer frame takes a
# few reads.
_READ_BYTES = 1 << 16
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
RESTART_PAUSE_SECONDS = 1.0  # a child that keeps failing is not restarted in a tight loop


class SinkConfig(msgspec.Struct, frozen=True, kw_only=True):
    """What the child needs to open the database and the log."""

    database_url: str
    search_path: str | None = None
    keys_dir: str
    signing_kid: str  # the key that signs drafts: the one the parent publishes as active
    log_origin: str
    checkpoint_every_appends: int = 1000
    checkpoint_every_seconds: float = 10.0


class BatchReply(msgspec.Struct, array_like=True, frozen=True):
    batch: int
    indexes: list[int | None] | None
    error: str | None
    tokens: list[str] = []


_decode_reply = msgspec.msgpack.Decoder(BatchReply).decode  # made once, used by every reader


# -- framing ---------------------------------------------------------------------------------------

def frame(payload: bytes) -> bytes:
    return _LENGTH.pack(len(payload)) + payload


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def write_frame(fd: int, payload: bytes) -> None:
    write_all(fd, frame(payload))


def read_exact(fd: int, n: int) -> bytes:
    """``n`` bytes from ``fd``; raises EOFError when the other side closed first."""
    chunks: list[bytes] = []
    while n:
        chunk = os.read(fd, min(n, _READ_BYTES))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes:
    (length,) = _LENGTH.unpack(read_exact(fd, _LENGTH.size))
    return read_exact(fd, length)


def take_frames(buffer: bytearray) -> list[bytes]:
    """Remove every whole frame from the front of ``buffer``; a partial one stays."""
    frames: list[bytes] = []
    while len(buffer) >= _LENGTH.size:
        (length,) = _LENGTH.unpack_from(buffer)
        end = _LENGTH.size + length
        if len(buffer) < end:
            break
        frames.append(bytes(buffer[_LENGTH.size:end]))
        del buffer[:end]
    return frames


def _widen_pipe(fd: int) -> None:
    with contextlib.suppress(OSError):  # Linux only; a smaller pipe only means more waits
        fcntl.fcntl(fd, _F_SETPIPE_SZ, _PIPE_BYTES)


# -- the parent's side -----------------------------------------------------------------------------

class ProcessReceiptWriter:
    """The receipt writer of ``ReceiptWriter``'s interface, storing in a child process.

    The child logs each group in the transaction that stores it and makes the
    checkpoints due by count, as the in-process store's hooks do. Its answers are read
    on the event loop given to ``attach`` (``add_reader``: no second Python thread
    competes with the loop for the GIL) or, without one, on a reader thread. The child
    starts when a loop is attached from that loop (the app's start-up), else with the
    first receipt.
    """

    def __init__(self, config: SinkConfig) -> None:
        self._config = config
        self._lock = threading.Lock()  # the pipe, the batch counter and the waiting table
        self._next_batch = 0
        self._waiting: dict[int, list[tuple[Receipt, Any]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._closed = False
        self._started_at = -RESTART_PAUSE_SECONDS

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Read the child's answers on ``loop`` from now on (a running child is stopped
        first, its answers read). Called on ``loop`` (the app's start-up), it starts the
        child there and then: otherwise the first receipt would, and the first requests
        after a start would wait about a second for the child's imports. A child that
        cannot start now is started by the first receipt, as after a crash."""
        self._stop_child()
        with self._lock:
            self._loop = loop
            if self._closed or self._process is not None:
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                try:
                    self._start_locked()
                except OSError:
                    logger.exception("the receipt store process did not start; the first "
                                     "receipt tries again")
                    self._started_at = -RESTART_PAUSE_SECONDS

    def detach(self) -> None:
        """Stop reading on the attached loop (it is about to stop): the running child
        finishes and answers; the next receipt starts one read by a thread."""
        self._stop_child()
        with self._lock:
            self._loop = None

    # the writer's interface

    def submit(self, receipt: Receipt) -> concurrent.futures.Future[Receipt]:
        """Queue ``receipt`` from any thread; the future resolves once it is committed."""
        future: concurrent.futures.Future[Receipt] = concurrent.futures.Future()
        self._send([(receipt, future)])
        return future

    def store_async(self, receipt: Receipt) -> asyncio.Future[Receipt]:
        """Send ``receipt`` from the event loop at once (waiting for the end of the loop's
        turn to send several together measured slower: the child groups them anyway).
        The returned future resolves once it is committed."""
        future: asyncio.Future[Receipt] = asyncio.get_running_loop().create_future()
        self._send([(receipt, future)])
        return future

    def close(self) -> None:
        """Let the child store what it was sent, answer it, then stop."""
        with self._lock:
            self._closed = True
        self._stop_child()

    def _stop_child(self) -> None:
        with self._lock:
            process = self._process
            reader = self._reader
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                self._loop.remove_reader(process.stdout.fileno())
        with contextlib.suppress(OSError):
            process.stdin.close()
        if reader is not None:
            reader.join(timeout=30)
        else:  # answered here: the loop no longer reads
            os.set_blocking(process.stdout.fileno(), True)
            with contextlib.suppress(EOFError, OSError):
                while True:
                    self._answer(_decode_reply(read_frame(process.stdout.fileno())))
            self._exited(process)
        with self._lock:
            self._reader = None
            self._started_at = -RESTART_PAUSE_SECONDS  # a stop, not a crash

    @property
    def pid(self) -> int | None:
        """The child's process id (None while none runs)."""
        return None if self._process is None else self._process.pid

    # sending

    def _send(self, items: list[tuple[Receipt, Any]]) -> None:
        with self._lock:
            failure = self._write_locked(items)
        if failure is not None:
            settle([f for _, f in items], [None] * len(items), failure)

    def _write_locked(self, items: list[tuple[Receipt, Any]]) -> BaseException | None:
        """Send one frame (the lock held); returns why not instead of raising."""
        if self._closed:
            return ServiceUnavailable("the receipt writer is closed")
        # A child that died is noticed by its reader (end of its output), which clears
        # ``_process``; until then a write fails with a broken pipe, answered below.
        if self._process is None:
            if time.monotonic() - self._started_at < RESTART_PAUSE_SECONDS:
                return ServiceUnavailable("the receipt store is restarting; retry")
            self._start_locked()
        assert self._process is not None and self._process.stdin is not None
        batch = self._next_batch
        self._next_batch += 1
        self._waiting[batch] = items
        try:
            write_frame(self._process.stdin.fileno(),
                        msgspec.msgpack.encode((batch, [r for r, _ in items])))
        except OSError as exc:  # the child died; its reader fails what it held
            self._waiting.pop(batch, None)
            return ServiceUnavailable(f"the receipt store is not running ({exc})")
        return None

    # the child and its answers

    def _start_locked(self) -> None:
        self._started_at = time.monotonic()
        process = subprocess.Popen(
            [sys.executable, "-m", "casset_rights.receipts.sink"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        assert process.stdin is not None and process.stdout is not None
        _widen_pipe(process.stdin.fileno())
        write_frame(process.stdin.fileno(), msgspec.msgpack.encode(self._config))
        self._process = process
        loop = self._loop
        if loop is None:
            self._reader = threading.Thread(target=self._read, args=(process,),
                                            name="receipt-sink-reader", daemon=True)
            self._reader.start()
            return
        fd = process.stdout.fileno()
        os.set_blocking(fd, False)
        buffer = bytearray()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.add_reader(fd, self._readable, process, buffer)
        else:  # started from a worker thread (a license, say): register on the loop
            loop.call_soon_threadsafe(loop.add_reader, fd, self._readable, process, buffer)

    def _answer(self, reply: BatchReply) -> None:
        with self._lock:
            items = self._waiting.pop(reply.batch, [])
        futures = [f for _, f in items]
        if reply.error is not None or reply.indexes is None:
            settle(futures, [None] * len(items),
                   ServiceUnavailable(f"storing receipts failed: {reply.error}"))
            return
        settle(futures, [msgspec.structs.replace(r, log_index=i, token=t)
                         for (r, _), i, t in zip(items, reply.indexes, reply.tokens,
                                                 strict=True)], None)

    def _readable(self, process: subprocess.Popen[bytes], buffer: bytearray) -> None:
        """The child's stdout has data (on the attached loop): answer every whole frame."""
        assert process.stdout is not None and self._loop is not None
        fd = process.stdout.fileno()
        closed = False
        while True:
            try:
                chunk = os.read(fd, _READ_BYTES)
            except BlockingIOError:
                break
            if not chunk:
                closed = True
                break
            buffer += chunk
        for raw in take_frames(buffer):
            self._answer(_decode_reply(raw))
        if closed:
            self._loop.remove_reader(fd)
            self._exited(process)

    def _read(self, process: subprocess.Popen[bytes]) -> None:
        """The reader thread (no loop attached)."""
        assert process.stdout is not None
        fd = process.stdout.fileno()
        while True:
            try:
                reply = _decode_reply(read_frame(fd))
            except EOFError:
                break
            self._answer(reply)
        self._exited(process)

    def _exited(self, process: subprocess.Popen[bytes]) -> None:
        """The child closed its stdout: every batch it was sent and did not answer fails."""
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pipe in (process.stdin, process.stdout):
            with contextlib.suppress(OSError):
                if pipe is not None:
                    pipe.close()
        with self._lock:
            if self._process is process:
                self._process = None
            lost, self._waiting = self._waiting, {}
        if lost:
            logger.error("the receipt store process exited (%s) with %d batches in flight",
                         process.returncode, len(lost))
        for items in lost.values():
            settle([f for _, f in items], [None] * len(items),
                   ServiceUnavailable("the receipt store process exited; retry"))


# -- the child's side ------------------------------------------------------------------------------

def serve(inp: int, out: int, store: Callable[[Sequence[Receipt]], list[Receipt]],
          between_groups: Callable[[], None] | None = None) -> None:
    """Read frames from ``inp`` until it closes; store every frame waiting in one go.
    ``between_groups`` runs after each group's answers are sent."""
    decode = msgspec.msgpack.Decoder(tuple[int, list[Receipt]]).decode
    encode = msgspec.msgpack.Encoder().encode
    buffer = bytearray()
    while True:
        data = os.read(inp, _READ_BYTES)
        if not data:
            return
        buffer += data
        frames = [decode(raw) for raw in take_frames(buffer)]
        if not frames:  # the rest of a frame is still on its way
            continue
        replies: list[BatchReply]
        try:
            stored = store([r for _, receipts in frames for r in receipts])
        except Exception as exc:
            logger.exception("storing %d receipts failed", sum(len(r) for _, r in frames))
            replies = [BatchReply(batch, None, f"{type(exc).__name__}: {exc}")
                       for batch, _ in frames]
        else:
            replies, offset = [], 0
            for batch, receipts in frames:
                part = stored[offset:offset + len(receipts)]
                offset += len(receipts)
                replies.append(BatchReply(batch, [r.log_index for r in part], None,
                                          [r.token for r in part]))
        # One write for all the answers: the parent reads them in one go.
        write_all(out, b"".join(frame(encode(reply)) for reply in replies))
        if between_groups is not None:
            between_groups()


class WalKeeper:
    """Keeps an SQLite database's write-ahead log small while receipts are stored.

    SQLite copies its WAL back into the database (a checkpoint, with an fsync) inside
    whichever commit crosses 1,000 pages. Here commits are the receipts' latency, so the
    store's connections skip that, and a thread checkpoints every half second instead
    (PASSIVE: it never blocks the writer). But a WAL starts again from its beginning
    only when a write finds every frame copied back, and with a group committed every
    millisecond or two the background pass never catches up with the last commit: the
    WAL grew by about 60 MB a second, without end, and every page look-up went through
    its ever larger index. So every ``restart_seconds``, right after a background pass,
    the store's own thread copies back, between two groups, the few frames written
    during that pass (``between_groups``), and the next group's write starts the WAL
    again: at 3,500 receipts a second it stays under about 200 MB.

    The receipts wait while the store's thread catches up, mostly for the fsync, whose
    cost grows with the pages to write: about 20 µs each, so the catch-up took as long
    as the pass before it let pages pile up, 12 ms at first and 40 ms once the database
    held 200,000 receipts (their leaf hashes' index is written at random places, and a
    pass finds more distinct pages the larger it is). That was the decision endpoint's
    p99. So before asking for the catch-up the thread ``settle``s: it passes again while
    a pass takes longer than ``settled_seconds``. Each pass copies what was written
    during the one before, so they shorten fast (40, 7, 1 ms), and the catch-up is
    left with a millisecond or two of frames.
    """

    def __init__(self, engine: Any, *, background_seconds: float = 0.5,
                 restart_seconds: float = 2.0, settled_seconds: float = 0.002,
                 settle_passes: int = 6,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        from sqlalchemy import event

        self._engine = engine
        self._pass_done = threading.Event()
        self._settled_seconds = settled_seconds
        self._settle_passes = settle_passes
        self._clock = clock

        @event.listens_for(engine, "connect")
        def no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

        def run() -> None:
            restarted = time.monotonic()
            while True:
                time.sleep(background_seconds)
                self.checkpoint()
                if time.monotonic() - restarted >= restart_seconds:
                    self.settle()
                    restarted = time.monotonic()
                    self._pass_done.set()

        threading.Thread(target=run, name="wal-checkpoint", daemon=True).start()

    def checkpoint(self) -> None:
        """One PASSIVE checkpoint (a failure is logged: the next one tries again)."""
        try:
            with self._engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:
            logger.exception("WAL checkpoint failed")

    def settle(self) -> int:
        """Pass again until a pass takes less than ``settled_seconds`` (at most
        ``settle_passes`` passes); returns the passes made."""
        for made in range(1, self._settle_passes + 1):
            began = self._clock()
            self.checkpoint()
            if self._clock() - began < self._settled_seconds:
                return made
        return self._settle_passes

    def between_groups(self) -> None:
        """Called by the store's thread after each group: catch up when asked to."""
        if self._pass_done.is_set():
            self._pass_done.clear()
            self.checkpoint()


def main() -> None:
    from casset_rights.anchoring.service import AnchorService
    from casset_rights.db.engine import make_engine
    from casset_rights.log.keeper import keep_receipts_logged
    from casset_rights.receipts.keys import FileKeyStore
    from casset_rights.receipts.service import ReceiptStore

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(levelname)s - receipt store - %(message)s")
    inp, out = sys.stdin.fileno(), sys.stdout.fileno()
    config = msgspec.msgpack.decode(read_frame(inp), type=SinkConfig)
    engine = make_engine(config.database_url, search_path=config.search_path)
    keys = FileKeyStore(Path(config.keys_dir))
    signing_key = keys.signing_key(config.signing_kid)
    receipts = ReceiptStore(engine, signing_key=lambda: signing_key, keep_connection=True)
    # The checkpoints due by count are made here; the parent's keeper makes the
    # time-based ones and anchors.
    keep_receipts_logged(engine, keys=keys, receipts=receipts, origin=config.log_origin,
                         anchoring=AnchorService(engine, chain="none"),
                         checkpoint_every_appends=config.checkpoint_every_appends,
                         checkpoint_every_seconds=config.checkpoint_every_seconds)
    wal = WalKeeper(engine) if engine.dialect.name == "sqlite" else None
    try:
        serve(inp, out, receipts.store, wal.between_groups if wal is not None else None)
    finally:
        receipts.close()
        engine.dispose()


if __name__ == "__main__":
    main()
