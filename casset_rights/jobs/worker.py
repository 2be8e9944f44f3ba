"""``casset-rights worker``: a SAQ worker running the service's jobs, and the log's
sequencer.

Each job function (``jobs.registry``) runs on a thread of the worker, given the worker's
own ``Services`` and a progress callback that updates the job on the queue. Every worker
also runs the log's sequencer on a thread from its start: the one holding the lease
integrates, checkpoints, cosigns and anchors continuously; the others stand by and take
over within a second when it dies. (A SAQ cron job every second was tried first: SAQ's
scheduler left 1 to 2 s between runs, beyond the 1 s the log may lag.) At its start a
worker also warms what ``jobs.registry.WARM_UPS`` names (the audio analysis) on a thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from casset_rights.config import Settings
from casset_rights.errors import InvalidInput
from casset_rights.jobs.registry import JOBS, WARM_UPS, job_function, named_function

logger = logging.getLogger("casset_rights.jobs")


def _runner(name: str, services: Any) -> Any:
    async def run(ctx: dict[str, Any], **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        job = ctx["job"]

        def progress(fraction: float) -> None:
            asyncio.run_coroutine_threadsafe(job.update(progress=float(fraction)), loop)

        context = {"services": services, "progress": progress}
        return await asyncio.to_thread(job_function(name), context, **kwargs)

    run.__qualname__ = run.__name__ = name
    return run


def build_worker(settings: Settings, services: Any, *, concurrency: int = 4) -> Any:
    """A SAQ ``Worker`` on the settings' queue with every job and the cron. Raises
    InvalidInput when no queue URL is set (the embedded default needs no worker)."""
    from saq import Queue, Worker

    if not settings.queue_url:
        raise InvalidInput("no CASSET_QUEUE_URL: on the embedded default the server runs "
                           "its jobs itself; set a redis:// or postgresql:// queue URL")
    queue = Queue.from_url(settings.queue_url, name=settings.queue_name)
    runners = {name: _runner(name, services) for name in JOBS}

    async def startup(ctx: dict[str, Any]) -> None:
        services.sequencer.start()
        # The analysis job's libraries warmed in the background (librosa's numba code
        # compiled, or loaded from the persistent NUMBA_CACHE_DIR): the log's sequencer
        # does not wait for it, the first analysis does not pay for it. A daemon thread:
        # a worker stopped while it compiles exits at once (numba replaces its cache
        # files whole, so none is left half written).
        for name, target in WARM_UPS.items():
            threading.Thread(target=warm_up, args=(name, target, settings),
                             name=f"warm-up {name}", daemon=True).start()

    async def shutdown(ctx: dict[str, Any]) -> None:
        await asyncio.to_thread(services.sequencer.stop)

    return Worker(queue, functions=[(name, fn) for name, fn in runners.items()],
                  concurrency=concurrency, startup=startup, shutdown=shutdown)


def warm_up(name: str, target: str, settings: Settings) -> None:
    """Run one warm-up of ``WARM_UPS``; a failure is logged (the first job pays instead)."""
    try:
        seconds = named_function(target)(settings)
    except Exception:
        logger.exception("%s warm-up failed", name)
        return
    if seconds is None:
        logger.info("%s not installed: nothing to warm", name)
    else:
        logger.info("%s warmed in %.1f s (numba cache %s)", name, seconds,
                    settings.resolved_numba_cache_dir)


def run_worker(settings: Settings, *, concurrency: int = 4) -> None:
    """Run a worker until SIGINT or SIGTERM (the ``worker`` command)."""
    from casset_rights.services import load_examples, open_services

    logging.getLogger("saq").setLevel(logging.WARNING)  # not a line for every job
    services = open_services(settings)
    if settings.load_examples:
        load_examples(services)
    worker = build_worker(settings, services, concurrency=concurrency)
    logger.info("worker on %s: jobs %s", settings.queue_url.split("@")[-1],
                ", ".join(sorted(JOBS)))
    try:
        asyncio.run(worker.start())
    finally:
        services.close()
