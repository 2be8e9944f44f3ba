"""Reading policy text (YAML or JSON) into plain data, remembering where each value was.

YAML is read with JSON-compatible scalars only: ``true``/``false`` are the only
booleans (so ``on:`` and the territory ``NO`` stay strings, unlike YAML 1.1), dates stay
strings, ``010`` is not an octal number, and tags, merge keys and duplicate keys are
refused. Every value's JSON Pointer is mapped to its 1-based line and column so schema
and semantic errors can be located in the file.

A hostile file is refused before any tree is built: the size first, then one pass over
the YAML events (a state machine, no recursion) that stops at the first level of
nesting beyond the limit, or once aliases would expand the document past ``MAX_NODES``
nodes ("billion laughs"). JSON is read by ``limits.decode_json`` (nesting measured
before parsing, each key once). Integers are 64-bit, as everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, NoReturn

import msgspec
import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from casset_rights.errors import (
    DuplicateKey,
    FieldError,
    LimitExceeded,
    MalformedInput,
    PolicyInvalid,
)
from casset_rights.limits import DOCUMENT_LIMITS, INT64_MAX, INT64_MIN, InputLimits, decode_json

# Nodes of the document once aliases are expanded: a real policy has a few hundred.
MAX_NODES = 100_000
Position = tuple[int, int]

_TAG = "tag:yaml.org,2002:"


class _FlowTooDeep(yaml.MarkedYAMLError):
    pass


class _Loader(yaml.SafeLoader):
    # Own resolver table: JSON-compatible plain scalars and nothing else.
    yaml_implicit_resolvers = {}  # noqa: RUF012 (PyYAML looks the table up on the class)
    max_flow_level = DOCUMENT_LIMITS.max_depth

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # Stop at the bracket past the limit. The scanner looks up to 1,024 characters
        # ahead for a possible key, checking every open level at each token: in a line of
        # brackets that is quadratic, 0.7 s before the parser saw the 65th level.
        if self.flow_level >= self.max_flow_level:
            raise _FlowTooDeep(problem=f"nested more than {self.max_flow_level} levels deep "
                                       "(the limit)", problem_mark=self.get_mark())
        super().fetch_flow_collection_start(TokenClass)


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


def read_source(source: str | bytes | Mapping[str, Any], *, source_name: str,
                limits: InputLimits = DOCUMENT_LIMITS) -> SourceDocument:
    """Read YAML or JSON text (JSON when ``source_name`` ends in ``.json``, or when the
    text starts with ``{`` and parses as JSON), or take a parsed mapping as it is.

    Raises PolicyInvalid with located errors for undecodable bytes, text beyond
    ``limits`` (size, nesting), aliases expanding past ``MAX_NODES``, syntax errors,
    duplicate keys, integers beyond 64 bits, tags, merge keys and non-JSON values.
    """
    if isinstance(source, Mapping):
        return SourceDocument(data=dict(source), source_name=source_name)
    too_large = f"the policy is larger than {limits.max_bytes} bytes (the limit)"
    if isinstance(source, bytes):
        if len(source) > limits.max_bytes:
            _refuse(source_name, too_large)
        try:
            source = source.decode("utf-8")
        except UnicodeDecodeError as exc:
            _refuse(source_name, f"the policy is not UTF-8 text: {exc.reason}")
    text = source.removeprefix("\ufeff")
    if len(text.encode("utf-8", "surrogatepass")) > limits.max_bytes:
        _refuse(source_name, too_large)
    if source_name.endswith(".json"):
        return _read_json(text, source_name, limits)
    if text.lstrip().startswith("{"):
        try:
            return _read_json(text, source_name, limits)
        except PolicyInvalid as exc:
            if exc.errors and exc.errors[0].message.endswith("(the limit)"):
                raise  # over a limit as JSON: no better as YAML
            # not JSON: read it as YAML (flow style), which locates the errors
    return _read_yaml(text, source_name, limits)


def _refuse(source_name: str, message: str, *, pointer: str = "",
            position: tuple[int | None, int | None] = (None, None)) -> NoReturn:
    error = FieldError(pointer=pointer, message=message, line=position[0], column=position[1])
    raise PolicyInvalid(f"{source_name}: {message}", errors=[error])


def _read_yaml(text: str, source_name: str, limits: InputLimits) -> SourceDocument:
    try:
        _measure_yaml(text, source_name, limits)
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


def _measure_yaml(text: str, source_name: str, limits: InputLimits) -> None:
    """One pass over the YAML events, stopping at the first excess: nesting beyond
    ``limits.max_depth``, or more than ``MAX_NODES`` nodes with aliases expanded (each
    alias counts the nodes of what it names). Raises PolicyInvalid, located; a syntax
    error is left to the reader that follows, which locates it."""
    depth = nodes = 0
    sizes: dict[str, int] = {}  # anchor -> nodes under it
    open_anchors: list[tuple[str | None, int]] = []
    loader = _Loader(text)
    loader.max_flow_level = limits.max_depth
    try:
        while loader.check_event():
            # Parser.get_event is unannotated in types-PyYAML.
            event: yaml.Event = loader.get_event()  # type: ignore[no-untyped-call]
            depth, nodes = _count(event, depth, nodes, sizes, open_anchors)
            if depth > limits.max_depth:
                _refuse_at(source_name, event, f"the policy is nested more than "
                                               f"{limits.max_depth} levels deep (the limit)")
            if nodes > MAX_NODES:
                _refuse_at(source_name, event, f"the policy has more than {MAX_NODES} values "
                                               "with its aliases expanded (the limit)")
    except _FlowTooDeep as exc:
        _refuse_at(source_name, exc, f"the policy is {exc.problem}")
    finally:
        loader.dispose()


def _count(event: yaml.Event, depth: int, nodes: int, sizes: dict[str, int],
           open_anchors: list[tuple[str | None, int]]) -> tuple[int, int]:
    """Depth and node count after ``event``; an alias counts the nodes it names."""
    if isinstance(event, yaml.AliasEvent):
        nodes += sizes.get(event.anchor, 1) if event.anchor else 1
    elif isinstance(event, yaml.ScalarEvent):
        nodes += 1
        if event.anchor:
            sizes[event.anchor] = 1
    elif isinstance(event, yaml.CollectionStartEvent):
        depth += 1
        nodes += 1
        open_anchors.append((event.anchor, nodes))
    elif isinstance(event, yaml.CollectionEndEvent):
        depth -= 1
        anchor, started = open_anchors.pop()
        if anchor:
            sizes[anchor] = nodes - started + 1
    return depth, nodes


def _refuse_at(source_name: str, at: yaml.Event | yaml.MarkedYAMLError, message: str) -> NoReturn:
    mark = at.problem_mark if isinstance(at, yaml.MarkedYAMLError) else at.start_mark
    _refuse(source_name, message, position=(mark.line + 1, mark.column + 1) if mark
            else (None, None))


def _read_json(text: str, source_name: str, limits: InputLimits) -> SourceDocument:
    duplicate: DuplicateKey | None = None
    data: Any = None
    try:
        data = decode_json(text.encode("utf-8", "surrogatepass"), limits, what="the policy")
    except DuplicateKey as exc:
        duplicate = exc  # located by the walk below
    except LimitExceeded as exc:
        _refuse(source_name, f"{exc.detail} (the limit)")
    except MalformedInput as exc:
        where = exc.errors[0] if exc.errors else FieldError(pointer="", message="")
        _refuse(source_name, f"JSON syntax: {exc.detail}",
                pointer=_pointer_at_error(_text_before(text, where.line, where.column)),
                position=(where.line, where.column))
    try:  # JSON is YAML flow style: the same walk finds positions and duplicate keys
        walker = _Walker(text)
    except yaml.YAMLError:
        walker = None
    if duplicate is not None:
        located = [e for e in walker.errors if e.message.startswith("duplicate key")] \
            if walker is not None else []
        raise PolicyInvalid(f"{source_name}: duplicate keys", errors=located or [
            FieldError(pointer="", message=duplicate.detail)])
    if walker is None:
        return SourceDocument(data=data, source_name=source_name)
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
        if self._nodes > MAX_NODES:  # measured before (_measure_yaml); kept as a guard
            if self._nodes <= MAX_NODES + 1:
                self._fail(node, pointer, "the document is nested too deeply or too large")
            return None
        self.positions[pointer] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, MappingNode):
            return self._mapping(node, pointer, depth)
        if isinstance(node, SequenceNode):
            return [self._build(item, f"{pointer}/{i}", depth + 1)
                    for i, item in enumerate(node.value)]
        if isinstance(node, ScalarNode):
            return self._scalar(node, pointer)
        self._fail(node, pointer, f"unsupported YAML node {node.tag}")
        return None

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
                integer = int(value)
                if not INT64_MIN <= integer <= INT64_MAX:
                    self._fail(node, pointer, f"{value[:30]!r} is beyond 64 bits (the limit)")
                    return None
                return integer
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


def _text_before(text: str, line: int | None, column: int | None) -> str:
    """``text`` up to the 1-based ``line`` and ``column``."""
    if line is None or column is None:
        return text
    lines = text.split("\n")
    return "\n".join([*lines[:line - 1], lines[line - 1][:column - 1]]) if line <= len(lines) \
        else text


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
