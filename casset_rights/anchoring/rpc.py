"""Base (chain id 8453) and Base Sepolia (84532) over JSON-RPC: the production chain.

The signing key is a file holding the account's hex private key (``0x…``), readable by the
service only; transactions are signed in process and sent raw, so any JSON-RPC endpoint
works (a provider's, or a node of one's own). On first use the endpoint's chain id is
compared with the one configured and the contract's code is looked for at the address, so
a wrong URL or address is refused before anything is sent.
"""

from __future__ import annotations

import threading
from pathlib import Path

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import HTTPProvider, Web3
from web3.providers.rpc.utils import ExceptionRetryConfiguration

from casset_rights.anchoring import contract
from casset_rights.anchoring.chain import (
    BASE_MAINNET,
    BASE_SEPOLIA,
    Web3AnchorChain,
    _reachable,
    chain_name,
)
from casset_rights.anchoring.errors import ChainMisconfigured

# One retry on a dropped connection, then ChainUnavailable: the anchoring job runs again on
# its own schedule, and a verifier would rather hear "unreachable" than wait.
RETRY = ExceptionRetryConfiguration(
    errors=(ConnectionError, requests.HTTPError, requests.Timeout), retries=1, backoff_factor=0.2)
TIMEOUT_SECONDS = 10


def read_key_file(path: Path) -> LocalAccount:
    """The account of a file holding a hex private key. Raises ChainMisconfigured when the
    file is missing or does not hold one."""
    try:
        account: LocalAccount = Account.from_key(path.read_text().strip())
        return account
    except (OSError, ValueError) as exc:
        raise ChainMisconfigured(f"cannot read a private key from {path}: {exc}") from None


def _web3(rpc_url: str) -> Web3:
    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": TIMEOUT_SECONDS},
                             exception_retry_configuration=RETRY))


class JsonRpcChain(Web3AnchorChain):
    """The anchor contract at ``contract_address`` on the chain behind ``rpc_url``.

    ``key_file`` may be None for a verify-only chain. ``chain_id`` is the chain expected
    (``BASE_MAINNET`` or ``BASE_SEPOLIA`` in production).
    """

    def __init__(self, rpc_url: str, *, chain_id: int, contract_address: str,
                 key_file: Path | None = None) -> None:
        account = read_key_file(key_file) if key_file is not None else None
        super().__init__(_web3(rpc_url), account, contract_address)
        self._expected_chain_id = chain_id
        self._checked = False
        self._lock = threading.Lock()

    @classmethod
    def base(cls, rpc_url: str, *, contract_address: str,
             key_file: Path | None = None) -> JsonRpcChain:
        return cls(rpc_url, chain_id=BASE_MAINNET, contract_address=contract_address,
                   key_file=key_file)

    @classmethod
    def base_sepolia(cls, rpc_url: str, *, contract_address: str,
                     key_file: Path | None = None) -> JsonRpcChain:
        return cls(rpc_url, chain_id=BASE_SEPOLIA, contract_address=contract_address,
                   key_file=key_file)

    def _prepare(self) -> None:
        with self._lock:
            if self._checked:
                return
            with _reachable():
                actual = int(self._w3.eth.chain_id)
                if actual != self._expected_chain_id:
                    raise ChainMisconfigured(
                        f"the RPC endpoint serves {chain_name(actual)} (id {actual}), not "
                        f"{chain_name(self._expected_chain_id)} (id {self._expected_chain_id})")
                if not self._w3.eth.get_code(self._address):
                    raise ChainMisconfigured(
                        f"no contract at {self.contract_address} on {chain_name(actual)}")
            self._chain_id = actual
            self._checked = True


def deploy_anchor_contract(rpc_url: str, *, chain_id: int, key_file: Path,
                           timeout_seconds: float = 120) -> str:
    """Deploy ``CassetAnchor`` with the key in ``key_file`` (which becomes its owner) and
    wait for it to be mined; returns the contract address. Raises ChainMisconfigured when the
    endpoint serves another chain, ChainUnavailable when it cannot be reached."""
    account = read_key_file(key_file)
    w3 = _web3(rpc_url)
    with _reachable():
        actual = int(w3.eth.chain_id)
        if actual != chain_id:
            raise ChainMisconfigured(f"the RPC endpoint serves chain {actual}, not {chain_id}")
        tx = w3.eth.contract(abi=contract.abi(), bytecode=contract.bytecode()).constructor() \
            .build_transaction({"from": account.address, "chainId": chain_id,
                                "nonce": w3.eth.get_transaction_count(account.address,
                                                                      "pending")})
        signed = account.sign_transaction(tx)
        w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = w3.eth.wait_for_transaction_receipt(signed.hash, timeout=timeout_seconds,
                                                      poll_latency=0.5)
    if receipt["status"] != 1 or not receipt["contractAddress"]:
        raise ChainMisconfigured(f"the deployment transaction {signed.hash.to_0x_hex()} failed")
    return str(receipt["contractAddress"])
