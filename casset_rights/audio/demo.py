"""The embedded demo's audio: every example track synthesised deterministically.

A track's music follows from its manifest entry alone (release id, track id, duration,
the chorus hook), so the example manifests can declare the SHA-256 of the FLAC file
(``scripts/demo_audio_hashes.py`` writes them). ``serve --demo`` stores the audio of
every example track not stored yet, as an upload would (the hash checked against the
manifest first). The files are mono, 22.05 kHz, about 3 MB for four minutes: a demo.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from casset_rights.audio.synth import encode_audio, song

logger = logging.getLogger("casset_rights.audio")
DEMO_RATE = 22050
DEMO_UPLOADER = "demo"


def demo_flac(release_id: str, track: Mapping[str, Any]) -> bytes:
    """The FLAC bytes of a manifest track (``id``, ``duration_ms``, ``hooks``)."""
    seed = int(hashlib.sha256(f"{release_id}/{track['id']}".encode()).hexdigest()[:8], 16)
    hooks = list(track.get("hooks", ()))
    chorus = next((h for h in hooks if h["id"] == "chorus"), None) or \
        max(hooks, key=lambda h: h["end_ms"] - h["start_ms"], default=None)
    window = (chorus["start_ms"] / 1000, chorus["end_ms"] / 1000) if chorus else None
    samples = song(track["duration_ms"] / 1000, rate=DEMO_RATE, bpm=96 + seed % 40,
                   seed=seed, chorus=window, channels=1)
    return encode_audio(samples, DEMO_RATE, "flac")


def store_demo_audio(audio: Any, heads: Iterable[Mapping[str, Any]]) -> int:
    """Store the synthesised audio of every track of the release manifests ``heads``
    (documents, as JSON objects)
    whose declared hash is not stored yet; returns how many were stored. A track whose
    synthesised audio does not hash to what its manifest declares (another libFLAC than
    the one the hashes were made with) is skipped with a warning."""
    from casset_rights.audio.errors import AudioHashMismatch

    stored = 0
    for manifest in heads:
        for track in manifest.get("tracks", ()):
            declared = track["audio"]["content_hash"]
            if audio.records.audio(declared) is not None:
                continue
            record = audio.catalog.track(f"{manifest['id']}/{track['id']}")
            with audio.staging() as staging:
                staging.write(demo_flac(manifest["id"], track))
                try:
                    audio.store(staging, track=record, uploader=DEMO_UPLOADER)
                except AudioHashMismatch as exc:
                    logger.warning("demo audio of %s/%s not stored: %s", manifest["id"],
                                   track["id"], exc.detail)
                    continue
            stored += 1
    return stored
