"""The API reference at ``/schema``: one server-rendered HTML page made from the OpenAPI
document itself, so it reads the same offline as online.

It loads nothing (no script, no style sheet, no font: a Content-Security-Policy in the page
says so); every value is HTML-escaped. The document itself is at ``/schema/openapi.json``.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.enums import MediaType
from litestar.openapi.plugins import OpenAPIRenderPlugin

_STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;
padding:0 1rem;color:#222}
h2{margin-top:2.5rem;border-bottom:1px solid #ccc}h3{margin:1.6rem 0 .3rem;font-size:1.05rem}
code,.m{font-family:ui-monospace,monospace;font-size:.9em}
.m{display:inline-block;min-width:4.2em;font-weight:bold}
table{border-collapse:collapse;margin:.3rem 0}
td,th{border:1px solid #ddd;padding:.15rem .5rem;text-align:left;vertical-align:top}
.op{border-left:3px solid #8ab;padding-left:.8rem;margin:1rem 0}
.muted{color:#666}nav a{margin-right:.8rem}"""
_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
_METHODS = ("get", "put", "post", "patch", "delete")


def _type(schema: Any) -> str:
    """A short name for a schema: a component's name, ``array of X``, ``A | B``."""
    if not isinstance(schema, dict):
        return ""
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    for key in ("oneOf", "anyOf"):
        if key in schema:
            return " | ".join(_type(s) for s in schema[key])
    kind = schema.get("type", "")
    if isinstance(kind, list):
        kind = " | ".join(str(k) for k in kind)
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    text = escape(str(kind or "any"))
    if "enum" in schema:
        text += " (" + ", ".join(escape(repr(v)) for v in schema["enum"]) + ")"
    if "const" in schema:
        text += f" = {escape(repr(schema['const']))}"
    return text


def _security(requirements: list[dict[str, list[str]]] | None) -> str:
    if not requirements:
        return "none"
    parts = []
    for req in requirements:
        if not req:
            parts.append("anonymous")
        for name, scopes in req.items():
            parts.append(escape(name) + (f" ({escape(' '.join(scopes))})" if scopes else ""))
    return " or ".join(parts)


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    out = [(f'<div class="op" id="{escape(op.get("operationId", method + path))}">'
            f'<h3><span class="m">{method.upper()}</span> <code>{escape(path)}</code></h3>'
            f"<p>{escape(op.get('summary', ''))}</p>"),
           f"<p class=muted>Security: {_security(op.get('security'))}</p>"]
    params = op.get("parameters") or []
    if params:
        rows = "".join(
            f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p['in'])}</td>"
            f"<td>{_type(p.get('schema'))}</td><td>{'yes' if p.get('required') else ''}</td>"
            f"<td>{escape(p.get('description', ''))}</td></tr>" for p in params)
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th>"
                   f"<th></th></tr>{rows}</table>")
    body = op.get("requestBody")
    if body:
        kinds = ", ".join(f"<code>{escape(k)}</code> {_type(v.get('schema'))}"
                          for k, v in body.get("content", {}).items())
        out.append(f"<p>Body: {kinds}</p>")
    rows = "".join(
        f"<tr><td>{escape(status)}</td><td>{escape(answer.get('description', ''))}</td><td>"
        + ", ".join(f"<code>{escape(k)}</code> {_type(v.get('schema'))}"
                    for k, v in (answer.get("content") or {}).items())
        + "</td></tr>" for status, answer in sorted(op.get("responses", {}).items()))
    out.append(f"<table><tr><th>status</th><th>meaning</th><th>body</th></tr>{rows}</table></div>")
    return "".join(out)


def _schema(name: str, schema: dict[str, Any]) -> str:
    required = set(schema.get("required", ()))
    rows = "".join(
        f"<tr><td><code>{escape(field)}</code></td><td>{_type(spec)}</td>"
        f"<td>{'yes' if field in required else ''}</td>"
        f"<td>{escape(str(spec.get('description', '')))}</td></tr>"
        for field, spec in schema.get("properties", {}).items())
    table = (f"<table><tr><th>field</th><th>type</th><th>required</th><th></th></tr>{rows}"
             "</table>") if rows else f"<p>{_type(schema)}</p>"
    return (f'<h3 id="schema-{escape(name)}">{escape(name)}</h3>'
            f"<p>{escape(schema.get('description', ''))}</p>{table}")


def _schemes(schemes: dict[str, Any]) -> str:
    out = []
    for name, scheme in schemes.items():
        text = f"<li><code>{escape(name)}</code>: {escape(scheme.get('description', ''))}"
        for flow, spec in (scheme.get("flows") or {}).items():
            urls = ", ".join(f"{escape(k)} <code>{escape(v)}</code>" for k, v in spec.items()
                             if k.endswith("Url"))
            scopes = ", ".join(f"<code>{escape(s)}</code> ({escape(t)})"
                               for s, t in spec.get("scopes", {}).items())
            text += f"<br>{escape(flow)}: {urls}; scopes: {scopes}"
        out.append(text + "</li>")
    return "<ul>" + "".join(out) + "</ul>"


def render_reference(document: dict[str, Any]) -> str:
    """The whole page for an OpenAPI document (as ``to_schema()`` gives it)."""
    info = document.get("info", {})
    by_tag: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            op = item.get(method)
            if op is not None:
                tag = (op.get("tags") or ["other"])[0]
                by_tag.setdefault(tag, []).append(_operation(method, path, op))
    described = {t["name"]: t.get("description", "") for t in document.get("tags", [])}
    order = [t for t in described if t in by_tag] + sorted(set(by_tag) - set(described))
    components = document.get("components", {})
    sections = "".join(
        f'<h2 id="tag-{escape(tag)}">{escape(tag)}</h2><p>{escape(described.get(tag, ""))}</p>'
        + "".join(by_tag[tag]) for tag in order)
    schemas = "".join(_schema(n, s) for n, s in sorted(components.get("schemas", {}).items()))
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}")
    nav = "".join(f'<a href="#tag-{escape(t)}">{escape(t)}</a>' for t in order)
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>{title}</title><style>{_STYLE}</style></head><body><main>"
            f"<h1>{title}</h1><p>{escape(info.get('description', ''))}</p>"
            f'<p>The OpenAPI document: <a href="/schema/openapi.json">/schema/openapi.json</a>. '
            f'Service metadata: <a href="/.well-known/casset-rights">/.well-known/casset-rights'
            f"</a>.</p><nav>{nav}</nav><h2>Authentication</h2>"
            f"{_schemes(components.get('securitySchemes', {}))}{sections}"
            f"<h2>Schemas</h2>{schemas}</main></body></html>")


class ReferencePage(OpenAPIRenderPlugin):
    """``/schema``: the reference page, rendered once per document."""

    def __init__(self) -> None:
        super().__init__(path="/", media_type=MediaType.HTML)
        self._page: bytes | None = None

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        if self._page is None:
            self._page = render_reference(openapi_schema).encode("utf-8")
        return self._page
