"""How much the toolbox adds to running `true`: HTTP + policy + sandbox, against a bare spawn.

    python bench/bench_toolbox.py [--n 200]

Runs N calls of `true` through POST /command in process (httpx ASGI transport) with the
bubblewrap sandbox (when it works here), N with rlimits only, and N direct
`subprocess.run(["true"])`; prints mean / p50 / p99 in milliseconds and the ratios.
"""

import argparse
import asyncio
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from piloto.toolbox import SandboxUnavailable, ToolboxConfig, create_toolbox_app


def summary(samples: list[float]) -> tuple[float, float, float]:
    """Mean, median and 99th percentile of samples in milliseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return statistics.fmean(ordered), statistics.median(ordered), p99


async def bench_http(kind: str, n: int, workdir: Path) -> list[float]:
    """N calls of `true` through the endpoint, in milliseconds each."""
    app = create_toolbox_app(ToolboxConfig(workdir=workdir, sandbox=kind))  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    samples = []
    async with httpx.AsyncClient(transport=transport, base_url="http://toolbox") as client:
        for _ in range(5):  # warm up
            await client.post("/command", json={"cmd": "true"})
        for _ in range(n):
            start = time.perf_counter()
            response = await client.post("/command", json={"cmd": "true"})
            samples.append((time.perf_counter() - start) * 1000)
            if response.status_code != 200 or response.json()["exit_code"] != 0:
                raise SystemExit(f"unexpected answer: {response.status_code} {response.text}")
    return samples


def bench_direct(n: int) -> list[float]:
    """N bare `subprocess.run(["true"])`, in milliseconds each."""
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        subprocess.run(["true"], check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    """Run the three measurements and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    results: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("bubblewrap", "rlimits"):
            try:
                results[f"http+{kind}"] = asyncio.run(bench_http(kind, args.n, Path(tmp) / kind))
            except SandboxUnavailable as exc:
                print(f"skipping bubblewrap: {exc}")
    results["direct subprocess.run"] = bench_direct(args.n)
    base = statistics.fmean(results["direct subprocess.run"])
    print(f"`true`, n={args.n}")
    print(f"{'path':<24}{'mean ms':>10}{'p50 ms':>10}{'p99 ms':>10}{'x direct':>10}")
    for name, samples in results.items():
        mean, p50, p99 = summary(samples)
        print(f"{name:<24}{mean:>10.2f}{p50:>10.2f}{p99:>10.2f}{mean / base:>10.1f}")


if __name__ == "__main__":
    main()
