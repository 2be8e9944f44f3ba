"""x402 over JSON-RPC, the production path (Base / Base Sepolia): the service is set up
as in production (CASSET_X402_NETWORK, _RPC_URL, _KEY_FILE, _ASSET, _PAY_TO) and settles
through the ``x402`` facilitator's HTTP provider against a local JSON-RPC server that
speaks the Ethereum wire format (tests/chain_double), with TestUSDC deployed on it. The
artist who has a payout address (CASSET_X402_ARTIST_PAY_TO) is paid directly."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import HTTPProvider, Web3

from casset_rights.agents.x402pay import USDC, USDC_DOMAIN, JsonRpcDollarChain, demo_wallet
from casset_rights.agents.x402pay import usdc_artifact as artifact
from casset_rights.config import settings_from_env
from casset_rights.errors import InvalidInput
from tests.api.test_x402 import PRICE_UNITS, _pay, _quote, _required, _sign
from tests.chain_double import serve_chain


@dataclass
class Chain:
    url: str
    network: str
    usdc: str
    key_file: Path
    platform: str
    artist: str

    def balance(self, address: str) -> int:
        w3 = Web3(HTTPProvider(self.url))  # read back over the wire, as anyone would
        token = w3.eth.contract(address=self.usdc, abi=artifact()["abi"])
        return int(token.functions.balanceOf(address).call())


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[Chain]:
    with serve_chain() as (url, provider):
        w3 = Web3(provider)
        rich = w3.eth.accounts[0]
        contract = w3.eth.contract(abi=artifact()["abi"], bytecode=artifact()["bytecode"])
        usdc = w3.eth.wait_for_transaction_receipt(
            contract.constructor().transact({"from": rich}))["contractAddress"]
        token = w3.eth.contract(address=usdc, abi=artifact()["abi"])
        buyer = demo_wallet(tmp_path / "data").address
        w3.eth.wait_for_transaction_receipt(
            token.functions.mint(buyer, 10 * PRICE_UNITS).transact({"from": rich}))
        operator = Account.create()  # sends the settlements: needs gas money
        w3.eth.send_transaction({"from": rich, "to": operator.address, "value": 10**19})
        key_file = tmp_path / "x402.key"
        key_file.write_text(operator.key.hex() + "\n")
        yield Chain(url=url, network=f"eip155:{w3.eth.chain_id}", usdc=usdc,
                    key_file=key_file, platform=Account.create().address,
                    artist=Account.create().address)


@pytest.fixture
def settings(tmp_path: Path, chain: Chain):  # type: ignore[no-untyped-def]
    return settings_from_env({
        "CASSET_X402_NETWORK": chain.network, "CASSET_X402_RPC_URL": chain.url,
        "CASSET_X402_KEY_FILE": str(chain.key_file), "CASSET_X402_ASSET": chain.usdc,
        "CASSET_X402_PAY_TO": chain.platform,
        "CASSET_X402_ARTIST_PAY_TO": f"nightglass={chain.artist}",
    }, data_dir=tmp_path / "data", load_examples=True, issuer="http://rights.test")


def test_a_payment_settles_over_json_rpc_to_the_artist(oauth: Any, services: Any,
                                                       chain: Chain) -> None:
    agent = oauth.agent()
    headers = oauth.bearer(oauth.token(agent))
    quote_id = _quote(oauth, headers)  # a remix of a Nightglass hook
    required = _required(oauth, headers, quote_id)
    (offer,) = required.accepts
    assert offer.network == chain.network and offer.asset == chain.usdc
    assert offer.pay_to == chain.artist  # the artist's own payout address
    assert services.x402.payee("the-ferrymen") == chain.platform  # no address: platform's
    signature = _sign(services, required)
    paid = _pay(oauth, headers, quote_id, signature)
    assert paid.status_code == 201, paid.text
    transaction = paid.json()["transaction"]
    assert chain.balance(chain.artist) == PRICE_UNITS
    assert chain.balance(chain.platform) == 0
    mined = Web3(HTTPProvider(chain.url)).eth.get_transaction_receipt(transaction)
    assert mined["status"] == 1 and mined["to"] == chain.usdc
    receipt = oauth.http.get(f"/v1/receipts/{paid.json()['license']['receipt_id']}").json()
    payment = receipt["payload"]["payment"]
    assert payment["transaction"] == transaction and payment["pay_to"] == chain.artist
    # A replay settles nothing twice.
    again = _pay(oauth, headers, quote_id, signature)
    assert again.status_code == 409, again.text
    other = _quote(oauth, headers)
    replayed = _pay(oauth, headers, other, signature)
    assert replayed.status_code == 402, replayed.text
    assert chain.balance(chain.artist) == PRICE_UNITS


def test_payout_addresses_must_be_eip55(tmp_path: Path) -> None:
    from casset_rights.agents.x402pay import open_x402

    good = Account.create().address
    for bad in (good.lower(), good[:-1], "nightglass", "0x" + "g" * 40):
        for env in ({"CASSET_X402_PAY_TO": bad},
                    {"CASSET_X402_ARTIST_PAY_TO": f"nightglass={bad}"}):
            settings = settings_from_env(env, data_dir=tmp_path)
            with pytest.raises(InvalidInput, match="EIP-55"):
                open_x402(settings, licenses=None)
    with pytest.raises(InvalidInput, match="CASSET_X402_ARTIST_PAY_TO"):
        settings_from_env({"CASSET_X402_ARTIST_PAY_TO": "nightglass"}, data_dir=tmp_path)
    settings = settings_from_env({"CASSET_X402_ARTIST_PAY_TO": f" nightglass = {good} ,"},
                                 data_dir=tmp_path)
    assert settings.x402_artist_pay_to == {"nightglass": good}


def test_base_and_base_sepolia_use_circles_usdc() -> None:
    for network in ("eip155:8453", "eip155:84532"):
        base = JsonRpcDollarChain(network=network, rpc_url="http://127.0.0.1:9", key="0x1")
        assert base.asset == USDC[network] and base.domain == USDC_DOMAIN[network]
        assert Web3.is_checksum_address(base.asset)
    with pytest.raises(InvalidInput, match="CASSET_X402_ASSET"):
        JsonRpcDollarChain(network="eip155:1", rpc_url="http://127.0.0.1:9", key="0x1")
