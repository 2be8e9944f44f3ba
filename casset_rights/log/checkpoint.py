"""Checkpoints: signed tree heads in the C2SP ``tlog-checkpoint`` / ``signed-note`` formats.

A checkpoint is a signed note whose text is::

    <origin>\\n
    <tree size, decimal>\\n
    <root hash, base64>\\n
    [extension lines, e.g. "Timestamp: 1732464000"]\\n

followed by a blank line and one signature line per signer::

    — <key name> <base64(4-byte key id || 64-byte Ed25519 signature over the text)>\\n

The key id is the first 4 bytes of SHA-256(key name || 0x0A || 0x01 || public key), 0x01
being the signed-note type of Ed25519. Any tool that speaks signed notes (the Go
``golang.org/x/mod/sumdb/note`` package, witnesses, monitors) verifies our checkpoints with
the verifier key from ``verifier_key``: ``<name>+<hex key id>+<base64(0x01 || public key)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from casset_rights.log.errors import CheckpointInvalid
from casset_rights.log.merkle import HASH_SIZE, MAX_TREE_SIZE

ED25519_TYPE = b"\x01"
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space
TIMESTAMP_PREFIX = "Timestamp: "
# signed-note: a verifier stops looking after this many signature lines.
MAX_SIGNATURES = 100
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,19}")


class Checkpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A tree head: ``root`` is MTH(D[tree_size]); ``note`` is the signed text, if any.

    ``timestamp`` (unix seconds) is our one extension line; other extension lines are kept,
    in order, in ``extensions``.
    """

    origin: str
    tree_size: int
    root: bytes
    timestamp: int | None = None
    extensions: tuple[str, ...] = ()
    note: str = ""

    def body(self) -> str:
        """The note text a signature covers."""
        lines = [self.origin, str(self.tree_size), base64.b64encode(self.root).decode()]
        if self.timestamp is not None:
            lines.append(f"{TIMESTAMP_PREFIX}{self.timestamp}")
        lines.extend(self.extensions)
        return "\n".join(lines) + "\n"


def key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """The signed-note key id: SHA-256(name || 0x0A || 0x01 || key)[:4]."""
    _check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + ED25519_TYPE + _raw(public_key)).digest()[:4]


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """The published verifier key, ``<name>+<hex key id>+<base64(0x01 || key)>``."""
    encoded = base64.b64encode(ED25519_TYPE + _raw(public_key)).decode()
    return f"{name}+{key_id(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """The key name and Ed25519 key of a verifier key. Raises CheckpointInvalid when malformed
    or when the key id does not match the key."""
    return parse_vkey(text, ED25519_TYPE, key_id)


def parse_vkey(text: str, key_type: bytes,
               id_of: Callable[[str, Ed25519PublicKey], bytes]) -> tuple[str, Ed25519PublicKey]:
    """A signed-note verifier key ``<name>+<hex id>+base64(type || key)`` of an Ed25519
    ``key_type``, its id computed by ``id_of``. Raises CheckpointInvalid when malformed, of
    another type, or when the id does not match the key."""
    name, _, rest = text.strip().partition("+")
    hex_id, _, encoded = rest.partition("+")
    try:
        _check_key_name(name)
        raw = base64.b64decode(encoded, validate=True)
        wanted_id = bytes.fromhex(hex_id)
    except (ValueError, binascii.Error):
        raise CheckpointInvalid(f"malformed verifier key {text!r}") from None
    if len(hex_id) != 8 or len(raw) != 33 or raw[:1] != key_type:
        raise CheckpointInvalid(f"malformed verifier key: not an Ed25519 key of type "
                                f"0x{key_type.hex()}: {text!r}")
    public = Ed25519PublicKey.from_public_bytes(raw[1:])
    if id_of(name, public) != wanted_id:
        raise CheckpointInvalid("malformed verifier key: the key id does not match the key")
    return name, public


def sign_note(text: str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """A signed note of ``text`` (which must end in a newline) with one signature."""
    _check_text(text)
    kid = key_id(name, private_key.public_key())
    signature = private_key.sign(text.encode())
    return f"{text}\n{SIGNATURE_PREFIX}{name} {base64.b64encode(kid + signature).decode()}\n"


def sign_checkpoint(checkpoint: Checkpoint, *, name: str,
                    private_key: Ed25519PrivateKey) -> Checkpoint:
    """``checkpoint`` with ``note`` set to its signed note."""
    note = sign_note(checkpoint.body(), name=name, private_key=private_key)
    return msgspec.structs.replace(checkpoint, note=note)


def verify_note(note: str, *, name: str, public_key: Ed25519PublicKey) -> str:
    """The text of a signed note that carries a valid signature by (``name``, ``public_key``).

    Signatures by other keys are ignored, as signed-note requires. Raises CheckpointInvalid
    when the note is malformed or has no valid signature by that key.
    """
    text, signatures = _split_note(note)
    kid = key_id(name, public_key)
    for line in signatures:
        signer, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        blob = base64.b64decode(encoded)
        if signer != name or blob[:4] != kid:
            continue
        try:
            public_key.verify(blob[4:], text.encode())
        except InvalidSignature:
            raise CheckpointInvalid(f"the signature by {name!r} does not verify") from None
        return text
    raise CheckpointInvalid(f"the note carries no signature by the key {name!r}")


def parse_checkpoint(note: str) -> Checkpoint:
    """Read a checkpoint *without verifying its signature* (see ``verify_checkpoint``).

    Raises CheckpointInvalid when the note or its checkpoint body is malformed.
    """
    text, _ = _split_note(note)
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise CheckpointInvalid("a checkpoint needs an origin, a size and a root hash")
    origin, size_text, root_text, *rest = lines
    if not origin:
        raise CheckpointInvalid("the checkpoint's origin is empty")
    if not _DECIMAL.fullmatch(size_text) or int(size_text) > MAX_TREE_SIZE:
        raise CheckpointInvalid(f"the checkpoint's size is not a 64-bit decimal: {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise CheckpointInvalid("the checkpoint's root hash is not base64") from None
    if len(root) != HASH_SIZE or base64.b64encode(root).decode() != root_text:
        raise CheckpointInvalid("the checkpoint's root hash is not 32 bytes in base64")
    timestamp = None
    extensions = list(rest)
    if extensions and extensions[0].startswith(TIMESTAMP_PREFIX):
        stamp = extensions.pop(0)[len(TIMESTAMP_PREFIX):]
        if not _DECIMAL.fullmatch(stamp):
            raise CheckpointInvalid(f"the checkpoint's timestamp is not decimal: {stamp!r}")
        timestamp = int(stamp)
    if any(not line for line in extensions):
        raise CheckpointInvalid("the checkpoint has an empty extension line")
    return Checkpoint(origin=origin, tree_size=int(size_text), root=root, timestamp=timestamp,
                      extensions=tuple(extensions), note=note)


def verify_checkpoint(note: str, public_key: Ed25519PublicKey, origin: str, *,
                      key_name: str | None = None) -> None:
    """Check that ``note`` is a well-formed checkpoint of the log ``origin`` signed by the key.

    ``key_name`` defaults to ``origin`` (our logs sign under their origin). Returns None;
    raises CheckpointInvalid saying why otherwise.
    """
    checkpoint = parse_checkpoint(note)
    if checkpoint.origin != origin:
        raise CheckpointInvalid(f"the checkpoint is for the log {checkpoint.origin!r}, "
                                f"not {origin!r}")
    verify_note(note, name=key_name or origin, public_key=public_key)


def note_text(note: str) -> str:
    """The text of a signed note (what its signatures cover), without verifying anything.
    Raises CheckpointInvalid when the note is malformed."""
    return _split_note(note)[0]


def _split_note(note: str) -> tuple[str, list[str]]:
    """(text, signature lines) of a signed note. Raises CheckpointInvalid when malformed."""
    if not isinstance(note, str) or not note.endswith("\n"):
        raise CheckpointInvalid("a signed note must end with a newline")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise CheckpointInvalid("a signed note needs a blank line before its signatures")
    text, block = note[: cut + 1], note[cut + 2:]
    _check_text(text)
    lines = block[:-1].split("\n")
    if not block[:-1] or len(lines) > MAX_SIGNATURES:
        raise CheckpointInvalid("a signed note needs between 1 and 100 signature lines")
    for line in lines:
        signer, _, encoded = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        try:
            _check_key_name(signer)
            blob = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise CheckpointInvalid(f"malformed signature line: {line!r}") from None
        # Only the canonical base64 is accepted, so no two spellings of one signature exist.
        canonical = base64.b64encode(blob).decode() == encoded
        if not line.startswith(SIGNATURE_PREFIX) or len(blob) < 5 or not canonical:
            raise CheckpointInvalid(f"malformed signature line: {line!r}")
    return text, lines


def _check_text(text: str) -> None:
    if not text.endswith("\n") or "\n\n" in text or text.startswith("\n"):
        raise CheckpointInvalid("a note's text must be non-empty lines, each ending in a newline")
    if any(ord(c) < 0x20 and c != "\n" for c in text):
        raise CheckpointInvalid("a note's text must not hold control characters")


def _check_key_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() for c in name):
        raise ValueError(f"a key name must be non-empty without spaces or '+': {name!r}")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
