"""A local Ethereum JSON-RPC server over HTTP, backed by eth-tester: the wire format a Base
node speaks, on 127.0.0.1, so ``JsonRpcChain`` is tested through its real HTTP client.

Errors are answered the way geth answers them: a revert as code 3 with the revert data,
a stale nonce as code -32000 "nonce too low".
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from eth_tester.exceptions import TransactionFailed
from eth_utils.exceptions import ValidationError
from web3 import EthereumTesterProvider, Web3
from web3.middleware import combine_middleware


def _wire(value: Any) -> Any:
    """Python results of the eth-tester middleware as JSON-RPC values (hex quantities)."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if hasattr(value, "items"):
        return {k: _wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(v) for v in value]
    return value


class EthRpcDouble:
    """Serves JSON-RPC for one eth-tester chain until ``close``; ``w3`` reaches it in process."""

    def __init__(self) -> None:
        provider = EthereumTesterProvider()
        self.w3 = Web3(provider)
        self._call = combine_middleware(middleware=tuple(provider._middleware), w3=self.w3,
                                        provider_request_fn=provider.make_request)
        self._lock = threading.Lock()
        self.requests: list[str] = []
        double = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body = json.dumps(double.answer(request)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        base = {"jsonrpc": "2.0", "id": request["id"]}
        method, params = request["method"], request.get("params", [])
        self.requests.append(method)
        try:
            with self._lock:
                response = self._call(method, params)
        except TransactionFailed as exc:
            data = exc.__context__.args[0] if exc.__context__ and exc.__context__.args else b""
            data = data if isinstance(data, bytes) else b""
            return {**base, "error": {"code": 3, "message": "execution reverted",
                                      "data": "0x" + data.hex()}}
        except ValidationError as exc:
            message = "nonce too low" if "nonce" in str(exc).lower() else str(exc)
            return {**base, "error": {"code": -32000, "message": message}}
        if "error" in response:
            return {**base, "error": dict(response["error"])}
        return {**base, "result": _wire(response["result"])}

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
