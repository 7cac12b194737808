"""The SDK's overhead, measured against raw HTTP in the same run (docs/benchmarks.md).

    SBX_URL=... SBX_API_KEY=... python sdk/python/bench.py [--execs N] [--batch ITEMS]

- exec: ``client.exec("print(1+1)")`` against a raw keep-alive ``httpx.Client`` POST of the same
  body, interleaved (raw, SDK, raw, SDK, …) so both see the same machine; medians in ms.
- batch: ITEMS HumanEval-style items submitted, waited for and read back (JSON lines) through
  the SDK and through raw HTTP, twice each in the order raw, SDK, SDK, raw; mean wall seconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import httpx

import sbx


def exec_figures(n: int) -> None:
    url, key = os.environ["SBX_URL"], os.environ["SBX_API_KEY"]
    raw = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
    client = sbx.Client()
    body = {"language": "python", "code": "print(1+1)"}
    for _ in range(20):  # warm both connections and the server
        raw.post("/v1/exec", json=body).raise_for_status()
        client.exec("print(1+1)")
    raw_ms, sdk_ms = [], []
    for _ in range(n):
        t = time.perf_counter()
        r = raw.post("/v1/exec", json=body)
        r.raise_for_status()
        assert r.json()["stdout"] == "2\n"
        raw_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        assert client.exec("print(1+1)").stdout == "2\n"
        sdk_ms.append((time.perf_counter() - t) * 1000)
    r, s = statistics.median(raw_ms), statistics.median(sdk_ms)
    print(f"exec print(1+1), {n} each: raw HTTP p50 {r:.2f} ms, SDK p50 {s:.2f} ms, SDK - raw {s - r:+.2f} ms")


def humaneval_items(n: int) -> list:
    return [
        {"id": f"HumanEval/{i}", "code": f"def f(x):\n    return x * {i % 7}\nprint(f(3))", "expected_stdout": str(3 * (i % 7) + (i % 10 == 0))}
        for i in range(n)
    ]


def batch_raw(items: list) -> float:
    url, key = os.environ["SBX_URL"], os.environ["SBX_API_KEY"]
    t = time.perf_counter()
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=600) as raw:
        batch = raw.post("/v1/batches", json={"items": items}).json()
        while batch["status"] not in ("finished", "cancelled"):
            time.sleep(0.5)
            batch = raw.get(f"/v1/batches/{batch['id']}").json()
        with raw.stream("GET", f"/v1/batches/{batch['id']}/results", headers={"Accept": "application/x-ndjson"}) as r:
            got = sum(1 for line in r.iter_lines() if line.strip())
    assert got == len(items)
    return time.perf_counter() - t


def batch_sdk(items: list) -> float:
    t = time.perf_counter()
    with sbx.Client(timeout=600) as client:
        batch = client.batches.submit(items).wait(interval_s=0.5)
        got = sum(1 for _ in batch.results())
    assert got == len(items)
    return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--execs", type=int, default=300)
    p.add_argument("--batch", type=int, default=0)
    a = p.parse_args()
    exec_figures(a.execs)
    if a.batch:
        items = humaneval_items(a.batch)
        # ABBA: every batch leaves 10 000 more jobs in the database and later ones run a little
        # slower, so each side runs once early and once late.
        raw, sdk = [], []
        raw.append(batch_raw(items))
        sdk.append(batch_sdk(items))
        sdk.append(batch_sdk(items))
        raw.append(batch_raw(items))
        r, s = statistics.mean(raw), statistics.mean(sdk)
        print(
            f"batch of {a.batch}, runs raw/SDK/SDK/raw: raw HTTP {r:.1f} s (runs {', '.join(f'{x:.1f}' for x in raw)}), "
            f"SDK {s:.1f} s (runs {', '.join(f'{x:.1f}' for x in sdk)}), SDK/raw {s / r:.3f}"
        )


if __name__ == "__main__":
    main()
