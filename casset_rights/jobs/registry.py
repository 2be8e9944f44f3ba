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


# What a ``casset-rights worker`` warms at its start, on a thread: name -> "module:function",
# called with the settings and returning the seconds it took (None: nothing to warm).
WARM_UPS: dict[str, str] = {
    "audio analysis": "casset_rights.audio.analysis_jobs:warm_worker",
}


def job_function(name: str) -> JobFunction:
    """The function of job ``name``. Raises NotFound for an unknown name."""
    target = JOBS.get(name)
    if target is None:
        raise NotFound(f"no job {name!r}")
    function: JobFunction = named_function(target)
    return function


def named_function(target: str) -> Any:
    """The function a ``"module:function"`` string names (imported on first use: a
    worker's modules import the jobs they run, not the other way round)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)
