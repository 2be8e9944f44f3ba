"""Policy versions in the database.

Putting a policy validates it completely first (PolicyInvalid carries every located
error), then stores a new version only when its content hash differs from the head. A
policy id belongs to one artist; one policy at most applies to each target.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
from sqlalchemy import Connection, Engine, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from casset_rights.canonical import canonical_bytes, content_hash
from casset_rights.db.engine import writing
from casset_rights.decisions.tables import policies, policy_versions
from casset_rights.errors import Conflict, NotFound
from casset_rights.log_queue import LeafInput, enqueue_in
from casset_rights.policy import Policy, load_policy, serialize

POLICY_SUFFIXES = (".yaml", ".yml", ".json")


class StoredPolicy(msgspec.Struct, frozen=True):
    id: str
    artist_id: str
    applies_to: str
    version: int
    hash: str
    source_name: str
    source_text: str
    document: dict[str, Any]
    created_at: int
    changed: bool = True

    def model(self) -> Policy:
        return load_policy(self.source_text, source_name=self.source_name)


class PolicyStore:
    """Reads and writes policy versions. Each new version is queued for the transparency
    log in the transaction that stores it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, text: str, *, source_name: str, owner: str | None = None) -> StoredPolicy:
        """Validate and store ``text`` as the next version of its policy.

        ``owner`` (an artist id) restricts the write to that artist's policies: a policy
        of another artist is answered NotFound so ids do not leak. Raises PolicyInvalid,
        NotFound, or Conflict when another policy already applies to the same target or
        a concurrent writer stored a version first.
        """
        policy = load_policy(text, source_name=source_name)
        document = serialize(policy)
        digest = content_hash(document)
        if owner is not None and policy.artist != owner:
            raise NotFound(f"no policy {policy.policy!r} for artist {owner!r}")
        now = int(time.time())
        with writing(self._engine) as conn:
            head = conn.execute(select(policies).where(policies.c.id == policy.policy)).first()
            if head is not None and owner is not None and head.artist_id != owner:
                raise NotFound(f"no policy {policy.policy!r} for artist {owner!r}")
            if head is not None and head.artist_id != policy.artist:
                raise Conflict(f"policy {policy.policy!r} belongs to artist {head.artist_id!r}")
            if head is not None and head.head_hash == digest:
                return self._read(conn, policy.policy, head.head_version, changed=False)
            bound = conn.execute(
                select(policies.c.id).where(policies.c.artist_id == policy.artist,
                                            policies.c.applies_to == policy.applies_to)
            ).scalar()
            if bound is not None and bound != policy.policy:
                raise Conflict(
                    f"policy {bound!r} already applies to {policy.applies_to!r}; "
                    "change that policy instead of adding a second one"
                )
            version = 1 if head is None else head.head_version + 1
            try:
                if head is None:
                    conn.execute(insert(policies).values(
                        id=policy.policy, artist_id=policy.artist, applies_to=policy.applies_to,
                        head_version=1, head_hash=digest))
                else:
                    moved = conn.execute(
                        update(policies)
                        .where(policies.c.id == policy.policy,
                               policies.c.head_version == head.head_version)
                        .values(head_version=version, head_hash=digest,
                                applies_to=policy.applies_to)
                    ).rowcount
                    if moved != 1:
                        raise Conflict(f"policy {policy.policy!r} changed concurrently; retry")
                conn.execute(insert(policy_versions).values(
                    policy_id=policy.policy, version=version, hash=digest,
                    source_name=source_name, source_text=text,
                    document=msgspec.json.encode(document).decode(), created_at=now))
                # The canonical bytes the version's hash names.
                enqueue_in(conn, [LeafInput("policy", digest, canonical_bytes(document))])
            except IntegrityError:
                raise Conflict(f"policy {policy.policy!r} changed concurrently; retry") from None
        stored = StoredPolicy(id=policy.policy, artist_id=policy.artist,
                              applies_to=policy.applies_to, version=version, hash=digest,
                              source_name=source_name, source_text=text, document=document,
                              created_at=now)
        return stored

    def load_directory(self, folder: Path) -> list[StoredPolicy]:
        """Put every policy file under ``folder`` (sorted); unchanged ones are no-ops."""
        return [self.put(path.read_text(encoding="utf-8"), source_name=str(path))
                for path in sorted(folder.rglob("*")) if path.suffix in POLICY_SUFFIXES]

    def get(self, policy_id: str, *, version: int | None = None,
            owner: str | None = None) -> StoredPolicy:
        """The head (or a given version). Raises NotFound, also for another artist's."""
        with self._engine.connect() as conn:
            head = conn.execute(select(policies).where(policies.c.id == policy_id)).first()
            if head is None or (owner is not None and head.artist_id != owner):
                raise NotFound(f"no policy {policy_id!r}")
            return self._read(conn, policy_id, version or head.head_version, changed=False)

    def heads(self) -> Iterator[StoredPolicy]:
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(policies.c.id, policies.c.head_version).order_by(policies.c.id)
            ).all()
            for row in rows:
                yield self._read(conn, row.id, row.head_version, changed=False)

    def generation(self) -> int:
        """Grows with every stored version (versions are never deleted)."""
        with self._engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(policy_versions)).scalar_one()

    def _read(self, conn: Connection, policy_id: str, version: int, *,
              changed: bool) -> StoredPolicy:
        row = conn.execute(select(policy_versions, policies.c.artist_id, policies.c.applies_to)
                           .join(policies, policies.c.id == policy_versions.c.policy_id)
                           .where(policy_versions.c.policy_id == policy_id,
                                  policy_versions.c.version == version)).first()
        if row is None:
            raise NotFound(f"no version {version} of policy {policy_id!r}")
        return StoredPolicy(id=policy_id, artist_id=row.artist_id, applies_to=row.applies_to,
                            version=version, hash=row.hash, source_name=row.source_name,
                            source_text=row.source_text,
                            document=msgspec.json.decode(row.document),
                            created_at=row.created_at, changed=changed)
