"""The embedded default chain: an in-process Ethereum (eth-tester with py-evm).

Nothing to set up and nothing leaves the process: the contract is deployed on first use by a
fresh account funded from eth-tester's pre-funded ones, and every transaction is mined at
once (about 20 ms). The chain lives as long as the process: anchors recorded on it cannot
be verified after a restart (``verify_anchor`` then says the transaction is missing), and a
restarted service anchors on a new contract. Use Base Sepolia to try real anchors.
"""

from __future__ import annotations

import threading
import warnings

import rlp
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester.exceptions import TransactionFailed
from web3 import EthereumTesterProvider, Web3
from web3.types import Wei

from casset_rights.anchoring import contract
from casset_rights.anchoring.chain import Web3AnchorChain

FUNDING_WEI = 10**20


class EmbeddedChainWarning(UserWarning):
    """Anchors are being written to a chain that ends with the process."""


class EmbeddedChain(Web3AnchorChain):
    """An in-process chain with the anchor contract deployed on first use.

    Warns (``EmbeddedChainWarning``) when made. ``w3`` lets tests share one eth-tester
    chain between several contracts (each ``EmbeddedChain`` deploys its own); by default
    each instance has a chain of its own.
    """

    # In process, a revert surfaces as eth-tester's own error rather than a JSON-RPC one.
    _revert_errors = (*Web3AnchorChain._revert_errors, TransactionFailed)

    def __init__(self, w3: Web3 | None = None) -> None:
        warnings.warn("anchoring on the embedded in-process chain: anchors do not outlive "
                      "this process (configure Base or Base Sepolia for real anchors)",
                      EmbeddedChainWarning, stacklevel=2)
        tester = w3 or Web3(EthereumTesterProvider())
        deployer: LocalAccount = Account.create()
        # A fresh account deploys with nonce 0, so the address is known before deploying.
        super().__init__(tester, deployer, _create_address(deployer.address, 0))
        self._deployed = False
        self._lock = threading.Lock()

    def _prepare(self) -> None:
        with self._lock:
            if self._deployed:
                return
            w3, deployer = self._w3, self._signer()
            w3.eth.send_transaction({"from": w3.eth.accounts[0], "to": deployer.address,
                                     "value": Wei(FUNDING_WEI)})
            tx = w3.eth.contract(abi=contract.abi(), bytecode=contract.bytecode()).constructor() \
                .build_transaction({"from": deployer.address, "nonce": 0,
                                    "chainId": w3.eth.chain_id})
            signed = deployer.sign_transaction(tx)
            w3.eth.send_raw_transaction(signed.raw_transaction)
            receipt = w3.eth.get_transaction_receipt(signed.hash)
            if receipt["contractAddress"] != self.contract_address:
                raise RuntimeError("the embedded anchor contract landed at an unexpected address")
            self._deployed = True


def _create_address(sender: str, nonce: int) -> str:
    """The address of the contract that ``sender`` creates with ``nonce`` (CREATE)."""
    raw = Web3.keccak(rlp.encode([bytes.fromhex(sender[2:]), nonce]))
    return Web3.to_checksum_address(raw[-20:])
