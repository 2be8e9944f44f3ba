"""A local Ethereum JSON-RPC server for tests: eth-tester's in-process chain (web3's
``EthereumTesterProvider``) answering over HTTP in the Ethereum wire format (JSON-RPC
2.0, quantities as hex strings, camelCase member names), so code that talks JSON-RPC to
Base (the x402 facilitator's ``HTTPProvider``) runs unchanged against it.

``serve_chain()`` gives ``(url, provider)``; the provider is the same chain, for the test
to deploy and fund with. Only loopback is served.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_SNAKE = re.compile(r"_([a-z0-9])")


def wire(value: Any) -> Any:
    """eth-tester's Python-shaped answer in the wire format."""
    if isinstance(value, dict):
        return {_SNAKE.sub(lambda m: m.group(1).upper(), str(k)): wire(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return value


def _answer(provider: Any, call: dict[str, Any], lock: threading.Lock) -> dict[str, Any]:
    ident = call.get("id")
    params = list(call.get("params") or [])
    if call.get("method") in ("eth_call", "eth_estimateGas") and params \
            and isinstance(params[0], dict) and "from" not in params[0]:
        # A node lets a call name no sender; eth-tester wants one.
        params[0] = {**params[0], "from": provider.ethereum_tester.get_accounts()[0]}
    try:
        with lock:  # eth-tester is not thread-safe
            response = provider.make_request(call["method"], params)
    except Exception as exc:  # every failure is a JSON-RPC error
        message = str(exc) or type(exc).__name__
        return {"jsonrpc": "2.0", "id": ident,
                "error": {"code": -32000, "message": message}}
    if "error" in response:
        error = response["error"]
        if not isinstance(error, dict):
            error = {"code": -32000, "message": str(error)}
        return {"jsonrpc": "2.0", "id": ident, "error": wire(error)}
    return {"jsonrpc": "2.0", "id": ident, "result": wire(response.get("result"))}


@contextmanager
def serve_chain() -> Iterator[tuple[str, Any]]:
    from web3 import EthereumTesterProvider

    provider = EthereumTesterProvider()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            calls = body if isinstance(body, list) else [body]
            answers = [_answer(provider, c, lock) for c in calls]
            data = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", provider
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
