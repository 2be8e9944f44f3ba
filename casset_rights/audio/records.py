"""The audio side's rows: stored audio, analysis jobs, rendered previews.

``AudioRecords`` is the only code that reads or writes the audio tables. Writes are
single statements or one short transaction each; an analysis row moves
``queued -> running -> done | failed`` and may be queued again after a failure.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import msgspec
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from casset_rights.audio.tables import audio_analyses, audio_files, audio_renders
from casset_rights.db.engine import writing

AnalysisStateName = Literal["queued", "running", "done", "failed"]


class StoredAudio(msgspec.Struct, frozen=True, kw_only=True):
    content_hash: str
    format: str
    media_type: str
    size_bytes: int
    sample_rate: int
    channels: int
    frames: int
    uploaded_by: str
    stored_at_ms: int

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.sample_rate) if self.sample_rate else 0


class AnalysisState(msgspec.Struct, frozen=True, kw_only=True):
    content_hash: str
    state: AnalysisStateName
    progress: float
    result: dict[str, Any] | None
    error_code: str | None
    error_detail: str | None
    attempts: int
    queued_at_ms: int
    updated_at_ms: int


class RenderRecord(msgspec.Struct, frozen=True, kw_only=True):
    render_key: str
    blob_key: str
    media_type: str
    duration_ms: int
    loudness_lufs: float | None
    gain_db: float


def now_ms() -> int:
    return int(time.time() * 1000)


class AudioRecords:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- stored audio --------------------------------------------------------------

    def add_audio(self, audio: StoredAudio) -> bool:
        """Record a stored blob; False when its hash was recorded already."""
        try:
            with writing(self._engine) as conn:
                conn.execute(audio_files.insert().values(**msgspec.structs.asdict(audio)))
        except IntegrityError:
            return False
        return True

    def audio(self, content_hash: str) -> StoredAudio | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(audio_files).where(
                audio_files.c.content_hash == content_hash)).mappings().first()
        return StoredAudio(**row) if row else None

    # -- analysis jobs -------------------------------------------------------------

    def queue_analysis(self, content_hash: str) -> AnalysisState:
        """Queue analysis of the blob unless it is queued, running or done; a failed
        job is queued again. Returns the state now stored."""
        now = now_ms()
        with writing(self._engine) as conn:
            row = conn.execute(select(audio_analyses.c.state).where(
                audio_analyses.c.content_hash == content_hash)).first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(audio_analyses.insert().values(
                            content_hash=content_hash, state="queued", progress=0.0,
                            attempts=0, queued_at_ms=now, updated_at_ms=now))
                except IntegrityError:
                    pass  # queued by another process meanwhile
            elif row.state == "failed":
                conn.execute(update(audio_analyses).where(
                    audio_analyses.c.content_hash == content_hash).values(
                    state="queued", progress=0.0, error_code=None, error_detail=None,
                    queued_at_ms=now, updated_at_ms=now))
        state = self.analysis(content_hash)
        assert state is not None
        return state

    def pending_analyses(self) -> list[str]:
        """The hashes of audio whose analysis is queued, or was running when its worker
        stopped (a job is safe to run again)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(audio_analyses.c.content_hash).where(
                audio_analyses.c.state.in_(("queued", "running")))
                .order_by(audio_analyses.c.queued_at_ms)).all()
        return [r.content_hash for r in rows]

    def analysis(self, content_hash: str) -> AnalysisState | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(audio_analyses).where(
                audio_analyses.c.content_hash == content_hash)).mappings().first()
        if row is None:
            return None
        fields = dict(row)
        fields["result"] = json.loads(row["result"]) if row["result"] else None
        return AnalysisState(**fields)

    def start_analysis(self, content_hash: str) -> None:
        now = now_ms()
        with writing(self._engine) as conn:
            current = conn.execute(select(audio_analyses.c.attempts).where(
                audio_analyses.c.content_hash == content_hash)).first()
            if current is None:
                conn.execute(audio_analyses.insert().values(
                    content_hash=content_hash, state="running", progress=0.0, attempts=1,
                    queued_at_ms=now, updated_at_ms=now))
            else:
                conn.execute(update(audio_analyses).where(
                    audio_analyses.c.content_hash == content_hash).values(
                    state="running", progress=0.0, attempts=current.attempts + 1,
                    error_code=None, error_detail=None, updated_at_ms=now))

    def analysis_progress(self, content_hash: str, progress: float) -> None:
        with writing(self._engine) as conn:
            conn.execute(update(audio_analyses).where(
                audio_analyses.c.content_hash == content_hash,
                audio_analyses.c.state == "running").values(
                progress=round(progress, 3), updated_at_ms=now_ms()))

    def finish_analysis(self, content_hash: str, result: dict[str, Any]) -> None:
        with writing(self._engine) as conn:
            conn.execute(update(audio_analyses).where(
                audio_analyses.c.content_hash == content_hash).values(
                state="done", progress=1.0, result=json.dumps(result),
                error_code=None, error_detail=None, updated_at_ms=now_ms()))

    def fail_analysis(self, content_hash: str, *, code: str, detail: str) -> None:
        with writing(self._engine) as conn:
            conn.execute(update(audio_analyses).where(
                audio_analyses.c.content_hash == content_hash).values(
                state="failed", error_code=code, error_detail=detail[:2000],
                updated_at_ms=now_ms()))

    # -- rendered previews ---------------------------------------------------------

    def render(self, render_key: str) -> RenderRecord | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(audio_renders).where(
                audio_renders.c.render_key == render_key)).mappings().first()
        if row is None:
            return None
        return RenderRecord(**{k: row[k] for k in RenderRecord.__struct_fields__})

    def add_render(self, record: RenderRecord) -> None:
        try:
            with writing(self._engine) as conn:
                conn.execute(audio_renders.insert().values(
                    **msgspec.structs.asdict(record), created_at_ms=now_ms()))
        except IntegrityError:
            pass  # rendered by another request meanwhile: the same bytes
