"""The policy test runner and the check/test reports behind the CLI."""

from __future__ import annotations

from pathlib import Path

from casset_rights.policy import testing as policy_testing

POLICIES = Path(__file__).resolve().parents[3] / "policies"

FAILING = """\
# yaml-language-server: $schema=../schemas/policy.schema.json
policy: nightglass-glass-hours
artist: nightglass
applies_to: release:glass-hours
rules:
  - id: covers
    permit: [interpret]
tests:
  - name: right
    request: { action: interpret, resource: track:glass-hours/1, as: public }
    expect: permit
  - name: wrong on purpose
    request: { action: ai-train, resource: track:glass-hours/1, as: agent }
    expect: permit
  - name: also wrong
    request: { action: interpret, resource: hook:glass-hours/1/drop, as: partner }
    expect: deny
"""


def test_the_shipped_policies_pass_their_tests() -> None:
    report = policy_testing.run_policy_tests([POLICIES])
    assert report.problems == ()
    assert len(report.files) == 5
    assert report.failed == 0 and report.passed >= 35
    assert report.ok
    assert {r.policy for r in report.results} == {
        "nightglass-default", "nightglass-midnight-tapes", "nightglass-midnight-tapes-1-chorus",
        "mara-quell-default", "the-ferrymen-default"}
    ok, text = policy_testing.check_files([POLICIES])
    assert ok and text == "checked 5 file(s): 0 error(s), 0 warning(s)"
    ok, text = policy_testing.test_files([POLICIES])
    assert ok and text.endswith("failed, 0 file error(s) in 5 file(s)")


def test_every_shipped_file_names_the_schema() -> None:
    for path in POLICIES.glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/policy.schema.json"


def test_a_failing_file_fails_with_located_readable_lines(tmp_path: Path) -> None:
    path = tmp_path / "glass-hours.yaml"
    path.write_text(FAILING, encoding="utf-8")
    # With the artist's default policy loaded, its ai-train deny decides the second test.
    report = policy_testing.run_policy_tests([path, POLICIES / "nightglass.yaml"])
    mine = [r for r in report.results if r.source_name == str(path)]
    assert [r.passed for r in mine] == [True, False, False]
    wrong, also = mine[1], mine[2]
    assert (wrong.line, wrong.column, wrong.actual) == (12, 5, "deny")
    assert wrong.message == "expected permit, got deny (nightglass-default#no-training)"
    assert also.message == "expected deny, got permit (nightglass-glass-hours#covers)"
    assert not report.ok
    ok, text = policy_testing.test_files([path, POLICIES / "nightglass.yaml"])
    assert not ok
    assert f"{path}:12:5: FAIL nightglass-glass-hours /tests/1: ai-train " \
           "track:glass-hours/1 as agent: expected permit, got deny" in text
    assert f"{path}:15:5: FAIL" in text
    assert text.splitlines()[-1].startswith("12 passed, 2 failed, 0 file error(s) in 2 file(s)")


def test_invalid_files_fail_check_and_test(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("policy: p\nartist: nightglass\napplies_to: artist\nrules:\n"
                    "  - id: x\n    permit: [karaoke]\n", encoding="utf-8")
    ok, text = policy_testing.check_files([path])
    assert not ok
    assert text.splitlines()[0].startswith(f"{path}:6:14: error: /rules/0/permit/0: 'karaoke'")
    ok, text = policy_testing.test_files([path])
    assert not ok and "1 file error(s)" in text
    assert policy_testing.check_files([tmp_path / "missing.yaml"])[0] is False
    assert policy_testing.check_files([tmp_path / "empty-folder"])[0] is False


def test_two_policies_for_one_target_are_a_problem(tmp_path: Path) -> None:
    copy = tmp_path / "again.yaml"
    copy.write_text((POLICIES / "mara-quell.yaml").read_text(encoding="utf-8")
                    .replace("policy: mara-quell-default", "policy: mara-quell-other"),
                    encoding="utf-8")
    ok, text = policy_testing.check_files([POLICIES / "mara-quell.yaml", copy])
    assert not ok
    assert f"{copy}:4:13: error: /applies_to: mara-quell already has a policy for artist" in text
