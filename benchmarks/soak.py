"""A soak: decisions at 70 % of the measured peak for 10 minutes, production shape.

The service runs as a deployment does (PostgreSQL in a fresh database, Redis, rate limits
on, granian with two workers). First the peak is measured with wrk (``--peak-seconds``),
then wrk holds 70 % of it (each connection paces its requests with wrk's ``delay()``) for
``--minutes``, while the resident memory of the server's processes (the granian main
process and its workers) is sampled every 10 s. At the end every answer must have been a
200 with no socket error, every answered receipt stored and in the log, and memory flat:
the last minute's median within 10 % of the second minute's (the first is warm-up).

Run from the repository root (wrk, PostgreSQL and Redis on 127.0.0.1)::

    .venv/bin/python benchmarks/soak.py [--minutes 10]

A short run at another fraction gives the latency at that load, for example the p99 at
80 % of peak on the embedded shape::

    .venv/bin/python benchmarks/soak.py --shape embedded --workers 1 --fraction 0.8 --minutes 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import http_bench as hb
from _machine import load_average


def rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its children, in KiB (0 for a process gone)."""
    total = 0
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for p in [pid, *(int(c) for c in children.stdout.split())]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


PACED = r"""
function delay()
  return %(delay_ms)f
end
"""


def paced_script(script: Path, folder: Path, delay_ms: float) -> Path:
    paced = folder / "paced.lua"
    paced.write_text(script.read_text() + PACED % {"delay_ms": max(delay_ms, 0.0)})
    return paced


def calibrate(server: hb.Server, script: Path, folder: Path, *, rate: float,
              connections: int) -> tuple[Path, float]:
    """A paced script that holds about ``rate`` requests a second: wrk waits ``delay()``
    after each answer on a connection, so the delay is found by a few short trials."""
    delay = connections / rate * 1000
    held = 0.0
    for _ in range(4):
        paced = paced_script(script, folder, delay)
        held = hb.run_wrk(server, paced, duration=8, connections=connections,
                          threads=1)["rps"]
        if abs(held - rate) <= 0.05 * rate:
            break
        # per connection: one request every (delay + latency) ms; move the delay so that
        # the period scales by held / rate
        period = connections / held * 1000
        delay = max(0.0, delay + period * (held / rate - 1))
    return paced_script(script, folder, delay), held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--fraction", type=float, default=0.7, help="of the peak (0.7)")
    parser.add_argument("--peak-seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--shape", choices=("production", "embedded"), default="production",
                        help="embedded: SQLite in the data folder, limits in process (use "
                             "with --workers 1; a short run gives the p99 at a fraction "
                             "of peak)")
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/13")
    args = parser.parse_args(argv)
    command = "python benchmarks/soak.py " + " ".join(sys.argv[1:] if argv is None else argv)
    scenario = next(s for s in hb.SCENARIOS if s.key == "decisions")
    server = hb.SERVERS["casset"]
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="casset-soak-") as tmp:
        folder = Path(tmp)
        hb.SHAPE.name = args.shape
        if args.shape == "production":
            hb.fresh_database(args.database_url)
            hb.SHAPE.redis_url = args.redis_url
        try:
            hb.start(server, folder / "casset", args.workers)
            script = hb.write_script(scenario, {}, folder)
            hb.run_wrk(server, script, duration=3, connections=args.connections, threads=1)
            peak = hb.run_wrk(server, script, duration=args.peak_seconds,
                              connections=args.connections, threads=1)["rps"]
            rate = peak * args.fraction
            hb.log(f"peak {peak:,.0f} req/s; soaking at {rate:,.0f} req/s for "
                   f"{args.minutes:g} min")
            paced, held = calibrate(server, script, folder, rate=rate,
                                    connections=args.connections)
            hb.log(f"paced: {held:,.0f} req/s in the last trial")
            before = hb.settled_receipt_count(server)
            samples: list[tuple[float, int]] = []
            stop = threading.Event()
            assert server.process is not None
            began = time.monotonic()

            def sample() -> None:
                while not stop.wait(10):
                    samples.append((time.monotonic() - began, rss_kib(server.process.pid)))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            with hb.DelaySampler(server) as delays:
                result = hb.run_wrk(server, paced, duration=int(args.minutes * 60),
                                    connections=args.connections, threads=1)
            stop.set()
            sampler.join()
            stored = hb.settled_receipt_count(server) - before
            unlogged = hb.unlogged_receipts(server)
        finally:
            hb.stop(server)
            hb.drop_database(args.database_url)

    errors = sum(result[k] for k in ("connect", "read", "write", "timeout"))
    inflight = result["sent"] - result["ok"] - result["other"]
    second = [kib for at, kib in samples if 60 <= at < 120]
    last = [kib for at, kib in samples if at >= args.minutes * 60 - 60]
    growth = statistics.median(last) / statistics.median(second) - 1 if second and last \
        else None  # a run under two minutes has no second minute to compare
    waits = sorted(delays.samples)
    p99_wait = waits[min(len(waits) - 1, int(len(waits) * 0.99))] if waits else 0
    ok = (result["other"] == 0 and errors == 0 and result["ok"] <= stored <= result["ok"]
          + inflight and unlogged == 0 and (growth is None or growth <= 0.10))
    shape = ("PostgreSQL, Redis, rate limits on" if args.shape == "production"
             else "SQLite, limits in process, rate limits on")
    print(f"## Soak: POST /v1/decisions at {args.fraction:.0%} of peak, {args.minutes:g} min "
          f"({shape}, {args.workers} workers)\n")
    print(f"machine: {hb.machine()}; load average {load_before} before, {load_average()} "
          f"after\n")
    print(f"- peak {peak:,.0f} req/s; held {result['rps']:,.0f} req/s "
          f"({result['rps'] / peak:.0%} of peak), p50 {result['p50_us'] / 1000:.1f} ms, "
          f"p99 {result['p99_us'] / 1000:.1f} ms, max {result['max_us'] / 1000:.0f} ms")
    print(f"- answers: {result['ok']:,} 200, {result['other']} other, {errors} socket "
          f"errors; receipts stored {stored:,} ({inflight} requests in flight at the stop); "
          f"not in the log after the load: {unlogged}")
    print(f"- integration delay under load: median {statistics.median(waits) if waits else 0}"
          f" ms, p99 {p99_wait} ms ({len(waits)} samples)")
    print("- resident memory of the server (main process and workers), MiB, every 10 s: "
          + ", ".join(f"{kib / 1024:.0f}" for _, kib in samples))
    print("- memory growth, last minute against the second: "
          + (f"{growth:+.1%} (limit +10 %)" if growth is not None else "n/a (under 2 min)"))
    print(f"\n{'PASS' if ok else 'FAIL'}; reproduce: {command.strip()}")
    return 0 if ok else 1


if __name__ == "__main__":
    os.chdir(hb.ROOT)
    sys.exit(main())
