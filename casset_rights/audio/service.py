"""The audio service: uploads, analysis jobs and previews, built from settings.

``open_audio`` is what ``services.open_services`` calls. It imports nothing heavy:
numpy, soundfile, PyAV, librosa and c2pa load when audio is first handled, so the core
service starts without them.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from casset_rights.audio.analysis_jobs import AnalysisDeps, AnalysisPool, JobConfig
from casset_rights.audio.blobs import BlobStore, LocalBlobStore, S3BlobStore
from casset_rights.audio.certificates import SigningIdentity, load_identity
from casset_rights.audio.errors import AnalysisNotFound, AudioMissing
from casset_rights.audio.hook_checks import TrackCheck, as_json, check_hooks
from casset_rights.audio.links import PreviewLinks, load_secret
from casset_rights.audio.previews import PreviewLimits, PreviewService
from casset_rights.audio.records import AnalysisState, AudioRecords, StoredAudio
from casset_rights.audio.render import RenderSettings
from casset_rights.audio.uploads import Staging, store_upload
from casset_rights.config import Settings
from casset_rights.db.engine import search_path_of
from casset_rights.decisions.index import RightsIndex
from casset_rights.decisions.service import DecisionService
from casset_rights.errors import UnknownResource
from casset_rights.jobs import JobQueue
from casset_rights.manifests.catalog import CatalogService
from casset_rights.manifests.records import TrackRecord

logger = logging.getLogger("casset_rights.audio")


@dataclass
class AudioService:
    settings: Settings
    records: AudioRecords
    blobs: BlobStore
    previews: PreviewService
    catalog: CatalogService
    index: RightsIndex
    pool: AnalysisPool
    signing_identity: Callable[[], SigningIdentity]
    # A job queue shared by worker machines (``CASSET_QUEUE_URL``): analysis goes there
    # instead of to this process's pool.
    queue: JobQueue | None = None

    @property
    def staging_dir(self) -> Path:
        return self.settings.data_dir / "tmp" / "uploads"

    def staging(self) -> Staging:
        return Staging(self.staging_dir, limit=self.settings.audio_max_upload_bytes)

    def owned_track(self, release_id: str, track_id: str, artist: str) -> TrackRecord:
        """The head's track, when the release is ``artist``'s. Raises UnknownResource
        for a release of another artist exactly as for one that does not exist."""
        if self.index.release(release_id).artist_id != artist:
            raise UnknownResource(f"no release {release_id!r}")
        return self.catalog.track(f"{release_id}/{track_id}")

    def store(self, staging: Staging, *, track: TrackRecord,
              uploader: str) -> tuple[StoredAudio, bool]:
        """Check and store a staged upload for ``track`` (see ``uploads.store_upload``),
        then queue its analysis."""
        stored, new = store_upload(staging, declared_hash=track.audio_hash, uploader=uploader,
                                   blobs=self.blobs, records=self.records)
        self.request_analysis(track.release_id, track.local_id)
        return stored, new

    def track_audio(self, release_id: str, track_id: str) -> tuple[TrackRecord, StoredAudio]:
        """The head track and its stored audio. Raises UnknownResource, AudioMissing."""
        track = self.catalog.track(f"{release_id}/{track_id}")
        audio = self.records.audio(track.audio_hash)
        if audio is None:
            raise AudioMissing(f"no audio has been uploaded for track {track.id!r}")
        return track, audio

    def request_analysis(self, release_id: str, track_id: str) -> AnalysisState:
        """Queue the analysis of the track's audio (nothing new when queued, running or
        done) and hand it to the worker pool when there is one."""
        _, audio = self.track_audio(release_id, track_id)
        state = self.records.queue_analysis(audio.content_hash)
        if state.state == "queued":
            self.submit(audio.content_hash)
        return state

    def submit(self, content_hash: str) -> None:
        if self.queue is not None:
            self.queue.enqueue("audio-analyse", key=f"audio-analyse:{content_hash}",
                               content_hash=content_hash)
        else:
            self.pool.submit(content_hash)

    def start(self) -> None:
        """A server's start: the analysis workers (warming up in their processes), every
        job left queued or running handed to them, and this process's preview path made
        ready (its libraries imported, the C2PA identity loaded or made), so the first
        preview does not pay for it."""
        missing = [m for m in ("numpy", "soundfile", "av", "librosa", "c2pa")
                   if importlib.util.find_spec(m) is None]
        if missing:
            logger.warning("audio: %s not installed (pip install -e '.[audio]'): uploads, "
                           "analysis and previews will fail", ", ".join(missing))
            return
        if self.queue is None and self.pool.start() is not None:
            for content_hash in self.records.pending_analyses():
                self.pool.submit(content_hash)
        from casset_rights.audio import provenance, render

        render.prepare()
        provenance.prepare()
        self.signing_identity()

    def analysis(self, release_id: str, track_id: str) -> tuple[TrackRecord, AnalysisState]:
        """The analysis job of the track's audio. Raises UnknownResource, AudioMissing,
        AnalysisNotFound (never queued)."""
        track, audio = self.track_audio(release_id, track_id)
        state = self.records.analysis(audio.content_hash)
        if state is None:
            raise AnalysisNotFound(f"the audio of {track.id!r} has not been analysed; "
                                   "POST to this URL to queue it")
        return track, state

    def hook_checks(self, track: TrackRecord, result: dict[str, Any]) -> list[dict[str, Any]]:
        """Each of the track's hooks against the analysed audio and the preview limit
        (``hook_checks.check_hooks``), as JSON."""
        return as_json(check_hooks(self.catalog.hooks(track.id),
                                   duration_ms=int(result.get("duration_ms", 0)),
                                   limit_ms=self.preview_limit_ms))

    @property
    def preview_limit_ms(self) -> int:
        return int(self.settings.preview_max_seconds * 1000)

    def catalog_checks(self, release_ids: Iterable[str]) -> list[TrackCheck]:
        """Every track's hooks of the releases' heads against its audio: the analysis's
        length when done, else the length measured at upload, else (no audio) the
        preview limit only. Raises UnknownResource for a release that does not exist."""
        checks = []
        for release_id in release_ids:
            for track in self.catalog.tracks(release_id):
                audio = self.records.audio(track.audio_hash)
                state = self.records.analysis(track.audio_hash) if audio else None
                duration: int | None = None
                against = "none"
                if state is not None and state.result is not None:
                    duration, against = int(state.result["duration_ms"]), "analysis"
                elif audio is not None:
                    duration, against = audio.duration_ms, "upload"
                checks.append(TrackCheck(
                    track=track.id, audio=against, duration_ms=duration,
                    analysis=state.state if state else "none",
                    hooks=check_hooks(self.catalog.hooks(track.id), duration_ms=duration,
                                      limit_ms=self.preview_limit_ms)))
        return checks

    def analysis_deps(self) -> AnalysisDeps:
        """What ``analysis_jobs.analyse_track`` needs, from this service."""
        return AnalysisDeps(catalog=self.catalog, records=self.records, blobs=self.blobs,
                            scratch=self.settings.data_dir / "tmp" / "blobs")

    def close(self) -> None:
        self.pool.close()


def open_blobs(settings: Settings) -> BlobStore:
    if settings.blob_store == "s3":
        return S3BlobStore(bucket=settings.s3_bucket, endpoint_url=settings.s3_endpoint_url,
                           region=settings.s3_region, prefix=settings.s3_prefix,
                           access_key=settings.s3_access_key,
                           secret_key=settings.s3_secret_key,
                           create_bucket=settings.environment != "production")
    return LocalBlobStore(settings.resolved_blob_dir)


def open_audio(settings: Settings, *, engine: Engine, catalog: CatalogService,
               index: RightsIndex, decisions: DecisionService,
               queue: JobQueue | None = None) -> AudioService:
    """Build the audio service. Nothing heavy is imported or started here; the analysis
    pool starts with ``start`` (a server's start-up). With a ``queue`` (a real one, shared
    by ``casset-rights worker`` processes) analysis jobs go there instead."""
    records = AudioRecords(engine)
    blobs = open_blobs(settings)

    @functools.cache
    def identity() -> SigningIdentity:
        return load_identity(folder=settings.data_dir / "c2pa",
                             chain_file=settings.c2pa_cert_chain_file,
                             key_file=settings.c2pa_key_file,
                             anchor_file=settings.c2pa_trust_anchor_file,
                             organisation=settings.service_name)

    previews = PreviewService(
        decisions=decisions, catalog=catalog, records=records, blobs=blobs,
        links=PreviewLinks(load_secret(settings.preview_url_secret, settings.keys_dir)),
        identity=identity,
        render=RenderSettings(target_lufs=settings.preview_target_lufs,
                              fade_ms=settings.preview_fade_ms,
                              loop_crossfade_ms=settings.preview_loop_crossfade_ms,
                              format=settings.preview_format,
                              bitrate=settings.preview_bitrate),
        limits=PreviewLimits(max_seconds=settings.preview_max_seconds,
                             url_ttl_seconds=settings.preview_url_ttl_seconds,
                             issuer=settings.resolved_issuer),
        scratch=settings.data_dir / "tmp" / "blobs")
    pool = AnalysisPool(JobConfig.from_settings(
        settings, database_url=engine.url.render_as_string(hide_password=False),
        search_path=search_path_of(engine)), workers=settings.audio_analysis_workers)
    service = AudioService(settings=settings, records=records, blobs=blobs, previews=previews,
                           catalog=catalog, index=index, pool=pool, signing_identity=identity,
                           queue=queue)
    return service
