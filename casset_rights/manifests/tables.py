"""The catalog: artists, releases with their head, immutable manifest versions, and the
tracks and hooks of each head (denormalised so a resource id is one primary-key look-up).
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from casset_rights.db.metadata import metadata

# A global hook id is at most three 64-character segments and two slashes.
GLOBAL_ID = 200

artists = Table(
    "artists",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

releases = Table(
    "releases",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("artist_id", String(64), ForeignKey("artists.id"), nullable=False, index=True),
    Column("title", String(300), nullable=False),
    Column("policy_id", String(128), nullable=False),
    Column("head_version", Integer, nullable=False),
    Column("head_hash", String(80), nullable=False),
    Column("updated_at", BigInteger, nullable=False),
)

release_versions = Table(
    "release_versions",
    metadata,
    Column("release_id", String(64), ForeignKey("releases.id"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("hash", String(80), nullable=False, unique=True),
    Column("previous", String(80)),
    # The RFC 8785 canonical bytes as text: exactly what ``hash`` names.
    Column("document", Text, nullable=False),
    # ``created_at`` is the manifest's own RFC 3339 time; ``stored_at`` our clock (epoch s).
    Column("created_at", String(40), nullable=False),
    Column("stored_at", BigInteger, nullable=False),
)

tracks = Table(
    "tracks",
    metadata,
    Column("id", String(GLOBAL_ID), primary_key=True),
    Column("release_id", String(64), ForeignKey("releases.id"), nullable=False),
    Column("artist_id", String(64), nullable=False),
    Column("local_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("title", String(300), nullable=False),
    Column("isrc", String(12)),
    Column("duration_ms", Integer, nullable=False),
    Column("audio_hash", String(80), nullable=False),
    Column("media_type", String(140), nullable=False),
)

hooks = Table(
    "hooks",
    metadata,
    Column("id", String(GLOBAL_ID), primary_key=True),
    Column("track_id", String(GLOBAL_ID), ForeignKey("tracks.id"), nullable=False),
    Column("release_id", String(64), ForeignKey("releases.id"), nullable=False, index=True),
    Column("artist_id", String(64), nullable=False),
    Column("local_id", String(64), nullable=False),
    Column("position", Integer, nullable=False),
    Column("start_ms", Integer, nullable=False),
    Column("end_ms", Integer, nullable=False),
    Column("caption", String(500), nullable=False),
    Column("lyric", Text),
)

Index("ix_tracks_release_position", tracks.c.release_id, tracks.c.position)
Index("ix_hooks_track_position", hooks.c.track_id, hooks.c.position)
