"""``casset-rights verify BUNDLE`` and ``casset-rights anchor``, run in process.

Bundles come from the real app; the anchor step is verified for real over JSON-RPC against
the local Ethereum node double of the anchoring tests (an eth-tester chain behind HTTP).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from eth_account import Account

from casset_rights.anchoring.chain import EMBEDDED_CHAIN_ID
from casset_rights.anchoring.job import Anchorer
from casset_rights.anchoring.rpc import JsonRpcChain, deploy_anchor_contract
from casset_rights.cli import main
from casset_rights.log.bundle import BundleAnchor, ReceiptBundle, decode_bundle

sys.path.insert(0, str(Path(__file__).parent / "unit" / "anchoring"))
from eth_rpc_double import EthRpcDouble

ROOT = Path(__file__).resolve().parents[1]
HOOK = "hook:midnight-tapes/1/chorus"


@pytest.fixture
def receipt_id(client: Any, services: Any) -> str:
    """A decision's receipt, logged and covered by a checkpoint."""
    answer = client.post("/v1/decisions", json={"action": "ai-train", "resource": HOOK}).json()
    services.sequencer.catch_up()
    return str(answer["receipt_id"])


def write(path: Path, bundle: ReceiptBundle) -> str:
    path.write_bytes(msgspec.json.encode(bundle))
    return str(path)


def pinned_keys(client: Any, folder: Path) -> list[str]:
    """The service's receipt keys, log key and witness keys, as a verifier pins them."""
    (folder / "jwks.json").write_text(json.dumps(client.get("/.well-known/jwks.json").json()))
    log = client.get("/.well-known/casset-rights").json()["transparency_log"]
    witnesses = [arg for key in log["witnesses"] for arg in ("--witness-key", key)]
    return ["--jwks", str(folder / "jwks.json"), "--log-key", log["verifier_key"], *witnesses]


def lines(out: str) -> list[str]:
    return [line for line in out.splitlines() if line[:1] in "\u2713\u2717\u2013"]


def test_an_embedded_anchor_is_refused_offline_and_every_step_is_printed(
        client: Any, services: Any, receipt_id: str, tmp_path: Path, capsys: Any) -> None:
    services.log_keeper.anchor_now()
    bundle = decode_bundle(client.get(f"/v1/receipts/{receipt_id}/bundle").content)
    assert bundle.anchor is not None
    path = write(tmp_path / "bundle.json", bundle)

    # No key pinned: refused before any step, unless the unsafe option says so.
    assert main(["verify", path]) == 1
    captured = capsys.readouterr()
    assert "pin the keys you trust" in captured.err and not lines(captured.out)
    assert main(["verify", path, "--unsafe-trust-bundle-keys"]) == 1
    captured = capsys.readouterr()
    assert "keys inside the bundle" in captured.err
    assert [line.split(":")[0] for line in lines(captured.out)] == [
        "\u2713 receipt", "\u2713 checkpoint", "\u2013 witnesses", "\u2713 inclusion",
        "\u2013 consistency", "\u2717 anchor"]
    assert "cannot be reached" in lines(captured.out)[-1] and "verified\n" not in captured.out

    assert main(["verify", path, "--skip-anchor", *pinned_keys(client, tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "keys inside the bundle" not in captured.err
    assert "\u2713 witnesses: cosigned by 1 of 1 pinned witnesses" in captured.out
    assert "\u2013 anchor: not checked" in captured.out
    assert "verified, except the anchor" in captured.out


def test_a_tampered_bundle_stops_at_its_step(client: Any, receipt_id: str, tmp_path: Path,
                                             capsys: Any) -> None:
    bundle = decode_bundle(client.get(f"/v1/receipts/{receipt_id}/bundle").content)
    proof = bundle.inclusion_proof
    bad = msgspec.structs.replace(bundle, inclusion_proof=msgspec.structs.replace(
        proof, hashes=(bytes(32), *proof.hashes[1:])))
    assert main(["verify", write(tmp_path / "bad.json", bad), "--skip-anchor",
                 *pinned_keys(client, tmp_path)]) == 1
    found = lines(capsys.readouterr().out)
    assert found[-1].startswith("\u2717 inclusion") and len(found) == 4  # nothing after it


def test_consistency_from_files(client: Any, services: Any, receipt_id: str, tmp_path: Path,
                                capsys: Any) -> None:
    bundle = decode_bundle(client.get(f"/v1/receipts/{receipt_id}/bundle").content)
    client.post("/v1/decisions", json={"action": "listen", "resource": HOOK})
    services.sequencer.catch_up()
    newer = client.get("/v1/log/checkpoint").json()
    proof = client.get("/v1/log/proofs/consistency", params={
        "first": bundle.inclusion_proof.tree_size, "second": newer["tree_size"]}).json()
    (tmp_path / "newer.txt").write_text(newer["note"])
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    args = ["verify", write(tmp_path / "bundle.json", bundle), "--skip-anchor",
            *pinned_keys(client, tmp_path), "--newer-checkpoint", str(tmp_path / "newer.txt"),
            "--consistency-proof", str(tmp_path / "proof.json")]
    assert main(args) == 0
    assert "\u2713 consistency" in capsys.readouterr().out
    proof["hashes"] = proof["hashes"][:-1]
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    assert main(args) == 1
    assert lines(capsys.readouterr().out)[-1].startswith("\u2717 consistency")


@pytest.fixture(scope="module")
def rpc_double() -> Any:
    double = EthRpcDouble()
    yield double
    double.close()


def _rpc_chain(double: EthRpcDouble, folder: Path) -> JsonRpcChain:
    account = Account.create()
    double.w3.eth.send_transaction({"from": double.w3.eth.accounts[0], "to": account.address,
                                    "value": 10**19})
    key_file = folder / "anchor.key"
    key_file.write_text(account.key.to_0x_hex())
    address = deploy_anchor_contract(double.url, chain_id=EMBEDDED_CHAIN_ID, key_file=key_file)
    return JsonRpcChain(double.url, chain_id=EMBEDDED_CHAIN_ID, contract_address=address,
                        key_file=key_file)


def test_an_anchor_on_a_reachable_chain_verifies_and_the_command_exits_0(
        client: Any, services: Any, engine: Any, receipt_id: str, rpc_double: EthRpcDouble,
        tmp_path: Path, capsys: Any) -> None:
    bundle = services.log_keeper.bundle(receipt_id)
    # Anchor the bundle's checkpoint on the node behind --rpc-url, by the real job.
    record = Anchorer(engine, _rpc_chain(rpc_double, tmp_path), poll_seconds=0.05) \
        .anchor_latest(services.log)
    assert record is not None and record.tree_size == bundle.inclusion_proof.tree_size
    anchored = msgspec.structs.replace(bundle, anchor=BundleAnchor.of(record))
    path = write(tmp_path / "bundle.json", anchored)
    keys = pinned_keys(client, tmp_path)

    assert main(["verify", path, *keys, "--rpc-url", rpc_double.url]) == 0
    out = capsys.readouterr().out
    assert [line[0] for line in lines(out)] == ["\u2713"] * 4 + ["\u2013", "\u2713"]
    assert f"transaction {record.tx_hash}" in out and out.endswith("verified\n")

    # The same anchor claimed in another block is refused by the chain.
    moved = msgspec.structs.replace(anchored, anchor=msgspec.structs.replace(
        anchored.anchor, block_number=record.block_number + 5))
    assert main(["verify", write(tmp_path / "moved.json", moved), *keys,
                 "--rpc-url", rpc_double.url]) == 1
    assert "not verified" in lines(capsys.readouterr().out)[-1]
    # An unreachable endpoint is no verification either.
    assert main(["verify", path, *keys, "--rpc-url", "http://127.0.0.1:9"]) == 1
    assert "cannot be reached" in lines(capsys.readouterr().out)[-1]


def test_a_bare_receipt_still_needs_a_jwks(client: Any, receipt_id: str, capsys: Any) -> None:
    token = client.get(f"/v1/receipts/{receipt_id}").json()["receipt"]
    assert main(["verify", token]) == 1
    assert "--jwks" in capsys.readouterr().err


def test_the_anchor_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                            capsys: Any) -> None:
    monkeypatch.setenv("CASSET_DATA_DIR", str(tmp_path / "data"))
    assert main(["anchor"]) == 0
    assert "anchor: none (the log is empty)" in capsys.readouterr().out
    assert main(["catalog", "load", str(ROOT / "examples" / "catalog")]) == 0
    assert main(["anchor"]) == 0
    out = capsys.readouterr().out
    assert "tree size 7," in out and "anchor: confirmed on embedded" in out
    assert "the embedded chain ended with this command" in out
    monkeypatch.setenv("CASSET_CHAIN", "none")
    assert main(["anchor"]) == 0
    assert "anchoring is disabled" in capsys.readouterr().out
