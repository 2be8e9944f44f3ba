"""``catalog check`` and ``catalog load``: a manifest's hooks against the track's audio
(the length measured at upload, then the analysis's) and the preview limit, in process
on a fresh data folder."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("soundfile")

from casset_rights.audio.synth import encode_audio, song
from casset_rights.cli import main
from casset_rights.config import settings_from_env
from casset_rights.services import open_services

ROOT = Path(__file__).resolve().parents[1]
GLASS_HOURS = ROOT / "examples" / "catalog" / "glass-hours" / "v1.json"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CASSET_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def catalog_with_hooks(folder: Path, audio: bytes) -> Path:
    """glass-hours whose track 1 names ``audio`` (20 s) while the manifest says 60 s,
    with an intro inside the audio, a chorus past its end and a verse over 30 s."""
    manifest = json.loads(GLASS_HOURS.read_text())
    track = manifest["tracks"][0]
    track["audio"]["content_hash"] = "sha256:" + hashlib.sha256(audio).hexdigest()
    track["duration_ms"] = 60000
    track["hooks"] = [
        {"id": "intro", "start_ms": 0, "end_ms": 15000, "caption": "The intro"},
        {"id": "chorus", "start_ms": 10000, "end_ms": 25000, "caption": "The chorus"},
        {"id": "verse", "start_ms": 0, "end_ms": 35000, "caption": "The verse"},
    ]
    (folder / "glass-hours").mkdir(parents=True)
    (folder / "glass-hours" / "v1.json").write_text(json.dumps(manifest))
    return folder


def store_audio(data_dir: Path, audio: bytes) -> None:
    """An upload as the service stores it (its analysis stays queued: no workers)."""
    services = open_services(settings_from_env({"CASSET_DATA_DIR": str(data_dir)}))
    try:
        track = services.catalog.track("glass-hours/1")
        with services.audio.staging() as staging:
            staging.write(audio)
            services.audio.store(staging, track=track, uploader="nightglass")
    finally:
        services.close()


@pytest.mark.slow  # the analysis: librosa's numba code, compiled or loaded
def test_hooks_outside_the_audio_or_over_the_limit_are_reported(
        data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audio = encode_audio(song(20, seed=8), 44100, "wav")
    folder = catalog_with_hooks(tmp_path / "catalog", audio)
    # Loading says what it can already: no audio yet, so the preview limit only.
    assert main(["catalog", "load", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "warning: hook glass-hours/1/verse: the window is 35 s long; previews are at " \
           "most 30 s (catalog check)" in out
    assert "glass-hours/1/chorus" not in out

    store_audio(data_dir, audio)
    assert main(["catalog", "check", "glass-hours"]) == 1
    out = capsys.readouterr().out
    assert "glass-hours/1: against the uploaded audio (20000 ms; analysis queued)" in out
    assert "\u2713 glass-hours/1/intro [0, 15000) ms" in out
    assert "\u2717 glass-hours/1/chorus [10000, 25000) ms\n      the window [10000, 25000) " \
           "ms lies outside the track (0 to 20000 ms)" in out
    assert "\u2717 glass-hours/1/verse [0, 35000) ms\n      the window [0, 35000) ms lies " \
           "outside the track (0 to 20000 ms)\n      the window is 35 s long" in out
    assert "glass-hours/2: against no audio uploaded: the preview limit only" in out
    assert "hooks of 3 tracks checked; 2 with problems" in out

    assert main(["audio", "analyse", "glass-hours/1"]) == 0
    capsys.readouterr()
    assert main(["catalog", "check", "--json"]) == 1  # every release
    checks = {c["track"]: c for c in json.loads(capsys.readouterr().out)}
    one = checks["glass-hours/1"]
    assert (one["audio"], one["analysis"], one["duration_ms"]) == ("analysis", "done", 20000)
    assert [h["ok"] for h in one["hooks"]] == [True, False, False]
    assert all(c["audio"] == "none" for t, c in checks.items() if t != "glass-hours/1")


def test_a_catalog_whose_hooks_fit_checks_clean(
        data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "load", str(ROOT / "examples" / "catalog")]) == 0
    assert "warning:" not in capsys.readouterr().out
    assert main(["catalog", "check"]) == 0
    assert "; 0 with problems" in capsys.readouterr().out
