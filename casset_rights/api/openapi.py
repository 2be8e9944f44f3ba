"""The OpenAPI document's configuration: security schemes, what each route declares, and
the offline reference page at ``/schema``.

A route's ``security`` says which OAuth scope its token needs (``requirement``), exactly
as its ``opt`` does for ``access_check`` (a test holds the two together). Its
``responses`` list every problem it can answer (``api.problems.problems``); the groups
below are the ones every route of a kind shares:

* ``EVERY``: a refused bearer token (401) and the rate limit (429), checked before any
  route runs;
* ``SCOPED``: those, a token without the route's scope (403), and the database out of
  reach (503: ``problems.database_unavailable_handler``);
* ``PARAMS``: a query or path parameter out of its schema (400, 422);
* ``BODY``: a body that is malformed (400), too large (413), of another content type
  (415) or invalid (422).

An answer that is not JSON (audio, tiles, XML, a certificate) is still named: its schema
is a component (``MediaBody`` subclasses, written by ``MediaBodySchemaPlugin``), so a
client knows its type and a fuzzer its content type.
"""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    OAuthFlow,
    OAuthFlows,
    OpenAPIMediaType,
    Operation,
    Reference,
    RequestBody,
    Schema,
    SecurityRequirement,
    SecurityScheme,
    Tag,
)
from litestar.openapi.spec.enums import OpenAPIFormat, OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from casset_rights.api.problems import PROBLEM_MEDIA_TYPE
from casset_rights.api.reference_page import ReferencePage
from casset_rights.api.security import ANONYMOUS_OPT, SCOPE_OPT
from casset_rights.auth.scopes import OAUTH_SCOPES
from casset_rights.auth.service import AUTHORIZE_PATH, TOKEN_PATH
from casset_rights.config import Settings

TEXT_MEDIA_TYPE = "text/plain; charset=utf-8"
FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
OAUTH2 = "oauth2"
BEARER = "bearer"

EVERY = (401, 429)
SCOPED = (*EVERY, 403, 503)
PARAMS = (400, 422)
BODY = (400, 413, 415, 422)

TAGS = [
    Tag(name="discovery", description="What this service is, its keys, its OAuth server"),
    Tag(name="oauth", description="OAuth 2.0: tokens, consent, introspection, revocation, "
                                  "registration. Errors are OAuth's own JSON (RFC 6749)"),
    Tag(name="catalog", description="Releases, their manifest versions, tracks and hooks"),
    Tag(name="decisions", description="May I? One decision, or every scope at once, each "
                                      "with its signed receipt"),
    Tag(name="licenses", description="Quotes, licenses, requests, revocation, introspection"),
    Tag(name="lineage", description="Derivatives and the graph of their parents"),
    Tag(name="receipts", description="Stored receipts"),
    Tag(name="log", description="The transparency log: checkpoints, proofs, anchors"),
    Tag(name="artist", description="An artist's releases and policies"),
]


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """A request Struct that refuses unknown fields (``forbid_unknown_fields``) is written
    ``additionalProperties: false``, as msgspec reads it (Litestar leaves it open)."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return super().is_plugin_supported_field(field_definition) and bool(
            field_definition.type_.__struct_config__.forbid_unknown_fields)

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


class MediaBody:
    """A named answer that is not JSON: subclasses say what it is (their docstring, a
    ``format`` and, for a list of records, the Struct of its ``items``)."""

    format: ClassVar[OpenAPIFormat | None] = OpenAPIFormat.BINARY
    items: ClassVar[type | None] = None


class MediaBodySchemaPlugin(OpenAPISchemaPlugin):
    """Writes each ``MediaBody`` once, as a component, and refers to it (Litestar names
    components only for objects)."""

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return isinstance(value, type) and issubclass(value, MediaBody)

    def to_openapi_schema(self, field_definition: FieldDefinition,
                          schema_creator: SchemaCreator) -> Schema:
        body: type[MediaBody] = field_definition.annotation
        registry = schema_creator.schema_registry
        schema = registry.get_schema_for_field_definition(field_definition)
        schema.title = body.__name__
        schema.description = " ".join((body.__doc__ or "").split())
        if body.items is not None:
            schema.type = OpenAPIType.ARRAY
            schema.items = schema_creator.for_field_definition(
                FieldDefinition.from_annotation(body.items))
        else:
            schema.type = OpenAPIType.STRING
            schema.format = body.format
        reference = registry.get_reference_for_field_definition(field_definition)
        assert reference is not None
        return reference  # type: ignore[return-value]  # Litestar takes a Reference too


def component(name: str) -> Reference:
    """A reference to the component ``name`` (a Struct or a ``MediaBody``)."""
    return Reference(ref=f"#/components/schemas/{name}")


def requirement(opt: dict[str, Any]) -> list[SecurityRequirement]:
    """The OpenAPI security of a route with this ``opt`` (``security.needs``): a token
    with the scope, by OAuth 2.0 or any bearer token; optional on anonymous routes."""
    scope = opt[SCOPE_OPT]
    needed: list[SecurityRequirement] = [{OAUTH2: [scope]}, {BEARER: []}]
    return [{}, *needed] if opt.get(ANONYMOUS_OPT, True) else needed


def read_by_hand(body: RequestBody | None = None, *, also_problems: tuple[int, ...] = (),
                 also_text: tuple[int, ...] = (),
                 also_oauth_errors: tuple[int, ...] = (),
                 also: tuple[tuple[int, str, str], ...] = ()) -> type[Operation]:
    """The ``operation_class`` of a route whose request or answer Litestar cannot see in
    its signature: ``body`` describes a request it reads itself (a form, a policy file);
    ``also_problems`` are statuses whose answer is another format (OAuth's JSON) but may
    also be a problem document (a refused bearer token is checked before the route runs);
    ``also_text`` are statuses that may also answer ``text/plain``, ``also_oauth_errors``
    an OAuth error (JSON); ``also`` names other answers as (status, media type, the
    component of its schema)."""
    extra = [(status, PROBLEM_MEDIA_TYPE, component("Problem")) for status in also_problems]
    extra += [(status, TEXT_MEDIA_TYPE, Schema(type=OpenAPIType.STRING)) for status in also_text]
    extra += [(status, "application/json", component("OAuthError"))
              for status in also_oauth_errors]
    extra += [(status, media_type, component(name)) for status, media_type, name in also]

    class ReadByHand(Operation):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if body is not None:
                self.request_body = body
            for status, media_type, schema in extra:
                answer = (self.responses or {})[str(status)]
                assert not isinstance(answer, Reference) and answer.content is not None
                answer.content[media_type] = OpenAPIMediaType(schema=schema)

    return ReadByHand


def document_body(description: str, media_types: tuple[str, ...]) -> RequestBody:
    """A required body in any of ``media_types``: a document (any JSON or YAML value: the
    route reads and judges it in its own language), or its text as plain text."""
    return RequestBody(description=description, required=True, content={
        media_type: OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING)
                                     if media_type.startswith("text/plain") else Schema())
        for media_type in media_types})


def struct_body(struct: type, media_type: str, description: str) -> RequestBody:
    """A required body of ``media_type`` whose fields are those of the msgspec ``struct``
    (flat: its schema is written in place)."""
    document = msgspec.json.schema(struct)
    schema = document["$defs"][struct.__name__]
    schema.pop("title", None)
    if media_type == FORM_MEDIA_TYPE:  # other parameters are ignored; each is one text
        schema["additionalProperties"] = {"type": "string"}
    return RequestBody(description=description, required=True, content={
        media_type: OpenAPIMediaType(schema=schema)})  # a JSON Schema, written as it is


def security_schemes(issuer: str) -> dict[str, SecurityScheme]:
    """OAuth 2.0 (client credentials for machine clients; authorization code with PKCE
    for a partner acting for an artist) and the bearer token either gives."""
    scopes = dict(OAUTH_SCOPES)
    return {
        OAUTH2: SecurityScheme(
            type="oauth2",
            description="Tokens from this service's OAuth 2.0 server; see "
                        "/.well-known/oauth-authorization-server",
            flows=OAuthFlows(
                client_credentials=OAuthFlow(token_url=issuer + TOKEN_PATH, scopes=scopes),
                authorization_code=OAuthFlow(
                    authorization_url=issuer + AUTHORIZE_PATH, token_url=issuer + TOKEN_PATH,
                    refresh_url=issuer + TOKEN_PATH, scopes=scopes),
            )),
        BEARER: SecurityScheme(
            type="http", scheme="bearer", bearer_format="JWT",
            description="An access token of this service (RFC 6750), as "
                        "`Authorization: Bearer <token>`"),
    }


def operation_id(handler: HTTPRouteHandler, method: str, path: list[Any]) -> str:
    """``licenses_quote``, ``oauth_token``: the route's tag and its handler's name, which
    generated clients name their functions after."""
    del method, path  # one handler per method and path
    function: Any = handler.fn
    while hasattr(function, "func"):  # sync handlers come wrapped
        function = function.func
    return f"{(handler.resolve_tags() or ['service'])[0]}_{function.__name__}"


def openapi_config(settings: Settings) -> OpenAPIConfig:
    """The document at ``/schema/openapi.json`` and its page at ``/schema``."""
    issuer = settings.resolved_issuer
    return OpenAPIConfig(
        title="Casset Rights", version="1.0.0",
        description="Rights, licenses and lineage of music releases, for machine clients. "
                    "Every error is an RFC 9457 problem document "
                    "(`application/problem+json`), but the OAuth endpoints' own.",
        path="/schema", render_plugins=[ReferencePage()],
        components=Components(security_schemes=security_schemes(issuer)),
        tags=TAGS, use_handler_docstrings=False, create_examples=False,
        operation_id_creator=operation_id,
    )
