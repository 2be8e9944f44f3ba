"""The OpenAPI document and the pages around it, read through the test client: security
schemes and each route's security as its ``opt`` declares it, problem answers, typed
answers, ``GET /`` and the reference page at ``/schema``, which loads nothing."""

from __future__ import annotations

import re
from typing import Any

from litestar.testing import TestClient

from casset_rights.api.openapi import requirement
from casset_rights.api.security import SCOPE_OPT
from casset_rights.auth.scopes import OAUTH_SCOPES

METHODS = ("get", "put", "post", "patch", "delete")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items()
            for method, op in item.items() if method in METHODS]


def test_security_schemes_name_the_real_oauth_endpoints_and_scopes(client: TestClient) -> None:
    schemes = client.get("/schema/openapi.json").json()["components"]["securitySchemes"]
    flows = schemes["oauth2"]["flows"]
    assert flows["clientCredentials"]["tokenUrl"] == "http://rights.test/oauth/token"
    code = flows["authorizationCode"]
    assert code["authorizationUrl"] == "http://rights.test/oauth/authorize"
    assert code["tokenUrl"] == "http://rights.test/oauth/token"
    assert code["scopes"] == flows["clientCredentials"]["scopes"] == OAUTH_SCOPES
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                                 "description": schemes["bearer"]["description"]}


def test_each_route_documents_the_security_its_opt_enforces(client: TestClient) -> None:
    document = client.get("/schema/openapi.json").json()
    declared = {}
    for route in client.app.routes:
        for handler in getattr(route, "route_handlers", []):
            if handler.opt.get(SCOPE_OPT):
                for method in handler.http_methods:
                    path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
                    declared[(method.lower(), path)] = requirement(handler.opt)
    assert declared
    for method, path, op in operations(document):
        assert op.get("security") == declared.get((method, path)), (method, path)


def test_every_error_answer_is_a_documented_problem(client: TestClient) -> None:
    document = client.get("/schema/openapi.json").json()
    problem = document["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "code"}
    assert problem["properties"]["errors"]
    for method, path, op in operations(document):
        answers = op["responses"]
        assert "401" in answers and "429" in answers, (method, path)
        for status, answer in answers.items():
            content = answer.get("content") or {}
            # OAuth's endpoints, and RSL's license server (its Open License Protocol is
            # OAuth's token and introspection endpoints), answer errors in OAuth's JSON
            # (RFC 6749 section 5.2); a refused bearer token and the rate limit are still
            # problems there (both media types are listed).
            if int(status) >= 400 and not path.startswith(("/oauth/", "/olp/")):
                assert list(content) == ["application/problem+json"], (method, path, status)
            for media in content.values():  # typed: no bare object or any
                assert media["schema"] not in ({}, {"type": "object"}), (method, path, status)


def test_answers_are_typed(client: TestClient) -> None:
    document = client.get("/schema/openapi.json").json()
    for method, path, op in operations(document):
        for status, answer in op["responses"].items():
            if not status.startswith("2") or not answer.get("content"):
                continue
            for media_type, media in answer["content"].items():
                schema = media["schema"]
                assert "$ref" in schema or media_type.startswith("text/"), \
                    (method, path, status, schema)


def test_the_checkpoint_note_is_documented_as_text(client: TestClient) -> None:
    document = client.get("/schema/openapi.json").json()
    content = document["paths"]["/v1/log/checkpoint"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"application/json", "text/plain; charset=utf-8"}
    answer = client.get("/v1/log/checkpoint", headers={"Accept": "text/plain"})
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"


def test_the_reference_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<script" not in html and "<link" not in html and "@import" not in html
    references = re.findall(r'(?:src|href|action)\s*=\s*"([^"]*)"', html)
    assert references and all(not re.match(r"^(\w+:|//)", r) for r in references), references
    assert "url(" not in html
    assert "default-src 'none'" in html
    # ... and it describes the service: every path, the schemes, the problem document
    document = client.get("/schema/openapi.json").json()
    for path in document["paths"]:
        assert path in html
    assert "oauth2" in html and "Problem" in html and "/oauth/token" in html


def test_the_root_points_at_the_metadata_the_document_and_the_reference(
        client: TestClient) -> None:
    answer = client.get("/")
    assert answer.status_code == 200
    body = answer.json()
    assert body["metadata"] == "http://rights.test/.well-known/casset-rights"
    assert body["openapi"] == "http://rights.test/schema/openapi.json"
    assert body["reference"] == "http://rights.test/schema"
    assert "docs/oauth.md" in body["documentation"]
    for url in (body["metadata"], body["openapi"], body["reference"], body["oauth_server"]):
        assert client.get(url.removeprefix("http://rights.test")).status_code == 200
