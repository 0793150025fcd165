"""Load test of `gankit serve`: N requests for one new 32x32 DCGAN sample each (PNG, a fresh seed per request)
from C concurrent clients against a real `gankit serve` process on this machine, with dynamic batching
(a 5 ms window) and without it (`--batch-window-ms 0`), run one after the other on the same trained run.

Reports requests/s, p50/p99 latency, errors, the server's network calls (the batching's effect) and its
resident memory after a warm-up, after half the load and after all of it (growth that goes on means a leak). Clients and server share the
machine's cores, alike in both modes: compare the modes by their ratio.

    python benchmarks/bench_serve.py                       # 10,000 requests, 32 clients; prints JSON
    python benchmarks/bench_serve.py --requests 2000       # quicker
"""

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gankit.cli import main as gankit_main
from gankit.train.precision import cpu_info


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def train_run(out: Path) -> Path:
    """A DCGAN run at the library's default size (32x32, width 64, z 100) on the bundled digits; its few
    steps do not matter for speed."""
    code = gankit_main(["train", "dcgan", "--data", "mnist5k", "--steps", "20", "--out", str(out), "--no-progress",
                        "--set", "sample_every=1000", "--set", "log_every=10", "--set", "tensorboard=false"])
    assert code == 0
    return next(out.iterdir())


async def load(base: str, requests: int, clients: int, offset: int) -> tuple[list[float], int]:
    latencies, errors, counter = [], 0, iter(range(requests))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        async def worker():
            nonlocal errors
            for i in counter:
                start = time.perf_counter()
                try:
                    r = await client.get(f"/api/runs/dcgan/sample.png?seed={offset + i}")
                    ok = r.status_code == 200 and r.content[:4] == b"\x89PNG"
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - start)
                errors += not ok

        await asyncio.gather(*[worker() for _ in range(clients)])
    return latencies, errors


def serve_and_load(run: Path, window_ms: int, requests: int, clients: int) -> dict:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "gankit", "serve", f"dcgan={run}", "--port", str(port),
                             "--batch-window-ms", str(window_ms)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                httpx.get(f"{base}/api/runs", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        asyncio.run(load(base, 500, clients, offset=10**6))  # warm-up: allocator, thread pools, caches
        before, calls_before = rss_mib(proc.pid), httpx.get(f"{base}/api/stats").json()["dcgan"]
        start = time.perf_counter()
        latencies, errors = asyncio.run(load(base, requests // 2, clients, offset=0))
        half = rss_mib(proc.pid)  # memory after each half of the load: growth that stops is caching, not a leak
        more, more_errors = asyncio.run(load(base, requests - requests // 2, clients, offset=requests // 2))
        seconds = time.perf_counter() - start
        latencies, errors = latencies + more, errors + more_errors
        after = rss_mib(proc.pid)
        stats = httpx.get(f"{base}/api/stats").json()["dcgan"]
    finally:
        proc.terminate()
        proc.wait(10)
    latencies.sort()
    return {"batch_window_ms": window_ms, "requests": requests, "clients": clients, "seconds": round(seconds, 2),
            "requests_per_s": round(requests / seconds, 1),
            "p50_ms": round(1000 * statistics.median(latencies), 2),
            "p99_ms": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 2), "errors": errors,
            "network_calls": (calls := stats["network_calls"] - calls_before["network_calls"]),
            "requests_per_call": round((stats["requests"] - calls_before["requests"]) / calls, 2),
            "rss_mib_after_warmup": round(before, 1), "rss_mib_after_half": round(half, 1),
            "rss_mib_after_load": round(after, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run = train_run(Path(tmp))
        results = [serve_and_load(run, window, args.requests, args.clients) for window in (5, 0)]
    batched, alone = results
    print(json.dumps({"cpu": cpu_info().get("model"), "modes": results,
                      "throughput_ratio_batched_over_unbatched": round(batched["requests_per_s"] / alone["requests_per_s"], 2)},
                     indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
