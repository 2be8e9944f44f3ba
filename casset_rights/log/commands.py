"""The log's commands: ``verify`` (a receipt bundle, or a bare receipt) and ``anchor``.

``casset-rights verify BUNDLE`` prints each step of ``verify_receipt_bundle`` as it ends
(``✓``, ``✗`` with the reason, ``–`` for a step not run) and exits 1 at the first failure.
A bare compact JWS is still accepted and checked against ``--jwks`` alone.
"""

from __future__ import annotations

import argparse
import base64
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from casset_rights.errors import InvalidInput, ServiceUnavailable
from casset_rights.log.bundle import (
    BundleInvalid,
    NewerCheckpoint,
    ReceiptBundle,
    Step,
    chain_for_anchor,
    decode_bundle,
    verify_receipt_bundle,
)
from casset_rights.log.trust import (  # noqa: F401  (read_source, load_json: the CLI's)
    add_trust_options,
    cmd_trust_pin,
    http_fetcher,
    load_json,
    read_source,
    trust_from_args,
)

if TYPE_CHECKING:
    import httpx

    from casset_rights.config import Settings

Handler = Callable[[argparse.Namespace, "Settings"], int]
MARKS = {"ok": "\u2713", "failed": "\u2717", "skipped": "\u2013"}


def add_log_commands(sub: Any, *, verify_receipt: Handler) -> None:
    """Register ``verify`` and ``anchor``; ``verify_receipt`` handles a bare receipt."""
    p = sub.add_parser("verify", help="verify a receipt bundle (or a bare receipt) against "
                                      "pinned keys")
    p.add_argument("source", metavar="BUNDLE",
                   help="a bundle JSON (file, URL or - for stdin), or a receipt's compact JWS")
    add_trust_options(p)
    p.add_argument("--tiles", metavar="PREFIX",
                   help="check the receipt against the log's tiles (C2SP tlog-tiles) at "
                        "this prefix, e.g. http://localhost:8000/tlog: fetch the checkpoint "
                        "and the tiles, compute the proofs here")
    p.add_argument("--leaf-index", type=int,
                   help="the receipt's index in the log (with --tiles and a bare receipt)")
    p.add_argument("--newer-checkpoint", metavar="FILE",
                   help="a later checkpoint (signed note, or the JSON of /v1/log/checkpoint)")
    p.add_argument("--consistency-proof", metavar="FILE",
                   help="the consistency proof to it (the JSON of /v1/log/proofs/consistency)")
    p.add_argument("--log-url", help="fetch the newer checkpoint and the consistency proof "
                                     "from this service (its base URL)")
    p.add_argument("--rpc-url", help="a JSON-RPC endpoint of the chain the anchor names "
                                     "(default for Base: its public endpoint)")
    p.add_argument("--skip-anchor", action="store_true",
                   help="do not check the anchor (the anchor is then not verified)")

    def handler(args: argparse.Namespace, settings: Settings) -> int:
        text = read_source(args.source)
        bundle = decode_bundle(text) if text.startswith("{") else None
        if args.tiles:
            return cmd_verify_tiles(args, text, bundle)
        if bundle is None:
            if not (args.jwks or args.trust):
                raise InvalidInput("a bare receipt is verified against --jwks FILE_OR_URL "
                                   "(or --trust FILE)")
            args.receipt = text
            args.jwks = args.jwks or trust_from_args(args, None).jwks
            return verify_receipt(args, settings)
        return cmd_verify_bundle(args, bundle)

    p.set_defaults(handler=handler)

    p = sub.add_parser("trust", help="trust files for verify").add_subparsers(
        dest="trust", required=True).add_parser(
        "pin", help="write a trust file with the keys a service publishes now (first use)")
    p.add_argument("url", help="the service's base URL")
    p.add_argument("--out", default="trust.json")
    p.set_defaults(handler=cmd_trust_pin)

    p = sub.add_parser("anchor", help="checkpoint the log and anchor it on the chain, once")
    p.set_defaults(handler=cmd_anchor)


def report_step(step: Step) -> None:
    print(f"{MARKS[step.status]} {step.name}: {step.detail}", flush=True)


def cmd_verify_bundle(args: argparse.Namespace, bundle: ReceiptBundle) -> int:
    print(f"bundle: receipt {bundle.jti}, leaf {bundle.leaf_index} of {bundle.log_origin}")
    trust = trust_from_args(args, bundle)
    newer = None
    if args.log_url:
        import httpx

        with httpx.Client(timeout=10) as http:
            try:
                newer = fetch_newer_checkpoint(http, args.log_url,
                                               bundle.inclusion_proof.tree_size)
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(f"cannot fetch from {args.log_url}: {exc}") from None
    elif args.newer_checkpoint or args.consistency_proof:
        if not (args.newer_checkpoint and args.consistency_proof):
            raise InvalidInput("--newer-checkpoint and --consistency-proof go together")
        newer = read_newer_checkpoint(Path(args.newer_checkpoint), Path(args.consistency_proof))
    chain = None if args.skip_anchor else chain_for_anchor(bundle.anchor, args.rpc_url)
    try:
        verify_receipt_bundle(bundle, jwks=trust.jwks, log_key=trust.log_key,
                              witnesses=trust.witnesses, quorum=trust.quorum, newer=newer,
                              chain=chain, check_anchor=not args.skip_anchor,
                              report=report_step)
    except BundleInvalid:
        return 1
    print("verified" if not args.skip_anchor else "verified, except the anchor (not checked)")
    return 0


def cmd_verify_tiles(args: argparse.Namespace, text: str, bundle: ReceiptBundle | None) -> int:
    """Verify a receipt (bare, or a bundle's) against the log's tiles at ``--tiles``."""
    from casset_rights.log.tiles_verify import verify_receipt_from_tiles

    if bundle is None and args.leaf_index is None:
        raise InvalidInput("a bare receipt needs --leaf-index with --tiles (a bundle names it)")
    trust = trust_from_args(args, bundle)
    receipt = text if bundle is None else bundle.receipt
    index = args.leaf_index if bundle is None or args.leaf_index is not None else (
        bundle.leaf_index)
    print(f"receipt at leaf {index}, checked against the tiles at {args.tiles}")
    with http_fetcher(args.tiles) as fetch:
        try:
            verify_receipt_from_tiles(
                receipt, leaf_index=index, fetch=fetch, jwks=trust.jwks, log_key=trust.log_key,
                witnesses=trust.witnesses, quorum=trust.quorum,
                earlier_checkpoint=None if bundle is None else bundle.checkpoint,
                report=report_step)
        except BundleInvalid:
            return 1
    print("verified from the tiles")
    return 0


def cmd_anchor(_: argparse.Namespace, settings: Settings) -> int:
    """Checkpoint the log if it grew, anchor the newest checkpoint, print both."""
    from casset_rights.services import open_services

    services = open_services(settings)
    try:
        run = services.log_keeper.anchor_now()
    finally:
        services.close()
    cp = run.checkpoint
    print(f"checkpoint: {cp.origin}, tree size {cp.tree_size}, "
          f"root {base64.b64encode(cp.root).decode()}, timestamp {cp.timestamp}")
    record = run.anchor
    if record is None:
        print("anchor: none (anchoring is disabled: chain = none)" if settings.chain == "none"
              else "anchor: none (the log is empty)")
        return 0
    print(f"anchor: {record.status} on {record.chain} (chain id {record.chain_id}), "
          f"contract {record.contract_address}, tx {record.tx_hash}, "
          f"block {record.block_number}, gas {record.gas_used}")
    if settings.chain == "embedded":
        print("note: the embedded chain ended with this command; configure base or "
              "base-sepolia for anchors anyone can check later")
    return 1 if record.status == "failed" else 0


# --- reading inputs -----------------------------------------------------------------------------


class _ConsistencyJson(msgspec.Struct):
    hashes: tuple[bytes, ...]


def read_newer_checkpoint(checkpoint_file: Path, proof_file: Path) -> NewerCheckpoint:
    """A newer checkpoint (its note, or the JSON holding it) and a consistency proof JSON."""
    text = checkpoint_file.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        text = json.loads(text)["note"]
    try:
        proof = msgspec.json.decode(proof_file.read_bytes(), type=_ConsistencyJson)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"{proof_file} is not a consistency proof: {exc}") from None
    return NewerCheckpoint(note=text, consistency_proof=proof.hashes)


def fetch_newer_checkpoint(http: httpx.Client, log_url: str, first: int) -> NewerCheckpoint:
    """The service's latest checkpoint and the consistency proof from tree size ``first``
    to it. (The checkpoint's signature is checked by the verifier, not here.)"""
    from casset_rights.log.checkpoint import parse_checkpoint

    base = log_url.rstrip("/")
    response = http.get(f"{base}/v1/log/checkpoint", headers={"Accept": "application/json"})
    response.raise_for_status()
    note = response.json()["note"]
    second = parse_checkpoint(note).tree_size
    response = http.get(f"{base}/v1/log/proofs/consistency",
                        params={"first": first, "second": max(first, second)})
    response.raise_for_status()
    proof = msgspec.json.decode(response.content, type=_ConsistencyJson)
    return NewerCheckpoint(note=note, consistency_proof=proof.hashes)
