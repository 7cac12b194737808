"""The MCP server's tests run against a real sbx server: ``scripts/sdk-test`` starts one and
sets ``SBX_URL``, ``SBX_API_KEY`` and ``SBX_BIN`` (the ``sbx`` binary, for ``sbx mcp``)."""

from __future__ import annotations

import contextlib
import json
import os

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


@pytest.fixture(scope="session")
def url() -> str:
    return os.environ["SBX_URL"].rstrip("/")


@pytest.fixture(scope="session")
def key() -> str:
    return os.environ["SBX_API_KEY"]


@contextlib.asynccontextmanager
async def http_client(url: str, key: str, mode: str = "auto"):
    """An MCP client of ``url``'s ``/mcp`` over Streamable HTTP, authenticated with ``key``."""
    async with create_mcp_http_client(headers={"Authorization": f"Bearer {key}"}) as http:
        async with Client(streamable_http_client(f"{url}/mcp", http_client=http), mode=mode) as c:
            yield c


def stdio_server(url: str, key: str) -> StdioServerParameters:
    """``sbx mcp`` forwarding to ``url``, as a desktop MCP client would start it."""
    return StdioServerParameters(
        command=os.environ["SBX_BIN"],
        args=["mcp", "--url", url],
        env={"SBX_API_KEY": key, "PATH": os.environ.get("PATH", "")},
    )


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def mcp(url, key):
    async with http_client(url, key) as c:
        yield c


def parsed(result) -> dict:
    """The JSON object of a tool result's first (text) block."""
    assert result.content and result.content[0].type == "text", result
    return json.loads(result.content[0].text)


def images(result) -> list:
    return [c for c in result.content if c.type == "image"]
