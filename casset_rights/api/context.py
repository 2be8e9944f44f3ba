"""The context of a request (decisions, the rights grid, quotes, derivatives): its unknown
keys refused, or, when the caller asks for lenient handling, left out with a warning.

A caller opts in with the RFC 7240 preference ``Prefer: handling=lenient``; without it an
unknown key (a typo such as ``purpos``) is a 422 ``unknown_context_key`` problem locating
the key and naming the known ones (``policy.known_context``). With it, the answer carries
the same findings in its ``warnings`` (severity ``warning``) and the key is not used.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from litestar import Request

from casset_rights.errors import FieldError, UnknownContextKey
from casset_rights.policy import known_context

PREFER_LENIENT = "handling=lenient"


def prefers_lenient(request: Request[Any, Any, Any]) -> bool:
    """Whether the request's ``Prefer`` header (RFC 7240) asks for ``handling=lenient``."""
    prefer = request.headers.get("prefer")
    if not prefer:
        return False
    tokens = prefer.replace(";", ",").split(",")
    return any(token.strip().replace(" ", "").lower() == PREFER_LENIENT for token in tokens)


def asked_context(request: Request[Any, Any, Any], values: Mapping[str, Any] | None, *,
                  pointer: str = "/context") -> tuple[dict[str, Any], tuple[FieldError, ...]]:
    """The context's known keys and the warnings for those left out. Raises
    UnknownContextKey for an unknown key unless the caller prefers lenient handling."""
    try:
        return known_context(values, pointer=pointer)
    except UnknownContextKey:
        if not prefers_lenient(request):
            raise
        return known_context(values, lenient=True, pointer=pointer)
