"""The async client has the sync one's surface (it is the source of it): the main calls."""

from __future__ import annotations

import pytest

import sbx

pytestmark = pytest.mark.asyncio


async def test_exec_and_a_sandbox_with_the_async_client(aclient):
    r = await aclient.exec("print(6*7)")
    assert (r.status, r.stdout) == ("succeeded", "42\n")
    async with await aclient.sandboxes.create() as sandbox:
        await sandbox.run_code("y = 2")
        assert (await sandbox.run_code("y ** 10")).result == "1024"
    assert (await aclient.sandboxes.get(sandbox.id)).state == "terminated"


async def test_a_job_and_a_batch_with_the_async_client(aclient):
    job = await (await aclient.jobs.submit("print('a')")).wait(timeout_s=60)
    assert job.info.result["stdout"] == "a\n"
    texts = [e.text async for e in job.logs() if e.event == "stdout"]
    assert "".join(texts) == "a\n"
    batch = await aclient.batches.submit([{"id": "x", "code": "print(1)", "expected_stdout": "1"}])
    await batch.wait(timeout_s=60)
    assert batch.pass_rate == 1.0
    assert [r.verdict async for r in batch.results()] == ["passed"]
    with pytest.raises(sbx.InvalidRequest):
        await aclient.batches.submit([{"id": "", "code": "print(1)"}])
