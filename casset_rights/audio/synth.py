"""Deterministic synthetic music: the demo catalog's audio, the tests' and benchmarks'.

``song(seconds, seed=...)`` makes a stereo track with a steady beat (kick, hat), a chord
progression and a louder "chorus" section, from numpy alone, bit-identical on every run
for the same arguments: the example manifests declare the SHA-256 of the FLAC files
``write_audio`` makes from it. ``write_audio`` writes WAV, FLAC, MP3 and Ogg through
soundfile and M4A (AAC) through PyAV.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

CHORDS = ((220.0, 277.18, 329.63), (196.0, 246.94, 293.66), (174.61, 220.0, 261.63),
          (196.0, 246.94, 329.63))


def song(seconds: float, *, rate: int = 44100, bpm: float = 120.0, seed: int = 0,
         chorus: tuple[float, float] | None = None, channels: int = 2) -> np.ndarray:
    """``seconds`` of music as float32 ``(frames, channels)``; the ``chorus`` window
    (seconds) is louder and busier, so analysis has a clear hook to find. The music
    repeats every eight bars (the chord cycle): one cycle of verse and one of chorus are
    synthesised and laid end to end, so a long track costs no more than a short one."""
    import numpy as np

    beat = 60.0 / bpm
    cycle_frames = round(8 * 4 * beat * rate)
    n = int(seconds * rate)
    t = np.arange(cycle_frames, dtype=np.float64) / rate
    rng = np.random.default_rng(seed)
    verse = np.zeros(cycle_frames, dtype=np.float64)
    chord_index = (t // (8 * beat)).astype(np.int64) % len(CHORDS)
    for voice in range(3):
        freqs = np.array([c[voice] for c in CHORDS])[chord_index] * (1 + 0.01 * (seed % 5))
        verse += 0.08 * np.sin(2 * np.pi * freqs * t)
    # Kick on every beat, hat on every off-beat: short decaying bursts.
    phase = t % beat
    verse += 0.5 * np.sin(2 * np.pi * 55 * phase) * np.exp(-phase * 30)
    off = (t + beat / 2) % beat
    verse += 0.05 * rng.standard_normal(cycle_frames) * np.exp(-off * 80)
    lead = 0.15 * np.sign(np.sin(2 * np.pi * 440 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * t / beat))
    loud = verse * 1.8 + lead
    index = np.arange(n) % cycle_frames
    out = verse[index]
    if chorus is not None:
        a, b = (min(max(int(x * rate), 0), n) for x in chorus)
        out[a:b] = loud[index[a:b]]
    out *= 0.6 / max(float(np.max(np.abs(out))), 1e-9)
    stereo = [out * (1.0 - 0.1 * (c % 2)) for c in range(channels)]
    return np.stack(stereo, axis=1).astype(np.float32)


def tone(seconds: float, *, rate: int = 44100, channels: int = 2, freq: float = 440.0) \
        -> np.ndarray:
    import numpy as np

    t = np.arange(int(seconds * rate)) / rate
    mono = 0.3 * np.sin(2 * np.pi * freq * t)
    return np.repeat(mono[:, None], channels, axis=1).astype(np.float32)


def encode_audio(samples: np.ndarray, rate: int, fmt: str) -> bytes:
    """``samples`` in a container: wav, flac, mp3 or ogg (soundfile), m4a (PyAV AAC)."""
    if fmt == "m4a":
        from casset_rights.audio.render import encode

        stereo = samples if samples.shape[1] == 2 else samples[:, :1].repeat(2, axis=1)
        data, _ = encode(stereo, rate, fmt="m4a", bitrate=128_000)
        return data
    import soundfile as sf

    buffer = io.BytesIO()
    formats = {"wav": ("WAV", "PCM_16"), "flac": ("FLAC", "PCM_16"),
               "mp3": ("MP3", None), "ogg": ("OGG", "VORBIS")}
    container, subtype = formats[fmt]
    sf.write(buffer, samples, rate, format=container, subtype=subtype)
    return buffer.getvalue()


def write_audio(path: Path, samples: np.ndarray, rate: int, fmt: str) -> bytes:
    data = encode_audio(samples, rate, fmt)
    path.write_bytes(data)
    return data
