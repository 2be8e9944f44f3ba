"""Analysis (librosa): tempo, beats, onsets, loudness, waveform, a hook snapped to bars;
and the job that records it, idempotent, on both databases. librosa's first use
compiles numba code, so these are slow tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("librosa")

from casset_rights.audio.analysis import analyse, waveform_peaks
from casset_rights.audio.analysis_jobs import AnalysisDeps, analyse_track
from casset_rights.audio.blobs import LocalBlobStore
from casset_rights.audio.records import AudioRecords, StoredAudio
from casset_rights.audio.synth import encode_audio, song

pytestmark = pytest.mark.slow


def test_a_song_s_tempo_beats_loudness_and_chorus_are_found() -> None:
    samples = song(60, bpm=120, seed=5, chorus=(30, 50))
    seen: list[float] = []
    result = analyse(samples, 44100, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] < 1.0
    assert result["duration_ms"] == 60000 and result["channels"] == 2
    assert result["tempo_bpm"] == pytest.approx(120, rel=0.05)
    gaps = [b - a for a, b in zip(result["beats_s"], result["beats_s"][1:], strict=False)]
    assert sorted(gaps)[len(gaps) // 2] == pytest.approx(0.5, abs=0.03)
    assert len(result["onsets_s"]) >= len(result["beats_s"])
    assert -30 < result["loudness_lufs"] < 0 and result["true_peak_dbtp"] <= 0.5
    assert result["waveform"]["points"] == 1000
    hook = result["suggested_hook"]
    assert hook["snapped_to_bars"] and 15000 <= hook["end_ms"] - hook["start_ms"] <= 30000
    # The louder, busier chorus (30 - 50 s) is where the suggestion lies.
    assert hook["start_ms"] >= 28000 and hook["end_ms"] <= 52000
    assert "bar line" in hook["reason"]


def test_silence_is_analysed_without_a_hook() -> None:
    import numpy as np

    result = analyse(np.zeros((44100 * 20, 1), dtype=np.float32), 44100)
    assert result["loudness_lufs"] is None and result["true_peak_dbtp"] is None
    assert result["suggested_hook"] is None and result["beats_s"] == []


def test_waveform_peaks_bound_the_signal() -> None:
    import numpy as np

    mono = np.sin(np.linspace(0, 20 * np.pi, 10000)).astype(np.float32)
    peaks = waveform_peaks(mono, points=10)
    assert peaks["points"] == 10 and max(peaks["max"]) <= 1.0 and min(peaks["min"]) >= -1.0
    assert all(lo <= hi for lo, hi in zip(peaks["min"], peaks["max"], strict=True))


def stored(engine: Any, tmp_path: Path, data: bytes, fmt: str) -> tuple[AnalysisDeps, str]:
    from casset_rights.manifests.catalog import CatalogService
    from casset_rights.manifests.loader import load_catalog_directory

    catalog = CatalogService(engine)
    root = Path(__file__).resolve().parents[3] / "examples" / "catalog"
    load_catalog_directory(catalog, root)
    blobs = LocalBlobStore(tmp_path / "blobs")
    source = tmp_path / "upload"
    source.write_bytes(data)
    records = AudioRecords(engine)
    track = catalog.track("glass-hours/1")
    # The test's audio stands for the example track's: recorded under its declared hash.
    blobs.put_file("audio", track.audio_hash.removeprefix("sha256:"), source)
    records.add_audio(StoredAudio(content_hash=track.audio_hash, format=fmt,
                                  media_type="audio/flac", size_bytes=len(data),
                                  sample_rate=44100, channels=2, frames=44100 * 20,
                                  uploaded_by="nightglass", stored_at_ms=0))
    return AnalysisDeps(catalog=catalog, records=records, blobs=blobs,
                        scratch=tmp_path / "scratch"), track.audio_hash


def test_the_job_records_progress_and_result_and_runs_once(engine: Any,
                                                           tmp_path: Path) -> None:
    deps, digest = stored(engine, tmp_path, encode_audio(song(20, seed=6), 44100, "flac"),
                          "flac")
    deps.records.queue_analysis(digest)
    seen: list[float] = []
    state = analyse_track(deps, "glass-hours", "1", progress=seen.append)
    assert state.state == "done" and state.progress == 1.0 and state.attempts == 1
    assert state.result is not None and state.result["duration_ms"] == 20000
    assert seen[-1] == 1.0
    again = analyse_track(deps, "glass-hours", "1")
    assert again.attempts == 1 and again.result == state.result  # done: not run again


def test_audio_that_does_not_decode_fails_the_job_with_its_code(engine: Any,
                                                                tmp_path: Path) -> None:
    deps, digest = stored(engine, tmp_path, b"fLaC" + bytes(4000), "flac")
    state = analyse_track(deps, "glass-hours", "1")
    assert state.state == "failed" and state.error_code == "audio_corrupt"
    queued = deps.records.queue_analysis(digest)  # a failed job may be queued again
    assert queued.state == "queued" and queued.error_code is None


def test_the_pool_runs_queued_jobs_in_a_warmed_worker_process(engine: Any, tmp_path: Path,
                                                              settings: Any) -> None:
    import os

    from casset_rights.audio.analysis_jobs import AnalysisPool, JobConfig
    from casset_rights.db.engine import search_path_of

    deps, digest = stored(engine, tmp_path, encode_audio(song(20, seed=7), 44100, "flac"),
                          "flac")
    deps.records.queue_analysis(digest)
    # The worker opens the same database and the same blob folder as this test.
    config = JobConfig.from_settings(
        msgspec_replace(settings, blob_dir=tmp_path / "blobs",
                        numba_cache_dir=Path(os.environ.get("NUMBA_CACHE_DIR",
                                                            tmp_path / "numba"))),
        database_url=engine.url.render_as_string(hide_password=False),
        search_path=search_path_of(engine))
    pool = AnalysisPool(config, workers=1)
    try:
        assert pool.submit(digest) is None  # not started: the job stays queued
        ready = pool.start()
        assert ready is not None and ready.get(timeout=600) != os.getpid()
        future = pool.submit(digest)
        assert future is not None and future.get(timeout=600) == "done"
    finally:
        pool.close()
    state = deps.records.analysis(digest)
    assert state is not None and state.state == "done" and state.result is not None
    assert deps.records.pending_analyses() == []


def test_the_pool_closes_after_its_workers_were_sent_sigterm(engine: Any, tmp_path: Path,
                                                            settings: Any) -> None:
    """SIGTERM to the whole process group (a service manager stopping the server) reaches
    the pool's workers too; the server's shutdown then still closes the pool."""
    import os
    import signal
    import threading


    pool, worker = started_pool(engine, tmp_path, settings)
    assert worker != os.getpid()
    os.kill(worker, signal.SIGTERM)  # idle: it waits for a job, holding the queue's lock
    closing = threading.Thread(target=pool.close, daemon=True)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "the pool's close waited for a lock its worker kept"


def test_the_pool_closes_when_a_worker_misses_sigterm(engine: Any, tmp_path: Path,
                                                     settings: Any) -> None:
    """A worker that does not act on SIGTERM (here stopped with SIGSTOP; in service, one
    whose signal went to another of its threads) is killed after the grace period: the
    server's shutdown does not wait for it for good."""
    import os
    import signal
    import threading
    import time

    from casset_rights.audio.analysis_jobs import CLOSE_GRACE_SECONDS

    pool, worker = started_pool(engine, tmp_path, settings)
    os.kill(worker, signal.SIGSTOP)
    started = time.monotonic()
    closing = threading.Thread(target=pool.close, daemon=True)
    closing.start()
    closing.join(timeout=60)
    assert not closing.is_alive(), "the pool's close waited for a worker that never stopped"
    assert CLOSE_GRACE_SECONDS <= time.monotonic() - started < 60
    with pytest.raises(ProcessLookupError):  # killed and reaped
        os.kill(worker, 0)


def started_pool(engine: Any, tmp_path: Path, settings: Any) -> tuple[Any, int]:
    """An analysis pool of one cold worker, started; and that worker's pid."""
    from casset_rights.audio.analysis_jobs import AnalysisPool, JobConfig
    from casset_rights.db.engine import search_path_of

    config = JobConfig.from_settings(
        msgspec_replace(settings, blob_dir=tmp_path / "blobs"),
        database_url=engine.url.render_as_string(hide_password=False),
        search_path=search_path_of(engine))
    pool = AnalysisPool(config, workers=1, warm=False)
    ready = pool.start()
    assert ready is not None
    return pool, ready.get(timeout=120)


def msgspec_replace(struct: Any, **changes: Any) -> Any:
    import msgspec

    return msgspec.structs.replace(struct, **changes)


def test_the_queue_runs_the_analysis_job_by_name(services: Any) -> None:
    import time

    from casset_rights.audio.demo import demo_flac

    head = services.catalog.head("salt-and-static")
    manifest = __import__("json").loads(head.document)
    track = services.catalog.track("salt-and-static/1")
    with services.audio.staging() as staging:
        staging.write(demo_flac("salt-and-static", manifest["tracks"][0]))
        services.audio.store(staging, track=track, uploader="mara-quell")
    job = services.jobs.enqueue("audio-analyse", key=f"audio-analyse:{track.audio_hash}",
                                content_hash=track.audio_hash)
    deadline = time.monotonic() + 600
    while services.jobs.state(job).status in ("queued", "active"):
        assert time.monotonic() < deadline
        time.sleep(0.2)
    state = services.jobs.state(job)
    assert state.status == "complete", state.error
    assert state.result == {"content_hash": track.audio_hash, "state": "done",
                            "error_code": None}
    _, recorded = services.audio.analysis("salt-and-static", "1")
    assert recorded.state == "done" and recorded.result["sample_rate"] == 22050


def test_two_threads_analysing_at_once_in_a_fresh_process_import_safely() -> None:
    """A worker's warm-up beside its first job (and analysis's own loudness thread): the
    libraries are imported one thread at a time, never met half initialised."""
    import os
    import subprocess
    import sys

    script = (
        "import threading\n"
        "from casset_rights.audio.analysis import warm_up\n"
        "errors = []\n"
        "def run():\n"
        "    try:\n"
        "        warm_up()\n"
        "    except Exception as exc:\n"
        "        errors.append(repr(exc))\n"
        "threads = [threading.Thread(target=run) for _ in range(2)]\n"
        "[t.start() for t in threads]\n"
        "[t.join() for t in threads]\n"
        "print(errors)\n")
    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(root)}, timeout=900, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
