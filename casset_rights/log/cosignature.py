"""C2SP ``tlog-cosignature`` (Ed25519, ``cosignature/v1``): making and checking witness
cosignatures on checkpoints.

A cosignature is a signed-note signature line ``— <name> base64(key id || timestamp ||
signature)`` where the key id is SHA-256(name || 0x0A || 0x04 || public key)[:4], the
timestamp a big-endian u64 of POSIX seconds, and the Ed25519 signature covers::

    cosignature/v1\\n
    time <timestamp>\\n
    <the checkpoint's note text, extension lines included>

The cosigner's verifier key is ``<name>+<hex key id>+base64(0x04 || public key)``.
``verify_cosignatures`` checks a quorum of trusted witnesses on a note: it ignores
signature lines of unknown keys, as the spec requires, and counts each witness once.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Sequence

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from casset_rights.log.checkpoint import (
    SIGNATURE_PREFIX,
    _check_key_name,
    _raw,
    _split_note,
    parse_vkey,
)
from casset_rights.log.errors import CheckpointInvalid

COSIGNATURE_TYPE = b"\x04"
HEADER = "cosignature/v1\n"
MAX_TIMESTAMP = 2**63 - 1


class CosignerKey(msgspec.Struct, frozen=True):
    """A trusted witness: its key name and Ed25519 public key."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> bytes:
        return cosigner_key_id(self.name, self.public_key)

    @property
    def verifier_key(self) -> str:
        encoded = base64.b64encode(COSIGNATURE_TYPE + _raw(self.public_key)).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"


class Cosignature(msgspec.Struct, frozen=True):
    """A verified cosignature: who made it and when (POSIX seconds)."""

    name: str
    timestamp: int


def cosigner_key_id(name: str, public_key: Ed25519PublicKey) -> bytes:
    """SHA-256(name || 0x0A || 0x04 || key)[:4]."""
    _check_key_name(name)
    return hashlib.sha256(name.encode() + b"\n" + COSIGNATURE_TYPE + _raw(public_key)).digest()[:4]


def parse_cosigner_key(text: str) -> CosignerKey:
    """A witness verifier key ``<name>+<hex id>+base64(0x04 || key)``. Raises
    CheckpointInvalid when malformed, of another type, or when the id does not match."""
    return CosignerKey(*parse_vkey(text, COSIGNATURE_TYPE, cosigner_key_id))


def signed_message(text: str, timestamp: int) -> bytes:
    """What an Ed25519 cosignature signs over the note text ``text``."""
    return f"{HEADER}time {timestamp}\n{text}".encode()


def cosign_text(text: str, *, name: str, private_key: Ed25519PrivateKey, timestamp: int) -> str:
    """A cosignature line (ending in a newline) on a checkpoint's note text."""
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"a cosignature timestamp is 0 to 2^63-1, got {timestamp}")
    signature = private_key.sign(signed_message(text, timestamp))
    blob = cosigner_key_id(name, private_key.public_key()) + struct.pack(">Q", timestamp)
    return f"{SIGNATURE_PREFIX}{name} {base64.b64encode(blob + signature).decode()}\n"


def check_cosignature(text: str, line: str, key: CosignerKey) -> Cosignature | None:
    """The cosignature in ``line`` if it is ``key``'s and verifies over ``text``; None when
    the line is another key's. Raises CheckpointInvalid when it is ``key``'s and does not
    verify (a forged or damaged cosignature)."""
    signer, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
    blob = base64.b64decode(encoded)
    if signer != key.name or blob[:4] != key.key_id:
        return None
    if len(blob) != 4 + 8 + 64:
        raise CheckpointInvalid(f"the cosignature by {key.name!r} is not 76 bytes")
    (timestamp,) = struct.unpack(">Q", blob[4:12])
    try:
        key.public_key.verify(blob[12:], signed_message(text, timestamp))
    except InvalidSignature:
        raise CheckpointInvalid(f"the cosignature by {key.name!r} does not verify") from None
    return Cosignature(key.name, timestamp)


def verify_cosignatures(note: str, keys: Sequence[CosignerKey], quorum: int) -> list[Cosignature]:
    """The valid cosignatures on ``note`` by ``keys``; raises CheckpointInvalid unless at
    least ``quorum`` distinct witnesses cosigned, or when a line that claims a trusted key
    does not verify."""
    if quorum > len(keys):
        raise CheckpointInvalid(f"a quorum of {quorum} needs at least {quorum} witness keys, "
                                f"{len(keys)} given")
    text, lines = _split_note(note)
    found: dict[str, Cosignature] = {}
    for key in keys:
        for line in lines:
            cosignature = check_cosignature(text, line, key)
            if cosignature is not None:
                found.setdefault(key.verifier_key, cosignature)
    if len(found) < quorum:
        names = ", ".join(k.name for k in keys)
        raise CheckpointInvalid(f"{len(found)} of the trusted witnesses ({names}) cosigned "
                                f"the checkpoint; the quorum is {quorum}")
    return list(found.values())


def add_signature_lines(note: str, lines: Sequence[str]) -> str:
    """``note`` with extra signature lines appended (each ``— …\\n``), duplicates skipped."""
    _, existing = _split_note(note)
    have = set(existing)
    extra = [line.rstrip("\n") for line in lines if line.rstrip("\n") not in have]
    return note + "".join(f"{line}\n" for line in dict.fromkeys(extra))
