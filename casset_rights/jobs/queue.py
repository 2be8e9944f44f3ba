"""Enqueueing jobs and reading their state, from synchronous domain code.

``JobQueue`` is what services are given: ``enqueue(name, key=..., **kwargs)`` and
``state(job_id)``. ``InlineQueue`` runs the jobs in this process (the embedded
default); ``SaqQueue`` puts them on a SAQ queue for ``casset-rights worker`` processes,
talking to it from a private event loop on a thread of its own (SAQ is asynchronous,
the services are not).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any, Literal, Protocol

import msgspec

from casset_rights.errors import NotFound

logger = logging.getLogger("casset_rights.jobs")

Status = Literal["queued", "active", "complete", "failed", "aborted"]
# A job function: given the context (``services`` and a ``progress(fraction)`` callback)
# and its keyword arguments, it does its work and returns what can be encoded as JSON.
JobFunction = Callable[..., Any]


class JobState(msgspec.Struct, frozen=True, kw_only=True):
    """A job as its caller sees it."""

    id: str
    name: str
    status: Status
    progress: float = 0.0
    result: Any = None
    error: str | None = None


class JobQueue(Protocol):
    def enqueue(self, name: str, *, key: str | None = None, **kwargs: Any) -> str:
        """Queue job ``name`` with ``kwargs``; returns its id. ``key`` makes it unique:
        while a job of that key is queued or running, enqueueing it again returns the same
        id. Raises NotFound for an unknown job name."""
        ...

    def state(self, job_id: str) -> JobState:
        """Raises NotFound for an unknown id."""
        ...

    def close(self) -> None: ...


class InlineQueue:
    """Jobs run on a thread pool of this process; states kept in memory (the embedded
    default: one server process, nothing to share). ``functions`` finds a job's function
    by name (raising NotFound)."""

    def __init__(self, functions: Callable[[str], JobFunction], *, context: dict[str, Any],
                 workers: int = 2) -> None:
        self._functions = functions
        self._context = context
        self._pool = concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="job")
        self._lock = threading.Lock()
        self._states: dict[str, JobState] = {}
        self._by_key: dict[str, str] = {}

    def enqueue(self, name: str, *, key: str | None = None, **kwargs: Any) -> str:
        function = self._functions(name)
        with self._lock:
            if key is not None and key in self._by_key:
                known = self._states[self._by_key[key]]
                if known.status in ("queued", "active"):
                    return known.id
            job_id = key or uuid.uuid4().hex
            self._states[job_id] = JobState(id=job_id, name=name, status="queued")
            if key is not None:
                self._by_key[key] = job_id
        self._pool.submit(self._run, job_id, function, kwargs)
        return job_id

    def state(self, job_id: str) -> JobState:
        with self._lock:
            found = self._states.get(job_id)
        if found is None:
            raise NotFound(f"no job {job_id!r}")
        return found

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _set(self, job_id: str, **changes: Any) -> None:
        with self._lock:
            self._states[job_id] = msgspec.structs.replace(self._states[job_id], **changes)

    def _run(self, job_id: str, function: JobFunction, kwargs: dict[str, Any]) -> None:
        self._set(job_id, status="active")
        context = {**self._context,
                   "progress": lambda fraction: self._set(job_id, progress=float(fraction))}
        try:
            result = function(context, **kwargs)
        except Exception as exc:
            logger.exception("job %s failed", job_id)
            self._set(job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
            return
        self._set(job_id, status="complete", progress=1.0, result=result)


class SaqQueue:
    """Jobs on a SAQ queue (Redis or PostgreSQL URL), run by ``casset-rights worker``."""

    def __init__(self, url: str, *, name: str = "casset", timeout_seconds: int = 600,
                 retries: int = 3) -> None:
        from saq import Queue

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="saq-client",
                                        daemon=True)
        self._thread.start()
        self.queue = Queue.from_url(url, name=name)
        self._timeout = timeout_seconds
        self._retries = retries
        self._call(self.queue.connect())

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=30)

    def enqueue(self, name: str, *, key: str | None = None, **kwargs: Any) -> str:
        from casset_rights.jobs.registry import JOBS

        if name not in JOBS:
            raise NotFound(f"no job {name!r}")
        options: dict[str, Any] = {"timeout": self._timeout, "retries": self._retries,
                                   "heartbeat": 60}
        if key is not None:
            options["key"] = key
        job = self._call(self.queue.enqueue(name, **options, **kwargs))
        if job is None:  # already queued or running under that key
            assert key is not None
            return key
        return str(job.key)

    def state(self, job_id: str) -> JobState:
        job = self._call(self.queue.job(job_id))
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        return JobState(id=str(job.key), name=job.function,
                        status=_status(job.status),
                        progress=float(job.progress or 0.0), result=job.result,
                        error=job.error)

    def close(self) -> None:
        try:
            self._call(self.queue.disconnect())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)
            self._loop.close()


def open_queue(url: str | None, *, functions: Callable[[str], JobFunction],
               context: dict[str, Any], name: str = "casset") -> JobQueue:
    """The queue the settings name: SAQ on ``url`` (queue ``name``), or jobs in this
    process."""
    if url:
        return SaqQueue(url, name=name)
    return InlineQueue(functions, context=context)


_SAQ_STATUS: dict[str, Status] = {
    "new": "queued", "queued": "queued", "active": "active", "aborting": "active",
    "complete": "complete", "failed": "failed", "aborted": "aborted"}


def _status(saq_status: object) -> Status:
    """Our status of a SAQ job: SAQ's ``new`` is still queued and ``aborting`` still
    running. Raises KeyError for a status SAQ adds later (found by the tests, not hidden)."""
    return _SAQ_STATUS[str(getattr(saq_status, "value", saq_status))]
