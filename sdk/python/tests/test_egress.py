"""Egress rules of container sandboxes and jobs: ``network=True | False | [allowed, …]``.

Two kinds of tests here:

- Unit tests (no server): what the SDK sends for each spelling of ``network``, what it refuses
  itself (types only), and how a 422 naming ``network.allow[i]`` comes back. They run anywhere.
- Tests marked ``egress_server`` (see pytest.ini), against the real server of
  ``scripts/sdk-test``: they need a server that knows egress rules (``network`` as
  ``{"allow": [...]}``, the ``sandbox.egress_denied`` event type), and Docker for the one that
  makes a container. Before that server lands, deselect them: ``-m "not egress_server"``.
  No traffic is checked here (whether an allowed host is reached and a denied one refused is
  for the server's own tests).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from types import SimpleNamespace

import httpx
import pytest
from pydantic import BaseModel

import sbx
from sbx import _core

# --- unit tests: no server -----------------------------------------------------------------


@pytest.mark.parametrize(
    "given, sent",
    [
        (None, None),
        (False, False),
        (True, True),
        (["pypi.org", "*.example.com"], {"allow": ["pypi.org", "*.example.com"]}),
        (("203.0.113.0/24", "10.0.0.5"), {"allow": ["203.0.113.0/24", "10.0.0.5"]}),
        ({"allow": ("pypi.org",)}, {"allow": ["pypi.org"]}),
        ({"allow": ["pypi.org"]}, {"allow": ["pypi.org"]}),
        # The rules themselves are the server's to judge, even an empty list or a bad name.
        ([], {"allow": []}),
        (["bad name!"], {"allow": ["bad name!"]}),
    ],
)
def test_network_spellings_become_the_apis_field(given, sent):
    assert _core.network_in(given) == sent


@pytest.mark.parametrize(
    "given, says",
    [
        ("pypi.org", r"\['pypi.org'\]"),  # a lone string is not split into characters
        (b"pypi.org", "not"),
        (1, "not int"),
        ({"pypi.org"}, "not set"),  # unordered: the server names a bad rule by its index
        (["pypi.org", 3], r"network\[1\]"),
        ({"hosts": ["pypi.org"]}, "allow"),
        ({"allow": "pypi.org"}, r"network\['allow'\]"),
    ],
)
def test_a_network_of_the_wrong_type_is_refused_before_sending(given, says):
    with pytest.raises(TypeError, match=says):
        _core.network_in(given)


def test_the_views_network_is_plain_json():
    class Allow(BaseModel):  # what the generated models may make of {"allow": [...]}
        allow: list

    assert _core.network_out(SimpleNamespace(network=Allow(allow=["a.test"]))) == {"allow": ["a.test"]}
    assert _core.network_out(SimpleNamespace(network={"allow": ["a.test"]})) == {"allow": ["a.test"]}
    assert _core.network_out(SimpleNamespace(network=False)) is False
    assert _core.network_out(SimpleNamespace(network=True)) is True
    assert _core.network_out(SimpleNamespace()) is None  # a server from before egress rules


def problem_422(field: str, *, nested: bool) -> httpx.Response:
    """A 422 naming ``field`` at the top level, or (``nested``) in ``errors[0]``."""
    body = {
        "type": "https://sbx.dev/problems/invalid_request",
        "title": "Invalid request",
        "status": 422,
        "detail": "not a host name, address or CIDR range: 'bad name!'",
        "code": "invalid_request",
    }
    if nested:
        body["errors"] = [{"field": field, "detail": body["detail"]}]
    else:
        body["field"] = field
    return httpx.Response(422, json=body, headers={"Content-Type": "application/problem+json"})


@pytest.mark.parametrize("nested", [False, True])
def test_the_sync_client_sends_an_allow_list_and_names_the_bad_rule(nested):
    sent = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append((request.url.path, json.loads(request.content)))
        return problem_422("network.allow[0]", nested=nested)

    with sbx.Client(url="http://sbx.test", api_key="k", max_retries=0) as c:
        c._http.close()
        c._http = httpx.Client(base_url=c.url, transport=httpx.MockTransport(answer))
        with pytest.raises(sbx.InvalidRequest) as e:
            c.sandboxes.create("python", network=["bad name!"])
        assert (e.value.status, e.value.field) == (422, "network.allow[0]")
        with pytest.raises(sbx.InvalidRequest):
            c.jobs.submit(image="python", command=["true"], network=["pypi.org"])
        with pytest.raises(sbx.InvalidRequest):
            c.sandboxes.create("python", network=True)
        with pytest.raises(sbx.InvalidRequest):
            c.sandboxes.create("python")
        with pytest.raises(TypeError):
            c.sandboxes.create("python", network="pypi.org")
    assert sent[0] == ("/v1/sandboxes", {"image": "python", "network": {"allow": ["bad name!"]}})
    assert sent[1][0] == "/v1/jobs"
    assert sent[1][1]["network"] == {"allow": ["pypi.org"]} and sent[1][1]["kind"] == "container"
    assert sent[2][1]["network"] is True
    assert "network" not in sent[3][1]  # the server's default: loopback only
    assert len(sent) == 4  # the bad type was never sent


@pytest.mark.asyncio
async def test_the_async_client_sends_an_allow_list_too():
    sent = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        return problem_422("network.allow[1]", nested=False)

    async with sbx.AsyncClient(url="http://sbx.test", api_key="k", max_retries=0) as c:
        await c._http.aclose()
        c._http = httpx.AsyncClient(base_url=c.url, transport=httpx.MockTransport(answer))
        with pytest.raises(sbx.InvalidRequest) as e:
            await c.sandboxes.create("python", network={"allow": ["pypi.org", "bad name!"]})
        assert e.value.field == "network.allow[1]"
        with pytest.raises(TypeError):
            await c.sandboxes.create("python", network=["pypi.org", None])
    assert sent == [{"image": "python", "network": {"allow": ["pypi.org", "bad name!"]}}]


# --- against the server: needs its egress rules (and Docker for a container) ----------------

egress_server = pytest.mark.egress_server


def docker_available() -> bool:
    """Whether this machine runs Docker (``scripts/sdk-test`` runs the server here): without
    it container sandboxes are unavailable (``scripts/setup.sh`` says so and goes on)."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


#: Evaluated when such a test is set up (not at collection, nor for a deselected test).
needs_docker = pytest.mark.skipif("not docker_available()", reason="no Docker daemon: no container sandboxes")


@egress_server
@needs_docker
def test_a_container_with_an_allow_list_reports_it(client):
    sandbox = client.sandboxes.create("python", memory="256Mi", network=["allowed.test"])
    try:
        assert sandbox.network == {"allow": ["allowed.test"]}
        assert client.sandboxes.get(sandbox.id).network == {"allow": ["allowed.test"]}
    finally:
        sandbox.terminate()


@egress_server
def test_a_bad_allow_list_rule_is_invalid_request_naming_it(client):
    with pytest.raises(sbx.InvalidRequest) as e:
        client.sandboxes.create("python", network=["bad name!"])
    assert (e.value.status, e.value.field) == (422, "network.allow[0]")
    with pytest.raises(sbx.InvalidRequest) as e:
        client.sandboxes.create("python", network=["pypi.org", "*.example.com", "bad name!"])
    assert e.value.field == "network.allow[2]"
    with pytest.raises(sbx.InvalidRequest) as e:  # a container job checks its rules the same way
        client.jobs.submit(image="python", command=["true"], network=["bad name!"])
    assert e.value.field == "network.allow[0]"


@egress_server
@pytest.mark.asyncio
async def test_a_bad_allow_list_rule_with_the_async_client(aclient):
    with pytest.raises(sbx.InvalidRequest) as e:
        await aclient.sandboxes.create("python", network={"allow": ["pypi.org", "bad name!"]})
    assert e.value.field == "network.allow[1]"


@egress_server
def test_egress_denied_is_an_event_type_webhooks_take(client):
    endpoint = client.webhooks.create("http://127.0.0.1:9/hook", events=["sandbox.egress_denied"])
    try:
        assert endpoint.events == ["sandbox.egress_denied"]
    finally:
        client.webhooks.delete(endpoint.id)
