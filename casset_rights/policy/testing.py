"""Running the ``tests:`` written in policy files, and the reports behind the CLI's
``casset-rights policy check FILES`` and ``casset-rights policy test FILES``.

A test's chain is built from the loaded files alone: the artist-level policy of the
test's artist, then the release, track and hook policies of that artist whose
``applies_to`` is the test's resource or one of its ancestors. Lineage (upstream
releases) is not consulted here.

(The function names start with ``test``/``run``; import the module, not the names, into
pytest modules so pytest does not collect them.)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import msgspec

from casset_rights.errors import CassetError, FieldError
from casset_rights.policy.authorizer import authorize
from casset_rights.policy.compiler import CompiledPolicy, compile_policy
from casset_rights.policy.decision import Decision
from casset_rights.policy.model import PolicyTest, PolicyTestPrincipal
from casset_rights.policy.request import build_request
from casset_rights.policy.source import read_source
from casset_rights.policy.validator import ValidationReport, validate
from casset_rights.principal import PUBLIC, Principal

POLICY_SUFFIXES = (".yaml", ".yml", ".json")


class FileProblem(msgspec.Struct, frozen=True):
    """A located error or warning in one file."""

    source_name: str
    error: FieldError


class PolicyTestResult(msgspec.Struct, frozen=True):
    source_name: str
    policy: str
    index: int
    pointer: str
    line: int | None
    column: int | None
    summary: str  # "remix hook:midnight-tapes/1/chorus as agent {purpose: commercial}"
    expected: str
    actual: str | None
    passed: bool
    message: str = ""
    decision: Decision | None = None


class PolicyTestReport(msgspec.Struct, frozen=True):
    """``problems`` are errors (and warnings) found loading the files."""

    files: tuple[str, ...]
    results: tuple[PolicyTestResult, ...] = ()
    problems: tuple[FileProblem, ...] = ()

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0 and not any(p.error.severity == "error" for p in self.problems)


class _Loaded(msgspec.Struct):
    source_name: str
    compiled: CompiledPolicy
    positions: Any


def policy_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, with folders expanded to their .yaml/.yml/.json files (sorted)."""
    out: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in POLICY_SUFFIXES and p.is_file())
        else:
            out.append(path)
    return out


def run_policy_tests(paths: Iterable[str | Path]) -> PolicyTestReport:
    """Load the policy files at ``paths`` and run every test they carry.

    Never raises for bad files: unreadable or invalid files, and two policies for one
    target, are reported as problems; a test whose request is malformed fails.
    """
    files = policy_files(paths)
    loaded, problems = _load(files)
    results: list[PolicyTestResult] = []
    for item in loaded:
        for index, test in enumerate(item.compiled.policy.tests):
            results.append(_run(item, index, test, loaded))
    return PolicyTestReport(files=tuple(map(str, files)), results=tuple(results),
                            problems=tuple(problems))


def check_files(paths: Iterable[str | Path]) -> tuple[bool, str]:
    """Validate files; the report has one ``file:line:col: severity: pointer: message``
    line per finding and a summary. ``ok`` is False when any file has an error."""
    files = policy_files(paths)
    _, problems = _load(files)
    lines = [_problem_line(p) for p in problems]
    errors = sum(p.error.severity == "error" for p in problems)
    warnings = len(problems) - errors
    lines.append(f"checked {len(files)} file(s): {errors} error(s), {warnings} warning(s)")
    return errors == 0 and bool(files), "\n".join(lines)


def test_files(paths: Iterable[str | Path], *, verbose: bool = False) -> tuple[bool, str]:
    """Run the tests in the files; the report lists load problems, failures (and, when
    ``verbose``, passes) as ``file:line:col: ...`` lines, then a summary."""
    report = run_policy_tests(paths)
    lines = [_problem_line(p) for p in report.problems]
    for r in report.results:
        if not r.passed or verbose:
            lines.append(f"{_where(r.source_name, r.line, r.column)}: "
                         f"{'PASS' if r.passed else 'FAIL'} {r.policy} {r.pointer}: {r.summary}"
                         + ("" if r.passed else f": {r.message}"))
    errors = sum(p.error.severity == "error" for p in report.problems)
    lines.append(f"{report.passed} passed, {report.failed} failed, {errors} file error(s) "
                 f"in {len(report.files)} file(s)")
    return report.ok and bool(report.files), "\n".join(lines)


def _load(files: list[Path]) -> tuple[list[_Loaded], list[FileProblem]]:
    loaded: list[_Loaded] = []
    problems: list[FileProblem] = []
    targets: dict[tuple[str, str], str] = {}
    ids: dict[str, str] = {}
    for path in files:
        name = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(FileProblem(name, FieldError("", f"cannot read: {exc}")))
            continue
        report: ValidationReport = validate(text, source_name=name)
        findings = sorted((*report.errors, *report.warnings),
                          key=lambda e: (e.line or 0, e.column or 0, e.pointer))
        problems += [FileProblem(name, e) for e in findings]
        if report.policy is None:
            continue
        document = read_source(text, source_name=name)
        policy = report.policy
        key = (policy.artist, policy.applies_to)
        clash = _clash(policy.policy, key, targets=targets, ids=ids)
        if clash is not None:
            problems.append(FileProblem(name, document.error(*clash)))
            continue
        targets[key], ids[policy.policy] = name, name
        loaded.append(_Loaded(name, compile_policy(policy), document))
    return loaded, problems


def _clash(policy_id: str, key: tuple[str, str], *, targets: dict[tuple[str, str], str],
           ids: dict[str, str]) -> tuple[str, str] | None:
    artist, applies_to = key
    if key in targets:
        return "/applies_to", f"{artist} already has a policy for {applies_to} (in {targets[key]})"
    if policy_id in ids:
        return "/policy", f"policy id {policy_id!r} is already used (in {ids[policy_id]})"
    return None


def _run(item: _Loaded, index: int, test: PolicyTest, loaded: list[_Loaded]) -> PolicyTestResult:
    pointer = f"/tests/{index}"
    line, column = item.positions.locate(pointer)
    req = test.request
    summary = f"{req.action} {req.resource} as {_describe(req.as_)}" + (
        " " + ", ".join(f"{k}={v}" for k, v in sorted(req.context.items())) if req.context else "")
    base = dict(source_name=item.source_name, policy=item.compiled.id, index=index,
                pointer=pointer, line=line, column=column, summary=summary,
                expected=test.expect)
    artist = item.compiled.artist
    try:
        request = build_request(req.action, req.resource, context=req.context,
                                principal=_principal(req.as_, artist=artist))
        decision = authorize(_chain(artist, request.resource, loaded), request)
    except CassetError as exc:
        return PolicyTestResult(**base, actual=None, passed=False, message=exc.detail)
    passed = decision.decision == test.expect
    rules = ", ".join(f"{r.policy}#{r.rule}" if r.policy else r.rule for r in decision.reasons)
    message = "" if passed else f"expected {test.expect}, got {decision.decision} ({rules})"
    return PolicyTestResult(**base, actual=decision.decision, passed=passed, message=message,
                            decision=decision)


def _chain(artist: str, resource: Any, loaded: list[_Loaded]) -> list[CompiledPolicy | None]:
    wanted = ["artist", *(ref.id for ref in resource.ancestors())]
    by_target = {item.compiled.applies_to: item.compiled for item in loaded
                 if item.compiled.artist == artist}
    return [by_target.get(target) for target in wanted]


def _principal(spec: str | PolicyTestPrincipal, *, artist: str) -> Principal:
    if isinstance(spec, PolicyTestPrincipal):
        return Principal(kind=spec.kind, client_id=spec.client_id,
                         subject=artist if spec.kind == "artist" else None,
                         attributes=dict(spec.attributes))
    if spec.startswith("client:"):
        return Principal(kind="agent", client_id=spec.removeprefix("client:"))
    if spec == "artist":
        return Principal(kind="artist", subject=artist)
    return _PLAIN[spec]  # the schema allows no other text


_PLAIN: dict[str, Principal] = {
    "public": PUBLIC, "agent": Principal(kind="agent"), "partner": Principal(kind="partner")}


def _describe(spec: str | PolicyTestPrincipal) -> str:
    if isinstance(spec, str):
        return spec
    parts = [spec.kind] + ([f"client:{spec.client_id}"] if spec.client_id else [])
    parts += [f"{k}={v}" for k, v in sorted(spec.attributes.items())]
    return " ".join(parts)


def _where(source_name: str, line: int | None, column: int | None) -> str:
    return f"{source_name}:{line or 0}:{column or 0}"


def _problem_line(problem: FileProblem) -> str:
    e = problem.error
    return (f"{_where(problem.source_name, e.line, e.column)}: {e.severity}: "
            f"{e.pointer or '/'}: {e.message}")
