"""The SDK's tests run against a real sbx server: ``scripts/sdk-test`` starts one and sets
``SBX_URL`` and ``SBX_API_KEY`` (and ``SBX_BIN``, ``SBX_TEST_DATABASE_BASE`` for the tests
that start a server of their own)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import uuid

import httpx
import pytest
import pytest_asyncio

import sbx


@pytest.fixture(scope="session")
def client():
    with sbx.Client() as c:
        yield c


@pytest_asyncio.fixture
async def aclient():
    async with sbx.AsyncClient() as c:
        yield c


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def strict_server(tmp_path_factory):
    """A second server whose request rate is 1 per second (burst 1): for the retry tests.
    Yields (url, key)."""
    base = os.environ["SBX_TEST_DATABASE_BASE"]
    db = f"sbx_sdk_strict_{uuid.uuid4().hex[:8]}"
    admin = httpx.URL(base + "/postgres")
    subprocess.run(["psql", str(admin), "-qc", f"create database {db}"], check=True)
    work = tmp_path_factory.mktemp("strict")
    port = _free_port()
    env = dict(
        os.environ,
        SBX_DATABASE_URL=f"{base}/{db}",
        SBX_ADDR=f"127.0.0.1:{port}",
        SBX_DEV_KEY_FILE=str(work / "key"),
        SBX_RATE_PER_SECOND="1",
        SBX_RATE_BURST="1",
    )
    log = open(work / "server.log", "w")
    server = subprocess.Popen([os.environ["SBX_BIN"], "serve"], env=env, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{url}/readyz").status_code == 200 and (work / "key").exists():
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        yield url, (work / "key").read_text().strip()
    finally:
        server.terminate()
        server.wait(10)
        subprocess.run(["psql", str(admin), "-qc", f"drop database if exists {db}"], check=False)
