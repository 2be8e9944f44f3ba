"""``AnchorService``: the configured chain, the anchoring job on it, and the anchors read back.

The chain is made on first use, so a process that never anchors never loads web3 (a couple
of seconds of imports): the HTTP service makes it on its first anchoring run, the
``anchor`` command at once. ``chain = "none"`` disables anchoring: no chain is ever made
and ``anchor_latest`` answers None.

The embedded chain warns when made (``EmbeddedChainWarning``); here that warning is
expected, so it goes to the log instead of the warnings machinery.
"""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import Engine, select

from casset_rights.anchoring.tables import anchors
from casset_rights.errors import InvalidInput

if TYPE_CHECKING:
    from casset_rights.anchoring.chain import AnchorChain
    from casset_rights.anchoring.job import Anchorer
    from casset_rights.anchoring.records import AnchorRecord
    from casset_rights.config import Settings
    from casset_rights.log.service import TransparencyLog

logger = logging.getLogger("casset_rights.anchoring")

ChainChoice = Literal["embedded", "base", "base-sepolia", "none"]
# The chain ids of Base, known without loading web3 (casset_rights.anchoring.chain has them too).
EXPECTED_CHAIN_IDS = {"base": 8453, "base-sepolia": 84532}


class AnchorService:
    """Anchors log roots on the configured chain and answers which anchors exist.

    Raises InvalidInput when made for Base or Base Sepolia without an RPC URL, a contract
    address and a key file.
    """

    def __init__(self, engine: Engine, *, chain: ChainChoice = "embedded",
                 rpc_url: str | None = None, key_file: Path | None = None,
                 contract_address: str | None = None, wait_seconds: float = 30.0) -> None:
        if chain in EXPECTED_CHAIN_IDS:
            missing = [name for name, value in (("CASSET_CHAIN_RPC_URL", rpc_url),
                                                ("CASSET_CHAIN_CONTRACT_ADDRESS",
                                                 contract_address),
                                                ("CASSET_CHAIN_KEY_FILE", key_file))
                       if not value]
            if missing:
                raise InvalidInput(f"anchoring on {chain} needs {', '.join(missing)}")
        self._engine = engine
        self.choice = chain
        self._rpc_url = rpc_url
        self._key_file = key_file
        self._contract_address = contract_address
        self._wait = wait_seconds
        self._lock = threading.Lock()
        self._chain: AnchorChain | None = None
        self._anchorer: Anchorer | None = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> AnchorService:
        return cls(engine, chain=settings.chain, rpc_url=settings.chain_rpc_url,
                   key_file=settings.chain_key_file,
                   contract_address=settings.chain_contract_address)

    @property
    def enabled(self) -> bool:
        return self.choice != "none"

    @property
    def chain(self) -> AnchorChain:
        """The chain, made on first use. Raises InvalidInput when anchoring is disabled."""
        with self._lock:
            if self._chain is None:
                self._chain = self._make_chain()
            return self._chain

    @property
    def anchorer(self) -> Anchorer:
        from casset_rights.anchoring.job import Anchorer

        chain = self.chain
        with self._lock:
            if self._anchorer is None:
                self._anchorer = Anchorer(self._engine, chain, wait_seconds=self._wait)
            return self._anchorer

    def prepare(self) -> None:
        """Make the chain and get it ready to anchor (the embedded chain deploys its
        contract), now rather than at the first anchor: a server calls this before it
        serves. Loading web3 and deploying cost about 1.3 s of CPU, which a first anchor
        a minute into serving took from the requests. A chain that cannot be reached is
        logged, and the anchoring job tries again on its schedule."""
        if not self.enabled:
            return
        try:
            self.anchorer  # noqa: B018 -- makes the chain (imports web3) and the job
            self.chain.head()  # the embedded chain deploys on first use; RPC: one call
        except Exception:
            logger.exception("the %s chain is not ready; anchoring tries again on its "
                             "schedule", self.choice)

    def anchor_latest(self, log: TransparencyLog) -> AnchorRecord | None:
        """One run of the anchoring job (see ``Anchorer.anchor_latest``); None when disabled
        or when there is nothing to anchor. Raises ChainUnavailable, ChainMisconfigured."""
        if not self.enabled:
            return None
        return self.anchorer.anchor_latest(log)

    def target(self) -> tuple[int, str] | None:
        """(chain id, contract address) of the anchors this service can stand behind now,
        or None when there are none yet: anchoring disabled, or the embedded chain not
        made yet (anchors of another process's embedded chain cannot be verified here)."""
        if not self.enabled or (self.choice == "embedded" and self._chain is None):
            return None
        chain = self.chain
        chain_id = EXPECTED_CHAIN_IDS.get(self.choice)
        # For Base the expected id is known; asking the endpoint would cost a round trip.
        return (chain_id if chain_id is not None else chain.chain_id), chain.contract_address

    # --- reading the anchors table -----------------------------------------------------------

    def recent(self, limit: int = 20) -> list[AnchorRecord]:
        """The newest anchor records on any chain, newest first, whatever their status."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(anchors).order_by(anchors.c.id.desc()).limit(limit)).all()
        if not rows:
            return []  # and web3 stays unloaded
        from casset_rights.anchoring.records import AnchorRecord

        return [AnchorRecord.from_row(row) for row in rows]

    def covering(self, leaf_index: int) -> AnchorRecord | None:
        """The confirmed anchor of the largest tree that holds leaf ``leaf_index``, on the
        chain and contract of ``target()``; None when there is none."""
        target = self.target()
        if target is None:
            return None
        from casset_rights.anchoring.records import AnchorRecord

        chain_id, contract_address = target
        with self._engine.connect() as conn:
            row = conn.execute(
                select(anchors)
                .where(anchors.c.chain_id == chain_id,
                       anchors.c.contract_address == contract_address,
                       anchors.c.status == "confirmed", anchors.c.tree_size > leaf_index)
                .order_by(anchors.c.tree_size.desc()).limit(1)).first()
        return None if row is None else AnchorRecord.from_row(row)

    # --- making the chain ----------------------------------------------------------------------

    def _make_chain(self) -> AnchorChain:
        if not self.enabled:
            raise InvalidInput("anchoring is disabled (chain = none)")
        if self.choice == "embedded":
            from casset_rights.anchoring.embedded import EmbeddedChain, EmbeddedChainWarning

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", EmbeddedChainWarning)
                chain = EmbeddedChain()
            for warning in caught:
                logger.warning("%s", warning.message)
            return chain
        from casset_rights.anchoring.rpc import JsonRpcChain

        assert self._rpc_url and self._contract_address  # checked in __init__
        make = JsonRpcChain.base if self.choice == "base" else JsonRpcChain.base_sepolia
        return make(self._rpc_url, contract_address=self._contract_address,
                    key_file=self._key_file)
