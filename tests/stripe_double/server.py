"""A small Stripe double in front of localstripe, for what localstripe lacks.

The tests point the real ``stripe`` SDK at this server. It answers, in Stripe's wire
format (form-encoded requests, JSON objects, ``{"error": {...}}`` problems):

* ``POST /v1/accounts``, ``GET /v1/accounts/{id}``: Connect accounts (express), created
  with charges and payouts disabled; ``enable_account`` (a test's hand, standing for the
  artist finishing onboarding at Stripe) enables both and emits ``account.updated``;
* ``POST /v1/account_links``: an onboarding URL on this server;
* ``POST /v1/transfers``, ``GET /v1/transfers/{id}``, ``POST /v1/transfers/{id}/reversals``;
* ``GET /v1/disputes/{id}``; ``open_dispute`` / ``close_dispute`` (a test's hand, standing
  for the card holder and the bank) emit ``charge.dispute.created`` / ``.closed``;
* idempotency replay for every POST: the same ``Idempotency-Key`` with the same body
  answers the first answer again; with another body, 400 ``idempotency_error``.

Everything else is forwarded to localstripe unchanged, except that a PaymentIntent's
Connect parameters (``transfer_data``, ``application_fee_amount``, ``transfer_group``,
``description``), which localstripe refuses, are kept here and put back into every
answer about that intent. After a refund forwarded to localstripe this server emits
``charge.refunded`` (localstripe has no such event).

Limits: one currency balance is not kept (transfers never fail for lack of funds);
accounts have no requirements, capabilities or persons; a reversal always reverses the
whole transfer; disputes have no evidence; no pagination or list endpoints; idempotency
keys never expire; events are only ever delivered to ``inbox`` (signed like Stripe's,
``t=…,v1=…``), which the tests post to the service themselves. localstripe delivers its
own events (``payment_intent.*``) to ``inbox`` too, about a second after the fact.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import stripe

CONNECT_FIELDS = ("transfer_data[destination]", "transfer_data[amount]",
                  "application_fee_amount", "transfer_group", "description", "on_behalf_of")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client closing its kept-alive connection
        super().handle_error(request, client_address)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class Delivery:
    """One signed webhook delivery: the exact bytes and the ``Stripe-Signature``."""

    def __init__(self, payload: bytes, signature: str) -> None:
        self.payload = payload
        self.signature = signature
        self.event = json.loads(payload)

    @property
    def type(self) -> str:
        return str(self.event["type"])


class StripeDouble:
    def __init__(self, localstripe_port: int, *, webhook_secret: str) -> None:
        self.upstream = ("127.0.0.1", localstripe_port)
        self.webhook_secret = webhook_secret
        self.accounts: dict[str, dict[str, Any]] = {}
        self.transfers: dict[str, dict[str, Any]] = {}
        self.disputes: dict[str, dict[str, Any]] = {}
        self.intent_extras: dict[str, dict[str, Any]] = {}
        self.inbox: list[Delivery] = []
        self.requests: list[tuple[str, str]] = []
        self._replays: dict[str, tuple[str, int, bytes]] = {}
        self._key_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._inbox_changed = threading.Condition()
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                double._handle(self, "GET")

            def do_POST(self) -> None:
                double._handle(self, "POST")

            def do_DELETE(self) -> None:
                double._handle(self, "DELETE")

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        body = urlencode({"url": f"{self.url}/_double/inbox", "secret": self.webhook_secret})
        status, _, _ = self._forward("POST", "/_config/webhooks/casset", body.encode(),
                                     {"Content-Type": "application/x-www-form-urlencoded",
                                      "Authorization": "Bearer sk_test_double"})
        assert status == 200, status

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- events -----------------------------------------------------------------------

    def sign(self, payload: bytes, *, secret: str | None = None) -> str:
        return stripe.WebhookSignature.generate_signature_header(
            payload.decode(), secret or self.webhook_secret)

    def emit(self, type_: str, obj: dict[str, Any]) -> Delivery:
        """Sign an event about ``obj`` and put it in the inbox."""
        event = {"id": _new_id("evt"), "object": "event", "type": type_,
                 "created": int(time.time()), "api_version": "2025-01-01",
                 "livemode": False, "data": {"object": obj}}
        payload = json.dumps(event).encode()
        delivery = Delivery(payload, self.sign(payload))
        self._deliver(delivery)
        return delivery

    def _deliver(self, delivery: Delivery) -> None:
        with self._inbox_changed:
            self.inbox.append(delivery)
            self._inbox_changed.notify_all()

    def wait_for(self, type_: str, object_id: str, *, timeout: float = 30) -> Delivery:
        """The first delivery of ``type_`` about ``object_id`` (waiting for it)."""
        deadline = time.monotonic() + timeout
        with self._inbox_changed:
            while True:
                for d in self.inbox:
                    if d.type == type_ and d.event["data"]["object"].get("id") == object_id:
                        return d
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {type_} for {object_id} within {timeout} s")
                self._inbox_changed.wait(left)

    # -- a test's hand --------------------------------------------------------------------

    def enable_account(self, account_id: str) -> Delivery:
        account = self.accounts[account_id]
        account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True)
        return self.emit("account.updated", dict(account))

    def open_dispute(self, charge_id: str, payment_intent: str, amount: int,
                     currency: str) -> Delivery:
        dispute = {"id": _new_id("dp"), "object": "dispute", "charge": charge_id,
                   "payment_intent": payment_intent, "amount": amount, "currency": currency,
                   "status": "needs_response", "reason": "fraudulent",
                   "created": int(time.time()), "livemode": False}
        self.disputes[dispute["id"]] = dispute
        return self.emit("charge.dispute.created", dict(dispute))

    def close_dispute(self, dispute_id: str, status: str) -> Delivery:
        self.disputes[dispute_id]["status"] = status
        return self.emit("charge.dispute.closed", dict(self.disputes[dispute_id]))

    # -- HTTP -----------------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        path = h.path.split("?", 1)[0]
        self.requests.append((method, path))
        if path == "/_double/inbox":
            self._deliver(Delivery(body, h.headers.get("Stripe-Signature", "")))
            return self._send(h, 200, {})
        key = h.headers.get("Idempotency-Key") if method == "POST" else None
        if key is None:
            status, payload = self._route(h, method, h.path, body)
            return self._send_raw(h, status, payload)
        with self._lock:
            lock = self._key_locks.setdefault(key, threading.Lock())
        with lock:  # a concurrent retry waits for the first answer, then replays it
            digest = hashlib.sha256(method.encode() + h.path.encode() + body).hexdigest()
            seen = self._replays.get(key)
            if seen is not None:
                if seen[0] != digest:
                    return self._error(h, 400, "idempotency_error", "Keys for idempotent "
                                       "requests can only be used with the same parameters "
                                       "they were first used with.")
                return self._send_raw(h, seen[1], seen[2], replayed=True)
            status, payload = self._route(h, method, h.path, body)
            if status < 500:
                self._replays[key] = (digest, status, payload)
        self._send_raw(h, status, payload)

    def _route(self, h: BaseHTTPRequestHandler, method: str, full_path: str,
               body: bytes) -> tuple[int, bytes]:
        path = full_path.split("?", 1)[0]
        parts = path.strip("/").split("/")
        form = dict(parse_qsl(body.decode())) if body else {}
        now = int(time.time())
        if parts[:2] == ["v1", "accounts"]:
            if method == "POST" and len(parts) == 2:
                account = {"id": _new_id("acct"), "object": "account",
                           "type": form.get("type", "express"), "charges_enabled": False,
                           "payouts_enabled": False, "details_submitted": False,
                           "metadata": {k[9:-1]: v for k, v in form.items()
                                        if k.startswith("metadata[")},
                           "created": now}
                self.accounts[account["id"]] = account
                return 200, json.dumps(account).encode()
            if method == "GET" and len(parts) == 3 and parts[2] in self.accounts:
                return 200, json.dumps(self.accounts[parts[2]]).encode()
            return self._missing("account", parts[-1])
        if parts == ["v1", "account_links"] and method == "POST":
            if form.get("account") not in self.accounts:
                return self._missing("account", form.get("account", ""))
            link = {"object": "account_link", "created": now, "expires_at": now + 300,
                    "url": f"{self.url}/_double/onboarding/{form['account']}"}
            return 200, json.dumps(link).encode()
        if parts[:2] == ["v1", "transfers"]:
            return self._transfers(method, parts, form, now)
        if parts[:2] == ["v1", "disputes"] and method == "GET" and len(parts) == 3:
            if parts[2] in self.disputes:
                return 200, json.dumps(self.disputes[parts[2]]).encode()
            return self._missing("dispute", parts[2])
        if parts == ["v1", "payment_intents"] and method == "POST":
            pairs = parse_qsl(body.decode(), keep_blank_values=True)
            kept = {k: v for k, v in pairs if k in CONNECT_FIELDS}
            body = urlencode([(k, v) for k, v in pairs if k not in CONNECT_FIELDS]).encode()
            status, _, payload = self._forward(method, full_path, body, dict(h.headers))
            if status == 200:
                obj = json.loads(payload)
                self.intent_extras[obj["id"]] = _connect_fields(kept)
                payload = json.dumps({**obj, **self.intent_extras[obj["id"]]}).encode()
            return status, payload
        status, _, payload = self._forward(method, full_path, body, dict(h.headers))
        if parts[:2] == ["v1", "payment_intents"] and len(parts) >= 3 and status == 200:
            extras = self.intent_extras.get(parts[2], {})
            payload = json.dumps({**json.loads(payload), **extras}).encode()
        if parts == ["v1", "refunds"] and method == "POST" and status == 200:
            refund = json.loads(payload)
            _, _, charge = self._forward("GET", f"/v1/charges/{refund['charge']}", b"",
                                         dict(h.headers))
            self.emit("charge.refunded", json.loads(charge))
        return status, payload

    def _transfers(self, method: str, parts: list[str], form: dict[str, str],
                   now: int) -> tuple[int, bytes]:
        if method == "POST" and len(parts) == 2:
            if form.get("destination") not in self.accounts:
                return self._invalid("No such destination: " + form.get("destination", ""))
            if not self.accounts[form["destination"]]["payouts_enabled"]:
                return self._invalid("The destination account cannot receive transfers yet.")
            transfer = {"id": _new_id("tr"), "object": "transfer",
                        "amount": int(form["amount"]), "currency": form["currency"],
                        "destination": form["destination"],
                        "transfer_group": form.get("transfer_group"),
                        "source_transaction": form.get("source_transaction"),
                        "reversed": False, "amount_reversed": 0, "created": now,
                        "reversals": {"object": "list", "data": [], "has_more": False}}
            self.transfers[transfer["id"]] = transfer
            return 200, json.dumps(transfer).encode()
        if len(parts) < 3 or parts[2] not in self.transfers:
            return self._missing("transfer", parts[2] if len(parts) > 2 else "")
        transfer = self.transfers[parts[2]]
        if method == "GET" and len(parts) == 3:
            return 200, json.dumps(transfer).encode()
        if method == "POST" and parts[3:] == ["reversals"]:
            if transfer["reversed"]:
                return self._invalid("Transfer already fully reversed.")
            reversal = {"id": _new_id("trr"), "object": "transfer_reversal",
                        "amount": transfer["amount"], "currency": transfer["currency"],
                        "transfer": transfer["id"], "created": now}
            transfer.update(reversed=True, amount_reversed=transfer["amount"])
            transfer["reversals"]["data"].append(reversal)
            return 200, json.dumps(reversal).encode()
        return self._missing("route", "/".join(parts))

    def _forward(self, method: str, path: str, body: bytes,
                 headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            sent = {k: v for k, v in headers.items()
                    if k.lower() in ("authorization", "content-type", "stripe-version")}
            conn.request(method, path, body=body or None, headers=sent)
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    @staticmethod
    def _missing(kind: str, ident: str) -> tuple[int, bytes]:
        return 404, json.dumps({"error": {"type": "invalid_request_error",
                                          "code": "resource_missing",
                                          "message": f"No such {kind}: '{ident}'"}}).encode()

    @staticmethod
    def _invalid(message: str) -> tuple[int, bytes]:
        return 400, json.dumps({"error": {"type": "invalid_request_error",
                                          "message": message}}).encode()

    def _error(self, h: BaseHTTPRequestHandler, status: int, kind: str, message: str) -> None:
        self._send_raw(h, status, json.dumps({"error": {"type": kind,
                                                        "message": message}}).encode())

    def _send(self, h: BaseHTTPRequestHandler, status: int, obj: Any) -> None:
        self._send_raw(h, status, json.dumps(obj).encode())

    @staticmethod
    def _send_raw(h: BaseHTTPRequestHandler, status: int, payload: bytes, *,
                  replayed: bool = False) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(payload)))
        h.send_header("Request-Id", "req_" + secrets.token_hex(8))
        if replayed:
            h.send_header("Idempotent-Replayed", "true")
        h.end_headers()
        h.wfile.write(payload)


def _connect_fields(kept: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "transfer_data[destination]" in kept:
        out["transfer_data"] = {"destination": kept["transfer_data[destination]"]}
    if "application_fee_amount" in kept:
        out["application_fee_amount"] = int(kept["application_fee_amount"])
    for name in ("transfer_group", "description", "on_behalf_of"):
        if name in kept:
            out[name] = kept[name]
    return out


@contextmanager
def local_stripe(*, webhook_secret: str = "whsec_test_double") -> Iterator[StripeDouble]:
    """localstripe in a child process and the double in front of it, both on loopback
    at ports the kernel chose; stopped afterwards."""
    launcher = Path(__file__).with_name("localstripe_main.py")
    child = subprocess.Popen([sys.executable, str(launcher)], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True)
    try:
        assert child.stdout is not None
        port = int(child.stdout.readline())
        _wait_for_port(port)
        double = StripeDouble(port, webhook_secret=webhook_secret)
        double.start()
        try:
            yield double
        finally:
            double.stop()
    finally:
        child.terminate()
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def _wait_for_port(port: int, timeout: float = 20) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
