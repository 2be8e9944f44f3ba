"""Lineage walks on PostgreSQL over a graph of 1,000,000 edges.

The graph (deterministic, seed 4):

* background: a random DAG in families of 100 releases; each release of a family after
  the first uses 1 to 4 earlier releases of its family (about 2.5 edges a release), so
  ancestries stay family-sized, as real lineages do;
* a popular root with exactly 10,000 descendants: a random layered DAG below it (10, 100,
  1,000, then 8,890 releases), each release using its layer's tree parent and up to two
  more releases of the layer above (so every release is reachable from the root);
* a 50-deep chain ``c00 <- c01 <- ... <- c50``: the deepest node has 50 ancestors.

Loading: ``COPY ... FROM STDIN`` through psycopg into ``lineage_edges`` in the schema
``bench_lineage`` (indexes dropped for the load and built after, then ``ANALYZE``).
Measuring: ``casset_rights.lineage.graph.walk``, the exact statement ``GET
/v1/lineage/{resource}`` runs (SQLAlchemy Core, recursive CTE), timed end to end
including fetching and building the rows, plus ``ancestor_ids`` (what the decision
refiner runs). Prints p50 and p99 of each, and the command.

Run from the repository root::

    .venv/bin/python benchmarks/lineage_bench.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test

``--reuse`` keeps a loaded schema from an earlier run; ``--edges`` changes the size.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sqlalchemy import Engine, Index, func, select, text  # noqa: E402

from casset_rights.db.engine import make_engine  # noqa: E402
from casset_rights.licenses.tables import license_grants, license_quotes  # noqa: E402
from casset_rights.lineage import graph  # noqa: E402
from casset_rights.lineage.tables import lineage_edges  # noqa: E402
from casset_rights.resources import parse_resource  # noqa: E402

SCHEMA = "bench_lineage"
FAMILY = 100
COLUMNS = ("child", "parent", "relationship", "child_release", "child_track", "child_artist",
           "parent_release", "parent_track", "parent_artist", "grant_id", "revenue_share_ppm",
           "registered_by", "registered_at_ms", "receipt_id")
RELATIONSHIPS = ("sample", "remix", "interpretation", "stem", "sync")
ROOT = "release:popular-root"
DEEPEST = "release:chain-50"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _row(rng: random.Random, child: str, parent: str) -> tuple[object, ...]:
    return (child, parent, rng.choice(RELATIONSHIPS), child, None,
            f"artist-{rng.randrange(5000)}", parent, None, f"artist-{rng.randrange(5000)}",
            None, rng.choice((0, 50_000, 100_000, 150_000)), "client:bench",
            1_700_000_000_000, None)


def edges(total: int, seed: int = 4) -> Iterator[tuple[object, ...]]:
    """The graph described in the module docstring, ``total`` edges in all."""
    rng = random.Random(seed)
    produced = 0
    for n in range(1, 51):  # the chain
        produced += 1
        yield _row(rng, f"release:chain-{n:02d}", f"release:chain-{n - 1:02d}")
    layers = [[ROOT]]
    sizes = (10, 100, 1000, 8890)
    for layer, size in enumerate(sizes, start=1):
        above = layers[-1]
        names = [f"release:pop-{layer}-{i:05d}" for i in range(size)]
        for i, name in enumerate(names):
            tree_parent = above[i * len(above) // size]
            parents = {tree_parent} | {rng.choice(above) for _ in range(rng.randrange(3))}
            for parent in sorted(parents):
                produced += 1
                yield _row(rng, name, parent)
        layers.append(names)
    family = 0
    while produced < total:
        base = f"release:f{family:06d}-"
        for k in range(1, FAMILY):
            for parent in sorted({rng.randrange(k) for _ in range(rng.randint(1, 4))}):
                if produced >= total:
                    return
                produced += 1
                yield _row(rng, f"{base}{k:03d}", f"{base}{parent:03d}")
        family += 1


def prepare(url: str, total: int, *, reuse: bool) -> Engine:
    admin = make_engine(url)
    with admin.begin() as conn:
        exists = conn.execute(text("SELECT 1 FROM information_schema.schemata "
                                   "WHERE schema_name = :s"), {"s": SCHEMA}).first()
    engine = make_engine(url, search_path=SCHEMA)
    if reuse and exists:
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(lineage_edges)).scalar()
        if count == total:
            log(f"reusing {SCHEMA}: {count:,} edges")
            admin.dispose()
            return engine
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    admin.dispose()
    tables = [license_quotes, license_grants, lineage_edges]
    lineage_edges.metadata.create_all(engine, tables=tables)
    indexes = [i for i in lineage_edges.indexes if isinstance(i, Index)]
    with engine.begin() as conn:
        for index in indexes:
            conn.execute(text(f'DROP INDEX "{index.name}"'))
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        columns = ", ".join(COLUMNS)
        statement = f"COPY lineage_edges ({columns}) FROM STDIN"
        with cursor.copy(statement) as copy:  # type: ignore[attr-defined]
            for row in edges(total):
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    with engine.begin() as conn:
        for index in indexes:
            index.create(conn)
        conn.execute(text("ANALYZE lineage_edges"))
    log(f"loaded {total:,} edges with COPY in {loaded:.1f} s; indexes and ANALYZE "
        f"{time.perf_counter() - start:.1f} s")
    return engine


def measure(label: str, runs: int, call: Callable[[], int]) -> dict[str, float]:
    call()  # warm the cache and the plan
    times = []
    size = 0
    for _ in range(runs):
        start = time.perf_counter()
        size = call()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    result = {"p50": statistics.median(times),
              "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
              "rows": size, "runs": runs}
    print(f"{label:<58} p50 {result['p50']:8.2f} ms   p99 {result['p99']:8.2f} ms   "
          f"({size:,} rows, {runs} runs)", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get(
        "CASSET_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--edges", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args(argv)
    engine = prepare(args.database_url, args.edges, reuse=args.reuse)
    deepest, root = parse_resource(DEEPEST), parse_resource(ROOT)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(lineage_edges)).scalar()
        print(f"graph: {total:,} edges in {SCHEMA}", flush=True)
        check_up, _ = graph.walk(conn, deepest, direction="ancestors", max_depth=1000)
        down, _ = graph.walk(conn, root, direction="descendants", max_depth=1000)
        assert len(check_up) == 50, len(check_up)
        assert len({e.child for e in down}) == 10_000, len({e.child for e in down})
        if args.explain:
            for label, query in (("ancestors", graph._walk(deepest, "ancestors", 1000)),
                                 ("descendants", graph._walk(root, "descendants", 1000))):
                plan = conn.execute(text("EXPLAIN (ANALYZE, BUFFERS) " + str(
                    query.compile(conn, compile_kwargs={"literal_binds": True}))))
                print(f"-- {label}", *(r[0] for r in plan), sep="\n")
        results = {
            "ancestors": measure(
                "ancestors of the deepest chain node (walk, 50 edges)", args.runs,
                lambda: len(graph.walk(conn, deepest, direction="ancestors", max_depth=1000)[0])),
            "ancestor_ids": measure(
                "ancestor ids of the deepest chain node (decision refiner)", args.runs,
                lambda: len(graph.ancestor_ids(conn, deepest, max_depth=100))),
            "descendants": measure(
                "descendants of the popular root (walk, 10,000 releases)", max(20, args.runs // 10),
                lambda: len(graph.walk(conn, root, direction="descendants", max_depth=1000)[0])),
            "descendants_sql": measure(
                "  the same, statement and fetch only (no Edge objects)", max(20, args.runs // 10),
                lambda: len(conn.execute(graph._walk(root, "descendants", 1000)).all())),
            "family": measure(
                "ancestors of a background release (family DAG)", args.runs,
                lambda: len(graph.walk(conn, parse_resource("release:f000010-099"),
                                       direction="ancestors", max_depth=1000)[0])),
        }
    engine.dispose()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} cores, load average {load} at the end")
    target = "met" if results["ancestors"]["p50"] < 20 else "NOT met"
    print(f"target p50 < 20 ms for the ancestors walk: {target}")
    print("command: .venv/bin/python benchmarks/lineage_bench.py "
          + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])))


if __name__ == "__main__":
    main()
