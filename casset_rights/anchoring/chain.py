"""The chain anchors are written to: the ``AnchorChain`` protocol and its web3 core.

Two implementations share ``Web3AnchorChain``: ``EmbeddedChain`` (an in-process
eth-tester chain, the default needing no set-up) and ``JsonRpcChain`` (Base or Base Sepolia
over JSON-RPC). Transactions are signed locally and broadcast raw, so the anchoring job
knows a transaction's hash and nonce before it is sent (see ``casset_rights.anchoring.job``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import msgspec
import requests
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import (
    ContractCustomError,
    ContractLogicError,
    TimeExhausted,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import Nonce, TxParams

from casset_rights.anchoring import contract
from casset_rights.anchoring.errors import ChainMisconfigured, ChainUnavailable

BASE_MAINNET = 8453
BASE_SEPOLIA = 84532
EMBEDDED_CHAIN_ID = 131277322940537  # eth-tester's chain id
CHAIN_NAMES = {BASE_MAINNET: "base", BASE_SEPOLIA: "base-sepolia", EMBEDDED_CHAIN_ID: "embedded"}
# Public RPC providers refuse eth_getLogs over wide ranges; event searches go in windows.
LOG_WINDOW_BLOCKS = 2_000


def chain_name(chain_id: int) -> str:
    """``base``, ``base-sepolia``, ``embedded`` or ``chain <id>``."""
    return CHAIN_NAMES.get(chain_id, f"chain {chain_id}")


class AnchoredEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One ``Anchored(root, treeSize)`` log of the anchor contract."""

    root: bytes
    tree_size: int
    contract_address: str
    tx_hash: str
    block_number: int


class TxOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """A mined transaction: whether it succeeded and the anchor events it emitted."""

    tx_hash: str
    block_number: int
    success: bool
    gas_used: int
    events: tuple[AnchoredEvent, ...]


class SignedAnchor(msgspec.Struct, frozen=True, kw_only=True):
    """An ``anchor(root, treeSize)`` transaction, signed and not yet sent."""

    tx_hash: str
    nonce: int
    sender: str
    raw: bytes


class AnchorChain(Protocol):
    """What the anchoring job and ``verify_anchor`` need from a chain.

    Every method raises ChainUnavailable when the chain cannot be reached.
    """

    @property
    def chain_id(self) -> int: ...

    @property
    def contract_address(self) -> str: ...

    def head(self) -> int:
        """The newest block number."""
        ...

    def sign_anchor(self, root: bytes, tree_size: int, *, nonce: int | None = None
                    ) -> SignedAnchor:
        """Sign an anchor transaction (next pending nonce unless given). Raises
        ChainMisconfigured when the contract would refuse it (e.g. the key is not its owner)."""
        ...

    def broadcast(self, raw: bytes) -> str:
        """Send a signed transaction; returns its hash. Sending the same bytes again is
        harmless: a transaction the node already has or has mined is not an error."""
        ...

    def outcome(self, tx_hash: str) -> TxOutcome | None:
        """The mined transaction, or None when the chain does not have it (yet)."""
        ...

    def confirmed_nonce(self) -> int:
        """How many transactions of the signing account are mined (its next nonce)."""
        ...

    def anchored_events(self, root: bytes, *, from_block: int, to_block: int
                        ) -> list[AnchoredEvent]:
        """``Anchored`` events for ``root`` from this contract in a block range."""
        ...


class Web3AnchorChain:
    """``AnchorChain`` over a ``Web3`` and a local signing account."""

    # What a refused call (a revert while estimating gas) raises through this provider.
    _revert_errors: tuple[type[Exception], ...] = (ContractCustomError, ContractLogicError)

    def __init__(self, w3: Web3, account: LocalAccount | None, contract_address: str) -> None:
        self._w3 = w3
        self._account = account
        self._address = Web3.to_checksum_address(contract_address)
        self._contract: Contract = w3.eth.contract(address=self._address, abi=contract.abi())
        self._chain_id: int | None = None

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            with _reachable():
                self._chain_id = int(self._w3.eth.chain_id)
        return self._chain_id

    def _prepare(self) -> None:
        """Called before each use: checks or sets up the chain once (subclasses)."""

    @property
    def contract_address(self) -> str:
        return self._address

    def head(self) -> int:
        self._prepare()
        with _reachable():
            return int(self._w3.eth.block_number)

    def sign_anchor(self, root: bytes, tree_size: int, *, nonce: int | None = None
                    ) -> SignedAnchor:
        self._prepare()
        account = self._signer()
        with _reachable():
            if nonce is None:
                nonce = self._w3.eth.get_transaction_count(account.address, "pending")
            try:
                params: TxParams = {"from": account.address, "nonce": Nonce(nonce),
                                    "chainId": self.chain_id}
                tx = self._contract.functions.anchor(root, tree_size).build_transaction(params)
            except self._revert_errors as exc:
                raise ChainMisconfigured(
                    f"the anchor contract {self._address} on {chain_name(self.chain_id)} refuses "
                    f"anchors from {account.address} (only its owner may anchor): {exc}"
                ) from None
        # eth-account types a transaction as a plain dict, web3 builds a TxParams TypedDict.
        signed = account.sign_transaction(tx)  # type: ignore[arg-type]
        return SignedAnchor(tx_hash=signed.hash.to_0x_hex(), nonce=nonce,
                            sender=account.address, raw=bytes(signed.raw_transaction))

    def broadcast(self, raw: bytes) -> str:
        self._prepare()
        tx_hash = Web3.keccak(raw).to_0x_hex()
        if self.outcome(tx_hash) is not None:
            return tx_hash  # mined already: sending again would only be refused
        with _reachable():
            try:
                return self._w3.eth.send_raw_transaction(raw).to_0x_hex()
            except Web3RPCError as exc:
                message = str(exc).lower()
                # A node that holds it pending says "already known" (geth) or "known
                # transaction"; the caller settles it by its hash like any sent transaction.
                if "already known" in message or "known transaction" in message:
                    return tx_hash
                raise

    def outcome(self, tx_hash: str) -> TxOutcome | None:
        self._prepare()
        with _reachable():
            try:
                receipt = self._w3.eth.get_transaction_receipt(HexStr(tx_hash))
            except TransactionNotFound:
                return None
            if receipt is None or receipt.get("blockNumber") is None:
                return None
            events = tuple(self._event(log) for log in receipt["logs"] if self._is_anchored(log))
            return TxOutcome(tx_hash=receipt["transactionHash"].to_0x_hex(),
                             block_number=int(receipt["blockNumber"]),
                             success=receipt["status"] == 1, gas_used=int(receipt["gasUsed"]),
                             events=events)

    def confirmed_nonce(self) -> int:
        self._prepare()
        with _reachable():
            return int(self._w3.eth.get_transaction_count(self._signer().address, "latest"))

    def anchored_events(self, root: bytes, *, from_block: int, to_block: int
                        ) -> list[AnchoredEvent]:
        self._prepare()
        found: list[AnchoredEvent] = []
        start = max(from_block, 0)
        with _reachable():
            while start <= to_block:
                end = min(start + LOG_WINDOW_BLOCKS - 1, to_block)
                logs = self._w3.eth.get_logs({
                    "address": self._address, "fromBlock": start, "toBlock": end,
                    "topics": [contract.ANCHORED_TOPIC, "0x" + root.hex()],
                })
                found += [self._event(log) for log in logs if self._is_anchored(log)]
                start = end + 1
        return found

    def _signer(self) -> LocalAccount:
        if self._account is None:
            raise ChainMisconfigured("this chain has no signing key: it can verify, not anchor")
        return self._account

    def _is_anchored(self, log: Any) -> bool:
        topics = log["topics"]
        return (Web3.to_checksum_address(log["address"]) == self._address and len(topics) == 2
                and topics[0].to_0x_hex() == contract.ANCHORED_TOPIC)

    def _event(self, log: Any) -> AnchoredEvent:
        data = bytes(log["data"])
        return AnchoredEvent(root=bytes(log["topics"][1]), tree_size=int.from_bytes(data[:32]),
                             contract_address=self._address,
                             tx_hash=log["transactionHash"].to_0x_hex(),
                             block_number=int(log["blockNumber"]))


@contextmanager
def _reachable() -> Iterator[None]:
    """Turn transport failures into ChainUnavailable; JSON-RPC errors pass through."""
    try:
        yield
    except (requests.RequestException, OSError, TimeExhausted) as exc:
        raise ChainUnavailable(f"the chain cannot be reached: {exc}") from None
