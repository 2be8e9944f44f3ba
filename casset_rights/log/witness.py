"""A C2SP ``tlog-witness``: cosigns checkpoints of the logs it knows, refusing forks and
rollbacks.

``Witness.add_checkpoint(body)`` takes the request body of ``POST /add-checkpoint`` (an
``old <size>`` line, up to 63 base64 consistency-proof lines, an empty line, a signed
checkpoint) and returns the response body: one cosignature line. It refuses, with the
spec's status in ``WitnessRefused.status``:

- 400 a malformed body, or an old size above the checkpoint's size;
- 404 a checkpoint whose origin the witness does not know;
- 403 no signature by a trusted key of that origin;
- 409 an old size other than the last cosigned size (``latest_size`` set: the response
  body is that size and a newline, ``text/x.tlog.size``), or, at an equal size, another
  root: a fork;
- 422 a consistency proof that does not verify: a fork or a rewritten history.

The check of the old size and the write of the new checkpoint happen in one SQLite
transaction begun ``IMMEDIATE``, so two concurrent requests cannot roll the state back.
State and key live in the witness's own folder (``open_witness``).
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from casset_rights.errors import CassetError
from casset_rights.log.checkpoint import (
    Checkpoint,
    note_text,
    parse_checkpoint,
    parse_verifier_key,
    verify_note,
)
from casset_rights.log.cosignature import CosignerKey, cosign_text
from casset_rights.log.merkle import EMPTY_ROOT, HASH_SIZE, verify_consistency

MAX_PROOF_LINES = 63
SIZE_MEDIA_TYPE = "text/x.tlog.size"
KEY_FILE = "witness-key.pem"
STATE_FILE = "witness.db"
NAME_FILE = "NAME"
LOGS_FILE = "logs.txt"


class WitnessRefused(CassetError):
    """The witness will not cosign; ``status`` is the HTTP status the spec prescribes."""

    code = "witness_refused"

    def __init__(self, status: int, detail: str, *, latest_size: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.latest_size = latest_size


class Witness:
    """One witness: a key name, an Ed25519 key, trusted log keys, and a state database.

    ``logs`` maps an origin to the signed-note verifier keys trusted for it.
    """

    def __init__(self, *, name: str, private_key: Ed25519PrivateKey, state_path: Path,
                 logs: dict[str, list[str]], clock: Callable[[], float] = time.time) -> None:
        self.key = CosignerKey(name, private_key.public_key())
        self._private_key = private_key
        self._state_path = state_path
        self._clock = clock
        self._logs = {origin: [parse_verifier_key(k) for k in keys]
                      for origin, keys in logs.items()}
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS checkpoints (origin TEXT PRIMARY KEY, "
                       "size INTEGER NOT NULL, root BLOB NOT NULL, note TEXT NOT NULL)")

    @property
    def name(self) -> str:
        return self.key.name

    @property
    def origins(self) -> list[str]:
        """The logs this witness cosigns."""
        return list(self._logs)

    @property
    def verifier_key(self) -> str:
        """This witness's verifier key (``name+id+base64(0x04 || key)``), to pin."""
        return self.key.verifier_key

    def latest(self, origin: str) -> tuple[int, bytes] | None:
        """The size and root last cosigned for ``origin``, or None."""
        with self._connect() as db:
            row = db.execute("SELECT size, root FROM checkpoints WHERE origin = ?",
                             (origin,)).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]))

    def add_checkpoint(self, body: bytes) -> str:
        """Cosign the checkpoint in ``body`` (see the module); returns the response body.
        Raises WitnessRefused with the status to answer."""
        old, proof, note = parse_request(body)
        checkpoint = self._verified(note)
        if old > checkpoint.tree_size:
            raise WitnessRefused(400, f"old size {old} is above the checkpoint's size "
                                      f"{checkpoint.tree_size}")
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")  # check and update atomically (see the spec)
            row = db.execute("SELECT size, root FROM checkpoints WHERE origin = ?",
                             (checkpoint.origin,)).fetchone()
            size, root = (0, EMPTY_ROOT) if row is None else (int(row[0]), bytes(row[1]))
            if old != size:
                raise WitnessRefused(409, f"the last cosigned size is {size}, not {old}",
                                     latest_size=size)
            _check_extends(size, root, checkpoint, proof, known=row is not None)
            line = cosign_text(note_text(note), name=self.name,
                               private_key=self._private_key, timestamp=int(self._clock()))
            db.execute("INSERT INTO checkpoints (origin, size, root, note) VALUES (?, ?, ?, ?) "
                       "ON CONFLICT (origin) DO UPDATE SET size = excluded.size, "
                       "root = excluded.root, note = excluded.note",
                       (checkpoint.origin, checkpoint.tree_size, checkpoint.root, note))
            db.execute("COMMIT")  # persisted before the answer, as the spec requires
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()
        return line

    def _verified(self, note: str) -> Checkpoint:
        try:
            checkpoint = parse_checkpoint(note)
        except CassetError as exc:
            raise WitnessRefused(400, f"not a checkpoint: {exc.detail}") from None
        keys = self._logs.get(checkpoint.origin)
        if keys is None:
            raise WitnessRefused(404, f"unknown log {checkpoint.origin!r}")
        for name, public_key in keys:
            try:
                verify_note(note, name=name, public_key=public_key)
            except CassetError:
                continue
            return checkpoint
        raise WitnessRefused(403, f"no signature by a trusted key of {checkpoint.origin!r}")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._state_path, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        return db


def _check_extends(size: int, root: bytes, checkpoint: Checkpoint, proof: list[bytes], *,
                   known: bool) -> None:
    """Refuse unless the checkpoint's tree extends the last cosigned one (size, root)."""
    if size == checkpoint.tree_size:
        if (known or size == 0) and root != checkpoint.root:
            raise WitnessRefused(409, f"a checkpoint of size {size} with another root than "
                                      "the one cosigned: the log forked")
        if proof:
            raise WitnessRefused(422, "a consistency proof between equal sizes must be empty")
        return
    try:
        verify_consistency(first=size, second=checkpoint.tree_size, first_root=root,
                           second_root=checkpoint.root, proof=proof)
    except CassetError as exc:
        raise WitnessRefused(422, f"the consistency proof from size {size} does not verify: "
                                  f"{exc.detail}") from None


def parse_request(body: bytes) -> tuple[int, list[bytes], str]:
    """(old size, consistency proof, checkpoint note) of an add-checkpoint body. Raises
    WitnessRefused(400) when malformed."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessRefused(400, "the body is not UTF-8") from None
    head, sep, note = text.partition("\n\n")
    lines = head.split("\n")
    if not sep or not lines[0].startswith("old "):
        raise WitnessRefused(400, "the body starts with an 'old <size>' line and the proof, "
                                  "then an empty line and the checkpoint")
    size_text = lines[0][4:]
    if not size_text.isascii() or not size_text.isdigit() or (
            size_text != "0" and size_text.startswith("0")) or len(size_text) > 20:
        raise WitnessRefused(400, f"the old size is not a decimal: {size_text!r}")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefused(400, f"more than {MAX_PROOF_LINES} consistency proof lines")
    proof = []
    for line in lines[1:]:
        try:
            h = base64.b64decode(line, validate=True)
        except binascii.Error:
            h = b""
        if len(h) != HASH_SIZE:
            raise WitnessRefused(400, f"a consistency proof line is not a base64 hash: {line!r}")
        proof.append(h)
    old = int(size_text)
    if old == 0 and proof:
        raise WitnessRefused(400, "the proof must be empty when the old size is 0")
    return old, proof, note


def request_body(old: int, proof: Iterable[bytes], note: str) -> bytes:
    """The add-checkpoint body for a checkpoint note, the size the witness last cosigned,
    and the consistency proof from that size."""
    lines = [f"old {old}", *(base64.b64encode(h).decode() for h in proof)]
    return ("\n".join(lines) + "\n\n" + note).encode()


def open_witness(folder: Path, *, name: str | None = None,
                 log_keys: Iterable[str] = ()) -> Witness:
    """The witness kept in ``folder``: its key (made on first use, mode 0600), its name
    (``name``, else the one stored, else ``casset-witness-<key id>``), the log keys it
    trusts (those stored plus ``log_keys``, each a signed-note verifier key whose name is
    the log's origin) and its state database. Raises CheckpointInvalid for a bad log key."""
    folder.mkdir(parents=True, exist_ok=True)
    key_path = folder / KEY_FILE
    if key_path.exists():
        private = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{key_path} is not an Ed25519 key")
    else:
        private = Ed25519PrivateKey.generate()
        key_path.touch(mode=0o600)
        key_path.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    name_path = folder / NAME_FILE
    if name is None:
        name = name_path.read_text().strip() if name_path.exists() else (
            "casset-witness-" + CosignerKey("w", private.public_key()).key_id.hex())
    name_path.write_text(name + "\n")
    logs_path = folder / LOGS_FILE
    stored = logs_path.read_text().split() if logs_path.exists() else []
    keys = list(dict.fromkeys([*stored, *log_keys]))
    logs: dict[str, list[str]] = {}
    for vkey in keys:
        origin, _ = parse_verifier_key(vkey)
        logs.setdefault(origin, []).append(vkey)
    logs_path.write_text("".join(f"{k}\n" for k in keys))
    return Witness(name=name, private_key=private, state_path=folder / STATE_FILE, logs=logs)
