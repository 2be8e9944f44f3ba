"""The embedded chain's test dollar: compiled from the source in the repository, and
EIP-3009 as USDC has it (the replay, expiry and signature checks happen on chain)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from casset_rights.agents.x402pay import EmbeddedDollarChain, usdc_artifact

ROOT = Path(__file__).resolve().parents[3]


def test_the_artifact_was_compiled_from_the_source_in_the_repository() -> None:
    source = (ROOT / "contracts" / "TestUSDC.sol").read_bytes()
    artifact = usdc_artifact()
    assert artifact["sourceSha256"] == hashlib.sha256(source).hexdigest(), (
        "contracts/TestUSDC.sol changed: cd scripts && npm install && node compile_contract.mjs")
    names = {f["name"] for f in artifact["abi"] if f["type"] == "function"}
    assert {"transferWithAuthorization", "authorizationState", "balanceOf", "name",
            "version", "DOMAIN_SEPARATOR", "mint"} <= names


def _authorize(chain: EmbeddedDollarChain, payer: object, to: str, value: int, *,
               valid_before: int, nonce: bytes) -> bytes:
    message = {"from": payer.address, "to": to, "value": value, "validAfter": 0,  # type: ignore[attr-defined]
               "validBefore": valid_before, "nonce": nonce}
    domain = {"name": "USD Coin", "version": "2", "chainId": chain.w3.eth.chain_id,
              "verifyingContract": chain.asset}
    types = {"TransferWithAuthorization": [
        {"name": "from", "type": "address"}, {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"}, {"name": "validAfter", "type": "uint256"},
        {"name": "validBefore", "type": "uint256"}, {"name": "nonce", "type": "bytes32"}]}
    signed = payer.sign_message(encode_typed_data(domain, types, message))  # type: ignore[attr-defined]
    return bytes(signed.signature)


@pytest.mark.slow
def test_transfer_with_authorization_once_and_only_once() -> None:
    payer, payee = Account.create(), Account.create()
    chain = EmbeddedDollarChain(fund=(payer.address,))
    sender = chain.w3.eth.accounts[1]
    later = chain.w3.eth.get_block("latest")["timestamp"] + 600
    nonce = b"\x01" * 32
    signature = _authorize(chain, payer, payee.address, 5, valid_before=later, nonce=nonce)
    transfer = chain.token.get_function_by_signature(
        "transferWithAuthorization(address,address,uint256,uint256,uint256,bytes32,bytes)")
    args = (payer.address, payee.address, 5, 0, later, nonce, signature)
    chain.w3.eth.wait_for_transaction_receipt(transfer(*args).transact({"from": sender}))
    assert chain.balance(payee.address) == 5
    assert chain.token.functions.authorizationState(payer.address, nonce).call()
    with pytest.raises(Exception, match="authorization is used"):
        transfer(*args).transact({"from": sender})
    # Another amount than signed, or an expired authorization: refused.
    other = b"\x02" * 32
    signed = _authorize(chain, payer, payee.address, 5, valid_before=later, nonce=other)
    with pytest.raises(Exception, match="invalid signature"):
        transfer(payer.address, payee.address, 6, 0, later, other, signed).transact(
            {"from": sender})
    past = chain.w3.eth.get_block("latest")["timestamp"] - 1
    expired = _authorize(chain, payer, payee.address, 5, valid_before=past, nonce=other)
    with pytest.raises(Exception, match="expired"):
        transfer(payer.address, payee.address, 5, 0, past, other, expired).transact(
            {"from": sender})
    assert chain.balance(payee.address) == 5
