"""The compiled ``CassetAnchor`` contract (ABI and bytecode) shipped with the package.

``CassetAnchor.json`` is produced from ``contracts/CassetAnchor.sol`` by
``scripts/compile_contract.mjs`` (solc-js, pinned); it records the SHA-256 of the source it
was compiled from, which the tests compare with the source in the repository.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from eth_utils.crypto import keccak

ANCHORED_SIGNATURE = "Anchored(bytes32,uint64)"
# topic0 of every Anchored log: the event is found by it and its indexed root (topic1).
ANCHORED_TOPIC = "0x" + keccak(text=ANCHORED_SIGNATURE).hex()


@cache
def artifact() -> dict[str, Any]:
    """The compiler output: ``abi``, ``bytecode``, ``deployedBytecode``, ``sourceSha256``…"""
    text = resources.files("casset_rights.anchoring").joinpath("CassetAnchor.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def abi() -> list[dict[str, Any]]:
    return list(artifact()["abi"])


def bytecode() -> str:
    return str(artifact()["bytecode"])
