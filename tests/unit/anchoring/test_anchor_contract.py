"""The committed contract artifact: compiled from the committed source, and what the chain runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

from web3 import Web3

from casset_rights.anchoring import contract
from casset_rights.anchoring.embedded import EmbeddedChain

ROOT = Path(__file__).parents[3]


def test_the_artifact_was_compiled_from_the_source_in_the_repository() -> None:
    source = (ROOT / "contracts" / "CassetAnchor.sol").read_bytes()
    artifact = contract.artifact()
    assert artifact["sourceSha256"] == hashlib.sha256(source).hexdigest(), (
        "contracts/CassetAnchor.sol changed: run `cd scripts && npm install && "
        "node compile_contract.mjs` and commit casset_rights/anchoring/CassetAnchor.json")
    assert artifact["compiler"].startswith("solc-js 0.8.28+")


def test_the_abi_is_the_documented_interface() -> None:
    items = {(i["type"], i.get("name")): i for i in contract.abi()}
    anchor = items[("function", "anchor")]
    assert [(i["name"], i["type"]) for i in anchor["inputs"]] == [("root", "bytes32"),
                                                                 ("treeSize", "uint64")]
    event = items[("event", "Anchored")]
    assert [(i["name"], i["type"], i["indexed"]) for i in event["inputs"]] == [
        ("root", "bytes32", True), ("treeSize", "uint64", False)]
    assert Web3.keccak(text="Anchored(bytes32,uint64)").to_0x_hex() == contract.ANCHORED_TOPIC


def test_the_deployed_code_is_the_artifact_with_its_owner_filled_in(
        chain: EmbeddedChain, tester_w3: Web3) -> None:
    chain.head()  # deploys
    code = bytes(tester_w3.eth.get_code(chain.contract_address))
    owner = tester_w3.eth.contract(address=chain.contract_address, abi=contract.abi()) \
        .functions.owner().call()
    owner_word = bytes(12) + bytes.fromhex(owner[2:])
    assert owner_word in code  # the immutable owner
    expected = bytes.fromhex(contract.artifact()["deployedBytecode"][2:])
    assert code.replace(owner_word, bytes(32)) == expected
