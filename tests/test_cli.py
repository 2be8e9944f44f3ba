"""The command line, run in process on a fresh data folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from casset_rights.cli import main

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "policies"
CATALOG = ROOT / "examples" / "catalog"


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CASSET_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_policy_check_and_test_pass_on_the_shipped_policies(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["policy", "check", str(POLICIES)]) == 0
    assert main(["policy", "test", *map(str, sorted(POLICIES.glob("*.yaml")))]) == 0
    out = capsys.readouterr().out
    assert "checked 5 file(s): 0 error(s)" in out and " passed, 0 failed" in out


def test_policy_check_fails_with_located_errors(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: bad\nartist: nightglass\napplies_to: artist\nrules:\n"
                   "  - id: r1\n    permit: [fly]\n    to: any\n", encoding="utf-8")
    assert main(["policy", "check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "bad.yaml:6:" in out and "/rules/0/permit/0" in out


def test_policy_test_fails_when_an_expectation_is_wrong(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        "policy: wrong\nartist: nightglass\napplies_to: artist\nrules:\n"
        "  - id: listen\n    permit: [listen]\n    to: any\n"
        "tests:\n  - request: {action: listen, resource: release:midnight-tapes, as: agent}\n"
        "    expect: deny\n", encoding="utf-8")
    assert main(["policy", "test", str(wrong)]) == 1
    assert "permit" in capsys.readouterr().out


def test_load_catalog_and_policies_then_hash_and_rotate(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["catalog", "load", str(CATALOG)]) == 0
    assert "midnight-tapes v2 sha256:" in capsys.readouterr().out
    assert main(["policy", "load", str(POLICIES)]) == 0
    assert "(stored)" in capsys.readouterr().out
    assert main(["policy", "load", str(POLICIES)]) == 0
    assert "(stored)" not in capsys.readouterr().out  # unchanged files store nothing
    assert main(["manifest", "hash", str(CATALOG / "midnight-tapes" / "v1.json")]) == 0
    v2 = json.loads((CATALOG / "midnight-tapes" / "v2.json").read_text())
    assert capsys.readouterr().out.split()[0] == v2["previous"]
    assert main(["keys", "rotate"]) == 0
    assert "2 keys stay published" in capsys.readouterr().out


def test_verify_a_receipt_offline_and_say_why_one_fails(client, tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    answer = client.post("/v1/decisions", json={
        "action": "ai-train", "resource": "release:salt-and-static"}).json()
    (tmp_path / "receipt.jws").write_text(answer["receipt"])
    (tmp_path / "jwks.json").write_text(json.dumps(client.get("/.well-known/jwks.json").json()))
    assert main(["verify", str(tmp_path / "receipt.jws"),
                 "--jwks", str(tmp_path / "jwks.json")]) == 0
    assert "signature valid" in capsys.readouterr().out

    head, payload, signature = answer["receipt"].split(".")
    forged = f"{head}.{payload}.{signature[:-4]}AAAA"
    assert main(["verify", forged, "--jwks", str(tmp_path / "jwks.json")]) == 1
    assert "bad signature" in capsys.readouterr().err
    (tmp_path / "other.json").write_text(json.dumps({"keys": []}))
    assert main(["verify", answer["receipt"], "--jwks", str(tmp_path / "other.json")]) == 1
    assert "unknown key" in capsys.readouterr().err
    assert main(["verify", "not-a-receipt", "--jwks", str(tmp_path / "jwks.json")]) == 1
    assert "malformed" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback(data_dir: Path) -> None:
    """``casset-rights … | head``: the closed pipe is not reported as a crash."""
    import os
    import subprocess
    import sys

    command = [sys.executable, "-c", "import sys; from casset_rights.cli import main; "
               "sys.exit(main())", "policy", "test", *map(str, sorted(POLICIES.glob("*.yaml")))]
    read, write = os.pipe()
    os.close(read)  # the reader is gone before anything is written
    try:
        done = subprocess.run(command, stdout=write, stderr=subprocess.PIPE, timeout=120,
                              env={**os.environ, "CASSET_DATA_DIR": str(data_dir)})
    finally:
        os.close(write)
    assert done.returncode == 1
    assert b"Traceback" not in done.stderr and b"BrokenPipeError" not in done.stderr


def test_serve_refuses_a_port_another_server_listens_on(capsys) -> None:  # type: ignore[no-untyped-def]
    """granian shares ports (SO_REUSEPORT): without this check a second ``serve`` would
    start and split the requests with the first, each answering from its own data."""
    import socket

    from casset_rights.cli import address_in_use

    with socket.socket() as first:
        first.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as granian binds
        first.bind(("127.0.0.1", 0))
        first.listen()
        port = first.getsockname()[1]
        assert address_in_use("127.0.0.1", port)
        assert main(["serve", "--host", "127.0.0.1", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"error (conflict): 127.0.0.1:{port} is already in use" in err
    assert not address_in_use("127.0.0.1", port)  # closed: free again
