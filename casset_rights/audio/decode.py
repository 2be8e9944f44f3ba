"""Decoding audio to samples: soundfile (libsndfile) for WAV, FLAC, MP3 and Ogg; PyAV
(FFmpeg's libraries, carried by its wheels) for AAC and M4A. No system ffmpeg.

Samples are float32 arrays shaped ``(frames, channels)``. ``decode_window`` decodes only
the window asked (a seek, then the window's frames), so a preview of a long track costs
the window, not the track. Every decoder failure becomes AudioCorrupt.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from casset_rights.audio.errors import AudioCorrupt
from casset_rights.audio.sniff import AudioFormat

if TYPE_CHECKING:
    import numpy as np

_SNDFILE: frozenset[str] = frozenset({"wav", "flac", "mp3", "ogg"})
BLOCK_FRAMES = 1 << 16


@dataclass(frozen=True)
class AudioInfo:
    """What a decoder says of a file: rate, channel count, length in frames."""

    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_ms(self) -> int:
        return round(self.frames * 1000 / self.sample_rate) if self.sample_rate else 0


def probe(path: Path, fmt: AudioFormat) -> AudioInfo:
    """Decode the whole file once (block by block) and say what it holds.

    Raises AudioCorrupt when a decoder refuses the bytes or finds no audio in them
    (truncated headers, damaged frames, a container with no audio stream).
    """
    frames = 0
    rate = channels = 0
    try:
        for rate, block in iter_blocks(path, fmt):  # noqa: B007 (the last block's rate)
            frames += block.shape[0]
            channels = block.shape[1]
    except AudioCorrupt:
        raise
    except Exception as exc:  # decoders raise their own types (sf.LibsndfileError, av.*)
        raise AudioCorrupt(f"the {fmt} audio does not decode: {_reason(exc)}") from None
    if frames == 0 or rate <= 0:
        raise AudioCorrupt(f"the {fmt} file holds no audio frames")
    return AudioInfo(sample_rate=rate, channels=channels, frames=frames)


def iter_blocks(path: Path, fmt: AudioFormat) -> Iterator[tuple[int, np.ndarray]]:
    """The whole file as ``(sample_rate, block)`` pairs, blocks of a few thousand frames."""
    if fmt in _SNDFILE:
        import soundfile as sf

        with sf.SoundFile(str(path)) as f:
            while True:
                block = f.read(BLOCK_FRAMES, dtype="float32", always_2d=True)
                if block.shape[0] == 0:
                    return
                yield f.samplerate, block
    else:
        yield from _av_blocks(path, start_s=0.0, end_s=None)


def decode_window(path: Path, fmt: AudioFormat, *, start_s: float,
                  end_s: float) -> tuple[np.ndarray, int]:
    """The samples of ``[start_s, end_s)`` and the sample rate; fewer frames when the
    track ends first. Raises AudioCorrupt when the bytes do not decode."""
    import numpy as np

    try:
        if fmt in _SNDFILE:
            import soundfile as sf

            with sf.SoundFile(str(path)) as f:
                rate = f.samplerate
                first = round(start_s * rate)
                if first > 0:
                    f.seek(min(first, f.frames))
                data = f.read(round((end_s - start_s) * rate), dtype="float32",
                              always_2d=True)
            return np.ascontiguousarray(data), rate
        blocks = list(_av_blocks(path, start_s=start_s, end_s=end_s))
    except AudioCorrupt:
        raise
    except Exception as exc:
        raise AudioCorrupt(f"the {fmt} audio does not decode: {_reason(exc)}") from None
    if not blocks:
        return np.zeros((0, 2), dtype=np.float32), 44100
    rate = blocks[0][0]
    return np.concatenate([b for _, b in blocks]), rate


def decode_all(path: Path, fmt: AudioFormat) -> tuple[np.ndarray, int]:
    """Every sample of the file, and its rate (analysis). Raises AudioCorrupt."""
    import numpy as np

    try:
        if fmt in _SNDFILE:
            import soundfile as sf

            # One read into one array (blocks joined afterwards cost a second copy).
            with sf.SoundFile(str(path)) as f:
                data, rate = f.read(dtype="float32", always_2d=True), f.samplerate
            if data.shape[0] == 0:
                raise AudioCorrupt(f"the {fmt} file holds no audio frames")
            return data, rate
        blocks = list(iter_blocks(path, fmt))
    except AudioCorrupt:
        raise
    except Exception as exc:
        raise AudioCorrupt(f"the {fmt} audio does not decode: {_reason(exc)}") from None
    if not blocks:
        raise AudioCorrupt(f"the {fmt} file holds no audio frames")
    return np.concatenate([b for _, b in blocks]), blocks[0][0]


def _av_blocks(path: Path, *, start_s: float, end_s: float | None) \
        -> Iterator[tuple[int, np.ndarray]]:
    """Decode with PyAV from ``start_s`` (seeking to the nearest earlier key frame, then
    trimming) to ``end_s``, as float32 interleaved frames."""
    import av
    import numpy as np

    with av.open(str(path)) as container:
        streams = container.streams.audio
        if not streams:
            raise AudioCorrupt("the container holds no audio stream")
        stream = streams[0]
        if start_s > 0 and stream.time_base is not None:
            container.seek(int(start_s / stream.time_base), stream=stream, backward=True)
        resampler = None
        for frame in container.decode(stream):
            rate = frame.sample_rate
            layout = frame.layout.name
            if resampler is None:
                resampler = av.AudioResampler(format="flt", layout=layout, rate=rate)
            t0 = (float(frame.pts * frame.time_base)
                  if frame.pts is not None and frame.time_base is not None else 0.0)
            if end_s is not None and t0 >= end_s:
                break
            for out in resampler.resample(frame):
                data: Any = out.to_ndarray().reshape(-1, out.layout.nb_channels)
                skip = max(0, round((start_s - t0) * rate))
                if end_s is not None:
                    keep = round((end_s - t0) * rate)
                    data = data[:keep]
                data = data[skip:]
                if data.shape[0]:
                    yield rate, np.ascontiguousarray(data, dtype=np.float32)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]
