"""The transparency log over HTTP: checkpoints, proofs, entries, anchors, receipt bundles,
and the log as C2SP ``tlog-tiles`` under the prefix ``/tlog``.

Hashes are base64 (standard alphabet), as in checkpoints; ``leaf_hash`` in a query may also
be hex. ``GET /v1/log/checkpoint`` answers JSON, or the bare signed note as ``text/plain``
when the client prefers it (``Accept: text/plain``). Checkpoints carry the witnesses'
cosignatures once they are had.

``/tlog/checkpoint`` (the signed, cosigned note), ``/tlog/tile/<L>/<N>[.p/<W>]`` and
``/tlog/tile/entries/<N>[.p/<W>]`` are the spec's resources: a full tile never changes and
is cached for a year as immutable; a partial tile and the checkpoint for seconds.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, QueryParameter

from casset_rights.api.deps import ServicesDep
from casset_rights.api.openapi import PARAMS, SCOPED, MediaBody, read_by_hand
from casset_rights.api.problems import problems
from casset_rights.api.schemas import ReceiptIdPath
from casset_rights.errors import InvalidInput
from casset_rights.log.bundle import ReceiptBundle
from casset_rights.log.checkpoint import Checkpoint
from casset_rights.log.service import LogEntry

# What parse_leaf_hash reads: 64 hex digits, or 43 base64 characters, with what surrounds
# them trimmed (it also reads a '+' sent unescaped, which arrives as a space).
LEAF_HASH_PATTERN = r"^\s*((0x)?[0-9a-fA-F]{64}|[A-Za-z0-9+/_-]{43}=?)\s*$"
NOTE_MEDIA_TYPE = "text/plain"  # Litestar adds "; charset=utf-8", as documented
TILE_MEDIA_TYPE = "application/octet-stream"
IMMUTABLE = "public, max-age=31536000, immutable"
PARTIAL_TILE_CACHE = "public, max-age=10"
CHECKPOINT_CACHE = "public, max-age=2"  # tlog-tiles: no caching beyond a few seconds
TLOG_PREFIX = "/tlog"
# 10**18 and not 2**63 - 1: a bound every JSON reader reads exactly, as a double or a
# decimal (the document writes it 1e+18).
TreeSize = Annotated[int, QueryParameter(ge=0, le=10**18)]


class Tile(MediaBody):
    """A C2SP tlog-tiles tile (hashes, 32 bytes each, of one level of the tree) or an
    entry bundle (each leaf prefixed by its length, a big-endian uint16)."""


class CheckpointOut(msgspec.Struct, frozen=True, kw_only=True):
    origin: str
    tree_size: int
    root: bytes
    timestamp: int | None
    note: str
    verifier_key: str


class InclusionOut(msgspec.Struct, frozen=True, kw_only=True):
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    hashes: tuple[bytes, ...]


class ConsistencyOut(msgspec.Struct, frozen=True, kw_only=True):
    first: int
    second: int
    hashes: tuple[bytes, ...]


class AnchorOut(msgspec.Struct, frozen=True, kw_only=True):
    chain: str
    chain_id: int
    contract_address: str
    status: str
    tx_hash: str
    block_number: int | None
    root: bytes
    root_hex: str
    tree_size: int
    gas_used: int | None
    created_at: int


class AnchorsOut(msgspec.Struct, frozen=True, kw_only=True):
    anchors: list[AnchorOut]


def parse_leaf_hash(text: str) -> bytes:
    """32 bytes from base64 (either alphabet, padding optional) or hex (``0x`` optional).
    Raises InvalidInput otherwise."""
    text = text.strip().replace(" ", "+")  # a '+' sent unescaped in a query arrives as ' '
    hex_text = text.removeprefix("0x")
    try:
        if len(hex_text) == 64:
            raw = bytes.fromhex(hex_text)
        else:
            raw = base64.b64decode(text.replace("-", "+").replace("_", "/")
                                   + "=" * (-len(text) % 4), validate=True)
    except (ValueError, binascii.Error):
        raise InvalidInput("leaf_hash must be 32 bytes in base64 or hex") from None
    if len(raw) != 32:
        raise InvalidInput("leaf_hash must be 32 bytes in base64 or hex")
    return raw


class LogController(Controller):
    tags = ("log",)

    @get("/v1/log/checkpoint", summary="The latest signed checkpoint (JSON, or text/plain)",
         sync_to_thread=True, operation_class=read_by_hand(also_text=(200,)),
         responses=problems(*SCOPED))
    def checkpoint(self, request: Request[Any, Any, Any],
                   services: ServicesDep) -> Response[CheckpointOut]:
        latest = services.log_keeper.latest_checkpoint()
        wanted = request.accept.best_match(["application/json", "text/plain"],
                                           default="application/json")
        if wanted == "text/plain":
            return Response(latest.note, media_type=NOTE_MEDIA_TYPE)  # type: ignore[arg-type]
        return Response(_checkpoint_out(latest, services.log_keeper.signer_of(latest.note)))

    @get("/v1/log/proofs/inclusion", summary="Inclusion proof of a leaf in a tree size",
         sync_to_thread=True, responses=problems(*SCOPED, *PARAMS, 404))
    def inclusion(self, services: ServicesDep,
                  leaf_hash: Annotated[str, QueryParameter(
                      max_length=100, schema_extra={"pattern": LEAF_HASH_PATTERN},
                      description="32 bytes: base64 (either alphabet) or hex")],
                  tree_size: TreeSize) -> InclusionOut:
        proof = services.log.inclusion_proof(parse_leaf_hash(leaf_hash), tree_size)
        return InclusionOut(leaf_index=proof.leaf_index, tree_size=proof.tree_size,
                            leaf_hash=proof.leaf_hash, hashes=proof.hashes)

    @get("/v1/log/proofs/consistency", summary="Consistency proof between two tree sizes",
         sync_to_thread=True, responses=problems(*SCOPED, *PARAMS))
    def consistency(self, services: ServicesDep, first: TreeSize,
                    second: TreeSize) -> ConsistencyOut:
        proof = services.log.consistency_proof(first, second)
        return ConsistencyOut(first=proof.first, second=proof.second, hashes=proof.hashes)

    @get("/v1/log/entries/{index:int}", summary="One leaf of the log", sync_to_thread=True,
         responses=problems(*SCOPED, *PARAMS, 404))
    def entry(self, index: FromPath[int], services: ServicesDep) -> LogEntry:
        return services.log.entry(index)

    @get("/v1/log/anchors", summary="Recent anchors of checkpoint roots on a chain",
         sync_to_thread=True, responses=problems(*SCOPED, *PARAMS))
    def anchors(self, services: ServicesDep,
                limit: Annotated[int, QueryParameter(ge=1, le=100)] = 20) -> AnchorsOut:
        return AnchorsOut(anchors=[
            AnchorOut(chain=r.chain, chain_id=r.chain_id, contract_address=r.contract_address,
                      status=r.status, tx_hash=r.tx_hash, block_number=r.block_number,
                      root=r.root, root_hex="0x" + r.root.hex(), tree_size=r.tree_size,
                      gas_used=r.gas_used, created_at=r.created_at)
            for r in services.anchoring.recent(limit)])

    @get("/v1/receipts/{jti:str}/bundle", summary="A receipt with everything needed to verify "
         "it offline: inclusion proof, checkpoint, anchor, keys", sync_to_thread=True,
         responses=problems(*SCOPED, *PARAMS, 404, 409))
    def bundle(self, jti: ReceiptIdPath, services: ServicesDep) -> ReceiptBundle:
        return services.log_keeper.bundle(jti)


def _checkpoint_out(checkpoint: Checkpoint, verifier_key: str) -> CheckpointOut:
    return CheckpointOut(origin=checkpoint.origin, tree_size=checkpoint.tree_size,
                         root=checkpoint.root, timestamp=checkpoint.timestamp,
                         note=checkpoint.note, verifier_key=verifier_key)


class TiledLogController(Controller):
    """The log as C2SP tlog-tiles (see the module)."""

    path = TLOG_PREFIX
    tags = ("tlog",)

    @get("/checkpoint", summary="The latest checkpoint as a signed note, with the witnesses' "
         "cosignatures (C2SP tlog-tiles)", sync_to_thread=True, media_type=MediaType.TEXT,
         responses=problems(*SCOPED))
    def checkpoint(self, services: ServicesDep) -> Response[str]:
        note = services.log_keeper.latest_checkpoint().note
        # Litestar adds "; charset=utf-8" to text/plain: the spec's exact content type.
        return Response(note, media_type=MediaType.TEXT,
                        headers={"Cache-Control": CHECKPOINT_CACHE})

    @get("/tile/{tile:path}", summary="A Merkle tree tile or an entry bundle "
         "(C2SP tlog-tiles)", sync_to_thread=True, media_type=TILE_MEDIA_TYPE,
         responses={200: ResponseSpec(Tile, media_type=TILE_MEDIA_TYPE, description="The "
                                      "tile: full ones never change", generate_examples=False),
                    # a path that is no tile, or one the tree does not hold yet: 404
                    **problems(*SCOPED, *PARAMS, 404)})
    def tile(self, tile: FromPath[str], services: ServicesDep) -> Response[bytes]:
        address, data = services.log.tile(tile)
        cache = IMMUTABLE if address.width is None else PARTIAL_TILE_CACHE
        return Response(data, media_type=TILE_MEDIA_TYPE, headers={"Cache-Control": cache})
