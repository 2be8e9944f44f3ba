"""Jobs on a timer (``PeriodicJobs``): each at its own interval, failures retried."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from casset_rights.jobs.periodic import Every, PeriodicJobs
from casset_rights.jobs.queue import JobFunction


def _until(condition: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_each_job_runs_at_its_own_interval_until_stopped() -> None:
    runs: dict[str, int] = {"fast": 0, "slow": 0}
    lock = threading.Lock()

    def job(name: str) -> JobFunction:
        def run(context: dict[str, Any]) -> None:
            assert context["services"] == "svc"
            with lock:
                runs[name] += 1
        return run

    periodic = PeriodicJobs([Every("fast", 0.02), Every("slow", 60.0)], functions=job,
                            context={"services": "svc"})
    periodic.start()
    try:
        _until(lambda: runs["fast"] >= 5)
    finally:
        periodic.stop()
    after_stop = runs["fast"]
    time.sleep(0.1)
    assert runs["fast"] == after_stop and runs["slow"] == 0


def test_a_failing_job_is_logged_and_runs_again(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[float] = []

    def flaky(context: dict[str, Any]) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError("database away")

    periodic = PeriodicJobs([Every("flaky", 0.02)], functions=lambda name: flaky,
                            context={})
    periodic.start()
    try:
        _until(lambda: len(calls) >= 4)
    finally:
        periodic.stop()
    failures = [r for r in caplog.records if "periodic job flaky failed" in r.getMessage()]
    assert len(failures) == 2


def test_run_runs_a_job_now_and_returns_its_result() -> None:
    periodic = PeriodicJobs([], functions=lambda name: lambda context: {"job": name},
                            context={})
    assert periodic.run("anything") == {"job": "anything"}
    periodic.start()  # nothing scheduled: no thread
    periodic.stop()
