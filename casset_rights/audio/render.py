"""Rendering a preview: the window's samples, faded, loudness-normalised, encoded.

``render_preview`` decodes only the window (``decode.decode_window``), makes it stereo,
normalises its integrated loudness (ITU-R BS.1770, pyloudnorm) to the target, keeps its
sample peak at or under -1 dBFS, fades it in and out (or, for a loop, crossfades its
end into its start so it repeats seamlessly), and encodes it with PyAV: AAC in an M4A
(MP4) container, or MP3.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from casset_rights.audio.decode import decode_window
from casset_rights.audio.errors import AudioCorrupt, WindowInvalid
from casset_rights.audio.sniff import AudioFormat

if TYPE_CHECKING:
    import numpy as np

PreviewFormat = Literal["m4a", "mp3"]
PREVIEW_MEDIA_TYPES: dict[str, str] = {"m4a": "audio/mp4", "mp3": "audio/mpeg"}
PEAK_CEILING = 10 ** (-1.0 / 20)  # -1 dBFS
ENCODER_RATES = (48000, 44100, 32000, 24000, 22050, 16000)
END_TOLERANCE_MS = 50
LOOP_CROSSFADE_MS = 500  # a loop asked for when the settings name no crossfade


@dataclass(frozen=True)
class RenderSettings:
    """What shapes a preview besides its window; part of the preview cache key."""

    target_lufs: float = -14.0
    fade_ms: int = 400
    loop_crossfade_ms: int = 0
    format: PreviewFormat = "m4a"
    bitrate: int = 128_000

    def looped(self, loop: bool | None) -> RenderSettings:
        """These settings as a request asks: ``loop`` True a seamless loop (the
        settings' crossfade, or LOOP_CROSSFADE_MS when they name none), False faded in
        and out, None as the settings say."""
        if loop is None:
            return self
        crossfade = (self.loop_crossfade_ms or LOOP_CROSSFADE_MS) if loop else 0
        return replace(self, loop_crossfade_ms=crossfade)

    def key(self) -> str:
        return (f"lufs={self.target_lufs};fade={self.fade_ms};loop={self.loop_crossfade_ms};"
                f"fmt={self.format};br={self.bitrate}")


@dataclass(frozen=True)
class Rendered:
    data: bytes
    media_type: str
    sample_rate: int
    duration_ms: int
    loudness_lufs: float | None  # of the window before normalising; None for silence
    gain_db: float


def prepare() -> None:
    """Import what rendering uses (numpy, PyAV, scipy's filters, soundfile): seconds
    the first preview would otherwise wait."""
    import av  # noqa: F401
    import numpy  # noqa: F401
    import pyloudnorm.iirfilter  # noqa: F401
    import scipy.signal  # noqa: F401
    import soundfile  # noqa: F401


def check_window(start_ms: int, end_ms: int, *, duration_ms: int, max_seconds: float) -> None:
    """Raises WindowInvalid for a window of zero or negative length, one that starts or
    ends outside the track, or one longer than the preview limit."""
    problems = window_problems(start_ms, end_ms, duration_ms=duration_ms,
                               limit_ms=round(max_seconds * 1000))
    if problems:
        raise WindowInvalid(problems[0])


def window_problems(start_ms: int, end_ms: int, *, duration_ms: int | None,
                    limit_ms: int) -> list[str]:
    """What is wrong with a preview window of ``[start_ms, end_ms)``: empty, outside
    the track (its length None: not checked; it may end ``END_TOLERANCE_MS`` past it,
    lengths being rounded), longer than ``limit_ms``."""
    problems = []
    if end_ms <= start_ms:
        problems.append(f"the window [{start_ms}, {end_ms}) ms is empty")
    if duration_ms is not None and (start_ms < 0 or start_ms >= duration_ms
                                    or end_ms > duration_ms + END_TOLERANCE_MS):
        problems.append(f"the window [{start_ms}, {end_ms}) ms lies outside the track "
                        f"(0 to {duration_ms} ms)")
    if end_ms - start_ms > limit_ms:
        problems.append(f"the window is {(end_ms - start_ms) / 1000:g} s long; previews "
                        f"are at most {limit_ms / 1000:g} s")
    return problems


def render_preview(path: Path, fmt: AudioFormat, *, start_ms: int, end_ms: int,
                   settings: RenderSettings) -> Rendered:
    """The encoded preview of ``[start_ms, end_ms)``. Raises AudioCorrupt when the
    source does not decode or the window holds no samples."""
    samples, rate = decode_window(path, fmt, start_s=start_ms / 1000, end_s=end_ms / 1000)
    if samples.shape[0] == 0:
        raise AudioCorrupt("the window holds no audio samples")
    stereo = to_stereo(samples)
    stereo, loudness, gain_db = normalise(stereo, rate, target_lufs=settings.target_lufs)
    if settings.loop_crossfade_ms > 0:
        stereo = loop_crossfade(stereo, rate, settings.loop_crossfade_ms)
    else:
        stereo = fade(stereo, rate, settings.fade_ms)
    data, out_rate = encode(stereo, rate, fmt=settings.format, bitrate=settings.bitrate)
    return Rendered(data=data, media_type=PREVIEW_MEDIA_TYPES[settings.format],
                    sample_rate=out_rate, duration_ms=round(stereo.shape[0] * 1000 / rate),
                    loudness_lufs=loudness, gain_db=gain_db)


def to_stereo(samples: np.ndarray) -> np.ndarray:
    """Mono is doubled; more than two channels are folded: even channels left, odd
    right (a plain downmix; the preview is a sketch of the track, not a master)."""
    import numpy as np

    channels = samples.shape[1]
    if channels == 2:
        return samples
    if channels == 1:
        return np.repeat(samples, 2, axis=1)
    left = samples[:, 0::2].mean(axis=1)
    right = samples[:, 1::2].mean(axis=1)
    return np.stack([left, right], axis=1).astype(np.float32)


def normalise(samples: np.ndarray, rate: int, *, target_lufs: float) \
        -> tuple[np.ndarray, float | None, float]:
    """Gain to the target integrated loudness, then down to keep the sample peak at or
    under -1 dBFS. Silence (and windows under 0.4 s, too short to gate) keep their
    level. Returns the samples, the measured loudness and the gain applied in dB."""
    import numpy as np

    from casset_rights.audio.loudness import integrated_loudness

    loudness = integrated_loudness(samples, rate)
    gain = 1.0 if loudness is None else 10 ** ((target_lufs - loudness) / 20)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak * gain > PEAK_CEILING and peak > 0:
        gain = PEAK_CEILING / peak
    gain_db = 20 * float(np.log10(gain)) if gain > 0 else 0.0
    return (samples * np.float32(gain)).astype(np.float32), loudness, round(gain_db, 2)


def fade(samples: np.ndarray, rate: int, fade_ms: int) -> np.ndarray:
    """Equal-power fades in and out, each at most a quarter of the window."""
    import numpy as np

    n = min(int(rate * fade_ms / 1000), samples.shape[0] // 4)
    if n <= 1:
        return samples
    ramp = np.sin(np.linspace(0, np.pi / 2, n, dtype=np.float32)) ** 2
    out = samples.copy()
    out[:n] *= ramp[:, None]
    out[-n:] *= ramp[::-1, None]
    return out


def loop_crossfade(samples: np.ndarray, rate: int, crossfade_ms: int) -> np.ndarray:
    """A seamless loop: the last ``crossfade_ms`` fade out over the first ones fading
    in, and are then cut, so the end flows into the start."""
    import numpy as np

    n = min(int(rate * crossfade_ms / 1000), samples.shape[0] // 3)
    if n <= 1:
        return samples
    ramp = np.sin(np.linspace(0, np.pi / 2, n, dtype=np.float32))
    out = samples[:-n].copy()
    out[:n] = samples[:n] * ramp[:, None] + samples[-n:] * ramp[::-1, None]
    return out


def encode(samples: np.ndarray, rate: int, *, fmt: PreviewFormat,
           bitrate: int) -> tuple[bytes, int]:
    """Stereo float samples as AAC in M4A or as MP3 (PyAV); returns bytes and the rate
    encoded (the source's, or 48 kHz when the encoder takes no such rate)."""
    import av
    import numpy as np

    out_rate = rate if rate in ENCODER_RATES else 48000
    buffer = io.BytesIO()
    codec = "aac" if fmt == "m4a" else "libmp3lame"
    with av.open(buffer, "w", format="mp4" if fmt == "m4a" else "mp3") as container:
        stream = container.add_stream(codec, rate=out_rate, layout="stereo")
        assert isinstance(stream, av.audio.stream.AudioStream)  # an audio codec's stream
        stream.bit_rate = bitrate
        if codec == "aac":
            # FFmpeg's "fast" AAC coder: about a third of the default's time for a
            # preview, at a quality a 30-second sketch does not miss.
            stream.codec_context.options = {"aac_coder": "fast"}
        resampler = av.AudioResampler(format=stream.format.name, layout="stereo",
                                      rate=out_rate)
        block = 1 << 15
        for start in range(0, samples.shape[0], block):
            chunk = np.ascontiguousarray(samples[start:start + block].T)
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
            frame.sample_rate = rate
            for converted in resampler.resample(frame):
                for packet in stream.encode(converted):
                    container.mux(packet)
        for converted in resampler.resample(None):
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue(), out_rate
