"""``sandbox.processes`` against a real server: background processes started at once, their
output followed to the end (and resumed after an event id, or after a broken stream), input,
signals, time limits, the list, and the errors a user meets (a code interpreter, a process that
exited, input that is not open, invalid fields, too many processes)."""

from __future__ import annotations

import signal
import time

import httpx
import pytest

import sbx


@pytest.fixture(scope="module")
def box(client):
    """One container sandbox for the module's tests (each test ends the processes it keeps
    running)."""
    sandbox = client.sandboxes.create("python", memory="256Mi")
    try:
        sandbox.wait_running()
        yield sandbox
    finally:
        sandbox.terminate()


def output(events, stream="stdout"):
    return "".join(e.text for e in events if e.event == stream)


def running(box, command, **kwargs):
    """A process running shell ``command`` once it surely runs: it says ``ready`` first. (A
    signal is sent to the processes the server finds carrying the process's mark; one sent
    right after the start can find none yet and be lost, although answered 204.)"""
    p = box.processes.start(f"echo ready; exec {command}", **kwargs)
    events = p.logs()
    try:
        assert next(e for e in events if e.event == "stdout").text == "ready\n"
    finally:
        events.close()
    return p


async def arunning(sandbox, command, **kwargs):
    """:func:`running` with the async client."""
    p = await sandbox.processes.start(f"echo ready; exec {command}", **kwargs)
    events = p.logs()
    try:
        async for e in events:
            if e.event == "stdout":
                assert e.text == "ready\n"
                break
    finally:
        await events.aclose()
    return p


COUNT_SLEEPS = """
import os
n = 0
for d in os.listdir("/proc"):
    try:
        n += open(f"/proc/{d}/cmdline", "rb").read() in (b"sleep\\x00311\\x00", b"sleep\\x00312\\x00")
    except OSError:
        pass
print(n)
"""


def count_sleeps(box) -> int:
    """How many `sleep 311` and `sleep 312` run in the sandbox."""
    return int(box.commands.run(["python3", "-c", COUNT_SLEEPS]).stdout)


def test_a_process_runs_in_the_background_and_its_log_ends_with_its_exit_code(box):
    p = box.processes.start(["sh", "-c", "echo out; sleep 0.3; echo err >&2; exit 3"])
    assert p.pid >= 1 and (p.state, p.exit_code, p.done) == ("running", None, False)
    assert (p.info.command, p.info.cwd, p.info.stdin, p.info.tag) == (
        ["sh", "-c", "echo out; sleep 0.3; echo err >&2; exit 3"], "/workspace", False, None
    )
    events = list(p.logs())
    assert (output(events), output(events, "stderr")) == ("out\n", "err\n")
    chunks = [e for e in events if e.event in ("stdout", "stderr")]
    assert [int(e.id) for e in chunks] == sorted(int(e.id) for e in chunks)
    end = events[-1]
    assert (end.event, end.id, end.data["exit_code"], end.data["state"]) == ("end", "end", 3, "exited")
    # The end event brought the process up to date; so does a read.
    assert (p.state, p.exit_code, p.done, p.info.timed_out) == ("exited", 3, True, False)
    assert p.info.ended_at >= p.info.started_at
    again = box.processes.get(p.pid)
    assert (again.pid, again.exit_code, again.state) == (p.pid, 3, "exited")

    # A string is run by sh -c; wait() follows to the end; follow=False replays what is kept.
    q = box.processes.start("echo $((6*7))")
    assert q.info.command == ["sh", "-c", "echo $((6*7))"]
    assert q.wait(timeout_s=60) is q and (q.state, q.exit_code) == ("exited", 0)
    kept = list(q.logs(follow=False))
    assert output(kept) == "42\n" and kept[-1].event == "end"
    assert q.pid > p.pid


def test_env_and_cwd(box):
    p = box.processes.start('echo "$GREETING"; pwd', env={"GREETING": "hi there"}, cwd="/tmp")
    assert p.info.cwd == "/tmp"
    assert output(p.logs()) == "hi there\n/tmp\n"
    assert p.exit_code == 0
    box.files.mkdir("/workspace/sub dir")
    p = box.processes.start(["pwd"], cwd="sub dir")  # relative: below /workspace
    assert p.info.cwd == "/workspace/sub dir"
    assert output(p.logs()) == "/workspace/sub dir\n"


def test_input_is_written_then_closed(box):
    p = box.processes.start(
        ["python3", "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"], stdin=True
    )
    assert p.info.stdin is True
    p.write_stdin("héllo ")  # str: as UTF-8
    p.write_stdin(b"world\n")
    p.close_stdin()
    p.wait(timeout_s=60)
    assert p.exit_code == 0
    assert output(p.logs()) == "HÉLLO WORLD\n"
    with pytest.raises(sbx.ProcessExited) as e:
        p.write_stdin(b"late")
    assert (e.value.status, e.value.code) == (409, "process_exited")
    assert isinstance(e.value, sbx.Conflict)

    # Written and closed in one call.
    cat = box.processes.start(["cat"], stdin=True)
    cat.write_stdin("été bytes".encode(), close=True)
    assert cat.wait(timeout_s=60).exit_code == 0
    assert output(cat.logs()) == "été bytes"
    with pytest.raises(TypeError):
        cat.write_stdin(42)  # type: ignore[arg-type]


def test_input_that_is_not_open_is_stdin_closed(box):
    no_input = running(box, "sleep 300")
    closed = box.processes.start(["sh", "-c", "cat; echo closed; sleep 300"], stdin=True)
    try:
        with pytest.raises(sbx.StdinClosed) as e:
            no_input.write_stdin(b"x")
        assert (e.value.status, e.value.code) == (409, "stdin_closed")
        assert isinstance(e.value, sbx.Conflict) and not isinstance(e.value, sbx.ProcessExited)
        with pytest.raises(sbx.PayloadTooLarge) as e:
            closed.write_stdin(b"y" * ((1 << 20) + 1))  # over 1 MiB: nothing is written
        assert e.value.status == 413
        closed.write_stdin(b"x\n", close=True)
        events = closed.logs()
        try:
            assert next(e for e in events if e.text == "closed\n")  # cat read the end
        finally:
            events.close()
        with pytest.raises(sbx.StdinClosed):
            closed.write_stdin(b"y")
        with pytest.raises(sbx.StdinClosed):
            closed.close_stdin()
        assert closed.refresh().state == "running"
    finally:
        no_input.kill()
        closed.kill()
    assert no_input.wait(timeout_s=60).exit_code == 137
    assert output(closed.wait(timeout_s=60).logs()) == "x\nclosed\n"


def test_a_signal_ends_a_process_with_128_plus_its_number(box):
    p = running(box, "sleep 300")
    assert p.refresh().state == "running"
    p.signal()  # TERM
    assert p.wait(timeout_s=60).exit_code == 143
    assert p.info.timed_out is False and p.info.ended_at is not None
    with pytest.raises(sbx.ProcessExited) as e:
        p.signal("TERM")
    assert (e.value.status, e.value.code) == (409, "process_exited")
    with pytest.raises(sbx.ProcessExited):
        p.kill()

    # The signal reaches what the process started too. (Nothing runs after the foreground
    # sleep: the server signals the marked processes one at a time, so a shell that outlives
    # its child for a moment could run on; sh's status is then the sleep's, 143, too.)
    q = box.processes.start("sleep 311 & sleep 312")
    for _ in range(100):
        if count_sleeps(box) == 2:
            break
        time.sleep(0.1)
    assert count_sleeps(box) == 2
    q.signal("TERM")
    assert q.wait(timeout_s=60).exit_code == 143
    assert count_sleeps(box) == 0

    # "SIGINT", "int" and signal.SIGINT are "INT"; kill() is KILL.
    for name in ["SIGINT", "int", signal.SIGINT]:
        r = running(box, "sleep 300")
        r.signal(name)
        assert r.wait(timeout_s=60).exit_code == 130, name
    r = running(box, "sleep 300")
    r.kill()
    assert r.wait(timeout_s=60).exit_code == 137


def test_a_time_limit_kills_the_process(box):
    started = time.monotonic()
    p = box.processes.start(["sleep", "300"], timeout_ms=500)
    assert p.wait(timeout_s=60).info.timed_out is True
    assert p.exit_code == 137 and time.monotonic() - started < 30
    ok = box.processes.start(["true"], timeout_ms=60_000).wait(timeout_s=60)
    assert (ok.exit_code, ok.info.timed_out) == (0, False)


def test_wait_gives_up_after_its_timeout(box):
    p = running(box, "sleep 300")
    try:
        started = time.monotonic()
        with pytest.raises(sbx.SbxError, match="still running"):
            p.wait(timeout_s=1)
        assert 0.9 <= time.monotonic() - started < 15
        assert p.refresh().state == "running"
    finally:
        p.kill()


def test_the_list_is_oldest_first_with_tags(box):
    a = running(box, "sleep 300", tag="web-1")
    b = box.processes.start(["true"], tag="job.b_2")
    c = box.processes.start(["true"])
    try:
        listed = box.processes.list()
        pids = [p.pid for p in listed]
        assert pids == sorted(pids) and len(listed) <= 32
        mine = [(p.pid, p.info.tag) for p in listed if p.pid in (a.pid, b.pid, c.pid)]
        assert mine == [(a.pid, "web-1"), (b.pid, "job.b_2"), (c.pid, None)]
        assert all(isinstance(p, sbx.Process) for p in listed)
        assert {p.pid: p.state for p in listed}[a.pid] == "running"
    finally:
        a.kill()
    assert box.processes.get(a.pid).wait(timeout_s=60).exit_code == 137


def test_a_log_resumes_after_an_event_id(box):
    p = box.processes.start("for i in 1 2 3; do echo $i; sleep 0.3; done").wait(timeout_s=60)
    events = list(p.logs())
    chunks = [e for e in events if e.event == "stdout"]
    assert [e.text for e in chunks] == ["1\n", "2\n", "3\n"]
    rest = list(p.logs(last_event_id=chunks[0].id))
    assert [e.text for e in rest if e.event == "stdout"] == ["2\n", "3\n"]
    assert rest[-1].event == "end" and rest[-1].data["exit_code"] == 0
    assert [e.event for e in p.logs(last_event_id=chunks[2].id)] == ["end"]
    assert list(p.logs(last_event_id="end")) == []  # had the end: nothing more

    # follow=False on a running process: what is kept now, no end.
    q = box.processes.start("echo first; sleep 300")
    try:
        for _ in range(100):
            now = list(q.logs(follow=False))
            if output(now) == "first\n":
                break
            time.sleep(0.1)
        assert output(now) == "first\n" and all(e.event != "end" for e in now)
    finally:
        q.kill()


class CutOnce(httpx.BaseTransport):
    """A transport that breaks the first process log stream after its first event (as a proxy
    or a network failure would), and records every log request's Last-Event-ID."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.cut = False
        self.resumed_after = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if "/processes/" not in request.url.path or not request.url.path.endswith("/logs"):
            return response
        self.resumed_after.append(request.headers.get("last-event-id"))
        if self.cut:
            return response
        self.cut = True
        return httpx.Response(
            response.status_code, headers=response.headers, stream=Cut(response.stream), extensions=response.extensions
        )


class Cut(httpx.SyncByteStream):
    def __init__(self, inner) -> None:
        self.inner = inner

    def __iter__(self):
        buffered = b""
        for chunk in self.inner:
            buffered += chunk
            if b"\n\n" in buffered:
                yield buffered[: buffered.index(b"\n\n") + 2]
                raise httpx.RemoteProtocolError("peer closed connection (cut by the test)")
        yield buffered

    def close(self) -> None:
        self.inner.close()


def test_a_broken_log_stream_is_resumed_after_the_last_event(box):
    with sbx.Client() as c:
        cutter = CutOnce(c._http._transport)
        c._http._transport = cutter
        sandbox = c.sandboxes.get(box.id)
        p = sandbox.processes.start("for i in 1 2 3 4; do echo line $i; sleep 0.2; done; exit 5")
        events = list(p.logs())
    chunks = [e for e in events if e.event == "stdout"]
    assert output(events) == "line 1\nline 2\nline 3\nline 4\n"
    assert len({e.id for e in chunks}) == len(chunks)  # none given twice
    assert events[-1].event == "end" and p.exit_code == 5
    assert cutter.resumed_after == [None, chunks[0].id]


def test_errors_are_typed(client, box):
    with client.sandboxes.create() as interpreter:
        with pytest.raises(sbx.Conflict) as e:
            interpreter.processes.start(["echo", "hi"])
        assert (e.value.status, e.value.code) == (409, "not_a_container")
        assert type(e.value) is sbx.Conflict
        with pytest.raises(sbx.Conflict) as e:
            interpreter.processes.list()
        assert e.value.code == "not_a_container"

    for kwargs, field in [
        ({"command": []}, "command"),
        ({"command": ["true"], "tag": "not a tag!"}, "tag"),
        ({"command": ["true"], "timeout_ms": 0}, "timeout_ms"),
        ({"command": ["true"], "cwd": "/work\0space"}, "cwd"),
    ]:
        with pytest.raises(sbx.InvalidRequest) as e:
            box.processes.start(**kwargs)
        assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_request", field), kwargs
    with pytest.raises(sbx.InvalidRequest) as e:
        client.request("POST", f"/v1/sandboxes/{box.id}/processes", body={"command": ["true"], "shell": True})
    assert e.value.status == 422
    p = running(box, "sleep 300")
    try:
        with pytest.raises(sbx.InvalidRequest) as e:
            p.signal("STOP")
        assert (e.value.status, e.value.field) == (422, "signal")
        assert p.refresh().state == "running"
    finally:
        p.kill()

    with pytest.raises(sbx.NotFound) as e:
        box.processes.get(99999)
    assert (e.value.status, e.value.code) == (404, "not_found")
    ghost = sbx.Process(box, p.info.model_copy(update={"pid": 99999}))
    with pytest.raises(sbx.NotFound):
        list(ghost.logs())
    with pytest.raises(sbx.NotFound):
        ghost.signal()


def test_too_many_processes_is_refused_while_32_run(box):
    started = []
    try:
        with pytest.raises(sbx.TooManyProcesses) as e:
            for _ in range(40):
                started.append(running(box, "sleep 300"))
        assert (e.value.status, e.value.code) == (409, "too_many_processes")
        assert isinstance(e.value, sbx.Conflict)
        assert sum(p.state == "running" for p in box.processes.list()) == 32
        last = started.pop()
        last.kill()
        assert last.wait(timeout_s=60).exit_code == 137
        # 31 run: the next start drops the oldest process that exited to make room.
        assert box.processes.start(["true"]).wait(timeout_s=60).exit_code == 0
    finally:
        for p in started:
            p.kill()
    assert len(box.processes.list()) == 32


@pytest.mark.asyncio
async def test_processes_with_the_async_client(aclient, box):
    sandbox = await aclient.sandboxes.get(box.id)
    p = await sandbox.processes.start(
        ["python3", "-c", "import sys; print(sys.stdin.read()[::-1])"], stdin=True, tag="async"
    )
    assert isinstance(p, sbx.AsyncProcess) and p.info.tag == "async"
    await p.write_stdin("olleh", close=True)
    events = [e async for e in p.logs()]
    assert output(events) == "hello\n" and events[-1].event == "end"
    assert (p.state, p.exit_code) == ("exited", 0)
    with pytest.raises(sbx.ProcessExited):
        await p.signal()

    q = await arunning(sandbox, "sleep 300")
    assert (await q.refresh()).state == "running"
    assert q.pid in [x.pid for x in await sandbox.processes.list()]
    await q.signal("TERM")
    assert (await q.wait(timeout_s=60)).exit_code == 143
    assert (await sandbox.processes.get(q.pid)).exit_code == 143
    with pytest.raises(sbx.StdinClosed):
        await (await sandbox.processes.start(["sleep", "1"])).write_stdin(b"x")
    chunks = [e for e in events if e.event == "stdout"]  # "hello", "\n": unbuffered print
    rest = [e async for e in p.logs(last_event_id=chunks[0].id, follow=False)]
    assert output(rest) == output(chunks[1:]) and rest[-1].event == "end"
    assert [e.event for e in [e async for e in p.logs(last_event_id=chunks[-1].id)]] == ["end"]


def test_a_preview_url_opens_a_port_without_a_key(client, box):
    box.files.write("/workspace/site/hello.txt", b"hi there")
    p = box.processes.start(
        "exec python3 -m http.server 8000 --bind 127.0.0.1 --directory /workspace/site"
    )
    try:
        preview = box.preview_url(8000, expires_in=60)
        assert preview.port == 8000 and preview.sandbox_id == box.id
        # `*.localhost` names this machine in browsers and curl; Python's resolver may not
        # know them, so the request goes to the server's address with the preview's Host.
        host = httpx.URL(preview.url).netloc.decode()
        assert host.endswith(".preview.localhost:" + str(httpx.URL(client.url).port))
        deadline = time.monotonic() + 30
        while True:
            r = httpx.get(client.url.rstrip("/") + "/hello.txt", headers={"Host": host})
            if r.status_code != 502 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert (r.status_code, r.text) == (200, "hi there")
        with pytest.raises(sbx.InvalidRequest) as e:
            box.preview_url(8000, expires_in=0)
        assert e.value.field == "expires_in"
    finally:
        p.signal("KILL")
