"""MCP ``run_python`` round trip against a raw ``POST /v1/exec``, interleaved on one server.

    SBX_URL=... SBX_API_KEY=... python tests/mcp/bench.py [--calls 300] [--mode auto|legacy]

Each round makes one raw exec (a keep-alive httpx client, the baseline) and one ``tools/call``
of ``run_python`` through the official MCP Python SDK on an open Streamable HTTP session, both
running ``print(1+1)``; it prints the p50 and p90 of each in milliseconds and their difference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

import httpx
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

CODE = "print(1+1)"


def quantile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--calls", type=int, default=300)
    p.add_argument(
        "--mode",
        default="auto",
        help="the SDK's connect mode: auto (the newest protocol both sides speak) or legacy "
        "(an initialize handshake and a session)",
    )
    args = p.parse_args()
    url = os.environ["SBX_URL"].rstrip("/")
    auth = {"Authorization": f"Bearer {os.environ['SBX_API_KEY']}"}
    raw_ms: list[float] = []
    mcp_ms: list[float] = []
    async with (
        httpx.AsyncClient(headers=auth) as raw,
        create_mcp_http_client(headers=auth) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=args.mode) as mcp,
    ):
        for i in range(args.calls + 10):
            t = time.perf_counter()
            r = await raw.post(f"{url}/v1/exec", json={"language": "python", "code": CODE})
            r.raise_for_status()
            raw_t = (time.perf_counter() - t) * 1e3
            t = time.perf_counter()
            res = await mcp.call_tool("run_python", {"code": CODE})
            mcp_t = (time.perf_counter() - t) * 1e3
            assert not res.is_error and '"stdout":"2\\n"' in res.content[0].text, res
            if i >= 10:  # warm-up
                raw_ms.append(raw_t)
                mcp_ms.append(mcp_t)
        version = mcp.protocol_version
    print(f"protocol {version}, {args.calls} calls each, interleaved")
    print(f"{'':24} {'p50 ms':>8} {'p90 ms':>8}")
    for name, xs in (("raw POST /v1/exec", raw_ms), ("MCP run_python", mcp_ms)):
        print(f"{name:24} {statistics.median(xs):8.2f} {quantile(xs, 0.9):8.2f}")
    print(f"MCP - raw at p50: {statistics.median(mcp_ms) - statistics.median(raw_ms):+.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
