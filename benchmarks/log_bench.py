"""The transparency log: appends, inclusion proofs at a million leaves, offline
verification of a receipt bundle, and gas per anchor.

What is measured, in this order:

1. **writers and the sequencer on PostgreSQL**: two processes store signed receipts
   (``ReceiptStore.store``, 64 per transaction, as the group-commit writer does: each
   receipt's row and its queue entry, no log lock) for a few seconds; then the sequencer
   integrates everything they queued, and, apart, a queue of 200,000 entries. The log is
   checked afterwards: contiguous indexes, every receipt given its index, and the root
   equal to the RFC 9162 definition.
2. **inclusion proof time at 1,000,000 leaves** (PostgreSQL, and SQLite): the leaf and
   subtree-node rows are computed with the log's own ``merkle.append_nodes`` and bulk
   loaded with COPY (PostgreSQL) or one ``executemany`` transaction (SQLite), not through
   ``append_many`` (which would take several minutes for 2 million rows); the root read
   back through the log is then checked against an independent fold of the leaf hashes.
   ``TransparencyLog.inclusion_proof(index, 1_000_000)`` is timed for random leaves, and
   every proof is verified.
3. **offline verification of a bundle**: ``verify_receipt_bundle`` on a bundle from a real
   service (signature, checkpoint, inclusion; the anchor step needs a chain and is timed
   apart against the in-process chain), and the ``casset-rights verify`` command's wall
   time (a new Python process, imports included).
4. **gas per anchor, receipts per anchor**: the anchoring job on the embedded chain after
   100, 1,000 and 10,000 receipts: one transaction per checkpoint whatever it covers.

Run from the repository root (PostgreSQL at the URL, default the test server)::

    .venv/bin/python benchmarks/log_bench.py [--database-url URL] [--quick]

``--quick`` shortens every part (a smoke test). Results: docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import msgspec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from sqlalchemy import Engine, text  # noqa: E402

from casset_rights.db.engine import make_engine  # noqa: E402
from casset_rights.db.tables import metadata  # noqa: E402
from casset_rights.log import LeafInput, TransparencyLog, merkle  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ORIGIN = "bench.casset.test/log"
SEED = bytes(range(32))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- schemas ----------------------------------------------------------------------------------


class Scratch:
    """A fresh PostgreSQL schema (or SQLite file) with the project's tables, dropped after."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.schema: str | None = None
        self._admin: Engine | None = None
        if url.startswith("postgresql"):
            self.schema = f"bench_log_{uuid.uuid4().hex[:8]}"
            self._admin = make_engine(url)
            with self._admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{self.schema}"'))
        self.engine = make_engine(url, search_path=self.schema)
        metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()
        if self._admin is not None:
            with self._admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{self.schema}" CASCADE'))
            self._admin.dispose()


def make_log(engine: Engine) -> TransparencyLog:
    return TransparencyLog(engine, origin=ORIGIN,
                           signing_key=Ed25519PrivateKey.from_private_bytes(SEED))


# --- 1. writers and the sequencer ---------------------------------------------------------------


def _writer(url: str, schema: str | None, worker: int, batch: int, seconds: float,
            start: Any, out: Any) -> None:
    """Store signed receipts, ``batch`` per transaction, as the group-commit writer does:
    each receipt's row and its log queue entry, plain inserts."""
    from casset_rights.receipts.keys import FileKeyStore
    from casset_rights.receipts.service import ReceiptIssuer, ReceiptStore

    engine = make_engine(url, search_path=schema)
    keys = FileKeyStore(Path(tempfile.mkdtemp()) / "keys")
    issuer = ReceiptIssuer(keys, issuer="https://bench.test")
    store = ReceiptStore(engine)
    body = {"principal": {"kind": "public"}, "request": {"action": "listen"}}
    start.wait()
    deadline = time.perf_counter() + seconds
    stored = transactions = 0
    began = time.perf_counter()
    while time.perf_counter() < deadline:
        store.store([issuer.issue("decision", body) for _ in range(batch)])
        stored += batch
        transactions += 1
    out.put((worker, stored, transactions, time.perf_counter() - began))
    engine.dispose()


def _sequencer(scratch: Scratch) -> Any:
    from casset_rights.anchoring.service import AnchorService
    from casset_rights.log.keeper import keeper_for
    from casset_rights.receipts.keys import FileKeyStore
    from casset_rights.receipts.service import ReceiptStore

    keys = FileKeyStore(Path(tempfile.mkdtemp()) / "keys")
    return keeper_for(make_log(scratch.engine), anchoring=AnchorService(scratch.engine,
                                                                        chain="none"),
                      receipts=ReceiptStore(scratch.engine), keys=keys).sequencer


def bench_writes_and_sequencer(url: str, *, seconds: float, queued: int) -> dict[str, Any]:
    """Receipts stored by two writer processes (no log lock on their path), then the
    sequencer integrating everything they queued; and the sequencer alone on a queue of
    ``queued`` entries. The log is checked afterwards: contiguous indexes, every receipt
    given its index, the root equal to the RFC 9162 definition."""
    from casset_rights.log_queue import enqueue_in

    ctx = multiprocessing.get_context("spawn")
    scratch = Scratch(url)
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(url, scratch.schema, w, 64, seconds, start,
                                               out)) for w in range(2)]
    for p in procs:
        p.start()
    time.sleep(2.0)  # let both import and connect
    start.set()
    done = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    stored = sum(d[1] for d in done)
    elapsed = max(d[3] for d in done)
    writes = {"receipts": stored, "receipts_per_s": stored / elapsed,
              "tx_per_s": sum(d[2] for d in done) / elapsed}
    say(f"  two writers, 64 receipts/tx: {writes['receipts_per_s']:,.0f} receipts/s")
    sequencer = _sequencer(scratch)
    began = time.perf_counter()
    integrated, _ = sequencer.integrate()
    took = time.perf_counter() - began
    assert integrated == stored, (integrated, stored)
    log = sequencer.log
    with scratch.engine.connect() as conn:
        hashes = [bytes(row[0]) for row in conn.execute(
            text("SELECT leaf_hash FROM log_leaves ORDER BY idx"))]
        unlogged = conn.execute(text(
            "SELECT count(*) FROM receipts r WHERE NOT EXISTS "
            "(SELECT 1 FROM log_leaves l WHERE l.leaf_hash = r.leaf_hash)")).scalar()
    assert log.size() == stored == len(hashes) and unlogged == 0
    assert log.root() == merkle.root_of(hashes), "root differs from the RFC definition"
    receipts_rate = integrated / took
    say(f"  sequencer, {integrated:,} queued receipts: {receipts_rate:,.0f} entries/s")
    scratch.close()

    scratch = Scratch(url)
    for first in range(0, queued, 50_000):
        with scratch.engine.begin() as conn:
            enqueue_in(conn, [LeafInput("manifest", f"m{i}", f"entry {i}".encode())
                              for i in range(first, min(queued, first + 50_000))])
    sequencer = _sequencer(scratch)
    began = time.perf_counter()
    integrated, _ = sequencer.integrate()
    took = time.perf_counter() - began
    assert integrated == queued == sequencer.log.size()
    entries_rate = integrated / took
    say(f"  sequencer, {queued:,} queued entries (no receipts to mark): "
        f"{entries_rate:,.0f} entries/s")
    scratch.close()
    return {**writes, "integrated_receipts": stored, "receipts_integrated_per_s": receipts_rate,
            "queued": queued, "entries_integrated_per_s": entries_rate}


# --- 2. inclusion proofs at a million leaves ----------------------------------------------------


def _chunks(n: int, size: int = 100_000) -> Any:
    """(leaf rows, node rows) in chunks of ``size`` leaves, nodes from the log's own
    ``merkle.append_nodes`` carried across chunks by its frontier."""
    frontier: list[tuple[int, int, bytes]] = []
    now = int(time.time())
    for start in range(0, n, size):
        datas = [b"receipt %08d " % i + SEED for i in range(start, min(n, start + size))]
        hashes = [merkle.leaf_hash(d) for d in datas]
        created, frontier = merkle.append_nodes(frontier, start, hashes)
        nodes = [(merkle.position(level, idx), h) for level, idx, h in created]
        leaves = [(start + k, h, "receipt", f"r{start + k}", d, now)
                  for k, (d, h) in enumerate(zip(datas, hashes, strict=True))]
        yield leaves, nodes, hashes


def bulk_load(engine: Engine, n: int) -> tuple[bytes, float]:
    """Load ``n`` leaves and their subtree nodes; returns (independent root, seconds)."""
    began = time.perf_counter()
    all_hashes: list[bytes] = []
    raw = engine.raw_connection()
    try:
        conn: Any = raw.driver_connection
        if engine.dialect.name == "postgresql":
            with conn.cursor() as cur:
                for leaves, nodes, hashes in _chunks(n):
                    with cur.copy("COPY log_leaves (idx, leaf_hash, kind, ref, data, "
                                  "created_at) FROM STDIN") as copy:
                        for row in leaves:
                            copy.write_row(row)
                    with cur.copy("COPY log_nodes (pos, hash) FROM STDIN") as copy:
                        for row in nodes:
                            copy.write_row(row)
                    all_hashes += hashes
                conn.commit()
                cur.execute("ANALYZE log_leaves")
                cur.execute("ANALYZE log_nodes")
            conn.commit()
        else:
            conn.execute("BEGIN IMMEDIATE")
            for leaves, nodes, hashes in _chunks(n):
                conn.executemany("INSERT INTO log_leaves (idx, leaf_hash, kind, ref, data, "
                                 "created_at) VALUES (?, ?, ?, ?, ?, ?)", leaves)
                conn.executemany("INSERT INTO log_nodes (pos, hash) VALUES (?, ?)",
                                 nodes)
                all_hashes += hashes
            conn.execute("COMMIT")
            conn.execute("ANALYZE")
    finally:
        raw.close()
    seconds = time.perf_counter() - began
    # The independent root: the RFC's recursive definition over the leaf hashes.
    return merkle.root_of(all_hashes), seconds


def bench_proofs(url: str, *, n: int, samples: int) -> dict[str, Any]:
    scratch = Scratch(url)
    try:
        expected, load_s = bulk_load(scratch.engine, n)
        log = make_log(scratch.engine)
        root = log.root(n)
        assert root == expected, "the stored nodes do not give the RFC 9162 root"
        rng = random.Random(7)
        indexes = [rng.randrange(n) for _ in range(samples)]
        for i in indexes[:20]:  # warm the connection pool and the caches
            log.inclusion_proof(i, n)
        times = []
        for i in indexes:
            began = time.perf_counter()
            proof = log.inclusion_proof(i, n)
            times.append(time.perf_counter() - began)
            proof.verify(root)
        by_hash = []
        for i in indexes[:200]:
            h = merkle.leaf_hash(b"receipt %08d " % i + SEED)
            began = time.perf_counter()
            log.inclusion_proof(h, n)
            by_hash.append(time.perf_counter() - began)
        times.sort()
        result = {"database": scratch.engine.dialect.name, "leaves": n, "load_s": load_s,
                  "proof_hashes": len(proof.hashes),
                  "median_ms": statistics.median(times) * 1e3,
                  "p99_ms": times[int(len(times) * 0.99) - 1] * 1e3,
                  "by_hash_median_ms": statistics.median(by_hash) * 1e3, "samples": samples}
        say(f"  proofs on {result['database']} at {n:,} leaves: median "
            f"{result['median_ms']:.2f} ms, p99 {result['p99_ms']:.2f} ms "
            f"(by leaf hash {result['by_hash_median_ms']:.2f} ms); load {load_s:.0f} s")
        return result
    finally:
        scratch.close()


# --- 3 and 4: a real service: bundles and anchors -----------------------------------------------


def bench_service(*, verify_runs: int, receipts_per_anchor: list[int]) -> dict[str, Any]:
    from casset_rights.config import settings_from_env
    from casset_rights.log.bundle import verify_receipt_bundle
    from casset_rights.services import open_services

    folder = Path(tempfile.mkdtemp(prefix="casset-log-bench-"))
    settings = settings_from_env({}, data_dir=folder / "data", issuer="https://bench.test")
    services = open_services(settings)
    body = {"principal": {"kind": "public"}, "request": {"action": "listen"}}
    try:
        anchors = []
        for count in receipts_per_anchor:
            for start in range(0, count, 256):
                batch = [services.issuer.issue("decision", body)
                         for _ in range(min(256, count - start))]
                services.receipts.store(batch)
            run = services.log_keeper.anchor_now()
            record = run.anchor
            anchors.append({"receipts": count, "tree_size": record.tree_size,
                            "gas_used": record.gas_used, "status": record.status})
            say(f"  anchor after {count:,} receipts: tree size {record.tree_size:,}, "
                f"gas {record.gas_used:,}")
        [last] = services.receipts.store([services.issuer.issue("decision", body)])
        services.log_keeper.anchor_now()
        bundle = services.log_keeper.bundle(last.jti)
        chain = services.anchoring.chain
        jwks, key = bundle.jwks, bundle.log_key
        for _ in range(20):
            verify_receipt_bundle(bundle, jwks=jwks, log_key=key, check_anchor=False)
        times = []
        for _ in range(verify_runs):
            began = time.perf_counter()
            verify_receipt_bundle(bundle, jwks=jwks, log_key=key, check_anchor=False)
            times.append(time.perf_counter() - began)
        anchor_times = []
        for _ in range(max(verify_runs // 10, 20)):
            began = time.perf_counter()
            verify_receipt_bundle(bundle, jwks=jwks, log_key=key, chain=chain)
            anchor_times.append(time.perf_counter() - began)
        path = folder / "bundle.json"
        path.write_bytes(msgspec.json.encode(bundle))
        # The keys pinned as a verifier would (the service's JWKS and log key, fetched
        # once out of band), not the bundle's own.
        (folder / "jwks.json").write_bytes(msgspec.json.encode(jwks))
        cli = [str(Path(sys.executable).parent / "casset-rights"), "verify", str(path),
               "--skip-anchor", "--jwks", str(folder / "jwks.json"), "--log-key", key]
        walls = []
        for _ in range(3):
            began = time.perf_counter()
            done = subprocess.run(cli, capture_output=True, text=True, check=False)
            walls.append(time.perf_counter() - began)
            assert done.returncode == 0, done.stdout + done.stderr
        result = {"anchors": anchors, "bundle_tree_size": bundle.inclusion_proof.tree_size,
                  "bundle_bytes": path.stat().st_size,
                  "verify_median_ms": statistics.median(times) * 1e3,
                  "verify_with_anchor_median_ms": statistics.median(anchor_times) * 1e3,
                  "cli_wall_s": statistics.median(walls)}
        say(f"  bundle verify (offline steps): {result['verify_median_ms']:.2f} ms; with the "
            f"anchor on the in-process chain {result['verify_with_anchor_median_ms']:.2f} ms; "
            f"CLI wall {result['cli_wall_s']:.2f} s")
        return result
    finally:
        services.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("CASSET_BENCH_DATABASE_URL",
                                                                 DEFAULT_URL))
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    quick = args.quick
    python = os.path.relpath(sys.executable) if ".venv" in sys.executable else sys.executable
    print(f"$ {shlex.join([python, 'benchmarks/log_bench.py', *sys.argv[1:]])}")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs; "
          f"PostgreSQL at {args.database_url}")
    say("1. writers and the sequencer (PostgreSQL)")
    writes = bench_writes_and_sequencer(args.database_url, seconds=2.0 if quick else 8.0,
                                        queued=20_000 if quick else 200_000)
    say("2. inclusion proofs")
    n = 20_000 if quick else 1_000_000
    proofs = [bench_proofs(args.database_url, n=n, samples=200 if quick else 2000)]
    with tempfile.TemporaryDirectory() as folder:
        proofs.append(bench_proofs(f"sqlite:///{folder}/bench.db", n=n,
                                   samples=200 if quick else 2000))
    say("3-4. bundles and anchors (a service on SQLite, embedded chain)")
    service = bench_service(verify_runs=200 if quick else 2000,
                            receipts_per_anchor=[100, 1_000] if quick else [100, 1_000, 10_000])

    print("\nwriters and the sequencer, PostgreSQL")
    print(f"two writer processes, 64 signed receipts per transaction: "
          f"{writes['receipts_per_s']:,.0f} receipts/s ({writes['tx_per_s']:,.0f} tx/s)")
    print(f"sequencer, the {writes['integrated_receipts']:,} receipts they queued: "
          f"{writes['receipts_integrated_per_s']:,.0f} entries/s (target >= 20,000)")
    print(f"sequencer, {writes['queued']:,} queued entries: "
          f"{writes['entries_integrated_per_s']:,.0f} entries/s")
    print("\ninclusion proofs")
    for p in proofs:
        print(f"{p['database']:10} {p['leaves']:>9,} leaves: median {p['median_ms']:.2f} ms, "
              f"p99 {p['p99_ms']:.2f} ms, by leaf hash {p['by_hash_median_ms']:.2f} ms "
              f"({p['proof_hashes']} hashes; bulk load {p['load_s']:.0f} s)")
    print("\nbundles")
    print(f"verify (signature, checkpoint, inclusion): {service['verify_median_ms']:.2f} ms; "
          f"with the anchor on the in-process chain: "
          f"{service['verify_with_anchor_median_ms']:.2f} ms; "
          f"`casset-rights verify --skip-anchor` wall time {service['cli_wall_s']:.2f} s; "
          f"bundle {service['bundle_bytes']:,} bytes")
    print("\nanchors (embedded chain)")
    for a in service["anchors"]:
        print(f"after {a['receipts']:>6,} receipts: tree size {a['tree_size']:>6,}, "
              f"gas {a['gas_used']:,} ({a['status']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
