"""The MCP server, through the ``mcp`` package's own client: over Streamable HTTP against
the real app served by uvicorn on a free port, and over stdio against
``casset-rights mcp``."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from casset_rights.app import create_app
from tests.api.conftest import serving

MCP_RESOURCE = "http://rights.test/mcp"  # the issuer's /mcp: tokens are asked for it (RFC 8707)
TOOLS = {"rights_grid", "decide", "quote", "obtain_license", "lineage", "verify_receipt"}


@pytest.fixture
def served(settings, services) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on 127.0.0.1, a free port, for as long as the test runs; its MCP URL."""
    import msgspec

    app = create_app(msgspec.structs.replace(settings, load_examples=False), services=services)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}/mcp"


@asynccontextmanager
async def _client(url: str, token: str | None = None) -> AsyncIterator[Client]:
    """The package's client over its Streamable HTTP transport, with a bearer token."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        yield client


def mcp_token(oauth: Any) -> str:
    """An agent's access token issued for the MCP endpoint."""
    return str(oauth.token(oauth.agent(), resource=MCP_RESOURCE))


def test_tools_and_resources_over_http(served: str, oauth: Any) -> None:
    token = mcp_token(oauth)

    async def session() -> None:
        async with _client(served, token) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) >= TOOLS
            assert all(tools[name].output_schema for name in TOOLS)
            grid = await client.call_tool("rights_grid", {"resource": "release:midnight-tapes"})
            assert not grid.is_error, grid.content
            out = grid.structured_content
            assert out["audience"] == "agent"
            assert out["scopes"]["ai-train"]["decision"] == "deny"
            assert out["scopes"]["listen"]["decision"] == "permit"
            verified = await client.call_tool("verify_receipt", {"receipt": out["receipt"]})
            assert verified.structured_content["valid"] is True
            assert verified.structured_content["payload"]["jti"] == out["receipt_id"]
            forged = out["receipt"][:-4] + ("AAAA" if out["receipt"][-4:] != "AAAA" else "BBBB")
            refused = await client.call_tool("verify_receipt", {"receipt": forged})
            assert refused.structured_content["valid"] is False
            decision = await client.call_tool("decide", {
                "action": "remix", "resource": "hook:midnight-tapes/1/chorus",
                "purpose": "commercial"})
            assert decision.structured_content["decision"] == "license_required"
            assert decision.structured_content["license_routes"][0]["name"] == "remix-license"
            # Wrong arguments: refused by the schema, in MCP's own form (a tool error).
            for bad in ({"resource": 12}, {}, {"resource": "release:x", "purpose": "evil"}):
                wrong = await client.call_tool("rights_grid", bad)
                assert wrong.is_error
            unknown = await client.call_tool("decide", {"action": "fly",
                                                        "resource": "release:midnight-tapes"})
            assert unknown.is_error and "unknown_scope" in unknown.content[0].text
            missing = await client.call_tool("rights_grid", {"resource": "release:nope"})
            assert missing.is_error and "unknown_resource" in missing.content[0].text
            releases = await client.read_resource("casset://releases")
            listed = json.loads(releases.contents[0].text)
            assert {r["id"] for r in listed} >= {"midnight-tapes", "glass-hours"}
            deed = json.loads((await client.read_resource(
                "casset://releases/midnight-tapes")).contents[0].text)
            assert deed["terms_url"].endswith("/r/midnight-tapes")
            offer = json.loads((await client.read_resource(
                "casset://policies/nightglass-default")).contents[0].text)
            assert offer["type"] == "Offer"
    anyio.run(session)


def test_an_agent_gets_a_free_license_over_http(served: str, oauth: Any) -> None:
    token = mcp_token(oauth)

    async def session() -> None:
        async with _client(served, token) as client:
            grid = await client.call_tool("rights_grid", {"resource": "release:midnight-tapes"})
            assert grid.structured_content["audience"] == "agent"
            assert grid.structured_content["scopes"]["ai-input"]["license_routes"] == [
                "grounding"]
            quote = await client.call_tool("quote", {"resource": "release:midnight-tapes",
                                                     "route": "grounding"})
            assert not quote.is_error, quote.content
            license_ = await client.call_tool("obtain_license", {
                "quote_id": quote.structured_content["quote_id"]})
            assert not license_.is_error, license_.content
            assert license_.structured_content["status"] == "granted"
            again = await client.call_tool("obtain_license", {
                "quote_id": quote.structured_content["quote_id"]})
            assert again.is_error  # a quote is used once
            now = await client.call_tool("decide", {"action": "ai-input",
                                                    "resource": "release:midnight-tapes"})
            assert now.structured_content["decision"] == "permit"
    anyio.run(session)


def test_another_host_is_refused(served: str, oauth: Any) -> None:
    response = httpx2.post(served, headers={"host": "evil.example", "accept":
                                            "application/json, text/event-stream",
                                            "content-type": "application/json",
                                            "authorization": f"Bearer {mcp_token(oauth)}"},
                           content=b'{"jsonrpc":"2.0","id":1,"method":"ping"}')
    assert response.status_code == 421


@pytest.mark.slow
def test_the_same_server_over_stdio(tmp_path: Path) -> None:
    executable = Path(sys.executable).with_name("casset-rights")
    env = {**os.environ, "CASSET_DATA_DIR": str(tmp_path / "data"),
           "CASSET_ISSUER": "http://rights.test"}
    params = StdioServerParameters(command=str(executable), args=["mcp", "--demo"], env=env)

    async def session() -> None:
        async with Client(params) as client:
            assert {t.name for t in (await client.list_tools()).tools} >= TOOLS
            grid = await client.call_tool("rights_grid", {"resource": "hook:glass-hours/2/drop"})
            assert not grid.is_error, grid.content
            assert grid.structured_content["scopes"]["ai-train"]["decision"] == "deny"
            checked = await client.call_tool("verify_receipt",
                                             {"receipt": grid.structured_content["receipt"]})
            assert checked.structured_content["valid"] is True
    anyio.run(session)


def test_an_agent_pays_a_paid_route_through_mcp(served: str, oauth: Any, services: Any) -> None:
    from x402.http.utils import decode_payment_required_header

    from tests.api.test_x402 import _sign

    token = mcp_token(oauth)

    async def session() -> None:
        async with _client(served, token) as client:
            quote = await client.call_tool("quote", {
                "resource": "hook:midnight-tapes/1/chorus", "route": "remix-license",
                "purpose": "commercial"})
            quote_id = quote.structured_content["quote_id"]
            asked = await client.call_tool("obtain_license", {"quote_id": quote_id})
            text = asked.content[0].text
            assert asked.is_error and "payment_required" in text
            required = decode_payment_required_header(text.rsplit("PAYMENT-REQUIRED: ", 1)[1])
            signature = await anyio.to_thread.run_sync(_sign, services, required)
            paid = await client.call_tool("obtain_license", {
                "quote_id": quote_id, "payment_signature": signature})
            assert not paid.is_error, paid.content
            assert paid.structured_content["status"] == "granted"
            assert paid.structured_content["transaction"].startswith("0x")
            replay = await client.call_tool("obtain_license", {
                "quote_id": quote_id, "payment_signature": signature})
            assert replay.is_error and "quote_used" in replay.content[0].text
    anyio.run(session)
