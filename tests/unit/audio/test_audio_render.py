"""Rendering previews: only the window, faded, loudness-normalised, encoded; windows
outside the track refused; odd inputs (silence, 8 kHz mono, 192 kHz multichannel, every
container) rendered without complaint."""

from __future__ import annotations

from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("av")
pytest.importorskip("pyloudnorm")

from casset_rights.audio.decode import decode_window, probe  # noqa: E402
from casset_rights.audio.errors import AudioCorrupt, WindowInvalid  # noqa: E402
from casset_rights.audio.render import (  # noqa: E402
    RenderSettings,
    check_window,
    fade,
    loop_crossfade,
    normalise,
    render_preview,
)
from casset_rights.audio.sniff import sniff  # noqa: E402
from casset_rights.audio.synth import song, tone, write_audio  # noqa: E402


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "ogg", "m4a"])
def test_every_container_decodes_only_the_window_asked(fmt: str, tmp_path: Path) -> None:
    path = tmp_path / f"a.{fmt}"
    write_audio(path, song(12, seed=1), 44100, fmt)
    kind = sniff(path.read_bytes()[:4096])
    assert kind == fmt
    info = probe(path, kind)
    assert abs(info.duration_ms - 12000) < 120 and info.channels == 2
    samples, rate = decode_window(path, kind, start_s=4.0, end_s=7.0)
    assert rate == 44100 and abs(samples.shape[0] - 3 * rate) <= 2048
    rendered = render_preview(path, kind, start_ms=4000, end_ms=7000,
                              settings=RenderSettings())
    assert rendered.media_type == "audio/mp4" and rendered.data[4:8] == b"ftyp"
    assert abs(rendered.duration_ms - 3000) < 60


def test_the_preview_is_normalised_to_the_target_and_faded(tmp_path: Path) -> None:
    import pyloudnorm

    path = tmp_path / "a.flac"
    write_audio(path, song(20, seed=2) * 0.2, 44100, "flac")  # a quiet master
    rendered = render_preview(path, "flac", start_ms=2000, end_ms=17000,
                              settings=RenderSettings(format="mp3", target_lufs=-16.0))
    out = tmp_path / "p.mp3"
    out.write_bytes(rendered.data)
    assert sniff(rendered.data[:4096]) == "mp3" and rendered.gain_db > 0
    samples, rate = decode_window(out, "mp3", start_s=0, end_s=30)
    loudness = pyloudnorm.Meter(rate).integrated_loudness(samples)
    assert abs(loudness - -16.0) < 1.0
    head = np.abs(samples[:200]).max()
    assert head < 0.05  # the fade-in starts from (near) silence
    assert np.abs(samples).max() <= 10 ** (-0.5 / 20)  # peaks kept under the ceiling


def test_silence_keeps_its_level() -> None:
    silent = np.zeros((44100 * 3, 2), dtype=np.float32)
    out, loudness, gain = normalise(silent, 44100, target_lufs=-14.0)
    assert loudness is None and gain == 0.0 and not out.any()


def test_fades_and_the_loop_crossfade() -> None:
    ones = np.ones((1000, 2), dtype=np.float32)
    faded = fade(ones, 1000, 100)
    assert faded[0, 0] == 0 and faded[-1, 0] == 0 and faded[500, 0] == 1
    ramp = np.linspace(0, 1, 1000, dtype=np.float32)[:, None].repeat(2, axis=1)
    looped = loop_crossfade(ramp, 1000, 100)
    assert looped.shape[0] == 900
    # The end of the loop meets its start: the last sample leads into the first.
    assert abs(float(looped[-1, 0]) - float(ramp[899, 0])) < 1e-6
    assert abs(float(looped[0, 0]) - float(ramp[900, 0])) < 1e-6


def test_a_request_chooses_a_loop_or_fades_and_the_cache_key_follows() -> None:
    faded = RenderSettings()
    assert faded.looped(None) is faded
    assert faded.looped(True).loop_crossfade_ms == 500  # the settings name none
    assert faded.looped(False) == faded
    assert RenderSettings(loop_crossfade_ms=800).looped(True).loop_crossfade_ms == 800
    assert RenderSettings(loop_crossfade_ms=800).looped(False).loop_crossfade_ms == 0
    assert faded.looped(True).key() != faded.key()


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (192000, 6)])
def test_unusual_rates_and_channel_counts_render(rate: int, channels: int,
                                                 tmp_path: Path) -> None:
    path = tmp_path / "odd.wav"
    write_audio(path, tone(4, rate=rate, channels=channels), rate, "wav")
    rendered = render_preview(path, "wav", start_ms=500, end_ms=3500,
                              settings=RenderSettings())
    assert rendered.sample_rate in (48000, 44100, 32000, 24000, 22050, 16000)
    out = tmp_path / "p.m4a"
    out.write_bytes(rendered.data)
    samples, _ = decode_window(out, "m4a", start_s=0, end_s=10)
    assert samples.shape[1] == 2 and abs(rendered.duration_ms - 3000) < 60


@pytest.mark.parametrize(("start", "end", "says"), [
    (5000, 5000, "empty"), (6000, 5000, "empty"), (-1, 5000, "outside"),
    (9000, 13000, "outside"), (20000, 25000, "outside"), (0, 31000, "at most 30"),
])
def test_windows_outside_the_track_or_too_long_are_refused(start: int, end: int,
                                                           says: str) -> None:
    with pytest.raises(WindowInvalid, match=says):
        check_window(start, end, duration_ms=10000 if end < 31000 else 60000,
                     max_seconds=30)


def test_bytes_that_do_not_decode_are_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "bad.flac"
    path.write_bytes(b"fLaC" + bytes(100))
    with pytest.raises(AudioCorrupt):
        probe(path, "flac")
    with pytest.raises(AudioCorrupt):
        render_preview(path, "flac", start_ms=0, end_ms=1000, settings=RenderSettings())
    m4a = tmp_path / "bad.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(64))
    with pytest.raises(AudioCorrupt):
        probe(m4a, "m4a")
