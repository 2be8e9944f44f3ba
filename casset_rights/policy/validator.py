"""The validator: static checks of a policy document, off the request path.

``validate`` never raises for bad input: it returns a report holding every error and
warning, each located by JSON Pointer and, for text, by line and column. ``parse`` and
``load_policy`` raise PolicyInvalid instead; ``load_policy`` is what services use.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from casset_rights.canonical import canonical_bytes
from casset_rights.errors import FieldError, PolicyInvalid
from casset_rights.limits import DOCUMENT_LIMITS, InputLimits
from casset_rights.policy.checks import semantic_findings
from casset_rights.policy.model import Policy, serialize, to_policy
from casset_rights.policy.schema import schema_errors
from casset_rights.policy.source import SourceDocument, read_source

Source = str | bytes | Mapping[str, Any]


class ValidationReport(msgspec.Struct, frozen=True):
    """``errors`` and ``warnings`` are FieldErrors sorted by position; ``policy`` is the
    model when there are no errors."""

    source_name: str
    errors: tuple[FieldError, ...] = ()
    warnings: tuple[FieldError, ...] = ()
    policy: Policy | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def validate(source: Source, *, source_name: str = "<policy>", now: datetime | None = None,
             limits: InputLimits = DOCUMENT_LIMITS) -> ValidationReport:
    """Check a policy (YAML or JSON text, or a parsed document) completely; text is read
    under ``limits`` (``read_source``).

    ``now`` (default: the current time) decides which time windows are already over.
    """
    try:
        document = read_source(source, source_name=source_name, limits=limits)
    except PolicyInvalid as exc:
        return ValidationReport(source_name=source_name, errors=_ordered(exc.errors))
    errors = schema_errors(document)
    taken = {e.pointer for e in errors}
    findings = semantic_findings(document, now=now or datetime.now(UTC))
    errors += [f for f in findings if f.severity == "error" and f.pointer not in taken]
    warnings = [f for f in findings if f.severity != "error"]
    policy = None if errors else _model(document, errors)
    return ValidationReport(source_name=source_name, errors=_ordered(errors),
                            warnings=_ordered(warnings), policy=policy)


def parse(source: Source, *, source_name: str = "<policy>") -> Policy:
    """Read and schema-check a policy, without the semantic checks of ``validate``.

    Raises PolicyInvalid carrying every syntax and schema error, located.
    """
    document = read_source(source, source_name=source_name)
    errors = schema_errors(document)
    policy = None if errors else _model(document, errors)
    if policy is None:
        raise _invalid(source_name, errors)
    return policy


def load_policy(source: Source, *, source_name: str = "<policy>") -> Policy:
    """Parse and validate a policy; warnings do not stop it.

    Raises PolicyInvalid carrying every error (syntax, schema and semantic), located.
    """
    report = validate(source, source_name=source_name)
    if report.policy is None:
        raise _invalid(source_name, report.errors)
    return report.policy


def _model(document: SourceDocument, errors: list[FieldError]) -> Policy | None:
    try:
        policy = to_policy(document.data)
        canonical_bytes(serialize(policy))
    except (msgspec.ValidationError, ValueError) as exc:  # only if the schema let it through
        errors.append(document.error("", f"not a valid policy: {exc}"))
        return None
    return policy


def _invalid(source_name: str, errors: Any) -> PolicyInvalid:
    errors = _ordered(errors)
    first = errors[0] if errors else FieldError(pointer="", message="invalid")
    where = f" at {first.pointer}" if first.pointer else ""
    return PolicyInvalid(f"{source_name}: {len(errors)} error(s); first{where}: {first.message}",
                         errors=errors)


def _ordered(errors: Any) -> tuple[FieldError, ...]:
    unique = list(dict.fromkeys(errors))
    return tuple(sorted(unique, key=lambda e: (e.line is None, e.line or 0, e.column or 0,
                                               e.pointer, e.message)))
