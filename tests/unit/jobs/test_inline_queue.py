"""Jobs run inside the process (the embedded default): states, progress, unique keys."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from casset_rights.errors import NotFound
from casset_rights.jobs.queue import InlineQueue, JobFunction, JobState


def _wait(queue: InlineQueue, job_id: str, status: str) -> JobState:
    deadline = time.monotonic() + 10
    while (state := queue.state(job_id)).status != status:
        assert time.monotonic() < deadline, state
        time.sleep(0.01)
    return state


def test_a_job_runs_reports_progress_and_its_result() -> None:
    release = threading.Event()

    def count(context: dict[str, Any], *, to: int) -> dict[str, int]:
        context["progress"](0.5)
        release.wait(10)
        return {"counted": to, "by": context["services"]}

    functions: dict[str, JobFunction] = {"count": count}
    queue = InlineQueue(lambda name: functions[name], context={"services": "svc"})
    try:
        job = queue.enqueue("count", to=3)
        assert _wait(queue, job, "active").progress == 0.5
        release.set()
        done = _wait(queue, job, "complete")
        assert done.result == {"counted": 3, "by": "svc"} and done.progress == 1.0
    finally:
        queue.close()


def test_a_failing_job_is_failed_with_its_error_and_a_key_is_unique_while_it_runs() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(context: dict[str, Any]) -> None:
        started.set()
        release.wait(10)

    def broken(context: dict[str, Any]) -> None:
        raise ValueError("no such track")

    functions: dict[str, JobFunction] = {"slow": slow, "broken": broken}

    def find(name: str) -> JobFunction:
        if name not in functions:
            raise NotFound(f"no job {name!r}")
        return functions[name]

    queue = InlineQueue(find, context={})
    try:
        first = queue.enqueue("slow", key="analyse:t1")
        started.wait(10)
        assert queue.enqueue("slow", key="analyse:t1") == first  # still running: the same job
        release.set()
        _wait(queue, first, "complete")
        failed = _wait(queue, queue.enqueue("broken"), "failed")
        assert failed.error == "ValueError: no such track"
        with pytest.raises(NotFound):
            queue.enqueue("nothing")
        with pytest.raises(NotFound):
            queue.state("unknown")
    finally:
        queue.close()
