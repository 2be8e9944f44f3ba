"""The authorization server's view of HTTP, free of any web framework.

The API layer reads the request (asynchronously, body first) into an ``HttpRequest``;
``CassetOAuth2Request`` presents it to authlib; authlib's answers come back as an
``OAuthResponse`` the API layer turns into its own response.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec
from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request

Pairs = tuple[tuple[str, str], ...]


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``uri`` is the public URL (the issuer's scheme and host, not the socket's, so a
    TLS-terminating proxy does not make authlib think the request was plain http)."""

    method: str
    uri: str
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    query: Pairs = ()
    form: Pairs = ()

    def form_value(self, name: str) -> str | None:
        return next((v for k, v in self.form if k == name), None)


class OAuthResponse(msgspec.Struct, frozen=True):
    status: int
    body: dict[str, Any] | str
    headers: tuple[tuple[str, str], ...] = ()

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


class Headers(Mapping[str, str]):
    """Case-insensitive header look-up (authlib asks for ``Authorization``)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        self._headers = {k.lower(): v for k, v in headers.items()}

    def __getitem__(self, name: str) -> str:
        return self._headers[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers)

    def __len__(self) -> int:
        return len(self._headers)


class _Payload(OAuth2Payload):
    def __init__(self, pairs: Pairs) -> None:
        self._data = first_values(pairs)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in pairs:
            self._datalist[key].append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class CassetOAuth2Request(OAuth2Request):
    """Parameters come from the body of a POST and the query of a GET, never both."""

    def __init__(self, http: HttpRequest) -> None:
        super().__init__(method=http.method, uri=http.uri, headers=Headers(http.headers))
        self.http = http
        self.payload = _Payload(http.form if http.method == "POST" else http.query)
        self._args = first_values(http.query)
        self._form = first_values(http.form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


def first_values(pairs: Pairs) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def repeated_parameter(pairs: Pairs) -> str | None:
    """The first parameter sent more than once (RFC 6749 section 3.2 forbids it)."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None
