"""A request to ``authorize``: who asks to do what with which resource, in what context.

``build_request`` turns outside input (strings, a context mapping) into a ``Request``
and is where bad input is refused; ``authorize`` then trusts the Request's types.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from casset_rights.errors import FieldError, InvalidInput, UnknownContextKey
from casset_rights.limits import utc_instant
from casset_rights.policy.model import PURPOSES
from casset_rights.policy.scopes import check_scope
from casset_rights.policy.source import escape
from casset_rights.principal import PUBLIC, Principal
from casset_rights.resources import ResourceRef, parse_resource

CONTEXT_KEYS = ("purpose", "territory", "excerpt_seconds", "at")


class Context(msgspec.Struct, frozen=True, omit_defaults=True):
    """The circumstances of a use. ``None`` means the asker did not say (see the
    missing-context rule in docs/policy-language.md); ``at`` ``None`` means now.
    ``territory`` is an upper-case ISO 3166-1 alpha-2 code; ``at`` is timezone-aware.
    No other key exists: an unknown one is refused (``known_context``), so what a
    receipt records of a context is these four values and nothing else."""

    purpose: str | None = None
    territory: str | None = None
    excerpt_seconds: int | float | None = None
    at: datetime | None = None


EMPTY_CONTEXT = Context()


class Request(msgspec.Struct, frozen=True):
    """``action`` is a scope. ``title`` and ``artist_name`` (from the catalog, when the
    caller has them) fill the attribution text; otherwise the resource id and the
    policy's artist id are used."""

    action: str
    resource: ResourceRef
    principal: Principal = PUBLIC
    context: Context = EMPTY_CONTEXT
    title: str | None = None
    artist_name: str | None = None


def known_context(values: Mapping[str, Any] | None, *, lenient: bool = False,
                  pointer: str = "/context") -> tuple[dict[str, Any], tuple[FieldError, ...]]:
    """The context's known keys, and a warning for each unknown key left out.

    An unknown key (a typo such as ``purpos``) would otherwise change the answer
    silently. Strict (the default), it raises UnknownContextKey locating every unknown
    key at ``{pointer}/<key>`` and naming the known ones; ``lenient`` (the caller asked
    for it) leaves them out and returns the same findings as warnings.
    """
    if not values:
        return {}, ()
    unknown = [key for key in values if key not in CONTEXT_KEYS]
    if not unknown:
        return dict(values), ()
    known = ", ".join(CONTEXT_KEYS)
    findings = tuple(FieldError(
        pointer=f"{pointer}/{escape(key)}",
        message=f"unknown context key {key[:64]!r}" + (", ignored" if lenient else "")
        + f"; the known keys are {known}",
        severity="warning" if lenient else "error") for key in unknown)
    if not lenient:
        raise UnknownContextKey(f"the context has {len(unknown)} unknown key(s); the known "
                                f"keys are {known}", errors=findings)
    return {k: v for k, v in values.items() if k in CONTEXT_KEYS}, findings


def parse_context(values: Mapping[str, Any] | None) -> Context:
    """Build a Context from a JSON-like mapping.

    Raises UnknownContextKey for a key other than ``CONTEXT_KEYS`` (``known_context``),
    and InvalidInput (errors located at ``/context/<key>``) for a purpose other than
    ``commercial``/``non-commercial``, a territory that is not two letters, a negative or
    non-numeric excerpt_seconds, or an ``at`` that is not a timezone-aware RFC 3339 time.
    """
    if not values:
        return EMPTY_CONTEXT
    known_context(values)
    errors: list[FieldError] = []
    purpose, territory, seconds = (values.get(k) for k in CONTEXT_KEYS[:3])
    if purpose is not None and purpose not in PURPOSES:
        errors.append(FieldError(pointer="/context/purpose",
                                 message="purpose is commercial or non-commercial"))
    if territory is not None:
        if isinstance(territory, str) and len(territory) == 2 and territory.isascii() \
                and territory.isalpha():
            territory = territory.upper()
        else:
            errors.append(FieldError(pointer="/context/territory",
                                     message="territory is an ISO 3166-1 alpha-2 code"))
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                or not 0 <= seconds < float("inf")):
        errors.append(FieldError(pointer="/context/excerpt_seconds",
                                 message="excerpt_seconds is a number of seconds >= 0"))
    at = _parse_at(values.get("at"), errors)
    if errors:
        raise InvalidInput("the request context is invalid", errors=errors)
    return Context(purpose=purpose, territory=territory, excerpt_seconds=seconds, at=at)


def _parse_at(value: Any, errors: list[FieldError]) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        errors.append(FieldError(pointer="/context/at",
                                 message="at is an RFC 3339 date-time with a timezone"))
        return None
    try:
        return utc_instant(value, "/context/at")
    except InvalidInput as exc:
        errors.extend(exc.errors)
        return None


def build_request(action: str, resource: str | ResourceRef, *, principal: Principal = PUBLIC,
                  context: Mapping[str, Any] | Context | None = None,
                  title: str | None = None, artist_name: str | None = None) -> Request:
    """Check outside input and build a Request.

    Raises UnknownScope for an unknown action and InvalidInput for a malformed resource
    id or context (see ``parse_context``).
    """
    ref = resource if isinstance(resource, ResourceRef) else parse_resource(resource)
    ctx = context if isinstance(context, Context) else parse_context(context)
    return Request(action=check_scope(action), resource=ref, principal=principal, context=ctx,
                   title=title, artist_name=artist_name)
