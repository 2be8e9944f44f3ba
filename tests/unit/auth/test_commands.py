"""``casset-rights clients create|disable``, run in process on a fresh data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casset_rights.auth.commands import parse_attribute
from casset_rights.cli import main
from casset_rights.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CASSET_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_create_a_partner_then_disable_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "create", "--kind", "partner", "--name", "Tidewater Radio",
                 "--client-id", "tidewater-radio", "--redirect-uri",
                 "https://tidewater.example/cb", "--attribute", "tier=2",
                 "--attribute", "region=eu"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["client_id"] == "tidewater-radio" and info["kind"] == "partner"
    assert len(info["client_secret"]) >= 43
    assert info["attributes"] == {"name": "Tidewater Radio", "verified": True, "tier": 2,
                                  "region": "eu"}
    assert info["grant_types"] == ["client_credentials", "authorization_code",
                                   "refresh_token"]
    assert info["response_types"] == ["code"]
    assert main(["clients", "disable", "tidewater-radio"]) == 0
    assert main(["clients", "disable", "tidewater-radio"]) == 1


def test_an_artist_client_needs_a_known_artist(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "create", "--kind", "artist", "--name", "N",
                 "--artist", "nightglass"]) == 1
    assert "no artist 'nightglass'" in capsys.readouterr().err
    assert main(["catalog", "load", str(ROOT / "examples" / "catalog")]) == 0
    capsys.readouterr()
    assert main(["clients", "create", "--kind", "artist", "--name", "Nightglass",
                 "--artist", "nightglass"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["artist"] == "nightglass"
    assert set(info["scope"].split()) >= {"catalog:write", "policies:write"}


def test_bad_clients_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["clients", "create", "--kind", "partner", "--name", "X",
                 "--redirect-uri", "http://evil.example/cb"]) == 1
    assert main(["clients", "create", "--kind", "agent", "--name", "X",
                 "--scope", "catalog:write"]) == 1
    assert main(["clients", "create", "--kind", "partner", "--name", "X",
                 "--attribute", "novalue"]) == 1
    err = capsys.readouterr().err
    assert "https" in err and "scope" in err and "name=value" in err


def test_attribute_values_are_typed() -> None:
    assert parse_attribute("verified=true") == ("verified", True)
    assert parse_attribute("tier=3") == ("tier", 3)
    assert parse_attribute("name=Tide=water") == ("name", "Tide=water")
    with pytest.raises(InvalidInput):
        parse_attribute("=x")
