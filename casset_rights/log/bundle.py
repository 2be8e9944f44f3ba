"""Receipt bundles: everything needed to check a receipt offline, and the check itself.

A bundle holds the receipt (its compact JWS), its leaf index, the inclusion proof of its
leaf in one checkpoint's tree, that checkpoint's signed note, and the anchor of that
checkpoint's root on a chain (or None when not anchored yet). For convenience it also
carries the service's JWKS and the log's verifier key: those are not trusted. A verifier
passes the keys it pinned (``jwks``, ``log_key``, ``witnesses``); taking the bundle's own
is ``unsafe_bundle_keys``, named for what it is.

``verify_receipt_bundle`` checks, in order, reporting each step as it goes:

1. ``receipt``: the receipt's signature under the JWKS;
2. ``checkpoint``: the checkpoint's signature under the log key (only then is its root
   worth proving anything against);
3. ``witnesses``: a quorum of the pinned witnesses cosigned the checkpoint (C2SP
   tlog-cosignature), so the log cannot show this tree to us and another to others;
   skipped when no witness key is pinned;
4. ``inclusion``: the leaf hash is SHA-256(0x00 || the receipt's bytes) and the inclusion
   proof leads from it to the checkpoint's root;
5. ``consistency``: when a newer checkpoint is given, it is signed by the same key and the
   consistency proof shows the bundle's tree is a prefix of it;
6. ``anchor``: the anchor names the checkpoint's root and size, and the chain it names
   holds it. No chain to ask (the embedded chain lives inside the service that made it)
   means the anchor is *not* verified.

It returns None, or raises ``BundleInvalid`` naming the first step that failed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from casset_rights.errors import CassetError, InvalidInput
from casset_rights.log.checkpoint import (
    Checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    verify_checkpoint,
)
from casset_rights.log.cosignature import CosignerKey, verify_cosignatures
from casset_rights.log.merkle import leaf_hash, verify_consistency, verify_inclusion

if TYPE_CHECKING:
    from casset_rights.anchoring.chain import AnchorChain
    from casset_rights.anchoring.records import AnchorProof, AnchorRecord

BUNDLE_FORMAT = "casset-receipt-bundle/v1"
StepName = Literal["receipt", "checkpoint", "witnesses", "inclusion", "consistency", "anchor"]
StepStatus = Literal["ok", "failed", "skipped"]
# Public JSON-RPC endpoints of Base, used when a verifier names none (rate limited; any
# Base node answers the same).
PUBLIC_RPC = {8453: "https://mainnet.base.org", 84532: "https://sepolia.base.org"}
EMBEDDED_CHAIN_ID = 131277322940537  # eth-tester's (casset_rights.anchoring.chain)


class BundleAnchor(msgspec.Struct, frozen=True, kw_only=True):
    """Where the checkpoint's root was anchored: the fields of ``AnchorProof`` (kept apart
    so reading a bundle does not load web3)."""

    chain: str
    chain_id: int
    contract_address: str
    tx_hash: str
    block_number: int
    root: bytes
    tree_size: int

    @classmethod
    def of(cls, record: AnchorRecord | AnchorProof) -> BundleAnchor:
        proof = record.proof() if hasattr(record, "proof") else record
        return cls(**{f: getattr(proof, f) for f in cls.__struct_fields__})

    def proof(self) -> AnchorProof:
        from casset_rights.anchoring.records import AnchorProof

        return AnchorProof(**{f: getattr(self, f) for f in self.__struct_fields__})


class BundleProof(msgspec.Struct, frozen=True, kw_only=True):
    """The RFC 9162 inclusion proof of the receipt's leaf in the tree of ``tree_size``."""

    tree_size: int
    hashes: tuple[bytes, ...]


class ReceiptBundle(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt with its proof of logging. Bytes are base64 in JSON."""

    format: str = BUNDLE_FORMAT
    jti: str
    receipt: str
    leaf_index: int
    leaf_hash: bytes
    inclusion_proof: BundleProof
    checkpoint: str
    log_origin: str
    log_key: str
    anchor: BundleAnchor | None
    jwks: dict[str, Any]


class NewerCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    """A later signed checkpoint and the consistency proof from the bundle's tree to it."""

    note: str
    consistency_proof: tuple[bytes, ...]


class Step(msgspec.Struct, frozen=True):
    name: StepName
    status: StepStatus
    detail: str


class BundleInvalid(CassetError):
    """A bundle failed a step; ``step`` names it and ``detail`` says why."""

    code = "bundle_invalid"

    def __init__(self, step: StepName, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.reason = detail


def decode_bundle(data: bytes | str) -> ReceiptBundle:
    """Read a bundle's JSON. Raises InvalidInput when it is not one."""
    try:
        bundle = msgspec.json.decode(data, type=ReceiptBundle)
    except msgspec.DecodeError as exc:
        raise InvalidInput(f"not a receipt bundle: {exc}") from None
    if bundle.format != BUNDLE_FORMAT:
        raise InvalidInput(f"unknown bundle format {bundle.format!r}, expected {BUNDLE_FORMAT}")
    return bundle


def unsafe_bundle_keys(bundle: ReceiptBundle) -> tuple[dict[str, Any], str]:
    """The JWKS and log key the bundle carries. UNSAFE: whoever made the bundle chose
    them, so a bundle checked against them proves only that it is self-consistent."""
    return bundle.jwks, bundle.log_key


def verify_receipt_bundle(bundle: ReceiptBundle, *, jwks: dict[str, Any], log_key: str,
                          witnesses: Sequence[CosignerKey] = (), quorum: int | None = None,
                          newer: NewerCheckpoint | None = None,
                          chain: AnchorChain | None = None, check_anchor: bool = True,
                          report: Callable[[Step], None] | None = None) -> None:
    """Check the bundle step by step (see the module); ``report`` hears each step as it ends.

    ``jwks`` and ``log_key`` (a signed-note verifier key) are the keys the verifier
    trusts; ``witnesses`` the pinned witness keys, of which ``quorum`` (default: all)
    must have cosigned the checkpoint. ``chain`` is the chain to ask about the anchor
    (None: the anchor cannot be verified unless ``check_anchor`` is False). Returns None
    or raises BundleInvalid.
    """
    say = report or (lambda step: None)

    def ok(name: StepName, detail: str) -> None:
        say(Step(name, "ok", detail))

    def fail(name: StepName, detail: str) -> BundleInvalid:
        say(Step(name, "failed", detail))
        return BundleInvalid(name, detail)

    jti = check_receipt(bundle.receipt, bundle.jti, jwks, fail)
    ok("receipt", f"signature valid (EdDSA), receipt {jti}")
    checkpoint = check_checkpoint(bundle.checkpoint, log_key, fail)
    ok("checkpoint", f"signed by {checkpoint.origin}: tree size {checkpoint.tree_size}, "
                     f"root {_b64(checkpoint.root)}")
    say(check_witnesses(bundle.checkpoint, witnesses, quorum, fail))
    _check_inclusion(bundle, checkpoint, fail)
    count = len(bundle.inclusion_proof.hashes)
    ok("inclusion", f"leaf {bundle.leaf_index} = SHA-256(0x00 || receipt) is in the tree of "
                    f"size {checkpoint.tree_size} ({count} hash{'' if count == 1 else 'es'})")
    if newer is None:
        say(Step("consistency", "skipped", "no newer checkpoint given"))
    else:
        later = check_consistency(checkpoint, newer, log_key, fail)
        ok("consistency", f"the tree of size {checkpoint.tree_size} is a prefix of the newer "
                          f"checkpoint's tree of size {later.tree_size}")
    if not check_anchor:
        say(Step("anchor", "skipped", "not checked (asked not to)"))
        return
    ok("anchor", _check_anchor(bundle.anchor, checkpoint, chain, fail))


# --- the steps -------------------------------------------------------------------------------

Fail = Callable[[StepName, str], BundleInvalid]


def check_receipt(receipt: str, jti: str | None, jwks: dict[str, Any], fail: Fail) -> str:
    """The receipt's jti once its signature verifies (and it is ``jti``, when given)."""
    from casset_rights.receipts.verify import verify_receipt

    try:
        payload = verify_receipt(receipt, jwks)
    except CassetError as exc:
        raise fail("receipt", exc.detail) from None
    if jti is not None and payload.get("jti") != jti:
        raise fail("receipt", f"the bundle names receipt {jti!r}, the receipt says "
                              f"{payload.get('jti')!r}")
    return str(payload["jti"])


def check_witnesses(note: str, witnesses: Sequence[CosignerKey], quorum: int | None,
                    fail: Fail) -> Step:
    """The witnesses step: ok when ``quorum`` (default: all) of ``witnesses`` cosigned
    ``note``; skipped when none is pinned. Raises (through ``fail``) otherwise."""
    if not witnesses:
        return Step("witnesses", "skipped", "no witness key pinned: the checkpoint could be "
                                            "a view shown to this verifier alone")
    wanted = len(witnesses) if quorum is None else quorum
    try:
        found = verify_cosignatures(note, witnesses, wanted)
    except CassetError as exc:
        raise fail("witnesses", exc.detail) from None
    names = ", ".join(c.name for c in found)
    return Step("witnesses", "ok", f"cosigned by {len(found)} of {len(witnesses)} pinned "
                                   f"witnesses (quorum {wanted}): {names}")


def check_checkpoint(note: str, log_key: str, fail: Fail) -> Checkpoint:
    try:
        name, public_key = parse_verifier_key(log_key)
        checkpoint = parse_checkpoint(note)
        # Our logs sign under their origin: the key's name is the log it speaks for.
        verify_checkpoint(note, public_key, name)
    except CassetError as exc:
        raise fail("checkpoint", exc.detail) from None
    return checkpoint


def _check_inclusion(bundle: ReceiptBundle, checkpoint: Checkpoint, fail: Fail) -> None:
    leaf = leaf_hash(bundle.receipt.encode())
    if leaf != bundle.leaf_hash:
        raise fail("inclusion", f"the receipt's leaf hash is {_b64(leaf)}, the bundle says "
                                f"{_b64(bundle.leaf_hash)}")
    proof = bundle.inclusion_proof
    if proof.tree_size != checkpoint.tree_size:
        raise fail("inclusion", f"the proof is for a tree of size {proof.tree_size}, the "
                                f"checkpoint's tree has {checkpoint.tree_size} leaves")
    try:
        verify_inclusion(leaf_index=bundle.leaf_index, tree_size=proof.tree_size, leaf=leaf,
                         proof=proof.hashes, root=checkpoint.root)
    except CassetError as exc:
        raise fail("inclusion", f"{exc.detail} (leaf {bundle.leaf_index}, root "
                                f"{_b64(checkpoint.root)})") from None


def check_consistency(checkpoint: Checkpoint, newer: NewerCheckpoint, log_key: str,
                       fail: Fail) -> Checkpoint:
    try:
        name, public_key = parse_verifier_key(log_key)
        later = parse_checkpoint(newer.note)
        verify_checkpoint(newer.note, public_key, name)
    except CassetError as exc:
        raise fail("consistency", f"the newer checkpoint: {exc.detail}") from None
    if later.tree_size < checkpoint.tree_size:
        raise fail("consistency", f"the newer checkpoint has {later.tree_size} leaves, fewer "
                                  f"than the bundle's {checkpoint.tree_size}")
    try:
        verify_consistency(first=checkpoint.tree_size, second=later.tree_size,
                           first_root=checkpoint.root, second_root=later.root,
                           proof=newer.consistency_proof)
    except CassetError as exc:
        raise fail("consistency", f"{exc.detail} (sizes {checkpoint.tree_size} and "
                                  f"{later.tree_size})") from None
    return later


def _check_anchor(anchor: BundleAnchor | None, checkpoint: Checkpoint,
                  chain: AnchorChain | None, fail: Fail) -> str:
    if anchor is None:
        raise fail("anchor", "the checkpoint is not anchored yet; fetch the bundle again "
                             "after the next anchoring run")
    where = f"{anchor.chain} (chain id {anchor.chain_id})"
    if anchor.root != checkpoint.root or anchor.tree_size != checkpoint.tree_size:
        raise fail("anchor", f"the anchor on {where} is of root {_b64(anchor.root)} size "
                             f"{anchor.tree_size}, not the checkpoint's root "
                             f"{_b64(checkpoint.root)} size {checkpoint.tree_size}")
    if chain is None:
        if anchor.chain_id == EMBEDDED_CHAIN_ID:
            raise fail("anchor", f"the anchor is on {where}, the in-process chain of the "
                                 "service that made it, which cannot be reached from here: "
                                 "the anchor is not verified (give --rpc-url of a chain that "
                                 "holds it)")
        raise fail("anchor", f"no endpoint of {where} to ask: the anchor is not verified")
    from casset_rights.anchoring.verify import verify_anchor

    try:
        verify_anchor(anchor.proof(), chain)
    except CassetError as exc:
        raise fail("anchor", f"not verified: {exc.detail}") from None
    return (f"{where} holds Anchored(root, {anchor.tree_size}) from contract "
            f"{anchor.contract_address} in transaction {anchor.tx_hash}, block "
            f"{anchor.block_number}")


def chain_for_anchor(anchor: BundleAnchor | None, rpc_url: str | None) -> AnchorChain | None:
    """A verify-only chain to ask about ``anchor``: at ``rpc_url``, else Base's public
    endpoint for Base anchors; None when there is nothing to ask (no anchor, or an embedded
    anchor and no URL). The chain checks the endpoint's chain id on first use."""
    if anchor is None:
        return None
    url = rpc_url or PUBLIC_RPC.get(anchor.chain_id)
    if url is None:
        return None
    from casset_rights.anchoring.rpc import JsonRpcChain

    return JsonRpcChain(url, chain_id=anchor.chain_id, contract_address=anchor.contract_address)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
