"""Fixtures of the anchoring tests: one eth-tester chain per session (each test deploys its
own contract on it, ~20 ms), a log on each test database, and the anchoring job."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eth_rpc_double import EthRpcDouble
from sqlalchemy import Engine
from web3 import EthereumTesterProvider, Web3

from casset_rights.anchoring.embedded import EmbeddedChain, EmbeddedChainWarning
from casset_rights.anchoring.job import Anchorer
from casset_rights.log import TransparencyLog

ORIGIN = "rights.casset.test/log"


@pytest.fixture(scope="session")
def tester_w3() -> Web3:
    return Web3(EthereumTesterProvider())


@pytest.fixture
def chain(tester_w3: Web3) -> EmbeddedChain:
    with pytest.warns(EmbeddedChainWarning):
        return EmbeddedChain(tester_w3)


@pytest.fixture
def log(engine: Engine) -> TransparencyLog:
    return TransparencyLog(engine, origin=ORIGIN,
                           signing_key=Ed25519PrivateKey.from_private_bytes(bytes(32)))


@pytest.fixture
def anchorer(engine: Engine, chain: EmbeddedChain) -> Anchorer:
    return Anchorer(engine, chain, wait_seconds=2, poll_seconds=0.05)


@pytest.fixture(scope="module")
def rpc_double() -> Iterator[EthRpcDouble]:
    double = EthRpcDouble()
    yield double
    double.close()
