"""The sync client against a real server: each call's answer, and the errors a user meets."""

from __future__ import annotations

import json
import os

import pytest

import sbx

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_exec_returns_the_programs_output_and_a_limit_is_a_status(client):
    r = client.exec("print(1+1)")
    assert (r.status, r.exit_code, r.stdout, r.stderr) == ("succeeded", 0, "2\n", "")
    assert str(r.id)
    r = client.exec("import sys; sys.stderr.write('no'); sys.exit(3)")
    assert (r.status, r.exit_code, r.stderr) == ("failed", 3, "no")
    r = client.exec("while True: pass", timeout_ms=300)
    assert r.status == "timeout"
    r = client.exec("print(open('in.txt').read() + open('b.bin','rb').read().hex())", files={"in.txt": "hi", "b.bin": b"\x00\x01"})
    assert r.stdout == "hi0001\n"


def test_bad_input_is_a_typed_error_naming_the_field(client):
    with pytest.raises(sbx.InvalidRequest) as e:
        client.exec("print(1)", timeout_ms=0)
    assert (e.value.status, e.value.code, e.value.field) == (422, "invalid_limit", "timeout_ms")
    with pytest.raises(sbx.NotFound):
        client.jobs.get("01a22b62-6757-75d4-b717-0bc33d78127b")
    with pytest.raises(sbx.NotFound):
        client.sandboxes.get("not-an-id")


def test_a_refused_key_and_an_unreachable_server_are_clear_errors(monkeypatch):
    with sbx.Client(url=os.environ["SBX_URL"], api_key="sbx_nope") as bad:
        with pytest.raises(sbx.Unauthorized) as e:
            bad.exec("print(1)")
    assert e.value.code == "invalid_api_key"
    with sbx.Client(url="http://127.0.0.1:9", api_key="k", max_retries=1) as nowhere:
        with pytest.raises(sbx.ConnectionFailed, match="cannot reach"):
            nowhere.jobs.list()
    monkeypatch.delenv("SBX_API_KEY")
    with pytest.raises(sbx.SbxError, match="no API key"):
        sbx.Client(url="http://x")
    with pytest.raises(sbx.SbxError, match="http"):
        sbx.Client(url="ftp://x", api_key="k")


def test_a_code_interpreter_keeps_state_and_is_terminated_on_exit(client):
    with client.sandboxes.create() as sandbox:
        assert sandbox.state == "running"
        assert sandbox.run_code("x = 41").status == "succeeded"
        r = sandbox.run_code("x + 1")
        assert (r.status, r.result) == ("succeeded", "42")
        r = sandbox.run_code("import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])")
        assert len(r.figures) == 1
        figure = r.figures[0]
        assert figure.name == "figure-1.png" and figure._repr_png_().startswith(PNG_MAGIC)
        r = sandbox.run_code("import sys; sys.exit(3)")
        assert (r.status, r.exit_code, r.reset) == ("failed", 3, False)
        sandbox.pause()
        assert sandbox.state == "paused"
        sandbox.resume()
        assert sandbox.run_code("x").result == "41"
        sandbox.set_timeout(120)
        assert sandbox.info.timeout_s == 120
        assert sandbox.id in [s.id for s in client.sandboxes.list(state="running")]
    assert client.sandboxes.get(sandbox.id).state == "terminated"
    with pytest.raises(sbx.Conflict) as e:
        sandbox.run_code("x")
    assert e.value.code == "sandbox_ended"


def test_a_container_sandbox_runs_commands_and_streams_its_logs(client):
    with client.sandboxes.create(
        "sbx/python:local", command=["sh", "-c", "printf 'a\\rb\\n'; echo done >&2; sleep 60"]
    ) as sandbox:
        sandbox.wait_running()
        out = sandbox.commands.run("echo $((6*7))")
        assert (out.status, out.exit_code, out.stdout) == ("succeeded", 0, "42\n")
        out = sandbox.commands.run(["sh", "-c", "exit 4"])
        assert (out.status, out.exit_code) == ("failed", 4)
        seen = {"stdout": "", "stderr": ""}
        for event in sandbox.logs():
            seen[event.event] += event.text
            if seen["stdout"] == "a\rb\n" and seen["stderr"] == "done\n":
                break
        assert seen == {"stdout": "a\rb\n", "stderr": "done\n"}


def test_a_job_is_queued_waited_for_and_its_log_is_its_output(client):
    job = client.jobs.submit("import sys\nprint('out')\nsys.stderr.write('err')")
    assert job.status in ("queued", "running", "succeeded")
    job.wait(timeout_s=60)
    assert job.status == "succeeded" and job.info.result["stdout"] == "out\n"
    events = list(job.logs())
    assert "".join(e.text for e in events if e.event == "stdout") == "out\n"
    assert "".join(e.text for e in events if e.event == "stderr") == "err"
    assert events[-1].event == "end" and events[-1].data["status"] == "succeeded"
    assert job.id in [j.id for j in client.jobs.list(limit=50)]


def test_a_container_jobs_artifacts_are_downloaded(client, tmp_path):
    job = client.jobs.submit(
        image="sbx/python:local",
        command=["sh", "-c", "mkdir -p /outputs/d && echo model > /outputs/d/m.txt && echo 1 > /outputs/metrics.json"],
        timeout_s=120,
    )
    job.wait(timeout_s=120)
    assert job.status == "succeeded", job.info
    written = job.artifacts.download(tmp_path / "art")
    assert sorted(p.relative_to(tmp_path / "art").as_posix() for p in written) == ["d/m.txt", "metrics.json"]
    assert (tmp_path / "art" / "d" / "m.txt").read_text() == "model\n"


def test_a_batch_from_a_jsonl_file_gives_results_and_a_pass_rate(client, tmp_path):
    items = [
        {"id": f"t/{i}", "code": f"print({i} * 2)", "expected_stdout": str(i * 2 if i % 4 else -1)}
        for i in range(8)
    ]
    path = tmp_path / "items.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in items))
    batch = client.batches.submit(path, progress=True)
    batch.wait(timeout_s=120)
    assert (batch.info.total, batch.info.passed, batch.info.failed) == (8, 6, 2)
    assert batch.pass_rate == pytest.approx(0.75)
    results = list(batch.results())
    assert [r.id for r in results] == [i["id"] for i in items]
    assert [r.verdict for r in results].count("passed") == 6


def test_usage_and_the_catalogs(client):
    report = client.usage(group_by="day")
    assert report.currency == "USD" and report.group_by == "day"
    # One sandbox's cost so far: an interpreter that ran is billed its allocation.
    with client.sandboxes.create(image="code-interpreter") as sandbox:
        sandbox.run_code("x = 1")
        start = sandbox.refresh().info.created_at.isoformat()
        own = client.usage(group_by="sandbox", sandbox_id=sandbox.id, start=start)
        assert [r.key for r in own.rows] == [sandbox.id]
        assert own.total_cost > 0
        # An interpreter is billed from its states, not sampled: no series, a cost so far.
        metrics = sandbox.metrics(step=1)
        assert metrics.points == [] and metrics.cost_so_far_usd > 0
    prices = client.prices()
    assert prices.currency == "USD" and prices.cpu_core_second > 0
    images = client.images()
    assert "code-interpreter" in [i.name for i in images.data]
    assert isinstance(client.gpus().models, list)


def test_a_fork_copies_the_state_and_goes_its_own_way(client):
    with client.sandboxes.create(image="code-interpreter") as sandbox:
        sandbox.run_code("x = 41")
        copies = sandbox.fork(2)
        try:
            assert len(copies) == 2 and all(c.state == "running" for c in copies)
            copies[0].run_code("x = 0")
            assert copies[1].run_code("x + 1").result == "42"
            assert sandbox.run_code("x").result == "41"
            with pytest.raises(sbx.InvalidRequest) as e:
                sandbox.fork(17)
            assert e.value.field == "count"
        finally:
            for c in copies:
                c.terminate()


def test_sandbox_events_stream_and_webhook_endpoints(client):
    with client.sandboxes.create(image="code-interpreter") as sandbox:
        sandbox.pause()
    seen = []
    for event in client.events(sandbox_id=sandbox.id, after=0):
        seen.append(event)
        if event.type == "sandbox.terminated":
            break
    assert [e.type for e in seen] == [
        "sandbox.pending", "sandbox.running", "sandbox.paused", "sandbox.terminated"
    ]
    assert all(str(e.data.sandbox_id) == sandbox.id for e in seen)
    with pytest.raises(sbx.BadRequest):
        next(iter(client.events(types=["sandbox.exploded"])))

    endpoint = client.webhooks.create("http://127.0.0.1:9/hook", events=["sandbox.failed"])
    assert endpoint.events == ["sandbox.failed"]
    assert endpoint.id in [e.id for e in client.webhooks.list()]
    with pytest.raises(sbx.InvalidRequest) as e:
        client.webhooks.create("http://127.0.0.1:9/hook", events=["sandbox.exploded"])
    assert e.value.field == "events[0]"
    client.webhooks.delete(endpoint.id)
    with pytest.raises(sbx.NotFound):
        client.webhooks.delete(endpoint.id)


def test_rate_limited_requests_are_retried_after_retry_after(strict_server):
    url, key = strict_server
    with sbx.Client(url=url, api_key=key, max_retries=0) as impatient:
        impatient.jobs.list()
        with pytest.raises(sbx.RateLimited) as e:
            impatient.jobs.list()
        assert e.value.retry_after is not None and e.value.retry_after > 0
    with sbx.Client(url=url, api_key=key, max_retries=5) as patient:
        for _ in range(3):
            patient.jobs.list()  # each waits for the rate's next token instead of failing


def test_a_retried_create_makes_one_object(strict_server):
    url, key = strict_server
    with sbx.Client(url=url, api_key=key, max_retries=5) as c:
        before = len(c.jobs.list())
        job = c.jobs.submit("print(5)")  # the first attempt may be refused (rate); one job results
        assert len(c.jobs.list()) == before + 1
        assert c.jobs.get(job.id).id == job.id
