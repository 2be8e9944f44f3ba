"""C2PA in previews: signed with a local CA's leaf, read back Trusted, and every kind of
tampering named by the step that catches it."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("c2pa")
pytest.importorskip("av")

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from casset_rights.audio.certificates import (
    DOCUMENT_SIGNING,
    local_identity,
    make_local_ca,
)
from casset_rights.audio.errors import ProvenanceInvalid
from casset_rights.audio.provenance import (
    sign_preview,
    training_mining_entries,
    verify_preview,
)
from casset_rights.audio.render import encode
from casset_rights.audio.synth import song
from casset_rights.receipts.keys import FileKeyStore
from casset_rights.receipts.service import ReceiptIssuer
from casset_rights.receipts.verify import verify_receipt

RESOURCE = "hook:glass-hours/1/chorus"


@pytest.fixture(scope="module")
def audio() -> dict[str, bytes]:
    samples = song(4, seed=4)
    return {fmt: encode(samples, 44100, fmt=fmt, bitrate=96_000)[0]  # type: ignore[arg-type]
            for fmt in ("m4a", "mp3")}


def signed(tmp_path: Path, data: bytes, mime: str, **change: Any) -> tuple[bytes, Any, dict]:
    keys = FileKeyStore(tmp_path / "keys")
    receipt = ReceiptIssuer(keys, issuer="http://rights.test").issue("decision", {
        "principal": {"kind": "public"}, "decision": "permit",
        "request": {"action": "preview", "resource": RESOURCE, "context": {}},
        "policy_hash": "sha256:" + "a" * 64, "manifest_hash": "sha256:" + "b" * 64})
    identity = local_identity(tmp_path / "c2pa", organisation="Casset test")
    rights = {"resource": RESOURCE, "policy_hash": "sha256:" + "a" * 64,
              "manifest_hash": "sha256:" + "b" * 64, "receipt_id": receipt.jti,
              "receipt": receipt.token, **change}
    training = training_mining_entries({"ai-train": "deny", "ai-input": "license_required"},
                                       terms_url="http://rights.test/r/glass-hours")
    out = sign_preview(data, mime=mime, identity=identity, title="t", rights=rights,
                       training=training)
    return out, identity, keys.jwks()


@pytest.mark.parametrize(("fmt", "mime"), [("m4a", "audio/mp4"), ("mp3", "audio/mpeg")])
def test_a_signed_preview_verifies_step_by_step(fmt: str, mime: str, audio: dict[str, bytes],
                                                tmp_path: Path) -> None:
    data, identity, jwks = signed(tmp_path, audio[fmt], mime)
    report = verify_preview(data, mime=mime, anchor_pem=identity.anchor_pem, jwks=jwks,
                            verify_receipt=verify_receipt)
    assert all(step.ok for step in report.steps) and len(report.steps) == 7
    assert report.training == {
        "cawg.ai_training": {"use": "notAllowed"},
        "cawg.ai_generative_training": {"use": "notAllowed"},
        "cawg.ai_inference": {"use": "constrained",
                              "constraint_info": "http://rights.test/r/glass-hours"},
        "cawg.data_mining": {"use": "notAllowed"}}


def failing_step(data: bytes, *, anchor: bytes, jwks: dict, mime: str = "audio/mp4") -> str:
    with pytest.raises(ProvenanceInvalid) as caught:
        verify_preview(data, mime=mime, anchor_pem=anchor, jwks=jwks,
                       verify_receipt=verify_receipt)
    return caught.value.step


def test_tampering_is_named_by_the_step_that_catches_it(audio: dict[str, bytes],
                                                        tmp_path: Path) -> None:
    data, identity, jwks = signed(tmp_path, audio["m4a"], "audio/mp4")
    flipped = bytearray(data)
    flipped[len(data) - 500] ^= 0xFF  # a byte of the audio, after the manifest
    assert failing_step(bytes(flipped), anchor=identity.anchor_pem,
                        jwks=jwks) == "c2pa-integrity"
    stranger = make_local_ca("Someone else")
    assert failing_step(data, anchor=stranger.anchor_pem, jwks=jwks) == "c2pa-trust"
    other_keys = FileKeyStore(tmp_path / "other-keys").jwks()
    assert failing_step(data, anchor=identity.anchor_pem,
                        jwks=other_keys) == "receipt-signature"
    assert failing_step(audio["m4a"], anchor=identity.anchor_pem,
                        jwks=jwks) == "c2pa-manifest"


def test_a_receipt_for_something_else_fails_the_binding(audio: dict[str, bytes],
                                                        tmp_path: Path) -> None:
    data, identity, jwks = signed(tmp_path, audio["mp3"], "audio/mpeg",
                                  resource="hook:glass-hours/1/intro")
    assert failing_step(data, anchor=identity.anchor_pem, jwks=jwks,
                        mime="audio/mpeg") == "receipt-binding"


def test_the_local_leaf_has_the_key_usages_c2pa_requires(tmp_path: Path) -> None:
    identity = local_identity(tmp_path / "c2pa", organisation="Casset test")
    leaf = x509.load_pem_x509_certificates(identity.chain_pem)[0]
    usages = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert DOCUMENT_SIGNING in list(usages)
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature
    assert not leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    # Made once: a second start reads the same identity.
    assert local_identity(tmp_path / "c2pa", organisation="x") == identity


def _identity_after(barrier: Any, folder: Path) -> tuple[bytes, bytes, bytes]:
    barrier.wait()
    made = local_identity(folder, organisation="Casset test")
    return made.chain_pem, made.key_pem, made.anchor_pem


def test_workers_starting_together_share_one_local_identity(tmp_path: Path) -> None:
    # Server workers load the identity at their start, at the same moment on a new data
    # folder: each must end with the same files, its key the leaf's.
    folder = tmp_path / "c2pa"
    context = multiprocessing.get_context("fork")
    with context.Manager() as manager, context.Pool(6) as pool:
        barrier = manager.Barrier(6)
        results = pool.starmap(_identity_after, [(barrier, folder)] * 6)
    assert len(set(results)) == 1
    chain_pem, key_pem, _ = results[0]
    leaf = x509.load_pem_x509_certificates(chain_pem)[0]
    key = serialization.load_pem_private_key(key_pem, password=None)
    raw = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, raw) == \
        leaf.public_key().public_bytes(serialization.Encoding.DER, raw)
    assert sorted(p.name for p in folder.iterdir()) == [
        ".making", "chain.pem", "root.pem", "signer.key"]


def test_the_verify_command_prints_each_step_and_names_the_failing_one(
        audio: dict[str, bytes], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from casset_rights.cli import main

    data, identity, jwks = signed(tmp_path, audio["m4a"], "audio/mp4")
    preview, anchor, keys = tmp_path / "p.m4a", tmp_path / "root.pem", tmp_path / "jwks.json"
    preview.write_bytes(data)
    anchor.write_bytes(identity.anchor_pem)
    keys.write_text(json.dumps(jwks))
    args = ["verify", str(preview), "--trust", str(anchor), "--jwks", str(keys)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "\u2713 c2pa-trust" in out and "\u2713 receipt-binding" in out
    assert f"verified: a preview of {RESOURCE}" in out
    flipped = bytearray(data)
    flipped[-300] ^= 0x01
    preview.write_bytes(bytes(flipped))
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "\u2717 c2pa-integrity" in out and "the c2pa-integrity step failed" in out
    assert main(["verify", str(preview), "--jwks", str(keys)]) == 1  # no --trust
    assert "--trust" in capsys.readouterr().err
