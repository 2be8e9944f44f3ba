"""CPU per rate-limit check against a real Redis: the service's ``RedisRateLimiter``.

Times N checks (``RedisRateLimiter.take``) on one event loop, one at a time and with
``--concurrency`` in flight (as a busy server has them), and reports the process's CPU
time per check (``time.process_time``: this process only, not Redis's), the wall time
and the service's round trips to Redis per 1,000 checks. "Arriving apart" is one bucket
(one client, or one address) asked by ``--concurrency`` callers whose checks arrive
spread in time, as a server's requests do (each waits up to a millisecond, at random,
before its next; its wall time is mostly that wait). With the ``limits`` library
installed it measures its asyncio moving window on the same Redis, for comparison. Keys
live under a prefix of their own and expire.

Run from the repository root (Redis db 7 here; any empty db will do)::

    .venv/bin/python benchmarks/ratelimit_bench.py --redis redis://127.0.0.1:6379/7
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from _machine import cpu_model, load_average  # noqa: E402

from casset_rights.ratelimit import Quota, RedisRateLimiter  # noqa: E402

QUOTA = Quota(capacity=1_000_000, per_minute=60_000_000)  # never refuses: every check counts
KEYS = 64  # callers, round robin


async def measure(check: Callable[[str], Awaitable[object]], n: int,
                  concurrency: int, *, busy: bool = True,
                  apart: bool = False) -> tuple[float, float]:
    """CPU µs and wall µs per check, for ``n`` checks with ``concurrency`` in flight:
    ``busy``, on ``KEYS`` callers in turn (each asks again and again: the service's
    limiter leases them tokens); else each check a caller never seen (a round trip each).
    ``apart``: one bucket, ``concurrency`` callers each checking, then pausing at random
    (see the module)."""
    if apart:
        await check("apart")

        async def caller(seed: int) -> None:
            pause = random.Random(seed).uniform
            for _ in range(n // concurrency):
                await check("apart")
                await asyncio.sleep(pause(0, 0.001))

        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller(seed) for seed in range(concurrency)))
        done = n // concurrency * concurrency
        return ((time.process_time() - cpu) / done * 1e6,
                (time.perf_counter() - wall) / done * 1e6)
    keys = ([f"caller-{i}" for i in range(KEYS)] if busy
            else [f"once-{uuid.uuid4().hex[:8]}-{i}" for i in range(n)])
    for key in keys[:KEYS]:  # connections made, scripts loaded
        await check(key)
    if not busy:
        keys = keys[KEYS:] + [f"once-{uuid.uuid4().hex}" for _ in range(KEYS)]
    cpu, wall = time.process_time(), time.perf_counter()
    if concurrency == 1:
        for i in range(n):
            await check(keys[i % len(keys)])
    else:
        for start in range(0, n, concurrency):
            await asyncio.gather(*(check(keys[i % len(keys)])
                                   for i in range(start, min(n, start + concurrency))))
    return ((time.process_time() - cpu) / n * 1e6, (time.perf_counter() - wall) / n * 1e6)


def limits_check(url: str, prefix: str) -> tuple[Callable[[str], Awaitable[object]], object]:
    from limits import parse
    from limits.aio.storage import RedisStorage
    from limits.aio.strategies import MovingWindowRateLimiter

    storage = RedisStorage("async+" + url, key_prefix=prefix, implementation="redispy")
    limiter = MovingWindowRateLimiter(storage)
    item = parse("1000000/minute")

    async def check(key: str) -> object:
        return await limiter.hit(item, key)

    return check, storage


async def run(args: argparse.Namespace,
              ) -> list[tuple[str, int, list[float], list[float], list[float] | None]]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    ours = RedisRateLimiter(args.redis, prefix=prefix)

    async def ours_check(key: str) -> object:
        return await ours.take(key, QUOTA)

    engines: list[tuple[str, Callable[[str], Awaitable[object]], bool, bool]] = [
        ("RedisRateLimiter.take, busy callers", ours_check, True, False),
        ("RedisRateLimiter.take, each caller once", ours_check, False, False)]
    try:
        check, _ = limits_check(args.redis, prefix)
        engines.append(("limits MovingWindowRateLimiter.hit, busy callers", check, True,
                         False))
    except ImportError:
        print("limits is not installed: measuring the service's limiter only",
              file=sys.stderr)
    rows = []
    for concurrency in (1, args.concurrency):
        for name, check, busy, apart in engines + (
                [("RedisRateLimiter.take, one bucket, arriving apart", ours_check, True,
                  True)] if concurrency > 1 else []):
            cpu, wall, trips = [], [], []
            for _ in range(args.repeats):
                before = ours.round_trips
                c, w = await measure(check, args.checks, concurrency, busy=busy,
                                     apart=apart)
                cpu.append(c)
                wall.append(w)
                trips.append((ours.round_trips - before) / args.checks * 1000)
            rows.append((name, concurrency, cpu, wall,
                         trips if check is ours_check else None))
    await ours.aclose()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/7")
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    before = load_average()
    rows = asyncio.run(run(args))
    print(f"machine: {cpu_model()}, Python {sys.version.split()[0]}; load average "
          f"{before} before, {load_average()} after; {args.checks} checks a run, "
          f"median of {args.repeats}")
    print()
    print("| limiter | in flight | CPU µs / check | wall µs / check "
          "| round trips / 1,000 checks |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, concurrency, cpu, wall, trips in rows:
        shown = "–" if trips is None else f"{statistics.median(trips):.1f}"
        print(f"| {name} | {concurrency} | {statistics.median(cpu):.0f} "
              f"| {statistics.median(wall):.0f} | {shown} |")
    print(f"\nreproduce: .venv/bin/python benchmarks/ratelimit_bench.py --redis {args.redis} "
          f"--checks {args.checks} --concurrency {args.concurrency} --repeats {args.repeats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
