"""The catalog: immutable release versions chained by hash, and the heads' tracks and hooks.

Version 1 (``previous`` null) creates a release; version n + 1 must name the current head
hash as ``previous``. Putting a stored document again is a no-op that returns it. Two
writers racing for the same version cannot both win: the head moves by a conditional
update and versions are keyed by (release, version), so the loser's integrity error or
empty update becomes StaleVersion.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
from msgspec import UNSET
from sqlalchemy import Connection, Engine, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from casset_rights.canonical import HASH_PREFIX
from casset_rights.db.engine import writing
from casset_rights.errors import Conflict, InvalidInput, NotFound, StaleVersion, UnknownResource
from casset_rights.log_queue import LeafInput, enqueue_in
from casset_rights.manifests.hashing import manifest_bytes
from casset_rights.manifests.ids import hook_id, is_segment, track_id
from casset_rights.manifests.loader import load_artists, load_catalog_directory
from casset_rights.manifests.models import Manifest
from casset_rights.manifests.records import (
    Artist,
    HookRecord,
    Page,
    ResolvedResource,
    StoredVersion,
    TrackRecord,
    VersionInfo,
    decode_cursor,
    encode_cursor,
    hook_record,
    release_summary,
    track_record,
)
from casset_rights.manifests.tables import artists, hooks, release_versions, releases, tracks
from casset_rights.manifests.validation import validate_manifest
from casset_rights.resources import parse_resource

MAX_PAGE = 500
_HEADS_BATCH = 200

__all__ = ["MAX_PAGE", "CatalogService", "load_artists", "load_catalog_directory"]


# Versions are stored in a 32-bit column; a larger number names no version.
MAX_VERSION = 2**31 - 1


class CatalogService:
    """Reads and writes the catalog on ``engine``. Each new manifest version is queued
    for the transparency log in the transaction that stores it."""

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        self._engine = engine
        self._clock = clock

    # -- writing ------------------------------------------------------------------------

    def put_version(self, document: Any) -> StoredVersion:
        """Validate ``document`` and store it as the next version of its release.

        Returns the stored version (``created`` False when this exact document was already
        stored). Raises ManifestInvalid with every located error; StaleVersion when the
        version is not head + 1 with ``previous`` = the head hash (or a concurrent writer
        stored that version first); Conflict when the release belongs to another artist.
        """
        manifest = validate_manifest(document)
        text = manifest_bytes(manifest).decode("utf-8")
        digest = HASH_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()
        try:
            stored = self._store(manifest, text=text, digest=digest)
        except (IntegrityError, StaleVersion) as exc:
            # A concurrent writer may have stored this very document between our reads
            # (READ COMMITTED): that is success, not a conflict.
            same = self._identical(manifest, digest)
            if same is None:
                if isinstance(exc, StaleVersion):
                    raise
                raise StaleVersion(f"another writer stored version {manifest.version} of "
                                   f"release {manifest.id!r} first") from None
            stored = same
        return stored

    def put_artist(self, artist_id: str, *, display_name: str) -> Artist:
        """Create the artist or rename it. Raises InvalidInput for a bad id or empty name."""
        if not is_segment(artist_id):
            raise InvalidInput(f"{artist_id!r} is not a valid artist id")
        if not display_name.strip() or len(display_name) > 200:
            raise InvalidInput("an artist's display name has 1 to 200 characters")
        values = {"id": artist_id, "display_name": display_name,
                  "created_at": int(self._clock())}
        with writing(self._engine) as conn:
            stmt = _dialect_insert(conn)(artists).values(**values)
            conn.execute(stmt.on_conflict_do_update(
                index_elements=[artists.c.id], set_={"display_name": display_name}))
        return self.artist(artist_id)

    def _store(self, manifest: Manifest, *, text: str, digest: str) -> StoredVersion:
        rid, version = manifest.id, manifest.version
        with writing(self._engine) as conn:
            existing = conn.execute(select(release_versions.c.hash).where(
                release_versions.c.release_id == rid, release_versions.c.version == version)
            ).scalar()
            if existing == digest:
                return self._read(conn, rid, version)
            if existing is not None:
                raise StaleVersion(f"version {version} of release {rid!r} is already stored "
                                   f"as {existing}; versions are immutable")
            head = conn.execute(select(releases).where(releases.c.id == rid)).first()
            _check_chain(manifest, head)
            now = int(self._clock())
            self._ensure_artist(conn, manifest.artist, now=now)
            head_values = {"title": manifest.title, "policy_id": manifest.policy,
                           "head_version": version, "head_hash": digest, "updated_at": now}
            if head is None:
                conn.execute(insert(releases).values(id=rid, artist_id=manifest.artist,
                                                     **head_values))
            elif conn.execute(update(releases).where(
                    releases.c.id == rid, releases.c.head_version == version - 1,
                    releases.c.head_hash == manifest.previous).values(**head_values)
                    ).rowcount != 1:
                raise StaleVersion(f"release {rid!r} moved on while storing version {version}")
            conn.execute(insert(release_versions).values(
                release_id=rid, version=version, hash=digest, previous=manifest.previous,
                document=text, created_at=manifest.created_at, stored_at=now))
            _replace_head_rows(conn, manifest)
            # Its canonical bytes, whose SHA-256 is the version's hash.
            enqueue_in(conn, [LeafInput("manifest", digest, text.encode("utf-8"))])
        return StoredVersion(release_id=rid, artist_id=manifest.artist, version=version,
                             hash=digest, previous=manifest.previous, document=text,
                             manifest=manifest, created_at=manifest.created_at,
                             stored_at=now, created=True)

    def _identical(self, manifest: Manifest, digest: str) -> StoredVersion | None:
        """The stored version when it is exactly this document, else None."""
        with self._engine.connect() as conn:
            stored = conn.execute(select(release_versions.c.hash).where(
                release_versions.c.release_id == manifest.id,
                release_versions.c.version == manifest.version)).scalar()
            if stored == digest:
                return self._read(conn, manifest.id, manifest.version)
        return None

    def _ensure_artist(self, conn: Connection, artist_id: str, *, now: int) -> None:
        stmt = _dialect_insert(conn)(artists).values(id=artist_id, display_name=artist_id,
                                                     created_at=now)
        conn.execute(stmt.on_conflict_do_nothing(index_elements=[artists.c.id]))

    # -- reading ------------------------------------------------------------------------

    def head(self, release_id: str) -> StoredVersion:
        """The head version. Raises UnknownResource for an unknown release."""
        with self._engine.connect() as conn:
            row = conn.execute(select(releases.c.head_version)
                               .where(releases.c.id == release_id)).first()
            if row is None:
                raise UnknownResource(f"no release {release_id!r}")
            return self._read(conn, release_id, row.head_version)

    def version(self, release_id: str, number: int) -> StoredVersion:
        """Version ``number``. Raises UnknownResource (release) or NotFound (version)."""
        with self._engine.connect() as conn:
            return self._read(conn, release_id, number)

    def history(self, release_id: str) -> tuple[VersionInfo, ...]:
        """Every version, oldest first. Raises UnknownResource for an unknown release."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(release_versions).where(
                release_versions.c.release_id == release_id
            ).order_by(release_versions.c.version)).all()
        if not rows:
            raise UnknownResource(f"no release {release_id!r}")
        return tuple(VersionInfo(version=r.version, hash=r.hash, previous=r.previous,
                                 created_at=r.created_at, stored_at=r.stored_at) for r in rows)

    def list_releases(self, *, cursor: str | None, limit: int,
                      artist_id: str | None = None) -> Page:
        """Releases in id order, ``limit`` (1..MAX_PAGE) at a time, optionally one artist's.

        Keyset pagination: a page never repeats or skips a release that existed when the
        listing began. Raises InvalidInput for a bad limit or cursor.
        """
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
        query = select(releases).order_by(releases.c.id).limit(limit + 1)
        if cursor is not None:
            query = query.where(releases.c.id > decode_cursor(cursor))
        if artist_id is not None:
            query = query.where(releases.c.artist_id == artist_id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        items = tuple(release_summary(r) for r in rows[:limit])
        more = len(rows) > limit
        return Page(items=items, next_cursor=encode_cursor(items[-1].id) if more else None)

    def track(self, global_id: str) -> TrackRecord:
        """The head's track ``R/T``. Raises UnknownResource."""
        with self._engine.connect() as conn:
            row = conn.execute(select(tracks).where(tracks.c.id == global_id)).first()
        if row is None:
            raise UnknownResource(f"no track {global_id!r}")
        return track_record(row)

    def hook(self, global_id: str) -> HookRecord:
        """The head's hook ``R/T/H``. Raises UnknownResource."""
        with self._engine.connect() as conn:
            row = conn.execute(select(hooks).where(hooks.c.id == global_id)).first()
        if row is None:
            raise UnknownResource(f"no hook {global_id!r}")
        return hook_record(row)

    def tracks(self, release_id: str) -> tuple[TrackRecord, ...]:
        """The head's tracks in manifest order. Raises UnknownResource for the release."""
        self._require_release(release_id)
        with self._engine.connect() as conn:
            rows = conn.execute(select(tracks).where(tracks.c.release_id == release_id)
                                .order_by(tracks.c.position)).all()
        return tuple(track_record(r) for r in rows)

    def hooks(self, track_global_id: str) -> tuple[HookRecord, ...]:
        """A head track's hooks in manifest order. Raises UnknownResource for the track."""
        self.track(track_global_id)
        with self._engine.connect() as conn:
            rows = conn.execute(select(hooks).where(hooks.c.track_id == track_global_id)
                                .order_by(hooks.c.position)).all()
        return tuple(hook_record(r) for r in rows)

    def resolve(self, resource_ref: str) -> ResolvedResource:
        """Resolve ``release:R``, ``track:R/T``, ``hook:R/T/H`` (or a bare id) on the heads.

        Raises InvalidInput for a malformed reference and UnknownResource for one the heads
        do not contain.
        """
        ref = parse_resource(resource_ref)
        with self._engine.connect() as conn:
            release = conn.execute(select(releases).where(
                releases.c.id == ref.release_id)).first()
            track_row = hook_row = None
            if release is not None and ref.track_id is not None:
                track_row = conn.execute(select(tracks).where(
                    tracks.c.id == track_id(ref.release_id, ref.track_id))).first()
            if track_row is not None and ref.hook_id is not None:
                hook_row = conn.execute(select(hooks).where(
                    hooks.c.id == hook_id(ref.release_id, ref.track_id or "", ref.hook_id))).first()
        found = {"release": release, "track": track_row, "hook": hook_row}[ref.kind]
        if release is None or found is None:
            raise UnknownResource(f"no {ref.kind} {ref.path!r}")
        return ResolvedResource(
            kind=ref.kind, id=ref.path, release_id=release.id, artist_id=release.artist_id,
            policy_id=release.policy_id, head_version=release.head_version,
            manifest_hash=release.head_hash,
            track=track_record(track_row) if track_row is not None else None,
            hook=hook_record(hook_row) if hook_row is not None else None)

    def all_heads(self) -> Iterator[StoredVersion]:
        """Every release head in id order, read in batches (for in-memory indexes)."""
        after = ""
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(release_versions, releases.c.artist_id)
                    .join(releases, (releases.c.id == release_versions.c.release_id)
                          & (releases.c.head_version == release_versions.c.version))
                    .where(releases.c.id > after).order_by(releases.c.id).limit(_HEADS_BATCH)
                ).all()
            yield from (_stored(r) for r in rows)
            if len(rows) < _HEADS_BATCH:
                return
            after = rows[-1].release_id

    def generation(self) -> int:
        """A number that grows with every stored version (versions are never deleted), so a
        process holding an index can tell that the catalog changed."""
        with self._engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(release_versions))
                       .scalar_one())

    def artist(self, artist_id: str) -> Artist:
        """Raises NotFound for an unknown artist."""
        with self._engine.connect() as conn:
            row = conn.execute(select(artists).where(artists.c.id == artist_id)).first()
        if row is None:
            raise NotFound(f"no artist {artist_id!r}")
        return Artist(id=row.id, display_name=row.display_name, created_at=row.created_at)

    def _require_release(self, release_id: str) -> None:
        with self._engine.connect() as conn:
            if conn.execute(select(releases.c.id).where(releases.c.id == release_id)).first() \
                    is None:
                raise UnknownResource(f"no release {release_id!r}")

    def _read(self, conn: Connection, release_id: str, number: int) -> StoredVersion:
        storable = 1 <= number <= MAX_VERSION  # no other version can exist: do not ask
        row = None if not storable else conn.execute(
            select(release_versions, releases.c.artist_id)
            .join(releases, releases.c.id == release_versions.c.release_id)
            .where(release_versions.c.release_id == release_id,
                   release_versions.c.version == number)).first()
        if row is not None:
            return _stored(row)
        if conn.execute(select(releases.c.id).where(releases.c.id == release_id)).first() \
                is None:
            raise UnknownResource(f"no release {release_id!r}")
        raise NotFound(f"release {release_id!r} has no version {number}")


def _check_chain(manifest: Manifest, head: Any) -> None:
    if head is None:
        if manifest.version != 1:
            raise StaleVersion(f"release {manifest.id!r} does not exist yet; its first "
                               "version is 1 with previous null")
        return
    if manifest.version != head.head_version + 1 or manifest.previous != head.head_hash:
        raise StaleVersion(
            f"release {manifest.id!r} is at version {head.head_version} ({head.head_hash}); "
            f"the next version is {head.head_version + 1} with that hash as previous")
    if manifest.artist != head.artist_id:
        raise Conflict(f"release {manifest.id!r} belongs to artist {head.artist_id!r}")


def _replace_head_rows(conn: Connection, manifest: Manifest) -> None:
    rid, artist = manifest.id, manifest.artist
    conn.execute(delete(hooks).where(hooks.c.release_id == rid))
    conn.execute(delete(tracks).where(tracks.c.release_id == rid))
    conn.execute(insert(tracks), [
        {"id": track_id(rid, t.id), "release_id": rid, "artist_id": artist, "local_id": t.id,
         "position": i, "title": t.title, "isrc": _given(t.isrc), "duration_ms": t.duration_ms,
         "audio_hash": t.audio.content_hash, "media_type": t.audio.media_type}
        for i, t in enumerate(manifest.tracks)])
    hook_rows = [
        {"id": hook_id(rid, t.id, h.id), "track_id": track_id(rid, t.id), "release_id": rid,
         "artist_id": artist, "local_id": h.id, "position": j, "start_ms": h.start_ms,
         "end_ms": h.end_ms, "caption": h.caption, "lyric": _given(h.lyric)}
        for t in manifest.tracks for j, h in enumerate(t.hooks)]
    if hook_rows:
        conn.execute(insert(hooks), hook_rows)


def _given(value: Any) -> Any:
    return None if value is UNSET else value


def _stored(row: Any) -> StoredVersion:
    return StoredVersion(release_id=row.release_id, artist_id=row.artist_id,
                         version=row.version, hash=row.hash, previous=row.previous,
                         document=row.document,
                         manifest=msgspec.json.decode(row.document, type=Manifest),
                         created_at=row.created_at, stored_at=row.stored_at)


def _dialect_insert(conn: Connection) -> Callable[..., Any]:
    """The INSERT that knows ON CONFLICT on the two supported databases."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert
    if conn.dialect.name == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"unsupported database {conn.dialect.name!r}")
