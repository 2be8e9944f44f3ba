"""Input limits, and JSON read under them: the one safe way to turn outside bytes into data.

Every outside document (a request body, a manifest or a policy file) has a size limit, a
nesting-depth limit and an integer range (64 bits, signed, as the database stores
integers), and names each key of an object at most once. ``decode_json`` measures the
nesting before it parses, so no document, however deep, reaches a recursive parser: a
parser's recursion guard is not enough, because a thread's C stack (a server's event
loop thread among them) can be smaller than the interpreter's recursion limit assumes.

Each refusal is a ``LimitExceeded`` subclass naming the limit and its value; a document
that is not JSON at all is ``MalformedInput``. Nothing else is raised.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from itertools import accumulate
from typing import Any

import msgspec

from casset_rights.errors import (
    DuplicateKey,
    FieldError,
    InputTooDeep,
    InputTooLarge,
    IntegerOutOfRange,
    InvalidInput,
    MalformedInput,
    NumberOutOfRange,
)

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
INTEGER_BITS = 64
# The longest decimal text an int64 can need ("-9223372036854775808" is 20 characters).
_INT_TEXT_MAX = 20


class InputLimits(msgspec.Struct, frozen=True, kw_only=True):
    """``max_bytes`` of encoded text; ``max_depth`` levels of nested arrays and objects
    (``{"a": [1]}`` is 2 deep, a scalar 0)."""

    max_bytes: int
    max_depth: int


# The defaults of Settings (``max_body_bytes``/``max_body_depth`` and
# ``max_document_bytes``/``max_document_depth``); the service passes its own.
BODY_LIMITS = InputLimits(max_bytes=256 * 1024, max_depth=32)
DOCUMENT_LIMITS = InputLimits(max_bytes=512 * 1024, max_depth=64)

_BRACKETS_ONLY = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = [0] * 256
_STEP[ord("[")] = _STEP[ord("{")] = 1
_STEP[ord("]")] = _STEP[ord("}")] = -1
_CHUNK = 4096


def nesting_depth(raw: bytes, *, stop_above: int | None = None) -> int:
    """The deepest nesting of arrays and objects in JSON text, strings skipped, in time
    linear in its length and without recursion; with ``stop_above``, the first depth
    found beyond it (a deep document is refused after its first few thousand brackets).
    For text that is not JSON the figure bounds what a parser reads before it stops at
    the first error."""
    if raw.count(b"[") + raw.count(b"{") == 0:
        return 0
    if b'"' in raw:
        # Escaped backslashes, then escaped quotes, are not string delimiters; what is
        # left between pairs of quotes is inside strings.
        bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
        raw = b"".join(bare.split(b'"')[::2])
    brackets = raw.translate(None, _BRACKETS_ONLY)
    deepest = level = 0
    for start in range(0, len(brackets), _CHUNK):
        levels = list(accumulate(map(_STEP.__getitem__, brackets[start:start + _CHUNK]),
                                 initial=level))
        level = levels[-1]
        deepest = max(deepest, max(levels))
        if stop_above is not None and deepest > stop_above:
            break
    return deepest


def check_size(size: int, limits: InputLimits, *, what: str = "the body") -> None:
    """Raises InputTooLarge when ``size`` bytes is over ``limits.max_bytes``."""
    if size > limits.max_bytes:
        raise InputTooLarge(f"{what} is larger than {limits.max_bytes} bytes",
                            limit=limits.max_bytes)


def check_depth(depth: int, limits: InputLimits, *, what: str = "the body") -> None:
    """Raises InputTooDeep when ``depth`` is over ``limits.max_depth``."""
    if depth > limits.max_depth:
        raise InputTooDeep(f"{what} is nested more than {limits.max_depth} levels deep",
                           limit=limits.max_depth)


def check_integer(value: int, pointer: str = "") -> int:
    """``value`` when it fits in a signed 64-bit integer. Raises IntegerOutOfRange."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise _integer_refused(pointer)
    return value


def utc_instant(value: datetime, pointer: str) -> datetime:
    """``value`` (timezone-aware) in UTC, to the millisecond, as every time is stored and
    written. Raises InvalidInput, located at ``pointer``, for a time whose UTC date falls
    outside the years 1 to 9999 (``0001-01-01T00:00:00+01:00`` is in year 0), or that
    no millisecond count can stand for."""
    try:
        utc = value.astimezone(UTC)
        utc.timestamp()
    except (OverflowError, ValueError, OSError):
        raise InvalidInput("a time must fall within the years 1 to 9999 in UTC", errors=[
            FieldError(pointer=pointer, message="outside the years 1 to 9999 in UTC")]) from None
    return utc


def _integer_refused(pointer: str) -> IntegerOutOfRange:
    return IntegerOutOfRange(
        f"integers must fit in {INTEGER_BITS} bits ({INT64_MIN} .. {INT64_MAX})",
        limit=INTEGER_BITS,
        errors=[FieldError(pointer=pointer, message="integer out of range")] if pointer else ())


def _parse_int(text: str) -> int:
    if len(text) > _INT_TEXT_MAX:
        raise _integer_refused("")
    return check_integer(int(text))


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise NumberOutOfRange("a number is too large for a 64-bit float", limit=INTEGER_BITS)
    return value


def _parse_constant(name: str) -> Any:
    raise MalformedInput(f"{name} is not a JSON number")


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"the key {key!r} appears twice in one object", limit=1)
            seen.add(key)
    return out


# One decoder, built once (building one costs more than reading a small body with it).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_pairs, parse_int=_parse_int,
                            parse_float=_parse_float, parse_constant=_parse_constant)
_scan_once = _DECODER.scan_once  # type: ignore[attr-defined]  # set by JSONDecoder.__init__
_JSON_SPACE = " \t\n\r"


def decode_json(raw: bytes, limits: InputLimits, *, what: str = "the body") -> Any:
    """Parse UTF-8 JSON text under ``limits``: size first, then nesting (measured without
    parsing), then the parse itself, which refuses duplicate keys, integers beyond 64
    bits, numbers that overflow a float, and NaN/Infinity.

    Raises InputTooLarge, InputTooDeep, DuplicateKey, IntegerOutOfRange,
    NumberOutOfRange or MalformedInput (not UTF-8, not JSON); nothing else.
    """
    check_size(len(raw), limits, what=what)
    if raw.count(b"[") + raw.count(b"{") > limits.max_depth:  # else it cannot be too deep
        check_depth(nesting_depth(raw, stop_above=limits.max_depth), limits, what=what)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedInput(f"{what} is not valid UTF-8 (byte {exc.start})") from None
    try:
        value, end = _scan_once(text, len(text) - len(text.lstrip(_JSON_SPACE)))
    except StopIteration as stop:
        raise _not_json(what, "Expecting value", text, stop.value) from None
    except json.JSONDecodeError as exc:
        raise _not_json(what, exc.msg, text, exc.pos) from None
    except RecursionError:  # not reached under a sane max_depth; never a crash either way
        raise InputTooDeep(f"{what} is nested too deeply", limit=limits.max_depth) from None
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        raise _not_json(what, "Extra data", text, end)
    return value


def _not_json(what: str, message: str, text: str, pos: int) -> MalformedInput:
    """The refusal of text that is not JSON, located by line and column (1-based)."""
    line = text.count("\n", 0, pos) + 1
    column = pos - text.rfind("\n", 0, pos)
    return MalformedInput(f"{what} is not JSON: {message} (line {line}, column {column})",
                          errors=[FieldError(pointer="", message=message, line=line,
                                             column=column)])
