"""``casset-rights worker`` processes on a real SAQ queue (Redis): the log sequenced by
the worker, a job enqueued by the service and run by a worker, a worker killed with
SIGKILL replaced by another that takes the sequencer's lease, and the audio analysis
warmed at a worker's start into a persistent numba cache (slow: real processes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from casset_rights.config import Settings, settings_from_env
from casset_rights.services import Services, open_services

REDIS_URL = os.environ.get("CASSET_TEST_REDIS_URL", "")
BODY = {"principal": {"kind": "public"}, "request": {"action": "listen"}}

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.skipif(not REDIS_URL, reason="needs CASSET_TEST_REDIS_URL")]


@pytest.fixture
def queued(tmp_path: Path) -> Iterator[tuple[Settings, Services, dict[str, str]]]:
    """A service that enqueues on Redis (its own queue name), and the environment a worker
    process needs to serve the same data folder and queue."""
    env = {"CASSET_DATA_DIR": str(tmp_path / "data"), "CASSET_QUEUE_URL": REDIS_URL,
           "CASSET_QUEUE_NAME": f"test-{uuid.uuid4().hex[:8]}", "CASSET_CHAIN": "none"}
    settings = settings_from_env(env)
    services = open_services(settings)
    try:
        yield settings, services, env
    finally:
        services.close()


def start_worker(env: dict[str, str], tmp_path: Path, name: str) -> subprocess.Popen[bytes]:
    # The settings name numba's cache folder (CASSET_NUMBA_CACHE_DIR), not this process.
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("CASSET_") and k != "NUMBA_CACHE_DIR"} | env
    with (tmp_path / f"{name}.log").open("wb") as log:
        return subprocess.Popen([sys.executable, "-m", "casset_rights.cli", "worker"],
                                env=full, stdout=log, stderr=subprocess.STDOUT)


def wait_for(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_a_worker_sequences_the_log_and_runs_enqueued_jobs(queued, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, services, env = queued
    assert not services.sequencer.leading  # a queued service leaves it to the workers
    services.receipts.store([services.issuer.issue("decision", BODY) for _ in range(5)])
    worker = start_worker(env, tmp_path, "worker")
    try:
        wait_for(lambda: services.receipts.unlogged_count() == 0, 60,
                 "the worker to log the receipts")
        job = services.jobs.enqueue("anchor-log", key="anchor-now")
        wait_for(lambda: services.jobs.state(job).status in ("complete", "failed"), 60,
                 "the anchor job")
        state = services.jobs.state(job)
        assert state.status == "complete", state.error
        assert state.result["tree_size"] == services.log.size() >= 5
    finally:
        stop(worker)
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()[-2000:]


def test_a_killed_workers_lease_passes_to_the_next_worker(queued, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, services, env = queued
    first = start_worker(env, tmp_path, "first")
    try:
        services.receipts.store([services.issuer.issue("decision", BODY)])
        wait_for(lambda: services.receipts.unlogged_count() == 0, 60, "the first worker to log")
    finally:
        stop(first, signal.SIGKILL)  # no clean-up: the lease goes with the process
    second = start_worker(env, tmp_path, "second")
    try:
        services.receipts.store([services.issuer.issue("decision", BODY) for _ in range(3)])
        wait_for(lambda: services.receipts.unlogged_count() == 0, 60, "the second worker to log")
        assert services.log.size() == 4
    finally:
        stop(second)


def cache_files(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file()}


def warmed(tmp_path: Path, name: str) -> bool:
    return "audio analysis warmed in" in (tmp_path / f"{name}.log").read_text(errors="replace")


def test_a_worker_warms_the_analysis_into_a_persistent_numba_cache(queued, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("librosa")
    from casset_rights.audio.demo import store_demo_audio
    from casset_rights.services import load_examples

    _, services, env = queued
    cache = tmp_path / "numba"
    env = {**env, "CASSET_NUMBA_CACHE_DIR": str(cache)}
    first = start_worker(env, tmp_path, "first")
    try:  # librosa's numba code compiled from nothing: minutes on a busy machine
        wait_for(lambda: warmed(tmp_path, "first") or first.poll() is not None, 900,
                 "the first worker's warm-up")
    finally:
        stop(first)
    assert warmed(tmp_path, "first"), (tmp_path / "first.log").read_text()[-2000:]
    compiled = cache_files(cache)
    assert any(name.endswith(".nbi") for name in compiled)  # numba's cache indexes

    # The next worker loads the compiled code: nothing in the folder is written again.
    second = start_worker(env, tmp_path, "second")
    try:
        wait_for(lambda: warmed(tmp_path, "second") or second.poll() is not None, 600,
                 "the second worker's warm-up")
        assert warmed(tmp_path, "second"), (tmp_path / "second.log").read_text()[-2000:]
        assert cache_files(cache) == compiled
        # A job it is given runs warm: the demo track's audio stored, its analysis queued.
        load_examples(services)
        head = json.loads(services.catalog.head("midnight-tapes").document)
        head["tracks"] = head["tracks"][:1]
        assert store_demo_audio(services.audio, [head]) == 1
        track, audio = services.audio.track_audio("midnight-tapes", "1")
        records = services.audio.records
        wait_for(lambda: records.analysis(audio.content_hash).state in ("done", "failed"),
                 300, "the analysis job")
        state = records.analysis(audio.content_hash)
        assert state.state == "done" and state.result["duration_ms"] == track.duration_ms
    finally:
        stop(second)
    assert cache_files(cache) == compiled
