"""``sandbox.terminal()`` against a real server: an interactive shell over the WebSocket
``GET /v1/sandboxes/{id}/pty`` — what is typed runs, the size is set and changed, a closed
connection leaves the shell running and a reattach replays its output, ``exit`` ends it with
its exit code, ``kill()`` ends it, and the refusals before the upgrade are the SDK's typed
exceptions."""

from __future__ import annotations

import uuid

import pytest

import sbx

#: Seconds a terminal's expected output may take (a container's shell starts in well under).
WAIT_S = 30


@pytest.fixture(scope="module")
def box(client):
    """One container sandbox for the module's tests (each test ends the shells it starts)."""
    sandbox = client.sandboxes.create("python", memory="256Mi")
    try:
        sandbox.wait_running()
        yield sandbox
    finally:
        sandbox.terminate()


def rest(terminal) -> bytes:
    """What the terminal writes until its shell ends (``recv()`` gives None)."""
    out = b""
    while True:
        chunk = terminal.recv(timeout=WAIT_S)
        if chunk is None:
            return out
        out += chunk


def test_a_new_terminal_runs_what_is_typed(box):
    with box.terminal() as t:
        try:
            assert isinstance(t, sbx.Terminal) and t.pid >= 1
            assert (t.done, t.exit_code) == (False, None)
            t.send("echo hi-$((6*7))\n")
            out = t.read_until("hi-42", timeout=WAIT_S)
            assert out.endswith(b"hi-42")
            # The shell is one of the sandbox's processes, marked as a terminal.
            shell = box.processes.get(t.pid)
            assert shell.state == "running"
            assert shell.info.tty is True
            # bytes as they are; a str as UTF-8; what follows a match is kept for the next read.
            t.send(b"echo one-$((1)); echo two-$((2))\n")
            assert t.read_until("one-1", timeout=WAIT_S).endswith(b"one-1")
            assert t.read_until("two-2", timeout=WAIT_S).endswith(b"two-2")
            with pytest.raises(TimeoutError) as e:
                t.read_until("never-printed", timeout=1)
            assert isinstance(e.value.output, bytes)
            with pytest.raises(TypeError):
                t.send(42)  # type: ignore[arg-type]
        finally:
            t.kill()
        rest(t)
        assert (t.done, t.exit_code) == (True, 137)
    assert box.processes.get(t.pid).wait(timeout_s=WAIT_S).exit_code == 137


def test_a_terminal_is_sized_and_resized(box):
    with box.terminal(cols=120, rows=30) as t:
        try:
            t.send("stty size\n")
            t.read_until("30 120", timeout=WAIT_S)
            t.resize(100, 40)
            t.send("stty size\n")
            t.read_until("40 100", timeout=WAIT_S)
            with pytest.raises(ValueError, match="cols"):
                t.resize(0, 40)
            with pytest.raises(ValueError, match="rows"):
                t.resize(80, 1001)
        finally:
            t.kill()


def test_a_closed_terminal_runs_on_and_a_reattach_replays_its_output(box):
    t = box.terminal()
    pid = t.pid
    try:
        t.send("echo mark-$((2+3))\n")
        t.read_until("mark-5", timeout=WAIT_S)
        t.close()
        t.close()  # twice is fine
        assert t.recv() is None and not t.done
        with pytest.raises(sbx.SbxError):
            t.send("echo lost\n")
        assert box.processes.get(pid).state == "running"

        with box.terminal(pid=pid) as again:
            assert again.pid == pid
            again.read_until("mark-5", timeout=WAIT_S)  # the kept output, replayed
            again.send("echo after-$((1+1))\n")
            again.read_until("after-2", timeout=WAIT_S)  # then live output
            again.resize(90, 20)
            again.send("stty size\n")
            again.read_until("20 90", timeout=WAIT_S)
    finally:
        box.processes.get(pid).kill()
    assert box.processes.get(pid).wait(timeout_s=WAIT_S).exit_code == 137


def test_exit_ends_the_terminal_with_its_exit_code(box):
    with box.terminal() as t:
        t.send("exit\n")
        rest(t)
        assert (t.done, t.exit_code) == (True, 0)
        assert t.recv() is None  # and stays so
        with pytest.raises(sbx.SbxError, match="exited"):
            t.send("echo late\n")
    p = box.processes.get(t.pid).wait(timeout_s=WAIT_S)
    assert (p.state, p.exit_code) == ("exited", 0)
    with pytest.raises(sbx.ProcessExited) as e:
        box.terminal(pid=t.pid)
    assert (e.value.status, e.value.code) == (409, "process_exited")

    # Another exit code.
    with box.terminal() as t:
        t.send("exit 3\n")
        rest(t)
        assert t.exit_code == 3


def test_terminal_refusals_are_typed(client, box):
    for kwargs, field in [({"cols": 0}, "cols"), ({"rows": 1001}, "rows"), ({"cols": 0, "rows": 24}, "cols")]:
        with pytest.raises(sbx.InvalidRequest) as e:
            box.terminal(**kwargs)
        assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_request", field), kwargs

    with pytest.raises(sbx.NotFound) as e:
        box.terminal(pid=99999)
    assert (e.value.status, e.value.code) == (404, "not_found")
    ghost = sbx.Sandbox(client, box.info.model_copy(update={"id": uuid.uuid4()}))
    with pytest.raises(sbx.NotFound):
        ghost.terminal()

    # A process that is not a terminal cannot be attached to.
    p = box.processes.start(["sleep", "300"])
    try:
        with pytest.raises(sbx.Conflict) as e:
            box.terminal(pid=p.pid)
        assert (e.value.status, e.value.code) == (409, "conflict")
    finally:
        p.kill()

    with client.sandboxes.create() as interpreter:
        with pytest.raises(sbx.Conflict) as e:
            interpreter.terminal()
        assert (e.value.status, e.value.code) == (409, "not_a_container")


@pytest.mark.asyncio
async def test_a_terminal_with_the_async_client(aclient, box):
    sandbox = await aclient.sandboxes.get(box.id)
    async with await sandbox.terminal(cols=100, rows=40) as t:
        assert isinstance(t, sbx.AsyncTerminal) and t.pid >= 1
        await t.send("echo hi-$((6*7))\n")
        assert (await t.read_until("hi-42", timeout=WAIT_S)).endswith(b"hi-42")
        await t.send("stty size\n")
        await t.read_until("40 100", timeout=WAIT_S)
        await t.send("exit\n")
        while await t.recv(timeout=WAIT_S) is not None:
            pass
        assert (t.done, t.exit_code) == (True, 0)
        assert await t.recv() is None
    with pytest.raises(sbx.InvalidRequest) as e:
        await sandbox.terminal(cols=0)
    assert e.value.field == "cols"
    with pytest.raises(sbx.NotFound):
        await sandbox.terminal(pid=99999)
