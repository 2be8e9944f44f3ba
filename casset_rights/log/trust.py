"""What a verifier trusts: pinned keys, never the ones a bundle or a server hands over.

``Trust`` holds the receipt JWKS, the log's verifier key (its identity), the witness keys
and the quorum of them that must cosign. ``trust_from_args`` builds it from ``--trust
FILE`` (JSON: ``jwks`` (an object, or a file or URL), ``log_key``, ``witnesses`` (verifier
keys), ``witness_quorum``) and the options that override it (``--jwks``, ``--log-key``,
``--witness-key``, ``--witness-quorum``). Taking a bundle's own keys happens only with
``--unsafe-trust-bundle-keys``, and says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from casset_rights.errors import CassetError, InvalidInput, NotFound, ServiceUnavailable
from casset_rights.log.bundle import unsafe_bundle_keys
from casset_rights.log.cosignature import CosignerKey, parse_cosigner_key

if TYPE_CHECKING:
    from casset_rights.log.bundle import ReceiptBundle
    from casset_rights.log.tiles_client import Fetch


class Trust(msgspec.Struct, frozen=True, kw_only=True):
    jwks: dict[str, Any]
    log_key: str
    witnesses: tuple[CosignerKey, ...] = ()
    quorum: int | None = None  # None: every pinned witness


def cmd_trust_pin(args: argparse.Namespace, _: Any) -> int:
    """Write a trust file with the keys a service publishes now (trust on first use): its
    receipt JWKS, its log's key and its witnesses' keys, all witnesses in the quorum."""
    base = args.url.rstrip("/")
    described = load_json(f"{base}/.well-known/casset-rights")
    log = described.get("transparency_log") if isinstance(described, dict) else None
    if not isinstance(log, dict):
        raise InvalidInput(f"{base} publishes no transparency log description")
    pinned = {"jwks": load_json(described.get("jwks_uri") or f"{base}/.well-known/jwks.json"),
              "log_key": log["verifier_key"], "witnesses": log.get("witnesses", []),
              "witness_quorum": len(log.get("witnesses", []))}
    Path(args.out).write_text(json.dumps(pinned, indent=2) + "\n", encoding="utf-8")
    print(f"pinned {len(pinned['jwks'].get('keys', []))} receipt keys, the log key "
          f"{pinned['log_key']} and {len(pinned['witnesses'])} witness keys in {args.out}")
    return 0


def add_trust_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trust", metavar="FILE",
                   help="a trust file (JSON: jwks, log_key, witnesses, witness_quorum); for a "
                        "preview file, the C2PA trust anchor (PEM, file or URL)")
    p.add_argument("--jwks", help="the receipt keys to trust: a JWKS file or URL")
    p.add_argument("--log-key", help="the log's verifier key to trust (signed-note format)")
    p.add_argument("--witness-key", action="append", default=[], metavar="VKEY",
                   help="a witness's verifier key to trust (repeat for each witness)")
    p.add_argument("--witness-quorum", type=int, metavar="N",
                   help="how many of the trusted witnesses must have cosigned (default: all)")
    p.add_argument("--unsafe-trust-bundle-keys", action="store_true",
                   help="UNSAFE: trust the keys inside the bundle, whoever made it")


def trust_from_args(args: argparse.Namespace, bundle: ReceiptBundle | None) -> Trust:
    """The keys to verify against (see the module). Raises InvalidInput when a key is
    missing and the unsafe option was not given, or when a key is malformed."""
    pinned: dict[str, Any] = {}
    if args.trust:
        try:
            pinned = json.loads(Path(args.trust).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InvalidInput(f"cannot read the trust file {args.trust}: {exc}") from None
    jwks: Any = load_json(args.jwks) if args.jwks else pinned.get("jwks")
    if isinstance(jwks, str):
        jwks = load_json(jwks)
    log_key = args.log_key or pinned.get("log_key")
    witness_keys = args.witness_key or pinned.get("witnesses", [])
    quorum = args.witness_quorum if args.witness_quorum is not None else pinned.get(
        "witness_quorum")
    if args.unsafe_trust_bundle_keys and bundle is not None:
        own_jwks, own_log_key = unsafe_bundle_keys(bundle)
        print("warning: --unsafe-trust-bundle-keys: checking against the keys inside the "
              "bundle, which its maker chose; this proves nothing about who signed it",
              file=sys.stderr)
        jwks, log_key = jwks or own_jwks, log_key or own_log_key
    if not jwks or not log_key:
        raise InvalidInput("pin the keys you trust: --jwks and --log-key (or --trust FILE); "
                           "--unsafe-trust-bundle-keys takes the bundle's own instead")
    if not isinstance(jwks, dict):
        raise InvalidInput("the trusted JWKS is not a JSON object")
    try:
        witnesses = tuple(parse_cosigner_key(k) for k in witness_keys)
    except CassetError as exc:
        raise InvalidInput(f"--witness-key: {exc.detail}") from None
    if quorum is not None and not 0 <= int(quorum) <= len(witnesses):
        raise InvalidInput(f"a witness quorum of {quorum} with {len(witnesses)} witness keys")
    return Trust(jwks=jwks, log_key=str(log_key), witnesses=witnesses,
                 quorum=None if quorum is None else int(quorum))


@contextmanager
def http_fetcher(prefix: str) -> Iterator[Fetch]:
    """``fetch(path)`` for the tlog-tiles resources under ``prefix``, over one keep-alive
    client. A 404 raises NotFound; any other failure ServiceUnavailable."""
    import httpx

    base = prefix.rstrip("/")
    with httpx.Client(timeout=10, headers={"Accept-Encoding": "gzip, identity"}) as http:
        def fetch(path: str) -> bytes:
            try:
                response = http.get(f"{base}/{path}")
            except httpx.HTTPError as exc:
                raise ServiceUnavailable(f"cannot fetch {base}/{path}: {exc}") from None
            if response.status_code == 404:
                raise NotFound(f"{base}/{path} is not there (404)")
            if response.status_code != 200:
                raise ServiceUnavailable(f"{base}/{path} answered {response.status_code}")
            return response.content

        yield fetch


def read_source(value: str) -> str:
    """The text of a bundle or receipt: fetched from a URL, read from a file or stdin
    (``-``), or the argument itself."""
    if value.startswith(("http://", "https://")):
        import httpx

        try:
            response = httpx.get(value, timeout=10)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"cannot fetch {value}: {exc}") from None
        return response.text.strip()
    if value == "-":
        return sys.stdin.read().strip()
    try:
        path = Path(value)
        if path.is_file():
            return path.read_text(encoding="utf-8").strip()
    except OSError:  # too long or otherwise not a path: it is the text itself
        pass
    return value.strip()


def load_json(source: str) -> Any:
    try:
        return json.loads(read_source(source))
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{source} is not JSON: {exc}") from None


