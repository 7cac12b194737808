"""``client.templates`` against a real server: a template built from Dockerfile text and files,
or from a folder, waited for, its log read, run by a sandbox by name and version, built again
(a new version), and deleted; a build that fails raises with the builder's error, and bad
builds are refused naming the field."""

from __future__ import annotations

import os
import uuid

import pytest

import sbx

DOCKERFILE = "FROM python\nUSER root\nCOPY hello.txt /opt/hello.txt\nUSER 1000\n"
SMALL = {"cpu": 0.5, "memory": "256Mi", "disk": "32Mi"}
WAIT_S = 600


def unique(prefix: str) -> str:
    """A template name no other test (or run) uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def run_in(client, image: str, command: str) -> str:
    """The stdout of ``command`` in a fresh container sandbox of ``image`` (terminated after)."""
    with client.sandboxes.create(image, **SMALL) as sandbox:
        sandbox.wait_running()
        assert sandbox.info.image == image
        out = sandbox.commands.run(command)
        assert out.exit_code == 0, out
        return out.stdout


def test_a_template_is_built_run_by_a_sandbox_built_again_and_deleted(client):
    name = unique("hello")
    template = client.templates.build(name, dockerfile=DOCKERFILE, files={"hello.txt": "hi\n"})
    assert (template.name, template.version, template.image) == (name, 1, f"{name}:1")
    assert template.state in ("queued", "building", "ready")
    assert template.info.dockerfile == "Dockerfile" and template.info.network is False
    assert template.info.context_bytes > 0

    assert template.wait(timeout_s=WAIT_S) is template
    assert template.state == "ready" and template.done and template.error is None
    assert template.info.size_bytes > 1 << 20
    assert template.info.image_id.startswith("sha256:")
    events = list(template.logs())
    text = "".join(e.text for e in events if e.event == "stdout")
    assert "COPY hello.txt /opt/hello.txt" in text, text
    assert events[-1].event == "end" and events[-1].data == {"state": "ready", "error": None}
    # Resumed after an event: only what came after it.
    after = list(template.logs(last_event_id=events[0].id))
    assert [e.id for e in after] == [e.id for e in events[1:]]
    assert [e.text for e in client.templates.logs(name)] == [e.text for e in events]

    assert run_in(client, template.image, "cat /opt/hello.txt") == "hi\n"

    # Built again: version 2, which the name alone now runs; version 1 stays.
    second = client.templates.build(
        name, dockerfile=DOCKERFILE, files={"hello.txt": "two\n"}, timeout_s=300, wait=True
    )
    assert (second.version, second.state, second.info.timeout_s) == (2, "ready", 300)
    assert [t.version for t in client.templates.versions(name)] == [2, 1]
    assert client.templates.get(name).version == 2
    first = client.templates.get(name, version=1)
    assert (first.image, first.state) == (f"{name}:1", "ready")
    assert [(t.version, t.state) for t in client.templates.list() if t.name == name] == [(2, "ready")]
    assert run_in(client, name, "cat /opt/hello.txt") == "two\n"

    client.templates.delete(name)
    with pytest.raises(sbx.NotFound):
        client.templates.get(name)
    with pytest.raises(sbx.NotFound):
        client.templates.versions(name)
    with pytest.raises(sbx.NotFound):
        client.templates.delete(name)
    with pytest.raises(sbx.NotFound):
        first.refresh()
    assert name not in [t.name for t in client.templates.list()]


def test_a_failed_build_raises_with_the_builders_error(client):
    name = unique("broken")
    with pytest.raises(sbx.BuildFailed, match="non-zero code: 3") as e:
        client.templates.build(name, dockerfile="FROM python\nUSER root\nRUN exit 3\n", wait=True)
    failed = e.value.template
    assert (failed.name, failed.version, failed.state) == (name, 1, "failed")
    assert "non-zero code: 3" in e.value.error and "exit 3" in e.value.log
    template = client.templates.get(name)
    assert template.state == "failed" and "non-zero code: 3" in template.error
    # Waiting again for what failed raises again; no sandbox can run it.
    with pytest.raises(sbx.BuildFailed, match="non-zero code: 3"):
        template.wait(timeout_s=60)
    with pytest.raises(sbx.TemplateNotReady) as e:
        client.sandboxes.create(name, **SMALL)
    assert (e.value.status, e.value.code) == (409, "template_not_ready")
    assert isinstance(e.value, sbx.Conflict)
    client.templates.delete(name)


def test_bad_builds_are_refused_naming_the_field(client):
    ok = "FROM python\n"
    for name, kwargs, field in [
        ("Bad_Name", {}, "name"),
        ("python", {}, "name"),  # a catalog image's name
        (unique("t"), {"timeout_s": 0}, "timeout_s"),
        (unique("t"), {"dockerfile": "RUN echo no FROM\n"}, "dockerfile"),
        (unique("t"), {"files": {"../up.txt": "x"}}, "body"),
    ]:
        kwargs.setdefault("dockerfile", ok)
        with pytest.raises(sbx.InvalidRequest) as e:
            client.templates.build(name, **kwargs)
        assert (e.value.status, e.value.field) == (422, field), e.value
    # A context without a Dockerfile is refused before anything is sent.
    with pytest.raises(ValueError, match="Dockerfile"):
        client.templates.build(unique("t"), files={"a.txt": "a"})
    with pytest.raises(ValueError, match="build context"):
        client.templates.build(unique("t"))
    for call in (client.templates.get, client.templates.versions, client.templates.delete):
        with pytest.raises(sbx.NotFound):
            call(unique("nothing"))
    with pytest.raises(sbx.NotFound):
        list(client.templates.logs(unique("nothing")))


@pytest.mark.asyncio
async def test_a_template_from_a_folder_with_the_async_client(aclient, tmp_path):
    (tmp_path / "Dockerfile.build").write_text(
        "FROM python\nUSER root\nCOPY . /opt/ctx\nUSER 1000\n"
    )
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a\n")
    os.symlink("data/a.txt", tmp_path / "link")  # sent as a link, not followed
    name = unique("folder")
    template = await aclient.templates.build(name, tmp_path, file="Dockerfile.build")
    assert template.info.dockerfile == "Dockerfile.build"
    seen = [e async for e in template.logs()]
    assert seen[-1].event == "end" and seen[-1].data["state"] == "ready", seen
    await template.wait(timeout_s=WAIT_S)
    assert template.state == "ready"
    assert [t.name for t in await aclient.templates.list()].count(name) == 1
    async with await aclient.sandboxes.create(template.image, **SMALL) as sandbox:
        await sandbox.wait_running()
        out = await sandbox.commands.run("readlink /opt/ctx/link; cat /opt/ctx/link; LC_ALL=C ls /opt/ctx")
        assert out.stdout == "data/a.txt\na\nDockerfile.build\ndata\nlink\n", out
    await aclient.templates.delete(name)
    with pytest.raises(sbx.NotFound):
        await aclient.templates.get(name)
