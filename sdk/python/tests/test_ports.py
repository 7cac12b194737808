"""Declared ports of container sandboxes against a real server: ``ports=[...]`` at create and
``sandbox.ports``, ``list_ports()`` (declared ports and any other a server listens on, with
whether one listens now), ``expose_port()``, ``wait_for_port()`` (and its time limit), and the
errors a user meets (bad ports naming their field, a code interpreter, an ended sandbox).
A few unit tests of the ``ports`` argument come first (no server)."""

from __future__ import annotations

import time
import uuid

import pytest

import sbx
from sbx import _core

PortView = sbx.models.PortView

# --- unit tests: no server -----------------------------------------------------------------


@pytest.mark.parametrize(
    "given, sent",
    [
        (None, None),
        ([], None),  # none declared: left out, as the server's default
        ([8000], [8000]),
        ((9000, 8000), [9000, 8000]),  # in the caller's order: the server names ports[i]
        (range(8000, 8002), [8000, 8001]),
        ([0, 70000], [0, 70000]),  # the ports themselves are the server's to judge
    ],
)
def test_ports_become_the_apis_field(given, sent):
    assert _core.ports_in(given) == sent


@pytest.mark.parametrize("given", [8000, True, "8000", b"8000", 8000.0])
def test_ports_of_the_wrong_type_are_refused_before_sending(given):
    with pytest.raises(TypeError, match="ports"):
        _core.ports_in(given)


# --- against the server --------------------------------------------------------------------


@pytest.fixture(scope="module")
def box(client):
    """One small container sandbox with port 8000 declared, for the module's tests (each test
    ends the servers it starts)."""
    sandbox = client.sandboxes.create("python", cpu=0.5, memory="256Mi", ports=[8000])
    try:
        sandbox.wait_running()
        yield sandbox
    finally:
        sandbox.terminate()


def test_declared_ports_are_listed_and_waited_for(client, box):
    assert box.ports == [8000]
    assert client.sandboxes.get(box.id).ports == [8000]
    assert box.list_ports() == [PortView(port=8000, declared=True, listening=False)]

    web = box.processes.start("exec python3 -m http.server 8000 --bind 127.0.0.1")
    try:
        entry = box.wait_for_port(8000)
        assert entry == PortView(port=8000, declared=True, listening=True)
        assert box.list_ports() == [entry]

        assert box.expose_port(9000) is box
        assert box.ports == [8000, 9000]  # the cached view was read again
        assert box.expose_port(9000).ports == [8000, 9000]  # declared again: nothing changes
        assert client.sandboxes.get(box.id).ports == [8000, 9000]
        assert box.list_ports() == [entry, PortView(port=9000, declared=True, listening=False)]

        started = time.monotonic()
        with pytest.raises(sbx.SbxError) as e:
            box.wait_for_port(9000, timeout_s=1)
        assert time.monotonic() - started < 3
        assert "9000" in str(e.value) and "1 s" in str(e.value)
    finally:
        web.kill()
    web.wait(timeout_s=60)


def test_a_server_on_an_undeclared_port_is_listed_and_waited_for(box):
    web = box.processes.start("exec python3 -m http.server 8123 --bind 0.0.0.0")
    try:
        assert box.wait_for_port(8123, timeout_s=30) == PortView(port=8123, declared=False, listening=True)
        assert 8123 not in box.ports
        assert PortView(port=8123, declared=False, listening=True) in box.list_ports()
    finally:
        web.kill()
    web.wait(timeout_s=60)
    deadline = time.monotonic() + 30
    while any(p.port == 8123 for p in box.list_ports()):  # gone with its server
        assert time.monotonic() < deadline, "8123 still listed after its server ended"
        time.sleep(0.1)


def test_bad_ports_are_invalid_request_naming_the_field(client, box):
    for ports, field in [
        ([0], "ports[0]"),
        ([70000], "ports[0]"),
        ([8000, 9000, 8000], "ports[2]"),
        (list(range(1, 18)), "ports"),
    ]:
        with pytest.raises(sbx.InvalidRequest) as e:
            client.sandboxes.create("python", cpu=0.5, memory="256Mi", ports=ports)
        assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_request", field), ports
    with pytest.raises(sbx.InvalidRequest) as e:
        client.sandboxes.create(ports=[8000])  # a code interpreter runs no server
    assert (e.value.status, e.value.field) == (422, "ports")
    with pytest.raises(TypeError):
        client.sandboxes.create("python", ports=8000)

    for port in (0, 65536):
        with pytest.raises(sbx.InvalidRequest) as e:
            box.expose_port(port)
        assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_request", "port"), port


def test_port_refusals_are_typed(client, box):
    with client.sandboxes.create() as interpreter:
        assert interpreter.ports == []
        with pytest.raises(sbx.Conflict) as e:
            interpreter.list_ports()
        assert (e.value.status, e.value.code) == (409, "not_a_container")
        with pytest.raises(sbx.Conflict) as e:
            interpreter.expose_port(8000)
        assert (e.value.status, e.value.code) == (409, "not_a_container")
        with pytest.raises(sbx.Conflict) as e:
            interpreter.wait_for_port(8000, timeout_s=1)
        assert e.value.code == "not_a_container"

    ghost = sbx.Sandbox(client, box.info.model_copy(update={"id": uuid.uuid4()}))
    with pytest.raises(sbx.NotFound) as e:
        ghost.list_ports()
    assert e.value.status == 404
    with pytest.raises(sbx.NotFound):
        ghost.expose_port(8000)

    # Declared at most 16 (in any state but ended: this one need not start), then ended.
    full = client.sandboxes.create("python", cpu=0.5, memory="256Mi", ports=range(9000, 9016))
    try:
        assert full.ports == list(range(9000, 9016))
        assert full.expose_port(9015).ports == list(range(9000, 9016))  # declared already
        with pytest.raises(sbx.InvalidRequest) as e:
            full.expose_port(9016)
        assert (e.value.status, e.value.field) == (422, "port")
    finally:
        full.terminate()
    with pytest.raises(sbx.Conflict) as e:
        full.expose_port(9016)
    assert (e.value.status, e.value.code) == (409, "sandbox_ended")


@pytest.mark.asyncio
async def test_ports_with_the_async_client(aclient, box):
    sandbox = await aclient.sandboxes.get(box.id)
    assert isinstance(sandbox, sbx.AsyncSandbox) and 8000 in sandbox.ports
    web = await sandbox.processes.start(["python3", "-m", "http.server", "8001", "--bind", "127.0.0.1"])
    try:
        entry = await sandbox.wait_for_port(8001, timeout_s=30)
        assert entry == PortView(port=8001, declared=False, listening=True)
        assert await sandbox.expose_port(8001) is sandbox
        assert 8001 in sandbox.ports and sandbox.ports == sorted(sandbox.ports)
        assert PortView(port=8001, declared=True, listening=True) in await sandbox.list_ports()
        started = time.monotonic()
        with pytest.raises(sbx.SbxError, match="8002"):
            await sandbox.wait_for_port(8002, timeout_s=0.5, interval_s=0.1)
        assert time.monotonic() - started < 3
        with pytest.raises(sbx.InvalidRequest) as e:
            await sandbox.expose_port(0)
        assert e.value.field == "port"
    finally:
        await web.kill()
    with pytest.raises(sbx.InvalidRequest) as e:
        await aclient.sandboxes.create("python", ports=[8000, 0])
    assert e.value.field == "ports[1]"
