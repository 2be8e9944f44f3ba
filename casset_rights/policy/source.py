"""Reading policy text (YAML or JSON) into plain data, remembering where each value was.

YAML is read with JSON-compatible scalars only: ``true``/``false`` are the only
booleans (so ``on:`` and the territory ``NO`` stay strings, unlike YAML 1.1), dates stay
strings, ``010`` is not an octal number, and tags, merge keys and duplicate keys are
refused. Every value's JSON Pointer is mapped to its 1-based line and column so schema
and semantic errors can be located in the file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import msgspec
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casset_rights.errors import FieldError, PolicyInvalid

MAX_SOURCE_BYTES = 512 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000
Position = tuple[int, int]

_TAG = "tag:yaml.org,2002:"


class _Loader(yaml.SafeLoader):
    # Own resolver table: JSON-compatible plain scalars and nothing else.
    yaml_implicit_resolvers: dict = {}


_Loader.add_implicit_resolver(_TAG + "null", re.compile(r"^(?:~|null|Null|NULL|)$"),
                              ["~", "n", "N", ""])
_Loader.add_implicit_resolver(_TAG + "bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
_Loader.add_implicit_resolver(_TAG + "int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"),
                              list("-+0123456789"))
_Loader.add_implicit_resolver(
    _TAG + "float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
               r"|[0-9]+[eE][-+]?[0-9]+)$"),
    list("-+0123456789."))
_Loader.add_implicit_resolver(_TAG + "merge", re.compile(r"^<<$"), ["<"])


class SourceDocument(msgspec.Struct):
    """Parsed data plus ``positions`` (pointer -> value position) and ``key_positions``
    (pointer -> position of the key that introduced it)."""

    data: Any
    source_name: str
    positions: dict[str, Position] = {}
    key_positions: dict[str, Position] = {}

    def locate(self, pointer: str, *, key: bool = False) -> tuple[int | None, int | None]:
        """Line and column of ``pointer``, or of its nearest located ancestor."""
        if key and pointer in self.key_positions:
            return self.key_positions[pointer]
        at = pointer
        while True:
            if at in self.positions:
                return self.positions[at]
            if not at:
                return None, None
            at = at.rsplit("/", 1)[0]

    def error(self, pointer: str, message: str, *, severity: str = "error",
              key: bool = False) -> FieldError:
        line, column = self.locate(pointer, key=key)
        return FieldError(pointer=pointer, message=message, line=line, column=column,
                          severity=severity)


def escape(token: object) -> str:
    """One RFC 6901 reference token."""
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer_of(parts: Any) -> str:
    return "".join("/" + escape(p) for p in parts)


def read_source(source: str | bytes | Mapping[str, Any], *, source_name: str) -> SourceDocument:
    """Read YAML or JSON text (JSON when ``source_name`` ends in ``.json``, or when the
    text starts with ``{`` and parses as JSON), or take a parsed mapping as it is.

    Raises PolicyInvalid with located errors for undecodable bytes, oversized text,
    syntax errors, duplicate keys, tags, merge keys and non-JSON values.
    """
    if isinstance(source, Mapping):
        return SourceDocument(data=dict(source), source_name=source_name)
    if isinstance(source, bytes):
        if len(source) > MAX_SOURCE_BYTES:
            _refuse(source_name, f"the policy is larger than {MAX_SOURCE_BYTES} bytes")
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            _refuse(source_name, f"the policy is not UTF-8 text: {exc.reason}")
    text = source.removeprefix("\ufeff")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
        _refuse(source_name, f"the policy is larger than {MAX_SOURCE_BYTES} bytes")
    if source_name.endswith(".json"):
        return _read_json(text, source_name)
    if text.lstrip().startswith("{"):
        try:
            return _read_json(text, source_name)
        except PolicyInvalid:
            pass  # not JSON: read it as YAML (flow style), which locates the errors
    return _read_yaml(text, source_name)


def _refuse(source_name: str, message: str, *, pointer: str = "",
            position: tuple[int | None, int | None] = (None, None)) -> None:
    error = FieldError(pointer=pointer, message=message, line=position[0], column=position[1])
    raise PolicyInvalid(f"{source_name}: {message}", errors=[error])


def _read_yaml(text: str, source_name: str) -> SourceDocument:
    try:
        walker = _Walker(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = " ".join(p for p in (exc.context, exc.problem) if p) or "invalid YAML"
        _refuse(source_name, f"YAML syntax: {message}", pointer=_pointer_at_error(text),
                position=(mark.line + 1, mark.column + 1) if mark else (None, None))
    except yaml.YAMLError as exc:
        _refuse(source_name, f"YAML syntax: {exc}")
    if walker.errors:
        raise PolicyInvalid(f"{source_name}: {len(walker.errors)} error(s) reading the YAML",
                            errors=walker.errors)
    return SourceDocument(data=walker.data, source_name=source_name,
                          positions=walker.positions, key_positions=walker.key_positions)


def _read_json(text: str, source_name: str) -> SourceDocument:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not a JSON number")

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except json.JSONDecodeError as exc:
        _refuse(source_name, f"JSON syntax: {exc.msg}", pointer=_pointer_at_error(text[:exc.pos]),
                position=(exc.lineno, exc.colno))
    except ValueError as exc:
        _refuse(source_name, f"JSON: {exc}")
    try:  # JSON is YAML flow style: the same walk finds positions and duplicate keys
        walker = _Walker(text)
    except yaml.YAMLError:
        walker = None
    if walker is None:
        if duplicates:
            _refuse(source_name, f"duplicate key {duplicates[0]!r}")
        return SourceDocument(data=data, source_name=source_name)
    dup_errors = [e for e in walker.errors if e.message.startswith("duplicate key")]
    if dup_errors or duplicates:
        errors = dup_errors or [FieldError(pointer="", message=f"duplicate key {duplicates[0]!r}")]
        raise PolicyInvalid(f"{source_name}: duplicate keys", errors=errors)
    return SourceDocument(data=data, source_name=source_name, positions=walker.positions,
                          key_positions=walker.key_positions)


class _Walker:
    """Composes one YAML document and builds plain data from its nodes."""

    def __init__(self, text: str) -> None:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
        finally:
            loader.dispose()
        self.positions: dict[str, Position] = {}
        self.key_positions: dict[str, Position] = {}
        self.errors: list[FieldError] = []
        self._nodes = 0
        if node is None:
            self.data: Any = None
            self.errors.append(FieldError(pointer="", message="the document is empty",
                                          line=1, column=1))
        else:
            self.data = self._build(node, "", 0)

    def _fail(self, node: Node, pointer: str, message: str) -> None:
        mark = node.start_mark
        self.errors.append(FieldError(pointer=pointer, message=message, line=mark.line + 1,
                                      column=mark.column + 1))

    def _build(self, node: Node, pointer: str, depth: int) -> Any:
        self._nodes += 1
        if depth > MAX_DEPTH or self._nodes > MAX_NODES:
            if self._nodes <= MAX_NODES + 1:
                self._fail(node, pointer, "the document is nested too deeply or too large")
            return None
        self.positions[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, pointer, depth)
        if isinstance(node, SequenceNode):
            return [self._build(item, f"{pointer}/{i}", depth + 1)
                    for i, item in enumerate(node.value)]
        return self._scalar(node, pointer)

    def _mapping(self, node: MappingNode, pointer: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                self._fail(key_node, pointer, "YAML merge keys (<<) are not supported")
                continue
            if not isinstance(key_node, ScalarNode):
                self._fail(key_node, pointer, "a key must be plain text")
                continue
            key = key_node.value
            at = f"{pointer}/{escape(key)}"
            if key in out:
                line, column = self.key_positions[at]
                self._fail(key_node, at, f"duplicate key {key!r} (first at line {line}, "
                                         f"column {column})")
                continue
            self.key_positions[at] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            out[key] = self._build(value_node, at, depth + 1)
        return out

    def _scalar(self, node: ScalarNode, pointer: str) -> Any:
        tag, value = node.tag, node.value
        try:
            if tag == _TAG + "str":
                return value
            if tag == _TAG + "null":
                return None
            if tag == _TAG + "bool":
                return value.lower() == "true"
            if tag == _TAG + "int":
                return int(value)
            if tag == _TAG + "float":
                number = float(value)
                if number in (float("inf"), float("-inf")):
                    raise ValueError(value)
                return number
        except ValueError:
            self._fail(node, pointer, f"{value!r} is not a valid {tag.removeprefix(_TAG)}")
            return None
        self._fail(node, pointer, f"unsupported YAML tag {tag!r} (use plain JSON-like values)")
        return None


def _pointer_at_error(text: str) -> str:
    """The JSON Pointer of the value being read when the YAML parser stopped."""
    frames: list[list[Any]] = []  # ["map", key, awaiting_key] or ["seq", index]

    def enter() -> None:
        if frames:
            top = frames[-1]
            if top[0] == "seq":
                top[1] += 1

    try:
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, yaml.ScalarEvent | yaml.AliasEvent):
                top = frames[-1] if frames else None
                if top is not None and top[0] == "map":
                    if top[2]:
                        top[1], top[2] = getattr(event, "value", "?"), False
                    else:
                        top[2] = True
                else:
                    enter()
            elif isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                top = frames[-1] if frames else None
                if top is not None and top[0] == "map" and top[2]:
                    top[1], top[2] = "?", False  # a complex key
                else:
                    enter()
                frames.append(["map", None, True] if isinstance(event, yaml.MappingStartEvent)
                              else ["seq", -1])
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                frames.pop()
                if frames and frames[-1][0] == "map":
                    frames[-1][2] = True
    except yaml.YAMLError:
        pass
    parts = [f[1] for f in frames if (f[0] == "seq" and f[1] >= 0) or (f[0] == "map" and f[1])]
    return pointer_of(parts)
