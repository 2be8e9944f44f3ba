"""Analysis of one recording: what players and artists need to know of its audio.

``analyse(samples, rate, progress)`` gives duration, rate, channels, tempo and beat
times, onsets, integrated loudness (ITU-R BS.1770, pyloudnorm) and true peak (4x
oversampled, as BS.1770 describes), waveform peaks at a fixed resolution, and a
suggested hook window: the strongest 15-30 s section, snapped to beats and bars, with
its reason. librosa is imported here only; its first use compiles numba code (seconds),
so this runs in a warmed worker process, never on the request path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

ANALYSIS_RATE = 22050
HOP = 512
N_FFT = 2048
TEMPO_WINDOW = 344  # frames per autocorrelation: librosa.feature.tempo's 8 s at this hop
TEMPO_STEP = 8  # frames between two autocorrelation windows (librosa takes every frame)
WAVEFORM_POINTS = 1000
HOOK_MIN_S, HOOK_MAX_S = 15.0, 30.0
BEATS_PER_BAR = 4
Progress = Callable[[float], None]


def analyse(samples: np.ndarray, rate: int, *, progress: Progress | None = None) \
        -> dict[str, Any]:
    """The analysis of ``samples`` (float32, frames x channels) at ``rate``."""
    from concurrent.futures import ThreadPoolExecutor

    load_libraries()  # before a second thread imports any of them
    report = progress or (lambda _fraction: None)
    # Loudness and true peak (scipy's filter and numpy: they release the GIL) on a
    # second thread, beside librosa's part: a core each when two are free.
    with ThreadPoolExecutor(1, thread_name_prefix="loudness") as pool:
        measured = pool.submit(loudness_and_true_peak, samples, rate)
        result = _rhythm_and_hook(samples, rate, report)
        loudness, true_peak = measured.result()
    report(0.95)
    return {**result, "loudness_lufs": loudness, "true_peak_dbtp": true_peak}


def _rhythm_and_hook(samples: np.ndarray, rate: int, report: Progress) -> dict[str, Any]:
    """``analyse`` but loudness and true peak."""
    import librosa

    frames, channels = samples.shape
    duration = frames / rate
    mono = mono_mix(samples)
    # soxr's quick quality: beats and onsets need no more, at a fifth of the time.
    y = librosa.resample(mono, orig_sr=rate, target_sr=ANALYSIS_RATE, res_type="soxr_qq") \
        if rate != ANALYSIS_RATE else mono
    report(0.2)
    # One short-time Fourier transform for everything: the onset envelope (librosa's
    # default, the log-power mel spectrogram's positive flux) and the RMS come from it.
    power = librosa.util.abs2(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    mel = librosa.feature.melspectrogram(S=power, sr=ANALYSIS_RATE, n_fft=N_FFT)
    envelope = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=ANALYSIS_RATE,
                                            hop_length=HOP, n_fft=N_FFT)
    rms = rms_of(power)
    del power, mel
    report(0.35)
    tempo = estimate_tempo(envelope)
    _, beat_frames = librosa.beat.beat_track(onset_envelope=envelope, sr=ANALYSIS_RATE,
                                             hop_length=HOP, bpm=tempo)
    beats = librosa.frames_to_time(beat_frames, sr=ANALYSIS_RATE, hop_length=HOP)
    report(0.5)
    onset_frames = librosa.onset.onset_detect(onset_envelope=envelope, sr=ANALYSIS_RATE,
                                              hop_length=HOP)
    onsets = librosa.frames_to_time(onset_frames, sr=ANALYSIS_RATE, hop_length=HOP)
    report(0.6)
    hook = suggest_hook(rms=rms, envelope=envelope, beats=beats, duration=duration,
                        tempo=tempo)
    report(0.8)
    return {
        "duration_ms": round(duration * 1000),
        "sample_rate": rate,
        "channels": channels,
        "tempo_bpm": round(tempo, 2),
        "beats_s": [round(float(b), 3) for b in beats],
        "onsets_s": [round(float(o), 3) for o in onsets],
        "waveform": waveform_peaks(mono),
        "suggested_hook": hook,
    }


def mono_mix(samples: np.ndarray) -> np.ndarray:
    """The channels' mean, float32 (summed column by column: numpy's mean across a
    row of two is several times slower on a long track)."""
    import numpy as np

    mono = np.array(samples[:, 0], dtype=np.float32)
    for channel in range(1, samples.shape[1]):
        mono += samples[:, channel]
    if samples.shape[1] > 1:
        mono *= np.float32(1 / samples.shape[1])
    return mono


def rms_of(power: np.ndarray) -> np.ndarray:
    """Each frame's RMS from its power spectrum (Parseval; ``librosa.feature.rms`` with
    ``S``, without taking the magnitudes' squares again)."""
    import numpy as np

    total = 2 * power.sum(axis=0) - power[0] - power[-1]  # DC and Nyquist once
    rms: np.ndarray = np.sqrt(np.maximum(total, 0) / N_FFT ** 2)
    return rms


def estimate_tempo(envelope: np.ndarray) -> float:
    """The track's tempo in BPM, as ``librosa.feature.tempo`` finds it (the mean of the
    onset envelope's windowed autocorrelations, weighted by its log-normal prior around
    120 BPM) from every TEMPO_STEP-th window rather than every one: neighbouring
    windows share all but a few of their frames, so the mean hardly moves, at an eighth
    of the work. 0 for an envelope with no pulse."""
    import librosa
    import numpy as np

    padded = np.pad(envelope, TEMPO_WINDOW // 2, mode="linear_ramp", end_values=[0, 0])
    windows = librosa.util.frame(padded, frame_length=TEMPO_WINDOW, hop_length=TEMPO_STEP)
    windows = windows[:, : -(-envelope.shape[0] // TEMPO_STEP)]  # those centred on the track
    windows = windows * librosa.filters.get_window("hann", TEMPO_WINDOW, fftbins=True)[:, None]
    autocorrelation = librosa.autocorrelate(windows, axis=0)
    autocorrelation = librosa.util.normalize(autocorrelation, norm=np.inf, axis=0)
    tempo = librosa.feature.tempo(tg=autocorrelation, sr=ANALYSIS_RATE, hop_length=HOP)
    return float(np.atleast_1d(tempo)[0])


def loudness_and_true_peak(samples: np.ndarray, rate: int) -> tuple[float | None, float | None]:
    """Integrated loudness (LUFS) and true peak (dBTP); None for silence (or audio too
    short to gate)."""
    import numpy as np

    from casset_rights.audio.loudness import integrated_loudness, true_peak

    loudness = integrated_loudness(samples, rate)
    peak = true_peak(samples)
    return (round(loudness, 2) if loudness is not None else None,
            round(20 * float(np.log10(peak)), 2) if peak > 0 else None)


def waveform_peaks(mono: np.ndarray, points: int = WAVEFORM_POINTS) -> dict[str, Any]:
    """``points`` (min, max) pairs over equal spans of the track, for drawing it."""
    import numpy as np

    n = mono.shape[0]
    points = max(1, min(points, n))
    edges = np.linspace(0, n, points + 1).astype(np.int64)
    lows = np.minimum.reduceat(mono, edges[:-1])
    highs = np.maximum.reduceat(mono, edges[:-1])
    return {"points": points, "min": [round(float(v), 4) for v in lows],
            "max": [round(float(v), 4) for v in highs]}


def suggest_hook(*, rms: np.ndarray, envelope: np.ndarray, beats: np.ndarray, duration: float,
                 tempo: float) -> dict[str, Any] | None:
    """The strongest section of 15-30 s: windows start on a bar line (every fourth
    beat) and last whole bars; each scores its mean loudness (RMS) plus half its mean
    onset strength, both relative to the track's. Without beats, 30 s steps of 1 s.
    None for a track shorter than 15 s or silent."""
    import numpy as np

    if duration < HOOK_MIN_S or float(rms.max(initial=0.0)) <= 0:
        return None
    frame_s = HOP / ANALYSIS_RATE
    cum_rms = np.concatenate([[0.0], np.cumsum(rms)])
    cum_env = np.concatenate([[0.0], np.cumsum(envelope[: rms.shape[0]])])
    mean_rms = float(rms.mean()) or 1.0
    mean_env = float(envelope.mean()) or 1.0

    def score(start: float, end: float) -> float:
        a, b = int(start / frame_s), max(int(end / frame_s), int(start / frame_s) + 1)
        b = min(b, rms.shape[0])
        if b <= a:
            return -1.0
        return float((cum_rms[b] - cum_rms[a]) / (b - a) / mean_rms
                     + 0.5 * (cum_env[b] - cum_env[a]) / (b - a) / mean_env)

    candidates: list[tuple[float, float]] = []
    bars = beats[::BEATS_PER_BAR] if beats.shape[0] >= 2 * BEATS_PER_BAR else np.array([])
    for i, start in enumerate(bars):
        for end in bars[i + 1:]:
            length = end - start
            if length > HOOK_MAX_S:
                break
            if length >= HOOK_MIN_S:
                candidates.append((float(start), float(end)))
    snapped = bool(candidates)
    if not candidates:
        length = min(HOOK_MAX_S, duration)
        candidates = [(float(s), float(s) + length)
                      for s in np.arange(0.0, duration - length + 1e-9, 1.0)]
    start, end = max(candidates, key=lambda w: (round(score(*w), 3), w[1] - w[0]))
    strength = score(start, end)
    if snapped:
        bars_long = round((end - start) / (60 / tempo) / BEATS_PER_BAR) if tempo > 0 else None
        reason = (f"the strongest {end - start:.1f} s ({bars_long} bars at {tempo:.0f} BPM), "
                  f"from a bar line at {start:.1f} s: loudness and onsets {strength:.2f}x "
                  "the track's average (1.5 is average)")
    else:
        reason = (f"no steady beat found; the strongest {end - start:.0f} s from "
                  f"{start:.0f} s ({strength:.2f}x the average, 1.5 is average)")
    return {"start_ms": round(start * 1000), "end_ms": round(end * 1000),
            "snapped_to_bars": snapped, "score": round(strength, 3), "reason": reason}


_imports = threading.Lock()
LIBRARIES = ("numpy.lib.stride_tricks", "scipy.signal", "scipy.ndimage", "pyloudnorm.iirfilter",
             "librosa", "librosa.core.audio", "librosa.core.convert", "librosa.core.spectrum",
             "librosa.util.utils", "librosa.filters", "librosa.feature.spectral",
             "librosa.feature.rhythm", "librosa.onset", "librosa.beat")


def load_libraries() -> None:
    """Import everything ``analyse`` uses, librosa's lazily loaded submodules included,
    one thread at a time: two threads importing scipy's or librosa's submodules at once
    can meet a module the other has half initialised (ImportError), as a worker's
    warm-up beside a first job, or the loudness thread beside librosa's part, did."""
    import importlib

    with _imports:
        for name in LIBRARIES:
            importlib.import_module(name)


def warm_up() -> None:
    """Compile (or load from NUMBA_CACHE_DIR) what ``analyse`` runs, on 20 s of clicks."""
    import numpy as np

    rate = ANALYSIS_RATE
    clicks = np.zeros((rate * 20, 1), dtype=np.float32)
    clicks[:: rate // 2, 0] = 1.0
    analyse(clicks, rate)
