"""Content-addressed blob storage: audio uploads and rendered previews.

A blob is named by the SHA-256 hex of its bytes (``key``), under a ``kind`` prefix
(``audio``, ``previews``). Storing a blob that exists stores nothing new. Writes go from
a finished local file (the upload was hashed and checked while it was staged), so a
failed upload never leaves a partial blob behind.

``LocalBlobStore`` (the embedded default) keeps files in a folder; ``S3BlobStore`` speaks
to any S3-compatible service through boto3.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from casset_rights.audio.errors import AudioMissing

CHUNK = 1 << 20


class BlobStore(Protocol):
    def put_file(self, kind: str, key: str, source: Path) -> bool:
        """Store the file at ``source`` as ``kind/key``; False when it was there already."""

    def exists(self, kind: str, key: str) -> bool: ...

    def size(self, kind: str, key: str) -> int:
        """The blob's size in bytes. Raises AudioMissing when there is none."""

    def open_range(self, kind: str, key: str, start: int = 0,
                   end: int | None = None) -> Iterator[bytes]:
        """The bytes ``[start, end)`` (to the end with None), in chunks. Raises
        AudioMissing when there is no such blob."""

    def local_path(self, kind: str, key: str, scratch: Path) -> Path:
        """A local file holding the blob (the store's own for a folder, a copy in
        ``scratch`` for a remote store). Raises AudioMissing."""


class LocalBlobStore:
    """Blobs as files under ``root/kind/ab/abcdef…`` (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / key

    def put_file(self, kind: str, key: str, source: Path) -> bool:
        target = self._path(kind, key)
        if target.exists():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.part")
        shutil.copyfile(source, temporary)
        os.replace(temporary, target)  # readers see the whole blob or none
        return True

    def exists(self, kind: str, key: str) -> bool:
        return self._path(kind, key).exists()

    def size(self, kind: str, key: str) -> int:
        try:
            return self._path(kind, key).stat().st_size
        except FileNotFoundError:
            raise AudioMissing(f"no {kind} blob {key}") from None

    def open_range(self, kind: str, key: str, start: int = 0,
                   end: int | None = None) -> Iterator[bytes]:
        try:
            handle = self._path(kind, key).open("rb")
        except FileNotFoundError:
            raise AudioMissing(f"no {kind} blob {key}") from None
        return _chunks(handle, start, end)

    def local_path(self, kind: str, key: str, scratch: Path) -> Path:
        path = self._path(kind, key)
        if not path.exists():
            raise AudioMissing(f"no {kind} blob {key}")
        return path


def _chunks(handle: BinaryIO, start: int, end: int | None) -> Iterator[bytes]:
    with handle:
        handle.seek(start)
        left = None if end is None else end - start
        while left is None or left > 0:
            block = handle.read(CHUNK if left is None else min(CHUNK, left))
            if not block:
                return
            if left is not None:
                left -= len(block)
            yield block


class S3BlobStore:
    """Blobs as objects ``prefix + kind/key`` in an S3-compatible bucket (boto3).

    ``endpoint_url`` names a service other than AWS (MinIO, Ceph, a local test server).
    The bucket is created when missing (``create_bucket``), for development stores.
    """

    def __init__(self, *, bucket: str, endpoint_url: str | None = None, region: str = "us-east-1",
                 prefix: str = "", access_key: str | None = None, secret_key: str | None = None,
                 create_bucket: bool = False) -> None:
        import boto3  # the audio extra; imported only when an S3 store is chosen
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix
        self._client: Any = boto3.client(
            "s3", endpoint_url=endpoint_url, region_name=region,
            aws_access_key_id=access_key, aws_secret_access_key=secret_key,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}))
        from botocore.exceptions import ClientError
        self._client_error = ClientError
        if create_bucket:
            try:
                self._client.head_bucket(Bucket=bucket)
            except ClientError:
                self._client.create_bucket(Bucket=bucket)

    def _key(self, kind: str, key: str) -> str:
        return f"{self.prefix}{kind}/{key}"

    def put_file(self, kind: str, key: str, source: Path) -> bool:
        if self.exists(kind, key):
            return False
        self._client.upload_file(str(source), self.bucket, self._key(kind, key))
        return True

    def _head(self, kind: str, key: str) -> dict[str, Any] | None:
        try:
            return self._client.head_object(  # type: ignore[no-any-return]
                Bucket=self.bucket, Key=self._key(kind, key))
        except self._client_error as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, kind: str, key: str) -> bool:
        return self._head(kind, key) is not None

    def size(self, kind: str, key: str) -> int:
        head = self._head(kind, key)
        if head is None:
            raise AudioMissing(f"no {kind} blob {key}")
        return int(head["ContentLength"])

    def open_range(self, kind: str, key: str, start: int = 0,
                   end: int | None = None) -> Iterator[bytes]:
        wanted = f"bytes={start}-" + ("" if end is None else str(end - 1))
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=self._key(kind, key),
                                             Range=wanted)
        except self._client_error as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise AudioMissing(f"no {kind} blob {key}") from None
            raise
        return answer["Body"].iter_chunks(CHUNK)  # type: ignore[no-any-return]

    def local_path(self, kind: str, key: str, scratch: Path) -> Path:
        target = scratch / kind / key
        if target.exists():
            return target
        blocks = self.open_range(kind, key)  # raises AudioMissing before a file exists
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(f".{os.getpid()}.part")
        with temporary.open("wb") as out:
            for block in blocks:
                out.write(block)
        os.replace(temporary, target)
        return target
