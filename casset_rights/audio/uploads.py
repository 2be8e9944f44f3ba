"""Receiving audio: staged to a local file while hashed and counted, then checked and
stored, or thrown away whole.

``Staging`` takes the body chunk by chunk (the HTTP layer streams it in) and refuses to
grow past the limit. ``store_upload`` then sniffs the type from the bytes, compares the
SHA-256 with the hash the track's manifest declares, decodes the file once through to
be sure it is audio, and puts it in the blob store (content-addressed: the same bytes
twice store nothing new). Every refusal deletes the staged file: nothing half-stored.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from types import TracebackType

from casset_rights.audio.blobs import BlobStore
from casset_rights.audio.decode import probe
from casset_rights.audio.errors import AudioEmpty, AudioHashMismatch, AudioTooLarge
from casset_rights.audio.records import AudioRecords, StoredAudio, now_ms
from casset_rights.audio.sniff import MEDIA_TYPES, SNIFF_BYTES, sniff

AUDIO = "audio"


class Staging:
    """A temporary file in ``folder`` receiving an upload; a context manager that
    deletes the file on exit unless it was handed over."""

    def __init__(self, folder: Path, *, limit: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=folder, prefix="upload-", suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(handle, "wb")
        self._hash = hashlib.sha256()
        self._limit = limit
        self.size = 0
        self.head = b""

    def write(self, chunk: bytes) -> None:
        """Append a chunk. Raises AudioTooLarge as soon as the limit is passed."""
        self.size += len(chunk)
        if self.size > self._limit:
            raise AudioTooLarge(f"the audio is larger than the limit of {self._limit} bytes")
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self._hash.update(chunk)
        self._file.write(chunk)

    @property
    def content_hash(self) -> str:
        return "sha256:" + self._hash.hexdigest()

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def store_upload(staging: Staging, *, declared_hash: str, uploader: str,
                 blobs: BlobStore, records: AudioRecords) -> tuple[StoredAudio, bool]:
    """Check the staged upload and store it. Returns the stored audio and whether it
    is new (False: these bytes were stored before).

    Raises AudioEmpty, AudioUnsupported (not audio this service takes),
    AudioHashMismatch (not the bytes the manifest declares) and AudioCorrupt (does not
    decode), in that order; nothing is kept after any of them.
    """
    staging.close()
    if staging.size == 0:
        raise AudioEmpty("the body is empty: send the audio's bytes")
    fmt = sniff(staging.head)
    received = staging.content_hash
    if received != declared_hash:
        raise AudioHashMismatch(
            f"the audio hashes to {received}, but the track's manifest declares "
            f"{declared_hash}; publish a manifest version naming this audio first",
            declared=declared_hash, received=received)
    known = records.audio(received)
    if known is not None and blobs.exists(AUDIO, received.removeprefix("sha256:")):
        return known, False
    info = probe(staging.path, fmt)
    stored = StoredAudio(content_hash=received, format=fmt, media_type=MEDIA_TYPES[fmt],
                         size_bytes=staging.size, sample_rate=info.sample_rate,
                         channels=info.channels, frames=info.frames, uploaded_by=uploader,
                         stored_at_ms=now_ms())
    new_blob = blobs.put_file(AUDIO, received.removeprefix("sha256:"), staging.path)
    new_row = records.add_audio(stored)
    return stored, new_blob or new_row
