"""The transparency log through the real app: receipts, manifests and policies are leaves;
checkpoints, proofs, entries, anchors and receipt bundles over HTTP (SQLite, and PostgreSQL
when configured)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from casset_rights.canonical import canonical_bytes
from casset_rights.log import (
    leaf_hash,
    parse_checkpoint,
    parse_verifier_key,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from casset_rights.log.bundle import Step, decode_bundle, verify_receipt_bundle
from casset_rights.log.commands import fetch_newer_checkpoint

HOOK = "hook:midnight-tapes/1/chorus"


def decide(client: TestClient, action: str = "remix") -> dict[str, Any]:
    response = client.post("/v1/decisions", json={
        "action": action, "resource": HOOK, "context": {"purpose": "non-commercial"}})
    assert response.status_code == 200, response.text
    return dict(response.json())


def b64(text: str) -> bytes:
    return base64.b64decode(text)


def checked_checkpoint(client: TestClient, services: Any) -> tuple[int, bytes, dict[str, Any]]:
    """A checkpoint of the log as it is now (everything queued integrated and a checkpoint
    made at once rather than waiting for the sequencer's thread), as served, its
    signature checked against the verifier key."""
    services.sequencer.integrate()
    services.log.checkpoint_now()
    body = client.get("/v1/log/checkpoint").json()
    name, key = parse_verifier_key(body["verifier_key"])
    verify_checkpoint(body["note"], key, name)
    return body["tree_size"], b64(body["root"]), body


def test_a_decisions_receipt_is_a_leaf(client: TestClient, services: Any) -> None:
    answer = decide(client)
    services.sequencer.catch_up()
    stored = client.get(f"/v1/receipts/{answer['receipt_id']}").json()
    assert isinstance(stored["log_index"], int)
    entry = client.get(f"/v1/log/entries/{stored['log_index']}").json()
    assert entry["kind"] == "receipt" and entry["ref"] == answer["receipt_id"]
    assert b64(entry["data"]) == answer["receipt"].encode()
    assert b64(entry["leaf_hash"]) == leaf_hash(answer["receipt"].encode())
    assert client.get("/v1/log/entries/999999").json()["code"] == "not_found"


def test_manifests_and_policies_are_leaves(client: TestClient, services: Any) -> None:
    size, root, _ = checked_checkpoint(client, services)
    head = client.get("/v1/releases/midnight-tapes").json()
    manifest = canonical_bytes(head["manifest"])
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == head["hash"]
    policy = services.policies.get("nightglass-default")
    leaves = {"manifest": (manifest, head["hash"]),
              "policy": (canonical_bytes(policy.document), policy.hash)}
    for kind, (data, ref) in leaves.items():
        proof = client.get("/v1/log/proofs/inclusion", params={
            "leaf_hash": leaf_hash(data).hex(), "tree_size": size}).json()
        verify_inclusion(leaf_index=proof["leaf_index"], tree_size=size, leaf=leaf_hash(data),
                         proof=[b64(h) for h in proof["hashes"]], root=root)
        entry = client.get(f"/v1/log/entries/{proof['leaf_index']}").json()
        assert (entry["kind"], entry["ref"], b64(entry["data"])) == (kind, ref, data)


def test_the_checkpoint_as_json_or_as_a_signed_note(client: TestClient, services: Any) -> None:
    decide(client)
    size, root, body = checked_checkpoint(client, services)
    assert body["origin"] == "casset.example/rights-log" and size >= 1
    note = client.get("/v1/log/checkpoint", headers={"Accept": "text/plain"})
    assert note.headers["content-type"].startswith("text/plain")
    # The same checkpoint; witnesses' cosignature lines may have been added to it since
    # (the sequencer's thread cosigns in the background), never taken away.
    text, _, signatures = note.text.partition("\n\n")
    json_text, _, json_signatures = body["note"].partition("\n\n")
    assert text == json_text
    assert set(json_signatures.splitlines()) <= set(signatures.splitlines())
    assert parse_checkpoint(note.text).root == root


def test_consistency_between_two_checkpoints(client: TestClient, services: Any) -> None:
    decide(client)
    first, first_root, _ = checked_checkpoint(client, services)
    for action in ("listen", "preview", "sample"):
        decide(client, action)
    second, second_root, _ = checked_checkpoint(client, services)
    assert second == first + 3
    proof = client.get("/v1/log/proofs/consistency",
                       params={"first": first, "second": second}).json()
    verify_consistency(first=first, second=second, first_root=first_root,
                       second_root=second_root, proof=[b64(h) for h in proof["hashes"]])
    refused = client.get("/v1/log/proofs/consistency", params={"first": second, "second": first})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input"


def test_a_bundle_verifies_end_to_end_on_the_embedded_chain(client: TestClient,
                                                            services: Any) -> None:
    answer = decide(client)
    services.sequencer.catch_up()
    early = decode_bundle(client.get(f"/v1/receipts/{answer['receipt_id']}/bundle").content)
    assert early.anchor is None  # not anchored yet: the newest checkpoint holding it
    run = services.log_keeper.anchor_now()
    assert run.anchor.status == "confirmed"
    decide(client, "listen")  # a later receipt: the bundle keeps the anchored checkpoint
    response = client.get(f"/v1/receipts/{answer['receipt_id']}/bundle")
    assert response.status_code == 200
    bundle = decode_bundle(response.content)
    assert bundle.anchor is not None and bundle.anchor.chain == "embedded"
    assert bundle.inclusion_proof.tree_size == run.anchor.tree_size == bundle.anchor.tree_size
    assert bundle.jwks == client.get("/.well-known/jwks.json").json()
    seen: list[Step] = []
    verify_receipt_bundle(bundle, jwks=client.get("/.well-known/jwks.json").json(),
                          log_key=client.get("/v1/log/checkpoint").json()["verifier_key"],
                          chain=services.anchoring.chain, report=seen.append)
    assert [s.status for s in seen] == ["ok", "ok", "skipped", "ok", "skipped", "ok"]

    # And consistency with the service's newest checkpoint, fetched as the CLI does.
    services.log.checkpoint_now()
    newer = fetch_newer_checkpoint(client, "", bundle.inclusion_proof.tree_size)
    seen.clear()
    verify_receipt_bundle(bundle, jwks=services.keys.jwks(), log_key=services.log.verifier_key,
                          newer=newer, chain=services.anchoring.chain, report=seen.append)
    assert seen[4].status == "ok" and seen[5].status == "ok"

    anchors = client.get("/v1/log/anchors").json()["anchors"]
    assert anchors[0]["chain"] == "embedded" and anchors[0]["status"] == "confirmed"
    assert anchors[0]["tx_hash"] == bundle.anchor.tx_hash
    assert anchors[0]["block_number"] == bundle.anchor.block_number
    assert b64(anchors[0]["root"]) == bundle.anchor.root
    assert anchors[0]["root_hex"] == "0x" + bundle.anchor.root.hex()


@pytest.mark.parametrize(("path", "params", "status", "code"), [
    ("/v1/log/proofs/inclusion", {"leaf_hash": "not-a-hash", "tree_size": 1}, 422,
     "invalid_input"),
    ("/v1/log/proofs/inclusion", {"leaf_hash": "00" * 32, "tree_size": 1}, 404, "not_found"),
    ("/v1/log/proofs/inclusion", {"leaf_hash": "00" * 32}, 400, "invalid_request"),
    ("/v1/log/proofs/consistency", {"first": 1, "second": 10**9}, 422, "invalid_input"),
    ("/v1/log/proofs/consistency", {"first": -1, "second": 1}, 422, "invalid_request"),
    ("/v1/receipts/no-such-receipt/bundle", {}, 404, "not_found"),
])
def test_bad_questions_are_problems(client: TestClient, path: str, params: dict[str, Any],
                                    status: int, code: str) -> None:
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


def test_a_leaf_hash_may_be_base64_or_hex(client: TestClient, services: Any) -> None:
    answer = decide(client)
    size, _, _ = checked_checkpoint(client, services)
    digest = leaf_hash(answer["receipt"].encode())
    spellings = [base64.b64encode(digest).decode(), base64.urlsafe_b64encode(digest).decode(),
                 digest.hex(), "0x" + digest.hex()]
    proofs = [client.get("/v1/log/proofs/inclusion",
                         params={"leaf_hash": s, "tree_size": size}).json() for s in spellings]
    assert all(p == proofs[0] for p in proofs) and proofs[0]["tree_size"] == size
    assert msgspec.json.decode(msgspec.json.encode(proofs[0]))["leaf_index"] == size - 1
