"""The audio side's tables.

``audio_files``: one row per stored audio blob (content-addressed by its ``sha256:``
hash), with what probing it found. ``audio_analyses``: the analysis job of one audio
blob: its state (``queued``, ``running``, ``done``, ``failed``), progress (0..1), the
result as JSON once done, or the error (a code and a detail) once failed. Analysis
belongs to the bytes, not to a track: two tracks with the same audio share it.
"""

from sqlalchemy import BigInteger, Column, Float, Integer, String, Table, Text

from casset_rights.db.metadata import metadata

HASH = 71  # "sha256:" + 64 hex digits

audio_files = Table(
    "audio_files",
    metadata,
    Column("content_hash", String(HASH), primary_key=True),
    Column("format", String(8), nullable=False),  # wav flac mp3 m4a aac ogg
    Column("media_type", String(32), nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("sample_rate", Integer, nullable=False),
    Column("channels", Integer, nullable=False),
    Column("frames", BigInteger, nullable=False),
    Column("uploaded_by", String(64), nullable=False),
    Column("stored_at_ms", BigInteger, nullable=False),
)

audio_analyses = Table(
    "audio_analyses",
    metadata,
    Column("content_hash", String(HASH), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("progress", Float, nullable=False),
    Column("result", Text),
    Column("error_code", String(64)),
    Column("error_detail", Text),
    Column("attempts", Integer, nullable=False),
    Column("queued_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# Rendered previews, by what makes them: the audio, the window, the render settings and
# the policy (``render_key``). ``blob_key`` names the encoded audio (unsigned) in the
# blob store's ``renders``; the signed files are blobs of their own (``previews``).
audio_renders = Table(
    "audio_renders",
    metadata,
    Column("render_key", String(64), primary_key=True),
    Column("blob_key", String(64), nullable=False),
    Column("media_type", String(32), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("loudness_lufs", Float),
    Column("gain_db", Float, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)
