"""Loudness and true peak: the vectorised BS.1770 measurement agrees with pyloudnorm's;
true peak finds the inter-sample peaks a sample peak misses."""

from __future__ import annotations

import pytest

np = pytest.importorskip("numpy")
pyloudnorm = pytest.importorskip("pyloudnorm")

from casset_rights.audio.loudness import integrated_loudness, true_peak  # noqa: E402
from casset_rights.audio.synth import song, tone  # noqa: E402


@pytest.mark.parametrize(("samples", "rate"), [
    (song(30, seed=1), 44100), (song(12, seed=2, channels=1, rate=48000), 48000),
    (song(10, seed=3, channels=5) * 0.05, 44100), (tone(3, rate=8000, channels=1), 8000),
])
def test_integrated_loudness_agrees_with_pyloudnorm(samples: np.ndarray, rate: int) -> None:
    expected = pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64))
    assert integrated_loudness(samples, rate) == pytest.approx(expected, abs=0.01)


@pytest.mark.parametrize("seconds", [5.0, 5.01, 5.02, 5.04, 5.05, 5.06, 5.09, 181.03])
def test_every_length_is_measured_as_pyloudnorm_does(seconds: float) -> None:
    # Lengths whose last 100 ms step ends inside the audio past the last block (the
    # block count rounded down) once overran the steps' array.
    samples = song(182, seed=4)[:int(seconds * 44100)]
    expected = pyloudnorm.Meter(44100).integrated_loudness(samples.astype(np.float64))
    assert integrated_loudness(samples, 44100) == pytest.approx(expected, abs=0.01)


def test_silence_and_slivers_have_no_loudness() -> None:
    assert integrated_loudness(np.zeros((44100, 2), dtype=np.float32), 44100) is None
    assert integrated_loudness(np.ones((100, 2), dtype=np.float32), 44100) is None


def test_true_peak_sees_between_the_samples() -> None:
    n = np.arange(44100)
    # A quarter-rate sine sampled 45 degrees off its crests: samples reach 0.707 only.
    wave = np.sin(2 * np.pi * 11025 * n / 44100 + np.pi / 4).astype(np.float32)[:, None]
    assert float(np.max(np.abs(wave))) == pytest.approx(0.7071, abs=1e-3)
    assert true_peak(wave) == pytest.approx(1.0, abs=0.03)
    assert true_peak(np.zeros((0, 2), dtype=np.float32)) == 0.0
