"""``casset-rights witness serve|show``: an independent C2SP tlog-witness.

``serve --data DIR --port P`` keeps the witness's key, name, trusted log keys and state in
DIR (made on first use) and serves ``POST /add-checkpoint`` with granian. ``show`` prints
the witness's verifier key, to pin in ``CASSET_WITNESSES`` and in verifiers.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casset_rights.errors import Conflict

if TYPE_CHECKING:
    from casset_rights.config import Settings


def add_witness_commands(sub: Any) -> None:
    witness = sub.add_parser("witness", help="an independent witness of the log "
                                             "(C2SP tlog-witness)").add_subparsers(
        dest="witness", required=True)
    for name, handler, text in (("serve", cmd_witness_serve, "serve add-checkpoint"),
                                ("show", cmd_witness_show, "print the witness's keys")):
        p = witness.add_parser(name, help=text)
        p.add_argument("--data", required=True, type=Path,
                       help="the witness's own folder: key, name, trusted logs, state")
        p.add_argument("--name", help="the witness's key name (first use; default: "
                                      "casset-witness-<key id>)")
        p.add_argument("--log-key", action="append", default=[], metavar="VKEY",
                       help="a log's verifier key to witness (kept in the folder; repeat)")
        p.set_defaults(handler=handler)
        if name == "serve":
            p.add_argument("--host", default="127.0.0.1")
            p.add_argument("--port", type=int, default=7380)


def cmd_witness_show(args: argparse.Namespace, _: Settings) -> int:
    from casset_rights.log.witness import open_witness

    witness = open_witness(args.data, name=args.name, log_keys=args.log_key)
    print(f"witness: {witness.name}")
    print(f"verifier key: {witness.verifier_key}")
    for origin in witness.origins:
        print(f"witnesses the log: {origin}")
    return 0


def cmd_witness_serve(args: argparse.Namespace, settings: Settings) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    from casset_rights.cli import address_in_use

    cmd_witness_show(args, settings)
    if address_in_use(args.host, args.port):
        raise Conflict(f"{args.host}:{args.port} is already in use: choose another --port")
    # The app factory (a granian worker) opens the witness from this folder.
    os.environ["CASSET_WITNESS_DIR"] = str(args.data.resolve())
    print(f"witness on http://{args.host}:{args.port}/add-checkpoint", flush=True)
    Granian(target="casset_rights.api.witness:witness_app_from_environment", factory=True,
            address=args.host, port=args.port, interface=Interfaces.ASGI, workers=1,
            log_access=False).serve()
    return 0
