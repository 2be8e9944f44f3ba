"""The analysis job, and the process pool that runs it off the request path.

``analyse_track(deps, release, track, progress=...)`` is the job (``analyse_audio`` the
same for audio named by its hash): a plain function, safe
to run again (audio analysed already is answered from its row; a failed or interrupted
one runs again). It records its state, progress and result in ``audio_analyses``, so
any process can report on it. A job queue registers it as it is; until one exists, the
audio service's ``AnalysisPool`` runs it in worker processes that it starts (spawned,
not forked: the server holds threads) and warms: librosa's numba code compiled or loaded
from ``NUMBA_CACHE_DIR`` before the first job arrives.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.pool
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casset_rights.audio.blobs import BlobStore
from casset_rights.audio.errors import AudioMissing
from casset_rights.audio.records import AnalysisState, AudioRecords
from casset_rights.errors import CassetError

if TYPE_CHECKING:
    from casset_rights.config import Settings
    from casset_rights.manifests.catalog import CatalogService

logger = logging.getLogger("casset_rights.audio")
PROGRESS_STEP = 0.05


@dataclass(frozen=True)
class AnalysisDeps:
    """What the job needs: the catalog (which audio a track names), the audio rows, the
    blobs, and a scratch folder for a remote blob's local copy."""

    catalog: CatalogService
    records: AudioRecords
    blobs: BlobStore
    scratch: Path


def analyse_track(deps: Any, release: str, track: str, *,
                  progress: Callable[[float], None] | None = None) -> AnalysisState:
    """Analyse the audio of the head track ``release/track`` and record the result.

    ``deps`` is an ``AnalysisDeps`` or the services container (its ``audio``).
    Returns the recorded state: ``done`` with the result, or ``failed`` with the error
    code for audio that does not decode. Raises UnknownResource (no such track) and
    AudioMissing (no audio uploaded); an unexpected error is recorded as
    ``internal_error`` and raised.
    """
    if not isinstance(deps, AnalysisDeps):
        deps = deps.audio.analysis_deps()
    record = deps.catalog.track(f"{release}/{track}")
    return analyse_audio(deps, record.audio_hash, progress=progress)


def analyse_audio(deps: AnalysisDeps, content_hash: str, *,
                  progress: Callable[[float], None] | None = None) -> AnalysisState:
    """``analyse_track`` for stored audio named by its hash (what the pool runs: the
    analysis belongs to the bytes). Raises AudioMissing when none is stored."""
    from casset_rights.audio.analysis import analyse
    from casset_rights.audio.decode import decode_all
    from casset_rights.audio.uploads import AUDIO

    audio = deps.records.audio(content_hash)
    if audio is None:
        raise AudioMissing(f"no audio {content_hash} has been uploaded")
    known = deps.records.analysis(content_hash)
    if known is not None and known.state == "done":
        return known
    deps.records.start_analysis(content_hash)
    last = [0.0]

    def report(fraction: float) -> None:
        if progress:
            progress(fraction)
        if fraction - last[0] >= PROGRESS_STEP:
            last[0] = fraction
            deps.records.analysis_progress(content_hash, fraction)

    try:
        path = deps.blobs.local_path(AUDIO, content_hash.removeprefix("sha256:"), deps.scratch)
        samples, rate = decode_all(path, audio.format)  # type: ignore[arg-type]
        report(0.1)
        result = analyse(samples, rate, progress=report)
    except CassetError as exc:
        deps.records.fail_analysis(content_hash, code=exc.code, detail=exc.detail)
    except Exception as exc:
        deps.records.fail_analysis(content_hash, code="internal_error",
                                   detail=f"{type(exc).__name__}: {exc}")
        raise
    else:
        deps.records.finish_analysis(content_hash, result)
        report(1.0)
    state = deps.records.analysis(content_hash)
    assert state is not None
    return state


def analyse_track_job(context: dict[str, Any], *, content_hash: str) -> dict[str, Any]:
    """The analysis as a job of the queue (``jobs.registry``: ``audio-analyse``): the
    worker's ``services`` and ``progress`` from ``context``. Returns the state reached
    (the result itself is in ``audio_analyses``)."""
    use_numba_cache(context["services"].settings)
    state = analyse_audio(context["services"].audio.analysis_deps(), content_hash,
                          progress=context.get("progress"))
    return {"content_hash": content_hash, "state": state.state,
            "error_code": state.error_code}


@dataclass(frozen=True)
class JobConfig:
    """What a worker process needs to build its own ``AnalysisDeps`` (picklable)."""

    database_url: str
    search_path: str | None
    settings: Settings

    @classmethod
    def from_settings(cls, settings: Settings, *, database_url: str,
                      search_path: str | None) -> JobConfig:
        return cls(database_url=database_url, search_path=search_path, settings=settings)


_worker_deps: AnalysisDeps | None = None


def open_deps(config: JobConfig) -> AnalysisDeps:
    from casset_rights.audio.service import open_blobs
    from casset_rights.db.engine import make_engine
    from casset_rights.manifests.catalog import CatalogService

    engine = make_engine(config.database_url, search_path=config.search_path)
    return AnalysisDeps(catalog=CatalogService(engine), records=AudioRecords(engine),
                        blobs=open_blobs(config.settings),
                        scratch=config.settings.data_dir / "tmp" / "blobs")


def use_numba_cache(settings: Settings) -> Path:
    """numba's cache in the settings' persistent folder for this process: effective only
    before numba is first imported here (numba reads ``NUMBA_CACHE_DIR`` then), so
    every path to librosa calls this first. Returns the folder."""
    cache = settings.resolved_numba_cache_dir
    cache.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NUMBA_CACHE_DIR", str(cache))
    return cache


def warm_worker(settings: Settings) -> float | None:
    """Ready this process for analysis jobs: numba's cache in its persistent folder
    (``settings.resolved_numba_cache_dir``; set before numba is first imported here),
    then a tiny analysis of synthetic audio, which compiles librosa's numba code or
    loads it from that folder. Returns the seconds it took; None when the ``audio``
    extra is not installed (nothing to warm)."""
    import importlib.util
    import time

    use_numba_cache(settings)
    if importlib.util.find_spec("librosa") is None:
        return None
    from casset_rights.audio.analysis import warm_up

    started = time.perf_counter()
    warm_up()
    return time.perf_counter() - started


def _start_worker(config: JobConfig, warm: bool) -> None:
    """A pool worker's start: SIGTERM unwinds it (``_exit_on_term``) and SIGINT is left
    to the server (Ctrl-C reaches the whole process group; the server then closes the
    pool, and each worker printed a KeyboardInterrupt traceback), then numba's cache
    folder, its own connections, and the warm-up."""
    global _worker_deps
    signal.signal(signal.SIGTERM, _exit_on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    use_numba_cache(config.settings)
    _worker_deps = open_deps(config)
    if warm:
        warm_worker(config.settings)


def _exit_on_term(signum: int, frame: object) -> None:
    """SIGTERM exits a pool worker by an exception, not at once. An idle worker waits
    for its next job holding the pool's task-queue lock, and one killed outright keeps
    it for good: the server's ``Pool.terminate`` at shutdown then waited for that lock
    forever (seen when SIGTERM went to the whole process group, as a service manager
    sends it). Unwinding releases the lock first."""
    raise SystemExit(0)


def _ready() -> int:
    return os.getpid()


def _run(content_hash: str) -> str:
    assert _worker_deps is not None
    return analyse_audio(_worker_deps, content_hash).state


# How long ``AnalysisPool.close`` waits for its workers to stop on SIGTERM.
CLOSE_GRACE_SECONDS = 5.0


class AnalysisPool:
    """Worker processes running ``analyse_audio``, once started (servers start it);
    with ``workers=0``, or before ``start``, jobs stay queued for the CLI or a queue.
    ``close`` stops the workers at once, a job in the middle included: its row stays
    ``running`` and the next start hands it to a worker again."""

    def __init__(self, config: JobConfig, *, workers: int, warm: bool = True) -> None:
        self._config = config
        self._workers = workers
        self._warm = warm
        self._pool: multiprocessing.pool.Pool | None = None

    def start(self) -> multiprocessing.pool.AsyncResult[int] | None:
        """Start the workers and their warm-up; returns a result ready (with the
        worker's pid) when one is warm."""
        if self._workers <= 0 or self._pool is not None:
            return None
        self._pool = multiprocessing.get_context("spawn").Pool(
            self._workers, initializer=_start_worker, initargs=(self._config, self._warm))
        return self._pool.apply_async(_ready)

    def submit(self, content_hash: str) -> multiprocessing.pool.AsyncResult[str] | None:
        """Analyse the stored audio in a worker; None (the job stays queued) when the
        pool is not started."""
        if self._pool is None:
            return None
        return self._pool.apply_async(_run, (content_hash,), error_callback=_log_failure)

    def close(self) -> None:
        """Stop the workers: SIGTERM, then, for a worker still there after
        ``CLOSE_GRACE_SECONDS``, SIGKILL. A worker idle in the pool's task-queue lock
        only unwinds when its main thread gets the signal, and a process-directed signal
        may go to any of its threads (numpy's and numba's native ones among them): it
        then waited there for good, and so did the server's shutdown. By then the pool
        holds that lock itself (``Pool.terminate`` took it before signalling), so a
        worker killed at that point cannot keep it. A worker killed while it held the
        lock leaves ``Pool.terminate`` waiting in its own daemon thread; ``close``
        returns all the same."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        closing = threading.Thread(target=pool.terminate, name="analysis-pool-close",
                                   daemon=True)
        closing.start()
        closing.join(CLOSE_GRACE_SECONDS)
        if closing.is_alive():
            # Pool keeps no public list of its workers: its ``_pool`` attribute is it.
            workers: list[multiprocessing.process.BaseProcess] = getattr(pool, "_pool", [])
            for process in list(workers):
                if process.is_alive():
                    logger.warning("analysis worker %s did not stop on SIGTERM: killed",
                                   process.pid)
                    process.kill()
                    process.join(CLOSE_GRACE_SECONDS)
            closing.join(CLOSE_GRACE_SECONDS)


def _log_failure(error: BaseException) -> None:
    logger.error("analysis job failed", exc_info=error)
