"""Checkpoints as C2SP signed notes: the Go reference note byte for byte, our format, and
every way verification fails."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from casset_rights.log import merkle
from casset_rights.log.checkpoint import (
    Checkpoint,
    key_id,
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    sign_note,
    verifier_key,
    verify_checkpoint,
    verify_note,
)
from casset_rights.log.errors import CheckpointInvalid

GO = json.loads((Path(__file__).parents[2] / "assets" / "signed_note_vectors.json").read_text())
ORIGIN = "rights.casset.test/log"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROOT = merkle.root_of([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])


def _go_private_key() -> Ed25519PrivateKey:
    encoded = GO["signer_key"].split("+", 4)[4]  # the base64 may hold "+" itself
    raw = base64.b64decode(encoded)
    assert raw[0] == 1
    return Ed25519PrivateKey.from_private_bytes(raw[1:])


def _signed(**kwargs: object) -> Checkpoint:
    fields = {"origin": ORIGIN, "tree_size": 2, "root": ROOT, "timestamp": 1732464000, **kwargs}
    checkpoint = msgspec.convert(fields, Checkpoint)
    return sign_checkpoint(checkpoint, name=ORIGIN, private_key=KEY)


def test_the_go_reference_note_is_reproduced_byte_for_byte() -> None:
    private = _go_private_key()
    assert verifier_key("PeterNeumann", private.public_key()) == GO["verifier_key"]
    assert key_id("PeterNeumann", private.public_key()).hex() == "c74f20a3"
    assert sign_note(GO["text"], name="PeterNeumann", private_key=private) == GO["note"]


def test_the_go_reference_note_verifies_with_its_published_verifier_key() -> None:
    name, public = parse_verifier_key(GO["verifier_key"])
    assert verify_note(GO["note"], name=name, public_key=public) == GO["text"]
    with pytest.raises(CheckpointInvalid):
        verify_note(GO["note"].replace("cryptography", "cryptographY"), name=name,
                    public_key=public)


def test_checkpoint_format() -> None:
    cp = _signed()
    root_b64 = base64.b64encode(ROOT).decode()
    body = f"{ORIGIN}\n2\n{root_b64}\nTimestamp: 1732464000\n"
    assert cp.note.startswith(body + "\n\u2014 " + ORIGIN + " ")
    assert cp.note.endswith("\n") and cp.note.count("\n") == 6
    blob = base64.b64decode(cp.note.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4] == key_id(ORIGIN, KEY.public_key()) and len(blob) == 68
    assert parse_checkpoint(cp.note) == cp
    verify_checkpoint(cp.note, KEY.public_key(), ORIGIN)


def test_extension_lines_are_kept_and_signed() -> None:
    cp = _signed(extensions=("witnessed-by example.org",))
    parsed = parse_checkpoint(cp.note)
    assert parsed.extensions == ("witnessed-by example.org",)
    assert parsed.timestamp == 1732464000
    verify_checkpoint(cp.note, KEY.public_key(), ORIGIN)


def test_signatures_by_other_keys_are_ignored() -> None:
    cp = _signed()
    other = Ed25519PrivateKey.generate()
    cosigned = cp.note + sign_note(cp.body(), name="witness.example",
                                   private_key=other).split("\n\n", 1)[1]
    verify_checkpoint(cosigned, KEY.public_key(), ORIGIN)
    verify_note(cosigned, name="witness.example", public_key=other.public_key())


def test_a_checkpoint_of_another_log_or_key_fails() -> None:
    cp = _signed()
    with pytest.raises(CheckpointInvalid, match="not 'other/log'"):
        verify_checkpoint(cp.note, KEY.public_key(), "other/log")
    with pytest.raises(CheckpointInvalid, match="no signature"):
        verify_checkpoint(cp.note, Ed25519PrivateKey.generate().public_key(), ORIGIN)
    with pytest.raises(CheckpointInvalid, match="no signature"):
        verify_checkpoint(cp.note, KEY.public_key(), ORIGIN, key_name="another-name")


@pytest.mark.parametrize("mangle", [
    lambda n: n.rstrip("\n"),  # no final newline
    lambda n: n.replace("\n\n", "\n"),  # no blank line
    lambda n: n.replace("\n2\n", "\n02\n"),  # leading zero
    lambda n: n.replace("\n2\n", "\n-2\n"),
    lambda n: n.replace("\n2\n", "\n18446744073709551616\n"),  # beyond 64 bits
    lambda n: n.replace("Timestamp: 1732464000", "Timestamp: soon"),
    lambda n: n.replace("\u2014 ", "- "),  # not an em dash
    lambda n: n.split("\n", 1)[1],  # no origin
    lambda n: "\n" + n,
    lambda n: n.replace("\n2\n", "\n2\n\x07\n"),  # control character
])
def test_malformed_checkpoints_are_refused(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CheckpointInvalid):
        verify_checkpoint(mangle(_signed().note), KEY.public_key(), ORIGIN)


def test_a_root_that_is_not_32_bytes_is_refused() -> None:
    note = _signed().note.replace(base64.b64encode(ROOT).decode(),
                                  base64.b64encode(ROOT[:31]).decode())
    with pytest.raises(CheckpointInvalid, match="32 bytes"):
        parse_checkpoint(note)


@settings(max_examples=400, deadline=None)
@given(bit=st.integers(min_value=0))
def test_flipping_any_bit_of_a_checkpoint_fails(bit: int) -> None:
    note = _signed().note.encode()
    bit %= len(note) * 8
    flipped = bytearray(note)
    flipped[bit // 8] ^= 1 << (bit % 8)
    try:
        text = flipped.decode()
    except UnicodeDecodeError:
        return  # not even text: no verifier gets as far as a signature
    with pytest.raises(CheckpointInvalid):
        verify_checkpoint(text, KEY.public_key(), ORIGIN)


def test_verifier_keys_refuse_manglings() -> None:
    good = verifier_key(ORIGIN, KEY.public_key())
    assert parse_verifier_key(good)[0] == ORIGIN
    for bad in [good.replace("+", " ", 1), good[:-2], good.replace(good.split("+")[1], "00000000"),
                "+" + good, good.split("+", 1)[1]]:
        with pytest.raises(CheckpointInvalid):
            parse_verifier_key(bad)


def test_a_non_canonical_base64_signature_is_refused() -> None:
    note = _signed().note
    encoded = note.rstrip("\n").rsplit(" ", 1)[1]
    assert encoded.endswith("=") and not encoded.endswith("==")
    # The last character before "=" carries two unused bits: setting one spells the same bytes.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    last = encoded[-2]
    twin = alphabet[alphabet.index(last) ^ 1]
    assert base64.b64decode(encoded[:-2] + twin + "=") == base64.b64decode(encoded)
    with pytest.raises(CheckpointInvalid, match="malformed signature"):
        verify_checkpoint(note.replace(encoded, encoded[:-2] + twin + "="), KEY.public_key(),
                          ORIGIN)
