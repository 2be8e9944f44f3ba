"""PostgreSQL's compression of signed tokens: pglz (its default), LZ4, and none.

A receipt larger than about 2 kB (its row past PostgreSQL's TOAST threshold) is
compressed as it is queued for the log and again as the sequencer moves it to its leaf,
and decompressed when the sequencer reads it. This stores real signed receipts (compact
JWS, EdDSA, decision payloads of 1.1 to 4 kB) the way the receipt writer queues them
(``COPY``, groups of 24, one commit each) into a table like ``log_pending`` whose
``data`` column compresses with each method in turn, alternating, then reads them back;
it reports the server's CPU (its backend process, from ``/proc``) per row for each,
the client's wall time, and the bytes a row takes on disk.

Run from the repository root (PostgreSQL at the URL, default the test server)::

    .venv/bin/python benchmarks/compression_bench.py [--database-url URL] [--rows N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import psycopg
from _machine import cpu_model, load_average
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from casset_rights.receipts.jws import sign_compact
from casset_rights.receipts.keys import SigningKey

METHODS = {
    "pglz (PostgreSQL's default)": "data bytea COMPRESSION pglz",
    "lz4": "data bytea COMPRESSION lz4",
    "none (toast_tuple_target 8160)": "data bytea",
}
GROUP = 24


def receipts(count: int) -> list[bytes]:
    """Signed decision receipts whose payloads carry 2 to 14 reasons and license routes."""
    key = SigningKey(kid="bench", private_key=Ed25519PrivateKey.generate())
    out = []
    for i in range(count):
        n = 2 + i % 13
        payload = {
            "iss": "https://rights.example", "iat": 1796650000 + i, "jti": f"{i:032x}",
            "kind": "decision",
            "principal": {"kind": "agent", "client_id": f"agent-{i % 50}"},
            "request": {"action": "sync", "resource": f"track:release-{i % 400}/{i % 12}",
                        "context": {"purpose": "commercial", "territory": "US"}},
            "decision": "license_required",
            "reasons": [{"rule": f"release:release-{i % 400}/rule-{j}", "effect": "deny",
                         "detail": "sync needs a license from the artist for commercial use"}
                        for j in range(n)],
            "license_routes": [{"name": f"route-{j}", "type": "fixed", "price": "250.00",
                                "currency": "USD", "href": f"/v1/licenses/quote?route={j}"}
                               for j in range(n // 3)],
            "policies": [f"sha256:{(i * 7919 + j):064x}" for j in range(4)],
            "policy_hash": f"sha256:{i:064x}", "manifest_hash": f"sha256:{i * 31:064x}",
        }
        out.append(sign_compact(payload, key, typ="casset-receipt+jws").encode())
    return out


def backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(conn: psycopg.Connection, column: str, tokens: list[bytes]) -> dict[str, float]:
    storage = " WITH (toast_tuple_target = 8160)" if column == "data bytea" else ""
    conn.execute("DROP TABLE IF EXISTS bench_compression")
    conn.execute("CREATE TABLE bench_compression (seq bigserial PRIMARY KEY, kind text,"
                 f" ref text, {column}, created_at_ms bigint){storage}")
    conn.commit()
    pid = conn.info.backend_pid
    cpu, wall = backend_cpu(pid), time.perf_counter()
    for start in range(0, len(tokens), GROUP):
        with conn.cursor() as cur, cur.copy(
                "COPY bench_compression (kind, ref, data, created_at_ms) FROM STDIN") as copy:
            for i, token in enumerate(tokens[start:start + GROUP], start):
                copy.write_row(("receipt", f"{i:032x}", token, 0))
        conn.commit()
    write_cpu, write_wall = backend_cpu(pid) - cpu, time.perf_counter() - wall
    cpu = backend_cpu(pid)
    read = 0
    for start in range(0, len(tokens), 256):
        rows = conn.execute("SELECT data FROM bench_compression WHERE seq > %s ORDER BY seq"
                            " LIMIT 256", (start,)).fetchall()
        read += sum(len(r[0]) for r in rows)
    conn.commit()
    assert read == sum(len(t) for t in tokens), "every token read back whole"
    read_cpu = backend_cpu(pid) - cpu
    size = conn.execute("SELECT pg_total_relation_size('bench_compression')").fetchone()
    conn.execute("DROP TABLE bench_compression")
    conn.commit()
    n = len(tokens)
    return {"write_cpu": write_cpu / n * 1e6, "write_wall": write_wall / n * 1e6,
            "read_cpu": read_cpu / n * 1e6, "bytes": (size[0] if size else 0) / n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rows", type=int, default=24_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tokens = receipts(args.rows)
    sizes = sorted(len(t) for t in tokens)
    print(f"{cpu_model()}; load average {load_average()}", file=sys.stderr)
    print(f"{len(tokens):,} receipts, {sizes[0]:,} to {sizes[-1]:,} bytes (median "
          f"{sizes[len(sizes) // 2]:,}); {args.rounds} rounds, methods alternating",
          file=sys.stderr)
    results: dict[str, list[dict[str, float]]] = {name: [] for name in METHODS}
    with psycopg.connect(args.database_url.replace("+psycopg", "")) as conn:
        for _ in range(args.rounds):
            for name, column in METHODS.items():
                results[name].append(run(conn, column, tokens))
    print("\n| compression | server CPU per row written, µs | client wall per row written, µs"
          " | server CPU per row read, µs | bytes per row on disk |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, runs in results.items():
        def span(key: str, runs: list[dict[str, float]] = runs) -> str:
            values = sorted(r[key] for r in runs)
            return f"{values[0]:,.0f} – {values[-1]:,.0f}" if len(values) > 1 \
                else f"{values[0]:,.0f}"
        print(f"| {name} | {span('write_cpu')} | {span('write_wall')} | {span('read_cpu')}"
              f" | {span('bytes')} |")
    print(f"\nload average after: {load_average()}")
    print(f"reproduce: .venv/bin/python benchmarks/compression_bench.py --rows {args.rows}"
          f" --rounds {args.rounds}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
