"""``casset-rights mcp``: the MCP server over stdio, for a local MCP host.

It acts as the public, or, given ``--client-id`` and ``--client-secret-file``, as that
OAuth client (its kind, attributes and machine scopes), so ``quote`` and
``obtain_license`` have a licensee. Logs go to stderr; stdout carries only MCP messages.
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


def add_agent_commands(sub: Any) -> None:
    p = sub.add_parser("mcp", help="the MCP server over stdio")
    p.add_argument("--demo", action="store_true", help="load the example catalog and policies")
    p.add_argument("--client-id", help="act as this OAuth client")
    p.add_argument("--client-secret-file", help="a file holding that client's secret")
    p.set_defaults(handler=cmd_mcp)
