"""Loudness (ITU-R BS.1770-4) and true peak, vectorised.

``integrated_loudness`` is pyloudnorm's measurement (its K-weighting filters, the same
400 ms blocks with 75 % overlap, the -70 LUFS absolute and -10 LU relative gates)
computed from sums of the gain-weighted squares over 100 ms steps instead of
pyloudnorm's per-block Python loop: on a 4-minute stereo track the loop took seconds
(docs/benchmarks.md); this takes tens of milliseconds and agrees with it to a hundredth
of a LU (tests/unit/audio).
``true_peak`` oversamples 4x with a 48-tap, 4-phase interpolator (BS.1770-4 annex 2),
only where a bound on the interpolated values says the peak could be.
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

    frames, channels = samples.shape
    if frames < int(BLOCK_S * rate):
        return None
    gains = np.array([CHANNEL_GAINS[min(c, 4)] for c in range(channels)])
    # A block's loudness is -0.691 + 10 log10 of its channels' mean squares weighted by
    # the channel gains, and the gates average those weighted sums: so one series of
    # weighted squares, summed once, gives every block (instead of one per channel).
    weighted = k_weighted(samples, rate)
    power = np.square(weighted, out=weighted) @ gains.astype(np.float32)
    # Blocks of 400 ms every 100 ms: block j spans the 100 ms steps j to j + 3 (its
    # edges are pyloudnorm's, floor(0.1 k rate)), so each step is summed once.
    count = int(np.round((frames / rate - BLOCK_S) / (BLOCK_S * STEP))) + 1
    edges = (BLOCK_S * (np.arange(count + 4) * STEP) * rate).astype(np.int64)
    edges = edges[edges < frames]
    # count + 3 steps make the blocks; the edges can also open a last partial step past
    # the last block's end (when the rounded count falls short of the audio), summed
    # but never part of a block.
    steps = np.zeros(count + 4)
    # float32 sums of 100 ms (a few thousand terms: within 0.001 dB; a float64
    # accumulator costs seven times as much here)
    steps[:edges.shape[0]] = np.add.reduceat(power, edges)
    z = np.convolve(steps, np.ones(4), mode="valid")[:count] / (BLOCK_S * rate)
    with np.errstate(divide="ignore"):
        per_block = -0.691 + 10 * np.log10(z)
    gated = per_block >= ABSOLUTE_GATE
    if not gated.any():
        return None
    relative = -0.691 + 10 * np.log10(z[gated].mean()) + RELATIVE_GATE
    gated = (per_block > relative) & (per_block > ABSOLUTE_GATE)
    if not gated.any():
        return None
    loudness = float(-0.691 + 10 * np.log10(z[gated].mean()))
    return loudness if np.isfinite(loudness) else None


def k_weighted(samples: np.ndarray, rate: int) -> np.ndarray:
    """``samples`` through BS.1770's K-weighting: pyloudnorm's two stages (high shelf,
    then high pass) as one cascade of second-order sections, in float32 (a cascade of
    sections stays stable there; the loudness differs from float64's by 1e-4 LU)."""
    import numpy as np
    from pyloudnorm.iirfilter import IIRfilter
    from scipy.signal import sosfilt

    stages = (IIRfilter(4.0, 1 / np.sqrt(2), 1500.0, rate, "high_shelf"),
              IIRfilter(0.0, 0.5, 38.0, rate, "high_pass"))
    sos = np.array([np.concatenate([stage.b, stage.a]) for stage in stages])
    gain = stages[0].passband_gain * stages[1].passband_gain
    weighted: np.ndarray = sosfilt(sos.astype(np.float32), samples.astype(np.float32),
                                   axis=0)
    if gain != 1.0:
        weighted *= gain
    return weighted


def true_peak(samples: np.ndarray) -> float:
    """The largest absolute value of ``samples`` oversampled 4x, as a linear amplitude
    (at least the sample peak).

    An interpolated value is a sum of 12 neighbouring samples weighted by one phase's
    taps, so it is at most that neighbourhood's largest absolute sample times the
    phase's sum of absolute taps. Only neighbourhoods whose bound reaches the sample
    peak can hold a larger value; only those are interpolated (music peaks in a few
    places: a small fraction of the track). The answer is the same as interpolating
    everything."""
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    if samples.size == 0:
        return 0.0
    phases = _phases()
    width = phases.shape[0]
    bound = float(np.abs(phases).sum(axis=0).max())
    peak = max(float(samples.max()), -float(samples.min()))
    if samples.shape[0] < width or peak == 0.0:
        return peak
    floor = peak / bound * 0.999  # inclusive: rounding never drops a candidate
    for channel in range(samples.shape[1]):
        signal = samples[:, channel]
        loud = (signal > floor) | (signal < -floor)
        windows = signal.shape[0] - width + 1
        reach = loud[:windows].copy()  # the windows starting at i holding a loud sample
        for k in range(1, width):
            reach |= loud[k:k + windows]
        starts = np.flatnonzero(reach)
        for part in np.array_split(starts, max(1, starts.shape[0] // (1 << 16))):
            if part.shape[0]:
                values = sliding_window_view(signal, width)[part].astype(np.float32) @ phases
                peak = max(peak, float(np.max(np.abs(values))))
    return peak


def _phases() -> np.ndarray:
    """BS.1770-4 annex 2's 4x interpolator: 48 taps in 4 phases of 12, each phase's
    taps reversed (a window times a phase is that phase's output), as 12 x 4."""
    import numpy as np
    from scipy.signal import firwin

    taps = (firwin(48, 0.25) * 4).astype(np.float32)
    return np.stack([taps[p::4][::-1] for p in range(4)], axis=1)
