"""``JsonRpcChain`` through its real HTTP client against a local JSON-RPC double: deploy,
anchor, recover, verify, and refuse a misconfigured or unreachable chain."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account
from eth_rpc_double import EthRpcDouble
from sqlalchemy import Engine

from casset_rights.anchoring import chain as chain_module
from casset_rights.anchoring.chain import EMBEDDED_CHAIN_ID
from casset_rights.anchoring.errors import ChainMisconfigured, ChainUnavailable
from casset_rights.anchoring.job import Anchorer
from casset_rights.anchoring.rpc import JsonRpcChain, deploy_anchor_contract
from casset_rights.anchoring.verify import verify_anchor
from casset_rights.log import LeafInput, TransparencyLog

CHAIN_ID = EMBEDDED_CHAIN_ID  # the double is an eth-tester chain


def _funded_key_file(double: EthRpcDouble, folder: Path) -> Path:
    account = Account.create()
    double.w3.eth.send_transaction({"from": double.w3.eth.accounts[0], "to": account.address,
                                    "value": 10**19})
    path = folder / "anchor.key"
    path.touch(mode=0o600)
    path.write_text(account.key.to_0x_hex() + "\n")
    return path


@pytest.fixture
def key_file(rpc_double: EthRpcDouble, tmp_path: Path) -> Path:
    return _funded_key_file(rpc_double, tmp_path)


@pytest.fixture
def address(rpc_double: EthRpcDouble, key_file: Path) -> str:
    return deploy_anchor_contract(rpc_double.url, chain_id=CHAIN_ID, key_file=key_file)


@pytest.fixture
def rpc_chain(rpc_double: EthRpcDouble, key_file: Path, address: str) -> JsonRpcChain:
    return JsonRpcChain(rpc_double.url, chain_id=CHAIN_ID, contract_address=address,
                        key_file=key_file)


def _checkpoint(log: TransparencyLog, n: int = 6) -> None:
    log.append_many([LeafInput("receipt", f"r{i}", f"r{i}".encode()) for i in range(n)])
    log.checkpoint_now()


def test_anchor_and_verify_over_json_rpc(engine: Engine, log: TransparencyLog,
                                         rpc_chain: JsonRpcChain, rpc_double: EthRpcDouble,
                                         address: str) -> None:
    _checkpoint(log)
    record = Anchorer(engine, rpc_chain, poll_seconds=0.05).anchor_latest(log)
    assert record is not None and record.status == "confirmed"
    assert "eth_sendRawTransaction" in rpc_double.requests
    verifier = JsonRpcChain(rpc_double.url, chain_id=CHAIN_ID, contract_address=address)
    verify_anchor(record.proof(), verifier)


def test_recovery_over_json_rpc_does_not_send_twice(engine: Engine, log: TransparencyLog,
                                                    rpc_chain: JsonRpcChain) -> None:
    _checkpoint(log)
    cp = log.latest_checkpoint()
    assert cp is not None
    intent = Anchorer(engine, rpc_chain).record_intent(cp.root, cp.tree_size)
    rpc_chain.broadcast(intent.raw_tx)  # sent, then the process died
    nonce = rpc_chain.confirmed_nonce()
    record = Anchorer(engine, rpc_chain).anchor_latest(log)
    assert record is not None and record.status == "confirmed"
    assert record.tx_hash == intent.tx_hash and rpc_chain.confirmed_nonce() == nonce


def test_event_search_goes_in_narrow_windows(rpc_chain: JsonRpcChain, rpc_double: EthRpcDouble,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    signed = rpc_chain.sign_anchor(b"\x42" * 32, 42)
    rpc_chain.broadcast(signed.raw)
    head = rpc_chain.head()
    monkeypatch.setattr(chain_module, "LOG_WINDOW_BLOCKS", 2)
    before = rpc_double.requests.count("eth_getLogs")
    start = max(head - 5, 0)
    events = rpc_chain.anchored_events(b"\x42" * 32, from_block=start, to_block=head)
    assert [(e.tree_size, e.tx_hash) for e in events] == [(42, signed.tx_hash)]
    windows = (head - start) // 2 + 1  # ceil((head - start + 1) / 2)
    assert rpc_double.requests.count("eth_getLogs") - before == windows > 1
    assert rpc_chain.anchored_events(b"\x43" * 32, from_block=start, to_block=head) == []


def test_only_the_owner_may_anchor(rpc_double: EthRpcDouble, address: str,
                                   tmp_path: Path) -> None:
    stranger = JsonRpcChain(rpc_double.url, chain_id=CHAIN_ID, contract_address=address,
                            key_file=_funded_key_file(rpc_double, tmp_path))
    with pytest.raises(ChainMisconfigured, match="only its owner may anchor"):
        stranger.sign_anchor(b"\x01" * 32, 1)


def test_another_chain_is_refused_before_anything_is_sent(rpc_double: EthRpcDouble,
                                                          address: str) -> None:
    base = JsonRpcChain.base(rpc_double.url, contract_address=address)
    with pytest.raises(ChainMisconfigured, match="not base \\(id 8453\\)"):
        base.head()
    sepolia = JsonRpcChain.base_sepolia(rpc_double.url, contract_address=address)
    with pytest.raises(ChainMisconfigured, match="not base-sepolia"):
        sepolia.head()


def test_an_address_without_the_contract_is_refused(rpc_double: EthRpcDouble) -> None:
    chain = JsonRpcChain(rpc_double.url, chain_id=CHAIN_ID, contract_address="0x" + "12" * 20)
    with pytest.raises(ChainMisconfigured, match="no contract"):
        chain.head()


def test_a_missing_key_file_is_refused(rpc_double: EthRpcDouble, tmp_path: Path) -> None:
    with pytest.raises(ChainMisconfigured, match="cannot read a private key"):
        JsonRpcChain(rpc_double.url, chain_id=CHAIN_ID, contract_address="0x" + "12" * 20,
                     key_file=tmp_path / "absent.key")


def test_an_unreachable_endpoint_is_unavailable(key_file: Path) -> None:
    chain = JsonRpcChain("http://127.0.0.1:9", chain_id=CHAIN_ID,
                         contract_address="0x" + "12" * 20, key_file=key_file)
    with pytest.raises(ChainUnavailable):
        chain.sign_anchor(b"\x01" * 32, 1)
    with pytest.raises(ChainUnavailable):
        deploy_anchor_contract("http://127.0.0.1:9", chain_id=CHAIN_ID, key_file=key_file)


def test_preparing_an_unreachable_chain_is_logged_not_raised(
        engine: Engine, key_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A server prepares its chain before it serves (``AnchorService.prepare``): an RPC
    endpoint that does not answer then is logged, and the server starts anyway."""
    from casset_rights.anchoring.service import AnchorService

    service = AnchorService(engine, chain="base-sepolia", rpc_url="http://127.0.0.1:9",
                            key_file=key_file, contract_address="0x" + "12" * 20)
    with caplog.at_level("ERROR", logger="casset_rights.anchoring"):
        service.prepare()
    assert "chain is not ready" in caplog.text
