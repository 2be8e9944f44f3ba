"""``casset-rights mcp`` and ``casset-rights demo wallet|pay``.

``mcp``: the MCP server over stdio, for a local MCP host.

It acts as the public, or, given ``--client-id`` and ``--client-secret-file``, as that
OAuth client (its kind, attributes and machine scopes), so ``quote`` and
``obtain_license`` have a licensee. Logs go to stderr; stdout carries only MCP messages.

``demo wallet`` prints the data folder's demo wallet (funded with test dollars by the
embedded chain); ``demo pay QUOTE`` pays a paid route's quote with it through x402.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from casset_rights.config import Settings
from casset_rights.errors import Unauthenticated
from casset_rights.principal import PUBLIC, Principal


def cmd_mcp(args: argparse.Namespace, settings: Settings) -> int:
    from casset_rights.agents.mcp_server import build_mcp
    from casset_rights.services import load_examples, open_services

    logging.getLogger().setLevel(logging.WARNING)  # stdout is the protocol's
    services = open_services(settings)
    try:
        if args.demo or settings.load_examples:
            load_examples(services)
        principal = _principal(services, args)
        build_mcp(services, principal_of=lambda _ctx: principal).run("stdio")
    finally:
        services.close()
    return 0


def _principal(services: Any, args: argparse.Namespace) -> Principal:
    """The client the command acts as. Raises Unauthenticated for a wrong id or secret."""
    if args.client_id is None:
        return PUBLIC
    if args.client_secret_file is None:
        raise Unauthenticated("--client-id needs --client-secret-file")
    secret = Path(args.client_secret_file).read_text().strip()
    from casset_rights.agents.olp import client_principal

    principal = client_principal(services.auth, args.client_id, secret)
    if principal is None:
        raise Unauthenticated("unknown client or wrong secret")
    return principal


def cmd_demo_wallet(_: argparse.Namespace, settings: Settings) -> int:
    """Print the demo wallet of the data folder: the embedded chain funds it with 1,000
    test dollars when it starts, so a local agent can pay paid routes with x402."""
    import json

    from casset_rights.agents.x402pay import DEMO_FUNDING_UNITS, USDC_DECIMALS, demo_wallet

    wallet = demo_wallet(settings.data_dir)
    print(json.dumps({
        "address": wallet.address,
        "private_key_file": str((settings.data_dir / "demo-wallet.key").resolve()),
        "funded_with": f"{DEMO_FUNDING_UNITS // 10**USDC_DECIMALS} TestUSDC on the embedded "
                       "chain of a server using this data folder (test money, in process)",
    }, indent=2))
    return 0


def cmd_demo_pay(args: argparse.Namespace, settings: Settings) -> int:
    """Pay a quote of a paid route with x402 from the demo wallet, as an agent does:
    POST, read PAYMENT-REQUIRED from the 402, sign it (EIP-3009), POST again with
    PAYMENT-SIGNATURE. Prints the license answer."""
    import json

    import httpx
    from x402 import x402ClientSync
    from x402.http.utils import decode_payment_required_header, encode_payment_signature_header
    from x402.mechanisms.evm.exact.register import register_exact_evm_client
    from x402.mechanisms.evm.signers import EthAccountSigner

    from casset_rights.agents.x402pay import demo_wallet

    url = f"{args.url.rstrip('/')}/x402/licenses/{args.quote}"
    auth = {"authorization": f"Bearer {args.token}"}
    asked = httpx.post(url, headers=auth, timeout=60)
    if asked.status_code != 402 or "payment-required" not in asked.headers:
        print(asked.text)
        return 1
    client = register_exact_evm_client(x402ClientSync(),
                                       EthAccountSigner(demo_wallet(settings.data_dir)))
    client.set_spend_controls(False)  # test dollars on the embedded chain
    payload = client.create_payment_payload(
        decode_payment_required_header(asked.headers["payment-required"]))
    signature = encode_payment_signature_header(payload)
    paid = httpx.post(url, timeout=60, headers={**auth, "payment-signature": signature})
    print(json.dumps(paid.json(), indent=2))
    return 0 if paid.status_code == 201 else 1


def add_agent_commands(sub: Any) -> None:
    demo = sub.add_parser("demo", help="the embedded demo").add_subparsers(
        dest="demo", required=True)
    demo.add_parser("wallet", help="the demo wallet funded with test dollars").set_defaults(
        handler=cmd_demo_wallet)
    p = demo.add_parser("pay", help="pay a quote with x402 from the demo wallet")
    p.add_argument("quote", help="the quote id of a paid route")
    p.add_argument("--token", required=True, help="the agent's OAuth access token")
    p.add_argument("--url", default="http://127.0.0.1:8000", help="the service")
    p.set_defaults(handler=cmd_demo_pay)

    p = sub.add_parser("mcp", help="the MCP server over stdio")
    p.add_argument("--demo", action="store_true", help="load the example catalog and policies")
    p.add_argument("--client-id", help="act as this OAuth client")
    p.add_argument("--client-secret-file", help="a file holding that client's secret")
    p.set_defaults(handler=cmd_mcp)
