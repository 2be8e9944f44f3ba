"""``casset-rights clients ...``: the operator's side of OAuth clients.

Partners (and artists' own clients, and vetted agents) are created here, not through
dynamic registration. The secret is printed once, with the rest of the client's
information, and never again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from casset_rights.auth.clients import AttributeValue
from casset_rights.auth.registration import AUTH_METHODS
from casset_rights.auth.service import client_information
from casset_rights.config import Settings
from casset_rights.errors import InvalidInput


def parse_attribute(text: str) -> tuple[str, AttributeValue]:
    """``name=value``; ``true``/``false`` are booleans and digits integers, as in policy
    files (where ``verified: true`` is not matched by ``1``). Raises InvalidInput."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise InvalidInput(f"an attribute is name=value, got {text!r}")
    if value in ("true", "false"):
        return name.strip(), value == "true"
    if value.lstrip("-").isdigit():
        return name.strip(), int(value)
    return name.strip(), value


def cmd_clients_create(args: argparse.Namespace, settings: Settings) -> int:
    from casset_rights.services import open_services

    attributes = dict(parse_attribute(a) for a in args.attribute)
    jwks: dict[str, Any] | None = None
    if args.jwks:
        jwks = json.loads(Path(args.jwks).read_text(encoding="utf-8"))
    services = open_services(settings)
    try:
        if args.kind == "artist" and args.artist:
            services.catalog.artist(args.artist)  # NotFound for an unknown artist
        new = services.auth.create_client(
            kind=args.kind, name=args.name, client_id=args.client_id, artist_id=args.artist,
            scope=" ".join(args.scope) if args.scope else None,
            redirect_uris=args.redirect_uri,
            auth_method=args.auth_method or ("private_key_jwt" if jwks else
                                             "client_secret_basic"),
            jwks=jwks, attributes=attributes)
    finally:
        services.close()
    info = client_information(new)
    info.update(kind=new.client.kind, attributes=new.client.attributes)
    if new.client.artist_id:
        info["artist"] = new.client.artist_id
    for name in ("operator", "purpose"):
        if info.get(name) is None:
            info.pop(name, None)
    print(json.dumps(info, indent=2, sort_keys=True))
    return 0


def cmd_clients_disable(args: argparse.Namespace, settings: Settings) -> int:
    from casset_rights.services import open_services

    services = open_services(settings)
    try:
        services.auth.disable_client(args.client_id)
    finally:
        services.close()
    print(f"client {args.client_id} disabled; its tokens are revoked")
    return 0


def add_client_commands(sub: Any) -> None:
    """Register ``clients create`` and ``clients disable`` on the CLI's subparsers."""
    clients = sub.add_parser("clients", help="OAuth clients").add_subparsers(
        dest="clients", required=True)
    p = clients.add_parser("create", help="create a partner, artist or agent client; "
                                          "prints its secret once")
    p.add_argument("--kind", required=True, choices=["partner", "artist", "agent"])
    p.add_argument("--name", required=True,
                   help="the client's name (a partner's verified name)")
    p.add_argument("--client-id", help="a chosen id (policies name clients as client:<id>)")
    p.add_argument("--artist", help="the artist an artist client acts for")
    p.add_argument("--scope", action="append", help="an OAuth scope (repeat); default: all "
                                                    "the kind may hold")
    p.add_argument("--redirect-uri", action="append", default=[],
                   help="a redirect URI for the authorization code grant (repeat)")
    p.add_argument("--attribute", action="append", default=[], metavar="NAME=VALUE",
                   help="a verified attribute policies can match on (repeat)")
    p.add_argument("--jwks", help="a JWKS file with the client's public keys "
                                  "(private_key_jwt)")
    p.add_argument("--auth-method", choices=list(AUTH_METHODS))
    p.set_defaults(handler=cmd_clients_create)
    p = clients.add_parser("disable", help="refuse a client and revoke its tokens")
    p.add_argument("client_id")
    p.set_defaults(handler=cmd_clients_disable)
