"""Verifying a receipt from the log's tiles alone (C2SP tlog-tiles), with pinned keys.

``verify_receipt_from_tiles`` fetches ``<prefix>/checkpoint`` and the tiles it needs
through ``fetch``, and checks, reporting each step as ``verify_receipt_bundle`` does:

1. ``receipt``: the receipt's signature under the pinned JWKS;
2. ``checkpoint``: the log's current checkpoint is signed by the pinned log key;
3. ``witnesses``: a quorum of the pinned witnesses cosigned it (skipped with none pinned);
4. ``inclusion``: the inclusion proof of SHA-256(0x00 || receipt) at ``leaf_index``,
   computed here from the tiles, leads to the checkpoint's root;
5. ``consistency``: when an earlier checkpoint is given (a bundle's), it is signed by the
   same key and, by a consistency proof computed from the tiles, a prefix of the current
   tree.

Nothing the server says is taken on trust: a tile that lies fails step 4 or 5. Returns
the verified checkpoint, or raises ``BundleInvalid`` naming the first step that failed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

from casset_rights.errors import CassetError
from casset_rights.log.bundle import (
    BundleInvalid,
    NewerCheckpoint,
    Step,
    StepName,
    check_checkpoint,
    check_consistency,
    check_receipt,
    check_witnesses,
)
from casset_rights.log.checkpoint import Checkpoint
from casset_rights.log.cosignature import CosignerKey
from casset_rights.log.merkle import leaf_hash
from casset_rights.log.tiles_client import Fetch, TiledLog, verify_inclusion_from_tiles


def verify_receipt_from_tiles(receipt: str, *, leaf_index: int, fetch: Fetch,
                              jwks: dict[str, Any], log_key: str,
                              witnesses: Sequence[CosignerKey] = (), quorum: int | None = None,
                              earlier_checkpoint: str | None = None,
                              report: Callable[[Step], None] | None = None) -> Checkpoint:
    """See the module. ``fetch(path)`` reads a path under the log's tlog-tiles prefix and
    raises CassetError (or OSError) when it cannot."""
    say = report or (lambda step: None)

    def fail(name: StepName, detail: str) -> BundleInvalid:
        say(Step(name, "failed", detail))
        return BundleInvalid(name, detail)

    jti = check_receipt(receipt, None, jwks, fail)
    say(Step("receipt", "ok", f"signature valid (EdDSA), receipt {jti}"))
    try:
        note = fetch("checkpoint").decode("utf-8")
    except (CassetError, OSError, UnicodeDecodeError) as exc:
        raise fail("checkpoint", f"cannot fetch the log's checkpoint: {exc}") from None
    checkpoint = check_checkpoint(note, log_key, fail)
    say(Step("checkpoint", "ok", f"the log's current checkpoint is signed by "
                                 f"{checkpoint.origin}: tree size {checkpoint.tree_size}, "
                                 f"root {_b64(checkpoint.root)}"))
    say(check_witnesses(note, witnesses, quorum, fail))
    tiles = TiledLog(fetch, checkpoint.tree_size)
    try:
        proof = verify_inclusion_from_tiles(tiles, index=leaf_index,
                                            leaf=leaf_hash(receipt.encode()),
                                            root=checkpoint.root)
    except (CassetError, OSError) as exc:
        raise fail("inclusion", f"{getattr(exc, 'detail', exc)} (leaf {leaf_index}, tree "
                                f"size {checkpoint.tree_size})") from None
    say(Step("inclusion", "ok", f"leaf {leaf_index} = SHA-256(0x00 || receipt) is in the tree "
                                f"of size {checkpoint.tree_size}: a {len(proof)}-hash proof "
                                f"computed from {len(tiles.fetched)} "
                                f"tile{'' if len(tiles.fetched) == 1 else 's'}"))
    if earlier_checkpoint is None:
        say(Step("consistency", "skipped", "no earlier checkpoint given"))
        return checkpoint
    earlier = check_checkpoint(earlier_checkpoint, log_key, lambda _, detail: fail(
        "consistency", f"the earlier checkpoint: {detail}"))
    if earlier.tree_size > checkpoint.tree_size:
        raise fail("consistency", f"the log's checkpoint has {checkpoint.tree_size} leaves, "
                                  f"fewer than the earlier one's {earlier.tree_size}")
    try:
        hashes = tiles.consistency_proof(earlier.tree_size)
    except (CassetError, OSError) as exc:
        raise fail("consistency", f"cannot compute the proof: {exc}") from None
    check_consistency(earlier, NewerCheckpoint(note=note, consistency_proof=tuple(hashes)),
                       log_key, fail)
    say(Step("consistency", "ok", f"the earlier tree of size {earlier.tree_size} is a prefix "
                                  f"of the log's tree of size {checkpoint.tree_size} (proof "
                                  f"computed from the tiles)"))
    return checkpoint


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()
