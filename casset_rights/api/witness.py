"""The witness over HTTP (C2SP ``tlog-witness``): ``POST /add-checkpoint``, and ``GET /``
saying who the witness is.

A small app of its own, apart from the rights service: ``casset-rights witness serve``
runs it under granian. The statuses are the spec's (``log/witness.py`` decides them); a
``409`` for a stale old size answers the witness's size as ``text/x.tlog.size``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import msgspec
from litestar import Litestar, MediaType, Request, Response, get, post

from casset_rights.log.witness import SIZE_MEDIA_TYPE, Witness, WitnessRefused, open_witness

MAX_BODY = 64 * 1024  # a checkpoint and 63 hashes fit many times over


class WitnessInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    verifier_key: str
    logs: list[str]
    add_checkpoint: str = "/add-checkpoint"


def create_witness_app(witness: Witness) -> Litestar:
    """The witness's ASGI app."""

    @post("/add-checkpoint", summary="Cosign a checkpoint consistent with the last one")
    async def add_checkpoint(request: Request[Any, Any, Any]) -> Response[str]:
        body = await request.body()
        try:
            # The witness's SQLite transaction blocks: off the event loop.
            line = await anyio.to_thread.run_sync(witness.add_checkpoint, body)
        except WitnessRefused as exc:
            if exc.latest_size is not None:
                return Response(f"{exc.latest_size}\n", status_code=exc.status,
                                media_type=SIZE_MEDIA_TYPE)
            return Response(exc.detail + "\n", status_code=exc.status, media_type=MediaType.TEXT)
        return Response(line, status_code=200, media_type=MediaType.TEXT)

    @get("/", summary="Who this witness is and which logs it cosigns")
    async def info() -> WitnessInfo:
        return WitnessInfo(name=witness.name, verifier_key=witness.verifier_key,
                           logs=sorted(witness.origins))

    return Litestar(route_handlers=[add_checkpoint, info], request_max_body_size=MAX_BODY,
                    debug=False)


def witness_app_from_environment() -> Litestar:
    """The ASGI factory ``casset-rights witness serve`` gives granian: the witness in the
    folder named by ``CASSET_WITNESS_DIR`` (set by that command)."""
    import os

    return create_witness_app(open_witness(Path(os.environ["CASSET_WITNESS_DIR"])))
