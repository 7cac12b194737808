"""The MCP server at /mcp, through the official MCP Python SDK (``mcp`` from PyPI): the
handshake, the tool listing and every tool, over Streamable HTTP and through ``sbx mcp``
(stdio)."""

from __future__ import annotations

import base64
import json

import anyio
import httpx
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from conftest import http_client, images, parsed, stdio_server

pytestmark = pytest.mark.anyio

TOOLS = {
    "run_python",
    "create_sandbox",
    "run_cell",
    "run_command",
    "fork_sandbox",
    "pause_sandbox",
    "resume_sandbox",
    "delete_sandbox",
    "list_sandboxes",
    "write_file",
    "read_file",
    "list_files",
    "start_process",
    "process_output",
    "stop_process",
    "preview_url",
    "list_ports",
    "build_template",
    "list_templates",
}

PNG = b"\x89PNG\r\n\x1a\n"

PLOT = """
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
plt.plot([1, 2, 3], [1, 4, 9])
"""


async def test_the_tools_are_listed_with_schemas_a_model_can_use(mcp):
    listed = {t.name: t for t in (await mcp.list_tools()).tools}
    assert set(listed) == TOOLS
    for tool in listed.values():
        assert len(tool.description) > 40, tool.name
        schema = tool.input_schema
        assert schema["type"] == "object", tool.name
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    assert listed["run_python"].input_schema["required"] == ["code"]
    assert set(listed["run_cell"].input_schema["required"]) == {"sandbox_id", "code"}
    assert set(listed["run_command"].input_schema["required"]) == {"sandbox_id", "command"}
    assert listed["create_sandbox"].input_schema.get("required", []) == []


async def test_the_server_says_who_it_is_and_how_to_use_it(url, key):
    async with http_client(url, key, mode="legacy") as c:
        assert c.server_info.name == "sbx"
        assert "run_python" in c.instructions and "code-interpreter" in c.instructions
        assert c.server_capabilities.tools is not None


async def test_run_python_answers_with_the_programs_output(mcp):
    r = await mcp.call_tool("run_python", {"code": "import sys\nprint(1+1)\nprint('e', file=sys.stderr)"})
    assert not r.is_error
    out = parsed(r)
    assert out["status"] == "succeeded" and out["exit_code"] == 0
    assert out["stdout"] == "2\n" and out["stderr"] == "e\n"
    assert out["id"]  # the job recording it


async def test_run_python_takes_stdin_and_files(mcp):
    r = await mcp.call_tool(
        "run_python",
        {
            "code": "import sys\nprint(sys.stdin.read().upper(), open('data/x.txt').read())",
            "stdin": "hello",
            "files": [{"path": "data/x.txt", "content": "from a file"}],
        },
    )
    assert parsed(r)["stdout"] == "HELLO from a file\n"


async def test_a_failing_program_is_a_result_the_model_reads_not_a_tool_error(mcp):
    r = await mcp.call_tool("run_python", {"code": "raise ValueError('boom')"})
    assert not r.is_error
    out = parsed(r)
    assert out["status"] == "failed" and out["exit_code"] == 1
    assert "ValueError: boom" in out["stderr"]


async def test_a_limit_hit_is_a_status(mcp):
    r = await mcp.call_tool("run_python", {"code": "while True: pass", "timeout_ms": 300})
    assert not r.is_error
    assert parsed(r)["status"] == "timeout"


async def test_run_python_returns_png_files_as_images(mcp):
    r = await mcp.call_tool("run_python", {"code": PLOT + "plt.savefig('plot.png')\nprint('saved')"})
    out = parsed(r)
    assert out["stdout"] == "saved\n", out
    assert [f["path"] for f in out["files"]] == ["plot.png"]
    assert "content_b64" not in out["files"][0]  # the bytes travel once, as the image
    [image] = images(r)
    assert image.mime_type == "image/png"
    assert base64.b64decode(image.data).startswith(PNG)


@pytest.mark.parametrize(
    "arguments, wanted",
    [
        ({}, "code"),
        ({"code": "print(1)", "timeout_ms": 0}, "timeout_ms"),
        ({"code": "print(1)", "files": [{"path": "/etc/passwd", "content": "x"}]}, "files"),
        ({"code": "print(1)", "colour": "red"}, "colour"),
        ({"code": 5}, "code"),
    ],
)
async def test_bad_arguments_are_tool_errors_naming_the_field(mcp, arguments, wanted):
    r = await mcp.call_tool("run_python", arguments)
    assert r.is_error, r
    assert wanted in r.content[0].text


async def test_a_code_interpreter_sandbox_through_its_whole_life(mcp):
    made = parsed(await mcp.call_tool("create_sandbox", {"timeout_s": 600}))
    sid = made["id"]
    assert made["image"] == "code-interpreter" and made["state"] == "running"
    try:
        assert parsed(await mcp.call_tool("run_cell", {"sandbox_id": sid, "code": "x = 41"}))["status"] == "succeeded"
        cell = parsed(await mcp.call_tool("run_cell", {"sandbox_id": sid, "code": "x + 1"}))
        assert cell["result"] == "42" and cell["reset"] is False

        drawn = await mcp.call_tool("run_cell", {"sandbox_id": sid, "code": PLOT})
        assert [f["path"] for f in parsed(drawn)["figures"]] == ["figure-1.png"]
        [image] = images(drawn)
        assert base64.b64decode(image.data).startswith(PNG)

        listed = parsed(await mcp.call_tool("list_sandboxes", {"state": "running"}))
        assert sid in [s["id"] for s in listed]

        assert parsed(await mcp.call_tool("pause_sandbox", {"sandbox_id": sid}))["state"] == "paused"
        assert sid in [s["id"] for s in parsed(await mcp.call_tool("list_sandboxes", {"state": "paused"}))]
        assert parsed(await mcp.call_tool("resume_sandbox", {"sandbox_id": sid}))["state"] == "running"
        kept = parsed(await mcp.call_tool("run_cell", {"sandbox_id": sid, "code": "x"}))
        assert kept["result"] == "41"

        forked = parsed(await mcp.call_tool("fork_sandbox", {"sandbox_id": sid, "count": 2}))
        copies = [s["id"] for s in forked["sandboxes"]]
        assert len(copies) == 2 and sid not in copies
        for copy in copies:
            cell = parsed(await mcp.call_tool("run_cell", {"sandbox_id": copy, "code": "x + 1"}))
            assert cell["result"] == "42"
            await mcp.call_tool("delete_sandbox", {"sandbox_id": copy})
        too_many = await mcp.call_tool("fork_sandbox", {"sandbox_id": sid, "count": 17})
        assert too_many.is_error and "count" in too_many.content[0].text
    finally:
        ended = parsed(await mcp.call_tool("delete_sandbox", {"sandbox_id": sid}))
    assert ended["state"] == "terminated"
    after = await mcp.call_tool("run_cell", {"sandbox_id": sid, "code": "x"})
    assert after.is_error and "sandbox_ended" in after.content[0].text


async def test_a_command_in_a_container_sandbox(mcp):
    made = await mcp.call_tool("create_sandbox", {"image": "python", "memory": "256Mi", "timeout_s": 300})
    assert not made.is_error, made.content[0].text
    sid = parsed(made)["id"]
    try:
        r = await mcp.call_tool(
            "run_command", {"sandbox_id": sid, "command": "echo hi > f.txt && cat f.txt && python3 -c 'print(6*7)'"}
        )
        out = parsed(r)
        assert out["exit_code"] == 0, out
        assert out["stdout"] == "hi\n42\n"
        failed = parsed(await mcp.call_tool("run_command", {"sandbox_id": sid, "command": "exit 3"}))
        assert failed["exit_code"] == 3
        cell = await mcp.call_tool("run_cell", {"sandbox_id": sid, "code": "1"})
        assert cell.is_error
    finally:
        await mcp.call_tool("delete_sandbox", {"sandbox_id": sid})


async def test_a_template_is_built_and_run_by_name(mcp):
    dockerfile = "FROM python\nUSER root\nCOPY note.txt /opt/note.txt\nRUN echo from-mcp >> /opt/note.txt\nUSER 1000\n"
    built = parsed(
        await mcp.call_tool(
            "build_template",
            {"name": "mcp-env", "dockerfile": dockerfile, "files": [{"path": "note.txt", "content": "noted\n"}]},
        )
    )
    assert built["state"] == "ready", built
    assert built["image"] == "mcp-env:1"
    assert "from-mcp" in built["log"], built
    listed = parsed(await mcp.call_tool("list_templates", {}))
    assert [t["image"] for t in listed if t["name"] == "mcp-env"] == ["mcp-env:1"]
    made = await mcp.call_tool("create_sandbox", {"image": "mcp-env", "memory": "256Mi", "timeout_s": 300})
    assert not made.is_error, made.content[0].text
    sid = parsed(made)["id"]
    try:
        out = parsed(await mcp.call_tool("run_command", {"sandbox_id": sid, "command": "cat /opt/note.txt"}))
        assert out["stdout"] == "noted\nfrom-mcp\n", out
    finally:
        await mcp.call_tool("delete_sandbox", {"sandbox_id": sid})
    # A build that fails is a result the model reads; a bad name is a tool error naming it.
    failed = parsed(await mcp.call_tool("build_template", {"name": "mcp-broken", "dockerfile": "FROM python\nRUN exit 3\n"}))
    assert failed["state"] == "failed" and "non-zero code: 3" in failed["error"], failed
    bad = await mcp.call_tool("build_template", {"name": "Bad Name", "dockerfile": "FROM python\n"})
    assert bad.is_error and "field `name`" in bad.content[0].text, bad.content[0].text


async def test_files_go_in_and_out_of_both_kinds_of_sandbox(mcp):
    made = parsed(await mcp.call_tool("create_sandbox", {}))
    box = parsed(await mcp.call_tool("create_sandbox", {"image": "python", "memory": "256Mi", "timeout_s": 300}))
    try:
        for sid in (made["id"], box["id"]):
            w = parsed(await mcp.call_tool("write_file", {"sandbox_id": sid, "path": "src/app.py", "content": "print(6*7)\n"}))
            assert (w["path"], w["type"], w["size"]) == ("/workspace/src/app.py", "file", 11)
            raw = bytes(range(256))
            b = await mcp.call_tool(
                "write_file",
                {"sandbox_id": sid, "path": "/workspace/raw.bin", "content": base64.b64encode(raw).decode(), "encoding": "base64"},
            )
            assert not b.is_error, b.content[0].text
            text = parsed(await mcp.call_tool("read_file", {"sandbox_id": sid, "path": "/workspace/src/app.py"}))
            assert (text["encoding"], text["content"]) == ("utf-8", "print(6*7)\n")
            binary = parsed(await mcp.call_tool("read_file", {"sandbox_id": sid, "path": "raw.bin"}))
            assert binary["encoding"] == "base64" and base64.b64decode(binary["content"]) == raw
            listed = parsed(await mcp.call_tool("list_files", {"sandbox_id": sid, "recursive": True}))
            paths = {e["path"] for e in listed["data"]}
            assert {"/workspace/src", "/workspace/src/app.py", "/workspace/raw.bin"} <= paths, listed
            missing = await mcp.call_tool("read_file", {"sandbox_id": sid, "path": "nope.txt"})
            assert missing.is_error and "not_found" in missing.content[0].text and "HTTP 404" in missing.content[0].text
            escape = await mcp.call_tool("read_file", {"sandbox_id": sid, "path": "/etc/passwd"})
            assert escape.is_error and "invalid_path" in escape.content[0].text and "field `path`" in escape.content[0].text
            bad = await mcp.call_tool("write_file", {"sandbox_id": sid, "path": "x", "content": "%%", "encoding": "base64"})
            assert bad.is_error and "invalid_base64" in bad.content[0].text
        # The code sees what the tools wrote.
        ran = parsed(await mcp.call_tool("run_cell", {"sandbox_id": made["id"], "code": "exec(open('src/app.py').read())"}))
        assert ran["stdout"] == "42\n", ran
        ran = parsed(await mcp.call_tool("run_command", {"sandbox_id": box["id"], "command": "python3 src/app.py"}))
        assert ran["stdout"] == "42\n", ran
        outputs = await mcp.call_tool("write_file", {"sandbox_id": box["id"], "path": "/outputs/r.txt", "content": "ok"})
        assert not outputs.is_error, outputs.content[0].text
    finally:
        await mcp.call_tool("delete_sandbox", {"sandbox_id": made["id"]})
        await mcp.call_tool("delete_sandbox", {"sandbox_id": box["id"]})


async def test_a_background_process_is_started_read_and_stopped(mcp):
    box = parsed(
        await mcp.call_tool("create_sandbox", {"image": "python", "memory": "256Mi", "timeout_s": 300, "ports": [8000]})
    )
    sid = box["id"]
    try:
        assert box["ports"] == [8000], box
        ports = parsed(await mcp.call_tool("list_ports", {"sandbox_id": sid}))
        assert ports == {"ports": [{"port": 8000, "declared": True, "listening": False}]}, ports
        server = "exec python3 -m http.server 8001 --bind 127.0.0.1"
        assert not (await mcp.call_tool("start_process", {"sandbox_id": sid, "command": server})).is_error
        for _ in range(200):
            ports = parsed(await mcp.call_tool("list_ports", {"sandbox_id": sid}))["ports"]
            if len(ports) == 2:
                break
            await anyio.sleep(0.05)
        assert ports[1] == {"port": 8001, "declared": False, "listening": True}, ports
        started = await mcp.call_tool(
            "start_process",
            {"sandbox_id": sid, "command": "echo serving on $PORT; exec sleep 300", "env": {"PORT": "8000"}, "tag": "web"},
        )
        assert not started.is_error, started.content[0].text
        proc = parsed(started)
        assert (proc["state"], proc["tag"]) == ("running", "web")
        for _ in range(100):
            out = parsed(await mcp.call_tool("process_output", {"sandbox_id": sid, "pid": proc["pid"]}))
            if out["stdout"]:
                break
            await anyio.sleep(0.05)
        assert (out["stdout"], out["state"]) == ("serving on 8000\n", "running"), out
        newer = parsed(
            await mcp.call_tool("process_output", {"sandbox_id": sid, "pid": proc["pid"], "after": out["last_event_id"]})
        )
        assert newer["stdout"] == "" and newer["last_event_id"] == out["last_event_id"], newer
        stopped = parsed(await mcp.call_tool("stop_process", {"sandbox_id": sid, "pid": proc["pid"]}))
        assert (stopped["state"], stopped["exit_code"]) == ("exited", 143), stopped
        again = parsed(await mcp.call_tool("stop_process", {"sandbox_id": sid, "pid": proc["pid"]}))
        assert again["state"] == "exited", again
        missing = await mcp.call_tool("process_output", {"sandbox_id": sid, "pid": 99})
        assert missing.is_error and "not_found" in missing.content[0].text
        bad = await mcp.call_tool("start_process", {"sandbox_id": sid, "command": "ls", "tag": "not a tag"})
        assert bad.is_error and "field `tag`" in bad.content[0].text, bad.content[0].text
        preview = parsed(await mcp.call_tool("preview_url", {"sandbox_id": sid, "port": 8000, "expires_in": 60}))
        assert preview["port"] == 8000 and ".preview.localhost:" in preview["url"], preview
        late = await mcp.call_tool("preview_url", {"sandbox_id": sid, "port": 8000, "expires_in": 0})
        assert late.is_error and "expires_in" in late.content[0].text, late.content[0].text
    finally:
        await mcp.call_tool("delete_sandbox", {"sandbox_id": sid})
    interpreter = parsed(await mcp.call_tool("create_sandbox", {}))
    try:
        refused = await mcp.call_tool("start_process", {"sandbox_id": interpreter["id"], "command": "ls"})
        assert refused.is_error and "not_a_container" in refused.content[0].text
    finally:
        await mcp.call_tool("delete_sandbox", {"sandbox_id": interpreter["id"]})


@pytest.mark.parametrize("tool", ["run_cell", "fork_sandbox", "pause_sandbox", "resume_sandbox", "delete_sandbox"])
async def test_a_sandbox_that_does_not_exist_is_a_tool_error(mcp, tool):
    args = {"sandbox_id": "0190b2c4-0000-7000-8000-000000000000"}
    if tool == "run_cell":
        args["code"] = "1"
    r = await mcp.call_tool(tool, args)
    assert r.is_error and "not_found" in r.content[0].text and "HTTP 404" in r.content[0].text
    bad = await mcp.call_tool(tool, {**args, "sandbox_id": "not-an-id"})
    assert bad.is_error and "not_found" in bad.content[0].text


async def test_create_sandbox_refusals_name_the_field(mcp):
    r = await mcp.call_tool("create_sandbox", {"memory": "a lot"})
    assert r.is_error and "memory" in r.content[0].text and "HTTP 422" in r.content[0].text
    r = await mcp.call_tool("list_sandboxes", {"state": "asleep"})
    assert r.is_error and "state" in r.content[0].text


@pytest.mark.parametrize("header", [None, "Bearer sbx_wrong", "Basic abc"])
def test_the_endpoint_needs_an_api_key(url, header):
    headers = {"Accept": "application/json, text/event-stream"}
    if header:
        headers["Authorization"] = header
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    r = httpx.post(f"{url}/mcp", json=body, headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["code"] in ("missing_api_key", "invalid_api_key")


async def test_sbx_mcp_forwards_stdio_to_the_server(url, key):
    for mode in ("legacy", "auto"):
        async with Client(stdio_server(url, key), mode=mode) as c:
            assert {t.name for t in (await c.list_tools()).tools} == TOOLS
            r = await c.call_tool("run_python", {"code": "print(6*7)"})
            assert parsed(r)["stdout"] == "42\n"
            bad = await c.call_tool("run_cell", {"sandbox_id": "nope", "code": "1"})
            assert bad.is_error


def mcp_error(e: BaseException) -> MCPError:
    """The MCPError inside the task groups the SDK wraps it in."""
    while isinstance(e, BaseExceptionGroup):
        e = e.exceptions[0]
    assert isinstance(e, MCPError), repr(e)
    return e


async def test_sbx_mcp_with_a_refused_key_says_so(url):
    with pytest.raises(Exception) as e:
        async with Client(stdio_server(url, "sbx_wrong"), mode="legacy") as c:
            await c.list_tools()
    message = str(mcp_error(e.value))
    assert "401" in message and "SBX_API_KEY" in message


async def test_sbx_mcp_without_a_server_says_so():
    with pytest.raises(Exception) as e:
        async with Client(stdio_server("http://127.0.0.1:9", "k"), mode="legacy") as c:
            await c.list_tools()
    assert "cannot reach http://127.0.0.1:9/mcp" in str(mcp_error(e.value))


def test_tool_results_are_json_objects_a_model_can_read(url, key):
    """One raw exchange, as a client without an SDK makes it: JSON-RPC over POST, the answer
    as JSON or as one SSE message."""
    h = {"Authorization": f"Bearer {key}", "Accept": "application/json, text/event-stream"}
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    with httpx.Client(headers=h) as http:
        r = http.post(f"{url}/mcp", json=init)
        assert r.status_code == 200, r.text
        session = r.headers["mcp-session-id"]
        h2 = {"Mcp-Session-Id": session, "MCP-Protocol-Version": "2025-06-18"}
        r = http.post(f"{url}/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=h2)
        assert r.status_code == 202
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                "params": {"name": "run_python", "arguments": {"code": "print('hi')"}}}
        r = http.post(f"{url}/mcp", json=call, headers=h2)
        assert r.status_code == 200
        if r.headers["content-type"].startswith("text/event-stream"):
            datas = [line[5:].strip() for line in r.text.splitlines() if line.startswith("data:")]
            message = json.loads([d for d in datas if d][0])
        else:
            message = r.json()
        assert message["id"] == 2
        assert json.loads(message["result"]["content"][0]["text"])["stdout"] == "hi\n"
        assert http.delete(f"{url}/mcp", headers=h2).status_code in (200, 202, 204)
