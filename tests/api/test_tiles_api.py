"""The log as tlog-tiles through the real app, verified from tiles alone; the embedded
witness's cosigned checkpoint; the log's key apart from the receipt keys (rotation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from casset_rights.cli import main
from casset_rights.log.bundle import BundleInvalid, Step, decode_bundle, verify_receipt_bundle
from casset_rights.log.checkpoint import (
    parse_checkpoint,
    parse_verifier_key,
    sign_checkpoint,
    verifier_key,
)
from casset_rights.log.cosignature import parse_cosigner_key, verify_cosignatures
from casset_rights.log.identity import LOG_KEY_FILE, open_log_identity
from casset_rights.log.tiles_client import TiledLog
from casset_rights.log.tiles_verify import verify_receipt_from_tiles
from casset_rights.receipts.jws import read_unverified
from casset_rights.receipts.keys import b64url_decode

HOOK = "hook:midnight-tapes/1/chorus"


def decide(client: Any) -> str:
    answer = client.post("/v1/decisions", json={"action": "ai-train", "resource": HOOK})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["receipt_id"])


def fetcher(client: Any):  # type: ignore[no-untyped-def]
    def fetch(path: str) -> bytes:
        response = client.get(f"/tlog/{path}")
        assert response.status_code == 200, (path, response.text)
        return bytes(response.content)

    return fetch


def pinned(client: Any) -> dict[str, Any]:
    log = client.get("/.well-known/casset-rights").json()["transparency_log"]
    return {"jwks": client.get("/.well-known/jwks.json").json(),
            "log_key": log["verifier_key"],
            "witnesses": [parse_cosigner_key(k) for k in log["witnesses"]]}


def test_the_tiles_and_the_cosigned_checkpoint_are_served_with_their_caching(
        client: Any, services: Any) -> None:
    decide(client)
    services.sequencer.catch_up()  # integrated, checkpointed, cosigned
    checkpoint = client.get("/tlog/checkpoint")
    assert checkpoint.status_code == 200
    assert checkpoint.headers["content-type"] == "text/plain; charset=utf-8"
    assert checkpoint.headers["cache-control"] == "public, max-age=2"
    note = checkpoint.text
    assert note == client.get("/v1/log/checkpoint").json()["note"]  # one checkpoint, cosigned
    keys = pinned(client)
    [cosignature] = verify_cosignatures(note, keys["witnesses"], 1)
    assert cosignature.name.startswith("casset-witness-")
    size = parse_checkpoint(note).tree_size
    assert size < 256  # the example catalog, policies and one receipt: one partial tile
    partial = client.get(f"/tlog/tile/0/000.p/{size}")
    assert partial.status_code == 200 and len(partial.content) == 32 * size
    assert partial.headers["content-type"] == "application/octet-stream"
    assert partial.headers["cache-control"] == "public, max-age=10"
    assert client.get("/tlog/tile/0/000").status_code == 404  # not full yet
    assert client.get(f"/tlog/tile/entries/000.p/{size}").status_code == 200

    for i in range(256 - size):
        services.log.append("policy", f"filler-{i}", f"filler {i}".encode())
    full = client.get("/tlog/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.content[:32 * size] == partial.content
    assert client.get("/tlog/tile/0/0").status_code == 404  # not the spec's spelling


def test_a_receipt_verifies_from_the_tiles_alone(client: Any, services: Any) -> None:
    jti = decide(client)
    services.sequencer.catch_up()
    bundle = decode_bundle(client.get(f"/v1/receipts/{jti}/bundle").content)
    for _ in range(3):
        decide(client)
    services.sequencer.catch_up()
    keys = pinned(client)
    seen: list[Step] = []
    checkpoint = verify_receipt_from_tiles(
        bundle.receipt, leaf_index=bundle.leaf_index, fetch=fetcher(client),
        earlier_checkpoint=bundle.checkpoint, report=seen.append, **keys)
    assert [(s.name, s.status) for s in seen] == [
        ("receipt", "ok"), ("checkpoint", "ok"), ("witnesses", "ok"), ("inclusion", "ok"),
        ("consistency", "ok")]
    assert checkpoint.tree_size > bundle.inclusion_proof.tree_size
    # The proofs computed from the tiles are the service's JSON proofs.
    tiles = TiledLog(fetcher(client), checkpoint.tree_size)
    proof = client.get("/v1/log/proofs/inclusion", params={
        "leaf_hash": bundle.leaf_hash.hex(), "tree_size": checkpoint.tree_size}).json()
    assert [msgspec.json.encode(h)[1:-1].decode() for h in tiles.inclusion_proof(
        bundle.leaf_index)] == proof["hashes"]

    # Another receipt at that index, a stranger's log key, a witness quorum not met.
    other_jti = decide(client)
    services.sequencer.catch_up()
    other = decode_bundle(client.get(f"/v1/receipts/{other_jti}/bundle").content)
    with pytest.raises(BundleInvalid) as caught:
        verify_receipt_from_tiles(other.receipt, leaf_index=bundle.leaf_index,
                                  fetch=fetcher(client), **keys)
    assert caught.value.step == "inclusion"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    stranger = verifier_key(services.log.origin, Ed25519PrivateKey.generate().public_key())
    with pytest.raises(BundleInvalid) as caught:
        verify_receipt_from_tiles(bundle.receipt, leaf_index=bundle.leaf_index,
                                  fetch=fetcher(client), **{**keys, "log_key": stranger})
    assert caught.value.step == "checkpoint"
    with pytest.raises(BundleInvalid) as caught:
        verify_receipt_from_tiles(bundle.receipt, leaf_index=bundle.leaf_index,
                                  fetch=fetcher(client), quorum=2, **keys)
    assert caught.value.step == "witnesses"


def test_the_log_key_is_not_a_receipt_key_and_survives_a_rotation(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    from litestar.testing import TestClient

    from casset_rights.app import create_app
    from casset_rights.config import settings_from_env

    monkeypatch.setenv("CASSET_DATA_DIR", str(tmp_path / "data"))
    settings = settings_from_env({}, data_dir=tmp_path / "data", load_examples=True,
                                 issuer="http://rights.test")

    def session() -> tuple[dict[str, Any], Any]:
        app = create_app(settings)
        with TestClient(app, base_url="http://rights.test") as client:
            jti = decide(client)
            app.state["services"].sequencer.catch_up()
            bundle = decode_bundle(client.get(f"/v1/receipts/{jti}/bundle").content)
            return pinned(client), bundle

    before, old_bundle = session()
    log_key = before["log_key"]
    kids = [k["kid"] for k in before["jwks"]["keys"]]
    assert (tmp_path / "data" / "log" / LOG_KEY_FILE).exists()
    log_public = parse_verifier_key(log_key)[1].public_bytes_raw()
    assert all(b64url_decode(k["x"]) != log_public for k in before["jwks"]["keys"])

    assert main(["keys", "rotate"]) == 0
    assert "the log's key is unchanged" in capsys.readouterr().out

    after, new_bundle = session()
    assert after["log_key"] == log_key  # the log's identity did not change
    assert len(after["jwks"]["keys"]) == len(kids) + 1
    assert read_unverified(new_bundle.receipt)[0]["kid"] not in kids  # the new receipt key
    for bundle in (old_bundle, new_bundle):  # both against what is pinned after the rotation
        verify_receipt_bundle(bundle, jwks=after["jwks"], log_key=log_key,
                              witnesses=after["witnesses"], check_anchor=False)
    # ... and the old bundle against the keys pinned before it.
    verify_receipt_bundle(old_bundle, jwks=before["jwks"], log_key=log_key, check_anchor=False)


def test_a_log_signed_by_a_receipt_key_keeps_that_identity(services: Any,
                                                            tmp_path: Path) -> None:
    """A data folder from before the log had its own key: its checkpoints were signed by
    the active receipt key, which becomes the log's key."""
    legacy = services.keys.active().private_key
    checkpoint = services.log.latest_checkpoint() or services.log.checkpoint_now()
    note = sign_checkpoint(checkpoint, name=services.log.origin, private_key=legacy).note
    from casset_rights.log.tables import log_checkpoints

    with services.engine.begin() as conn:
        conn.execute(log_checkpoints.insert().values(
            origin=services.log.origin, tree_size=checkpoint.tree_size, root=checkpoint.root,
            timestamp=checkpoint.timestamp, key_name=services.log.origin, note=note))
    key = open_log_identity(tmp_path / "fresh", engine=services.engine, keys=services.keys,
                            origin=services.log.origin)
    assert verifier_key(services.log.origin, key.public_key()) == \
        verifier_key(services.log.origin, legacy.public_key())
    # Kept: the next start reads the file.
    again = open_log_identity(tmp_path / "fresh", engine=services.engine, keys=services.keys,
                              origin=services.log.origin)
    assert verifier_key("x", again.public_key()) == verifier_key("x", key.public_key())
