"""Checking a policy document against ``schemas/policy.schema.json`` (JSON Schema 2020-12).

Every schema error becomes a located ``FieldError``. Where the schema carries an
``x-errors`` member for the failing keyword, its text replaces the generic message, so
the artist reads "a rule has exactly one of permit, deny or route" rather than a
``oneOf`` dump.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError, validators

from casset_rights.errors import FieldError
from casset_rights.policy.source import SourceDocument, escape, pointer_of

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "policy.schema.json"


@cache
def policy_schema() -> dict[str, Any]:
    """The policy JSON Schema. Raises OSError when the schemas folder is missing."""
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    # Python's ``$`` also matches before a final newline; the schema means ECMA-262's end.
    if not validator.is_type(instance, "string"):
        return
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") else pattern
    if re.search(anchored, instance) is None:
        what = schema.get("title") or f"text matching {pattern}"
        yield ValidationError(f"{instance!r} is not a valid {what}")


@cache
def _validator() -> Any:
    # types-jsonschema leaves ``extend`` unannotated.
    cls = validators.extend(  # type: ignore[no-untyped-call]
        Draft202012Validator, {"pattern": _pattern})
    return cls(policy_schema())


def schema_errors(source: SourceDocument) -> list[FieldError]:
    """Every schema error in ``source.data``, located; empty when the document conforms."""
    out: list[FieldError] = []
    for error in _validator().iter_errors(source.data):
        out.extend(_field_errors(error, source))
    return out


def _field_errors(error: ValidationError, source: SourceDocument) -> Iterator[FieldError]:
    base = pointer_of(error.absolute_path)
    # An error the validator raised always has its schema and the keyword's value; the
    # stubs type both as possibly unset.
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.validator_value
    custom = (schema.get("x-errors") or {}).get(error.validator)
    instance = error.instance
    if custom:
        yield source.error(base, custom)
    elif error.validator == "required" and isinstance(instance, dict):
        for name in value:
            if name not in instance:
                yield source.error(f"{base}/{escape(name)}", f"missing required field {name!r}")
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        known = schema.get("properties", {})
        for name in instance:
            if name not in known:
                yield source.error(f"{base}/{escape(name)}", f"unknown field {name!r}", key=True)
    elif isinstance(instance, str) and _is_key_error(error, source):
        yield source.error(f"{base}/{escape(instance)}", f"name {error.message}", key=True)
    elif error.validator == "enum":
        choices = ", ".join(str(c) for c in value)
        yield source.error(base, f"{instance!r} is not one of: {choices}")
    elif error.validator == "uniqueItems":
        yield source.error(base, "list items must not repeat")
    elif error.validator == "type":
        yield source.error(base, f"expected {_types(value)}, "
                                 f"got {_json_type(instance)}")
    else:
        yield source.error(base, error.message)


def _is_key_error(error: ValidationError, source: SourceDocument) -> bool:
    # ``propertyNames`` errors carry the key as instance but the parent's path.
    return any(p == "propertyNames" for p in error.absolute_schema_path) and isinstance(
        _lookup(source.data, error.absolute_path), dict)


def _lookup(data: Any, path: Any) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _types(value: Any) -> str:
    return " or ".join(value) if isinstance(value, list) else str(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "mapping"
