"""The jobs, by name.

A job function is synchronous: ``fn(context, **kwargs)``, where ``context`` holds
``services`` (the worker's ``Services``) and ``progress(fraction)``. Each must be
idempotent: a job swept back from a dead worker runs again.
"""

from __future__ import annotations

import importlib
from typing import Any

from casset_rights.errors import NotFound
from casset_rights.jobs.queue import JobFunction


def anchor_log(context: dict[str, Any]) -> dict[str, Any]:
    """Integrate, checkpoint and anchor the newest checkpoint now (the ``anchor`` command's
    work, on the queue)."""
    run = context["services"].log_keeper.anchor_now()
    return {"tree_size": run.checkpoint.tree_size,
            "anchor": None if run.anchor is None else run.anchor.tx_hash}


# Job names and where their functions live, imported when first run (an audio job must
# not load its libraries into every process that merely enqueues).
JOBS: dict[str, str] = {
    "anchor-log": "casset_rights.jobs.registry:anchor_log",
    "expire-payment-holds": "casset_rights.commerce.jobs:expire_payment_holds",
    "expire-idempotency-keys": "casset_rights.idempotency.jobs:expire_idempotency_keys",
    "audio-analyse": "casset_rights.audio.analysis_jobs:analyse_track_job",
}


def job_function(name: str) -> JobFunction:
    """The function of job ``name``. Raises NotFound for an unknown name."""
    target = JOBS.get(name)
    if target is None:
        raise NotFound(f"no job {name!r}")
    module, _, attribute = target.partition(":")
    function: JobFunction = getattr(importlib.import_module(module), attribute)
    return function
