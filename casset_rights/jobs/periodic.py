"""Jobs of the registry run on a timer in this process (``PeriodicJobs``).

The server starts them with the app and stops them with it: ``expire-payment-holds``
every minute (with Stripe configured) and ``expire-idempotency-keys`` every
``idempotency_sweep_seconds``. Each job is idempotent and its changes conditional, so
every server process running them is harmless. A job that fails is logged and runs again
at its next time.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from casset_rights.jobs.queue import JobFunction

logger = logging.getLogger("casset_rights.jobs")


class Every(msgspec.Struct, frozen=True):
    """Run ``job`` (a registry name) every ``seconds``."""

    job: str
    seconds: float


class PeriodicJobs:
    """Runs each scheduled job every its own interval on one daemon thread, the first
    time one interval after ``start``. ``functions`` finds a job's function by name (the
    registry's ``job_function``); ``context`` is what the job is given (``services``)."""

    def __init__(self, schedule: Sequence[Every], *,
                 functions: Callable[[str], JobFunction], context: dict[str, Any],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.schedule = tuple(schedule)
        self._functions = functions
        self._context = context
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._due: dict[str, float] = {}

    def start(self) -> None:
        if self._thread is not None or not self.schedule:
            return
        now = self._clock()
        self._due = {every.job: now + every.seconds for every in self.schedule}
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="periodic-jobs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def run(self, job: str) -> Any:
        """Run ``job`` now, in this thread; returns its result. Raises what it raises."""
        context = {**self._context, "progress": lambda fraction: None}
        return self._functions(job)(context)

    def _loop(self) -> None:
        while not self._stop.wait(max(0.0, min(self._due.values()) - self._clock())):
            for every in self.schedule:
                if self._clock() < self._due[every.job]:
                    continue
                try:
                    self.run(every.job)
                except Exception:  # the database or Stripe away: the next time tries again
                    logger.exception("periodic job %s failed", every.job)
                self._due[every.job] = self._clock() + every.seconds
