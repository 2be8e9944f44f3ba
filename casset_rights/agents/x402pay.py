"""x402 v2 payments for paid license routes (the ``exact`` scheme, USDC, EIP-3009).

``X402Checkout`` turns a quote of a paid route into x402 ``PaymentRequirements`` (the
route's price in USDC, paid to the artist's payout address when the artist has one in
settings, else the platform's, on the configured network)
and a signed ``PAYMENT-SIGNATURE`` payload into a license: the quote and a cap slot are
reserved, the payment verified and settled on chain by the ``x402`` package's facilitator,
then the license granted, its receipt naming the transaction. A payment that fails
verification or settlement gives the reservation back and grants nothing; a replayed
authorization is refused by the token itself (its nonce is spent) and by the used quote.

The chain is a ``DollarChain``: ``EmbeddedDollarChain`` (default; an in-process eth-tester
chain with ``TestUSDC``, compiled from contracts/TestUSDC.sol, and a demo wallet funded on
it) or ``JsonRpcDollarChain`` (Base or Base Sepolia over JSON-RPC, USDC's address from
settings or the known ones).
"""

from __future__ import annotations

import binascii
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec
from pydantic import ValidationError

from casset_rights.db.engine import writing
from casset_rights.errors import InvalidInput, PaymentRefused
from casset_rights.licenses import store
from casset_rights.licenses.errors import QuoteExpired, QuoteUsed
from casset_rights.licenses.payments import Payment
from casset_rights.licenses.service import cap_reached
from casset_rights.principal import Principal

if TYPE_CHECKING:  # eth_account is loaded when a chain or a wallet is first made (it
    # costs about a second at import: py_ecc's pairing tables), not by every process
    from eth_account.signers.local import LocalAccount

USDC_DECIMALS = 6
CENTS_TO_UNITS = 10 ** (USDC_DECIMALS - 2)
# USDC on Base and Base Sepolia (Circle's deployments) and their EIP-712 domains.
USDC = {"eip155:8453": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
        "eip155:84532": "0x036CbD53842c5426634e7929541eC2318f3dCF7e"}
USDC_DOMAIN = {"eip155:8453": ("USD Coin", "2"), "eip155:84532": ("USDC", "2")}
MAX_TIMEOUT_SECONDS = 300
DEMO_FUNDING_UNITS = 1_000 * 10**USDC_DECIMALS
MAX_HEADER = 16 * 1024


class DollarChain(Protocol):
    """Where x402 payments settle: the network, the USDC contract, the EIP-712 domain of
    its ``transferWithAuthorization``, and a facilitator for that network."""

    network: str
    asset: str
    domain: tuple[str, str]

    def facilitator(self) -> Any: ...


@cache
def usdc_artifact() -> dict[str, Any]:
    """The compiled TestUSDC (abi, bytecode), committed with the package."""
    text = resources.files("casset_rights.agents").joinpath("TestUSDC.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


class EmbeddedDollarChain:
    """An in-process chain with TestUSDC deployed and ``fund``-able wallets. It ends with
    the process; nobody outside it can see its payments."""

    domain = ("USD Coin", "2")

    def __init__(self, *, fund: tuple[str, ...] = ()) -> None:
        from eth_account import Account
        from web3 import EthereumTesterProvider, Web3
        from web3.types import Wei

        self.w3 = Web3(EthereumTesterProvider())
        self._lock = threading.RLock()
        self._owner: LocalAccount = Account.create()
        self._operator: LocalAccount = Account.create()  # sends settlements
        rich = self.w3.eth.accounts[0]
        for account in (self._owner, self._operator):
            self.w3.eth.send_transaction({"from": rich, "to": account.address,
                                          "value": Wei(10**20)})
        artifact = usdc_artifact()
        receipt = self._send({"data": artifact["bytecode"]})
        self.asset = str(receipt["contractAddress"])
        self.network = f"eip155:{self.w3.eth.chain_id}"
        self.token = self.w3.eth.contract(address=Web3.to_checksum_address(self.asset),
                                          abi=artifact["abi"])
        for address in fund:
            self.fund(address, DEMO_FUNDING_UNITS)

    def _send(self, tx: dict[str, Any]) -> Any:
        with self._lock:
            w3 = self.w3
            full = {**tx, "from": self._owner.address, "gas": 3_000_000,
                    "nonce": w3.eth.get_transaction_count(self._owner.address),
                    "gasPrice": w3.eth.gas_price, "chainId": w3.eth.chain_id}
            signed = self._owner.sign_transaction(full)
            return w3.eth.wait_for_transaction_receipt(
                w3.eth.send_raw_transaction(signed.raw_transaction))

    def fund(self, address: str, units: int) -> None:
        """Mint ``units`` (millionths of a dollar) of TestUSDC to ``address``."""
        self._send({"to": self.asset, "data": self.token.encode_abi("mint", [address, units])})

    def balance(self, address: str) -> int:
        with self._lock:
            return int(self.token.functions.balanceOf(address).call())

    def facilitator(self) -> Any:
        from x402 import x402FacilitatorSync
        from x402.mechanisms.evm.exact.register import register_exact_evm_facilitator

        facilitator = x402FacilitatorSync()
        register_exact_evm_facilitator(facilitator, _EmbeddedSigner(self._operator, self),
                                       networks=self.network)
        return _Locked(facilitator, self._lock)


def _embedded_signer_class() -> type:
    from x402.mechanisms.evm import FacilitatorWeb3Signer

    class EmbeddedSigner(FacilitatorWeb3Signer):
        """x402's web3 facilitator signer on the in-process chain's Web3."""

        def __init__(self, account: LocalAccount, chain: EmbeddedDollarChain) -> None:
            # The RPC URL is never used: the in-process Web3 replaces the HTTP one.
            super().__init__(private_key=account.key.hex(), rpc_url="http://127.0.0.1:9")
            self._w3 = chain.w3

    return EmbeddedSigner


def _EmbeddedSigner(account: LocalAccount, chain: EmbeddedDollarChain) -> Any:
    return _embedded_signer_class()(account, chain)


class _Locked:
    """The facilitator with every call serialised (eth-tester is not thread-safe)."""

    def __init__(self, facilitator: Any, lock: threading.RLock) -> None:
        self._facilitator = facilitator
        self._lock = lock

    def verify(self, payload: Any, requirements: Any) -> Any:
        with self._lock:
            return self._facilitator.verify(payload, requirements)

    def settle(self, payload: Any, requirements: Any) -> Any:
        with self._lock:
            return self._facilitator.settle(payload, requirements)


class JsonRpcDollarChain:
    """Base or Base Sepolia: USDC at its known (or configured) address, settlements sent
    by ``key`` over ``rpc_url``."""

    def __init__(self, *, network: str, rpc_url: str, key: str,
                 asset: str | None = None) -> None:
        if network not in USDC and asset is None:
            raise InvalidInput(f"no USDC address known for {network}: set CASSET_X402_ASSET")
        self.network = network
        self.asset = asset or USDC[network]
        self.domain = USDC_DOMAIN.get(network, ("USD Coin", "2"))
        self._rpc_url = rpc_url
        self._key = key

    def facilitator(self) -> Any:
        from x402 import x402FacilitatorSync
        from x402.mechanisms.evm import FacilitatorWeb3Signer
        from x402.mechanisms.evm.exact.register import register_exact_evm_facilitator

        facilitator = x402FacilitatorSync()
        register_exact_evm_facilitator(
            facilitator, FacilitatorWeb3Signer(private_key=self._key, rpc_url=self._rpc_url),
            networks=self.network)
        return facilitator


def demo_wallet(data_dir: Path) -> LocalAccount:
    """The demo wallet of a data folder (made on first use, kept in
    ``demo-wallet.key``): the embedded chain funds it with test dollars at start."""
    from eth_account import Account

    path = data_dir / "demo-wallet.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(Account.create().key.hex() + "\n")
        path.chmod(0o600)
    account: LocalAccount = Account.from_key(path.read_text().strip())
    return account


@dataclass
class Paid:
    grant: Any
    settlement: Any  # x402 SettleResponse


class X402Checkout:
    """Paid routes through x402. ``chain`` is made on first use (deploying TestUSDC on
    the embedded chain costs about a second)."""

    def __init__(self, *, licenses: Any, make_chain: Any, pay_to: str | None = None,
                 artist_pay_to: Mapping[str, str] | None = None) -> None:
        self._licenses = licenses
        self._make_chain = make_chain
        self._pay_to = pay_to
        self._artist_pay_to = dict(artist_pay_to or {})
        self._chain: Any = None
        self._facilitator: Any = None
        self._lock = threading.Lock()

    @property
    def chain(self) -> DollarChain:
        with self._lock:
            if self._chain is None:
                self._chain = self._make_chain()
                self._facilitator = self._chain.facilitator()
                if self._pay_to is None:
                    from eth_account import Account

                    self._pay_to = Account.create().address  # the platform's, in process
            return self._chain  # type: ignore[no-any-return]

    @property
    def pay_to(self) -> str:
        """The platform's payout address."""
        _ = self.chain
        return str(self._pay_to)

    def payee(self, artist_id: str) -> str:
        """Who is paid for the artist's routes: their own payout address, else the
        platform's."""
        return self._artist_pay_to.get(artist_id) or self.pay_to

    def requirements(self, quote: Any) -> Any:
        """What paying for ``quote`` takes. Raises InvalidInput for a route that is not
        priced in US dollars."""
        from x402.schemas.payments import PaymentRequirements

        price = quote.route.price
        if quote.route.type != "paid" or price is None or price.currency.lower() != "usd":
            raise InvalidInput(f"route {quote.route.name!r} is not paid in US dollars, so it "
                               "is not offered through x402")
        chain = self.chain
        return PaymentRequirements(
            scheme="exact", network=chain.network, asset=chain.asset,
            amount=str(price.amount * CENTS_TO_UNITS), pay_to=self.payee(quote.artist_id),
            max_timeout_seconds=MAX_TIMEOUT_SECONDS,
            extra={"name": chain.domain[0], "version": chain.domain[1]})

    def payment_required(self, quote: Any, *, url: str, error: str | None = None) -> str:
        """The ``PAYMENT-REQUIRED`` header value for ``quote``."""
        from x402.http.utils import encode_payment_required_header
        from x402.schemas.payments import PaymentRequired, ResourceInfo

        return encode_payment_required_header(PaymentRequired(
            x402_version=2, error=error, accepts=[self.requirements(quote)],
            resource=ResourceInfo(url=url, mime_type="application/json",
                                  description=f"license {quote.route.name} on {quote.resource}"
                                              f" for {', '.join(quote.scopes)}")))

    def pay(self, principal: Principal, quote_id: str, header: str, *, url: str) -> Paid:
        """Verify and settle the payment in ``header`` for ``quote_id``, then grant.

        Raises QuoteNotFound / QuoteUsed / QuoteExpired / LicenseCapReached (nothing is
        settled), and PaymentRefused (with the PAYMENT-REQUIRED to retry with) for a
        malformed, underpaid, expired, misdirected, wrong-network or replayed payment.
        """
        quote = self._licenses.get_quote(principal, quote_id)
        requirements = self.requirements(quote)
        payload = self._payload(header, quote, url=url)
        now = self._licenses.now_ms()
        if now >= quote.expires_at_ms:
            raise QuoteExpired(f"quote {quote_id!r} expired; ask for a new one")
        engine = self._licenses.engine
        with writing(engine) as conn:
            if not store.use_quote(conn, quote.id, now_ms=now):
                raise QuoteUsed(f"quote {quote_id!r} was already used")
            if not store.take_slot(conn, quote.route):
                raise cap_reached(quote.route)
        try:
            verified = self._facilitator.verify(payload, requirements)
            if not verified.is_valid:
                raise self._refused(quote, url, verified.invalid_reason,
                                    verified.invalid_message)
            settled = self._facilitator.settle(payload, requirements)
            if not settled.success:
                raise self._refused(quote, url, settled.error_reason, settled.error_message)
        except BaseException:
            with writing(engine) as conn:
                store.unuse_quote(conn, quote.id)
                store.give_back_slot(conn, quote.route)
            raise
        payment = Payment(id=str(settled.transaction), amount=quote.route.price,
                          provider="x402")
        grant = self._licenses.grant(
            quote, acting=principal, payment=payment, use_quote=False, take_slot=False,
            receipt_extra={"payment": {
                "id": payment.id, "provider": "x402", "scheme": "exact",
                "network": settled.network, "transaction": settled.transaction,
                "payer": settled.payer, "asset": requirements.asset,
                "pay_to": requirements.pay_to, "amount": requirements.amount,
                "price": msgspec.to_builtins(quote.route.price)}})
        return Paid(grant=grant, settlement=settled)

    def _payload(self, header: str, quote: Any, *, url: str) -> Any:
        from x402.http.utils import decode_payment_signature_header
        from x402.schemas.payments import PaymentPayload

        try:
            if len(header) > MAX_HEADER:
                raise ValueError("too long")
            payload = decode_payment_signature_header(header.strip())
        except (ValueError, ValidationError, binascii.Error, UnicodeDecodeError,
                json.JSONDecodeError, TypeError) as exc:
            raise self._refused(quote, url, "invalid_payload",
                                f"PAYMENT-SIGNATURE is not a base64 x402 v2 payment payload "
                                f"({type(exc).__name__})") from None
        if not isinstance(payload, PaymentPayload):
            raise self._refused(quote, url, "unsupported_version",
                                "only x402 version 2 payloads are accepted")
        return payload

    def _refused(self, quote: Any, url: str, reason: str | None,
                 message: str | None) -> PaymentRefused:
        reason = reason or "payment_refused"
        detail = f"{reason}: {message}" if message else reason
        return PaymentRefused(detail, reason=reason,
                              payment_required=self.payment_required(quote, url=url,
                                                                     error=reason))


def open_x402(settings: Any, *, licenses: Any) -> X402Checkout | None:
    """The checkout the settings ask for (None when x402 is off). Raises InvalidInput for a
    network without its RPC URL or settlement key, and for a payout address that is not
    EIP-55."""
    if not settings.x402_enabled:
        return None
    if settings.x402_pay_to is not None:
        check_address(settings.x402_pay_to, "CASSET_X402_PAY_TO")
    for artist, address in settings.x402_artist_pay_to.items():
        check_address(address, f"CASSET_X402_ARTIST_PAY_TO ({artist})")
    if settings.x402_network:
        if not settings.x402_rpc_url or settings.x402_key_file is None:
            raise InvalidInput("CASSET_X402_NETWORK needs CASSET_X402_RPC_URL and "
                               "CASSET_X402_KEY_FILE")
        if not settings.x402_pay_to:
            raise InvalidInput("CASSET_X402_NETWORK needs CASSET_X402_PAY_TO (the payout "
                               "address)")
        key = Path(settings.x402_key_file).read_text().strip()

        def make_chain() -> DollarChain:
            return JsonRpcDollarChain(network=settings.x402_network,
                                      rpc_url=settings.x402_rpc_url, key=key,
                                      asset=settings.x402_asset)
    else:
        wallet = demo_wallet(settings.data_dir).address

        def make_chain() -> DollarChain:
            return EmbeddedDollarChain(fund=(wallet,))
    return X402Checkout(licenses=licenses, make_chain=make_chain,
                        pay_to=settings.x402_pay_to,
                        artist_pay_to=settings.x402_artist_pay_to)


def check_address(address: str, what: str) -> None:
    """Raises InvalidInput unless ``address`` is an EIP-55 checksummed address: a
    mistyped letter changes the checksum, and dollars sent there are lost."""
    from eth_utils.address import is_checksum_address

    if not isinstance(address, str) or not is_checksum_address(address):
        raise InvalidInput(f"{what} must be an EIP-55 checksummed address (0x and 40 hex "
                           f"digits in mixed case), got {address!r}")
