"""Loudness (ITU-R BS.1770-4) and true peak, vectorised.

``integrated_loudness`` is pyloudnorm's measurement (its K-weighting filters, the same
400 ms blocks with 75 % overlap, the -70 LUFS absolute and -10 LU relative gates)
computed with cumulative sums instead of pyloudnorm's per-block Python loop: on a
4-minute stereo track the loop took seconds (docs/benchmarks.md); this takes tens of
milliseconds and agrees with it to a hundredth of a LU (tests/unit/audio).
``true_peak`` oversamples 4x with a 48-tap, 4-phase interpolator (BS.1770-4 annex 2)
as one matrix product per block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BLOCK_S = 0.4
STEP = 0.25  # of a block: 75 % overlap
ABSOLUTE_GATE = -70.0
RELATIVE_GATE = -10.0
CHANNEL_GAINS = (1.0, 1.0, 1.0, 1.41, 1.41)


def integrated_loudness(samples: np.ndarray, rate: int) -> float | None:
    """Gated integrated loudness in LUFS of ``samples`` (frames x channels); None for
    silence or audio shorter than one 400 ms block."""
    import numpy as np
    from pyloudnorm.iirfilter import IIRfilter
    from scipy.signal import lfilter

    frames, channels = samples.shape
    if frames < int(BLOCK_S * rate):
        return None
    weighted = samples.astype(np.float64)
    # The K-weighting stages exactly as pyloudnorm's meter builds them.
    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))
    for stage in stages:
        weighted = stage.passband_gain * lfilter(stage.b, stage.a, weighted, axis=0)
    block = BLOCK_S * rate
    count = int(np.round((frames / rate - BLOCK_S) / (BLOCK_S * STEP))) + 1
    j = np.arange(count)
    lower = (BLOCK_S * (j * STEP) * rate).astype(np.int64)
    upper = np.minimum((BLOCK_S * (j * STEP + 1) * rate).astype(np.int64), frames)
    energy = np.concatenate([np.zeros((1, channels)), np.cumsum(weighted ** 2, axis=0)])
    z = (energy[upper] - energy[lower]) / block  # mean square per block and channel
    gains = np.array([CHANNEL_GAINS[min(c, 4)] for c in range(channels)])
    with np.errstate(divide="ignore"):
        per_block = -0.691 + 10 * np.log10(z @ gains)
    gated = per_block >= ABSOLUTE_GATE
    if not gated.any():
        return None
    relative = -0.691 + 10 * np.log10(z[gated].mean(axis=0) @ gains) + RELATIVE_GATE
    gated = (per_block > relative) & (per_block > ABSOLUTE_GATE)
    if not gated.any():
        return None
    loudness = float(-0.691 + 10 * np.log10(z[gated].mean(axis=0) @ gains))
    return loudness if np.isfinite(loudness) else None


def true_peak(samples: np.ndarray, *, block: int = 1 << 18) -> float:
    """The largest absolute value of ``samples`` oversampled 4x, as a linear amplitude
    (at least the sample peak)."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy.signal import firwin

    if samples.size == 0:
        return 0.0
    taps = (firwin(48, 0.25) * 4).astype(np.float32)
    phases = np.stack([taps[p::4][::-1] for p in range(4)], axis=1)  # 12 x 4
    peak = float(np.max(np.abs(samples)))
    width = phases.shape[0]
    for start in range(0, samples.shape[0], block):
        part = samples[start:start + block + width - 1].astype(np.float32)
        if part.shape[0] < width:
            break
        for channel in range(part.shape[1]):
            windows = sliding_window_view(part[:, channel], width)
            peak = max(peak, float(np.max(np.abs(windows @ phases))))
    return peak
