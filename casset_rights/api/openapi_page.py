"""``/schema``: the OpenAPI description as a plain HTML page that loads nothing.

Litestar's bundled viewers (Scalar, Swagger UI, Redoc) fetch their scripts from a CDN, so
offline they show a blank page. This one lists every operation by tag (method, path,
summary) and links the JSON document; no script, no outside request.
"""

from __future__ import annotations

from html import escape
from typing import Any

from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin

_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")


class OfflineOpenAPIPage(OpenAPIRenderPlugin):
    def __init__(self, *, path: str = "/") -> None:
        super().__init__(path=path)

    def render(self, request: Request, openapi_schema: dict[str, Any]) -> bytes:
        info = openapi_schema.get("info", {})
        by_tag: dict[str, list[str]] = {}
        for path, item in sorted(openapi_schema.get("paths", {}).items()):
            for method in _METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                row = (f"<tr><td><code>{method.upper()}</code></td><td><code>{escape(path)}"
                       f"</code></td><td>{escape(operation.get('summary', ''))}</td></tr>")
                for tag in operation.get("tags") or ["other"]:
                    by_tag.setdefault(tag, []).append(row)
        sections = "".join(
            f"<section><h2>{escape(tag)}</h2><table><caption>{escape(tag)} operations"
            '</caption><thead><tr><th scope="col">Method</th><th scope="col">Path</th>'
            f'<th scope="col">Summary</th></tr></thead><tbody>{"".join(rows)}</tbody>'
            "</table></section>" for tag, rows in sorted(by_tag.items()))
        json_url = escape(self.get_openapi_json_route(request))
        title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}'
                "</title><style>body{font:15px/1.5 system-ui,sans-serif;max-width:64rem;"
                "margin:2rem auto;padding:0 1rem}table{border-collapse:collapse;width:100%}"
                "td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}"
                "caption{text-align:left;font-weight:600}</style></head><body><main>"
                f"<h1>{title}</h1><p>{escape(info.get('description', ''))}</p>"
                f'<p>The OpenAPI document: <a href="{json_url}">{json_url}</a></p>'
                f"{sections}</main></body></html>").encode()
