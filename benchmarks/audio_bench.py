#!/usr/bin/env python3
"""Audio benchmarks: preview rendering, analysis, and serving a cached preview.

    .venv/bin/python benchmarks/audio_bench.py                # everything (~5 minutes)
    .venv/bin/python benchmarks/audio_bench.py --part render  # or analysis, serve
    .venv/bin/python benchmarks/audio_bench.py --quick        # one length, fewer runs

* render: a 30 s preview (decode the window only, normalise, fade, encode AAC in M4A,
  sign the C2PA manifest) from 44.1 kHz stereo FLAC tracks of 1, 4 and 10 minutes; the
  median and worst of 7 renders, each uncached, in a process that has rendered once
  (the first render's time is printed too), with the CPU time (wall time on a shared
  machine includes waiting for a core).
* analysis: ``analyse`` on the same tracks: the first run in a fresh process with an
  empty numba cache (compilation), a fresh process with the cache filled, and a warm
  process (the analysis worker's case), median of 3.
* serve: a cached preview through ``GET /v1/previews/{token}`` of the real service
  under granian, against granian serving the same bytes as a static file, and a bare
  ASGI app answering them; wrk, side by side, alternating, 3 rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import cpu_model, load_average  # noqa: E402

RATE = 44100


def make_tracks(folder: Path, minutes: list[int]) -> dict[int, Path]:
    from casset_rights.audio.synth import song, write_audio

    tracks = {}
    for m in minutes:
        path = folder / f"track-{m}min.flac"
        if not path.exists():
            write_audio(path, song(m * 60, seed=m, chorus=(m * 30 - 15, m * 30 + 15)), RATE,
                        "flac")
        tracks[m] = path
    return tracks


def bench_render(tracks: dict[int, Path], runs: int) -> None:
    from casset_rights.audio.certificates import make_local_ca
    from casset_rights.audio.provenance import sign_preview
    from casset_rights.audio.render import RenderSettings, render_preview

    identity = make_local_ca("bench")
    settings = RenderSettings()

    def once(path: Path, middle_ms: int) -> tuple[float, float]:
        """Wall and CPU seconds of one uncached render and its signing."""
        started, cpu = time.perf_counter(), time.process_time()
        out = render_preview(path, "flac", start_ms=middle_ms - 15000,
                             end_ms=middle_ms + 15000, settings=settings)
        sign_preview(out.data, mime=out.media_type, identity=identity, title="bench",
                     rights={"resource": "hook:bench/1/chorus"},
                     training={"cawg.ai_training": {"use": "notAllowed"}})
        return time.perf_counter() - started, time.process_time() - cpu

    first = next(iter(tracks.values()))
    wall, cpu = once(first, 30000)  # imports and first-use costs, once per process
    print("\n30 s preview (render + C2PA), 44.1 kHz stereo FLAC source")
    print(f"first render in this process (imports, first use): {wall:.3f} s "
          f"({cpu:.3f} s CPU)")
    print("| track | median | worst | median CPU | preview bytes |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for minutes, path in tracks.items():
        times = [once(path, minutes * 30000) for _ in range(runs)]
        walls = [w for w, _ in times]
        size = len(render_preview(path, "flac", start_ms=minutes * 30000 - 15000,
                                  end_ms=minutes * 30000 + 15000, settings=settings).data)
        print(f"| {minutes} min | {statistics.median(walls):.3f} s | {max(walls):.3f} s "
              f"| {statistics.median(c for _, c in times):.3f} s | {size:,} |", flush=True)


ANALYSE = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from casset_rights.audio.analysis import analyse
from casset_rights.audio.decode import decode_all
samples, rate = decode_all(Path(sys.argv[1]), "flac")
analyse(samples, rate)
first = time.perf_counter() - t0
warm, cpu = [], []
for _ in range(int(sys.argv[2])):
    t, c = time.perf_counter(), time.process_time()
    samples, rate = decode_all(Path(sys.argv[1]), "flac")
    analyse(samples, rate)
    warm.append(time.perf_counter() - t)
    cpu.append(time.process_time() - c)
print(json.dumps({"first": first, "warm": warm, "cpu": cpu}))
"""


def analyse_in_process(path: Path, cache: Path, warm_runs: int) -> dict[str, Any]:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", ANALYSE, str(path), str(warm_runs)],
                         env=env, capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_analysis(tracks: dict[int, Path], runs: int, folder: Path) -> None:
    cache = folder / "numba-cache"
    print("\nanalysis (decode, beats, onsets, loudness, true peak, waveform, hook)")
    cold = analyse_in_process(next(iter(tracks.values())), cache, 0)
    print(f"first run, fresh process, empty numba cache ({min(tracks)} min track): "
          f"{cold['first']:.2f} s", flush=True)
    print("| track | fresh process, cache filled | warm process (median of "
          f"{runs}) | its CPU |")
    print("| --- | ---: | ---: | ---: |")
    for minutes, path in tracks.items():
        result = analyse_in_process(path, cache, runs)
        print(f"| {minutes} min | {result['first']:.2f} s | "
              f"{statistics.median(result['warm']):.2f} s | "
              f"{statistics.median(result['cpu']):.2f} s |", flush=True)


BARE = """
import os
BODY = open(os.environ["BENCH_FILE"], "rb").read()
HEADERS = [(b"content-type", b"audio/mp4"), (b"content-length", str(len(BODY)).encode())]
async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=str(ROOT), env=env, stdout=log.open("wb"),
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait(url: str, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not answer")


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(["wrk", "-t1", "-c8", f"-d{seconds}s", url], capture_output=True,
                         text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("Requests/sec"))
    return float(line.split()[1])


def bench_serve(folder: Path, seconds: int, rounds: int) -> None:
    import signal

    from casset_rights.audio.demo import store_demo_audio
    from casset_rights.config import settings_from_env
    from casset_rights.services import load_examples, open_services

    data = folder / "service"
    settings = settings_from_env({}, data_dir=data)
    services = open_services(settings)
    load_examples(services)
    head = json.loads(services.catalog.head("midnight-tapes").document)
    head["tracks"] = head["tracks"][:1]
    store_demo_audio(services.audio, [head])
    services.close()
    port, static_port, bare_port = free_port(), free_port(), free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CASSET_")},
           "CASSET_DATA_DIR": str(data), "CASSET_HOST": "127.0.0.1", "CASSET_PORT": str(port),
           "CASSET_RATE_LIMIT_PUBLIC": "1000000000/1000000000",
           "CASSET_AUDIO_ANALYSIS_WORKERS": "0", "PYTHONPATH": str(ROOT)}
    granian = str(Path(sys.executable).parent / "granian")
    service = serve([granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1",
                     "--port", str(port), "--workers", "1",
                     "casset_rights.app:app_from_environment"], env, folder / "service.log")
    processes = [service]
    try:
        wait(f"http://127.0.0.1:{port}/.well-known/casset-rights")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/v1/previews", method="POST",
            data=b'{"resource": "hook:midnight-tapes/1/chorus"}',
            headers={"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=120).read())
        url = answer["preview_url"]
        body = urllib.request.urlopen(url).read()
        static = folder / "static"
        static.mkdir(exist_ok=True)
        (static / "preview.m4a").write_bytes(body)
        (folder / "bare_app.py").write_text(BARE)
        bare_env = {**env, "BENCH_FILE": str(static / "preview.m4a"),
                    "PYTHONPATH": str(folder)}
        processes.append(serve([granian, "--interface", "asgi", "--host", "127.0.0.1",
                                "--port", str(static_port), "--workers", "1",
                                "--static-path-route", "/static", "--static-path-mount",
                                str(static), "bare_app:app"], bare_env,
                               folder / "static.log"))
        processes.append(serve([granian, "--interface", "asgi", "--host", "127.0.0.1",
                                "--port", str(bare_port), "--workers", "1", "bare_app:app"],
                               bare_env, folder / "bare.log"))
        static_url = f"http://127.0.0.1:{static_port}/static/preview.m4a"
        bare_url = f"http://127.0.0.1:{bare_port}/"
        wait(static_url)
        wait(bare_url)
        results: dict[str, list[float]] = {"preview": [], "static": [], "bare": []}
        for _ in range(rounds):
            results["preview"].append(wrk(url, seconds))
            results["static"].append(wrk(static_url, seconds))
            results["bare"].append(wrk(bare_url, seconds))
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"\ncached preview ({len(body):,} bytes), wrk -t1 -c8 -d{seconds}s, "
              f"{rounds} alternating rounds, one granian worker each")
        print("| route | requests/s (median) | rounds |")
        print("| --- | ---: | --- |")
        for key, name in (("preview", "GET /v1/previews/{token} (the service)"),
                          ("static", "granian static file route"),
                          ("bare", "bare ASGI app returning the bytes")):
            runs = ", ".join(f"{x:,.0f}" for x in results[key])
            print(f"| {name} | {med[key]:,.0f} | {runs} |")
        print(f"preview / static: {med['preview'] / med['static']:.1%}; "
              f"preview / bare app: {med['preview'] / med['bare']:.1%}")
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--part", choices=["render", "analysis", "serve", "all"],
                        default="all")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    minutes = [4] if args.quick else [1, 4, 10]
    print(f"machine: {cpu_model()}, {os.cpu_count()} CPUs; load average {load_average()}")
    with tempfile.TemporaryDirectory(prefix="audio-bench-") as name:
        folder = Path(name)
        if args.part in ("render", "analysis", "all"):
            tracks = make_tracks(folder, minutes)
        if args.part in ("render", "all"):
            bench_render(tracks, 3 if args.quick else 7)
        if args.part in ("analysis", "all"):
            bench_analysis(tracks, 1 if args.quick else 3, folder)
        if args.part in ("serve", "all"):
            bench_serve(folder, 3 if args.quick else 10, 1 if args.quick else 3)
    print(f"load average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
