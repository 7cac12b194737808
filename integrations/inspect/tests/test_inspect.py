"""A real Inspect eval on sbx: a task with ``sandbox="sbx"`` (what ``--sandbox sbx`` sets), the
``mockllm/model`` answering with fixed programs, some right and some wrong, and a scorer that
runs each answer in the sample's sbx sandbox. The scores are the expected ones, and the
environment's exec, read_file and write_file behave as Inspect's contract says."""

from __future__ import annotations

import pytest
from inspect_ai import Task, eval, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ModelOutput, ModelUsage, get_model
from inspect_ai.scorer import CORRECT, INCORRECT, Score, Target, accuracy, scorer
from inspect_ai.solver import TaskState, generate
from inspect_ai.util import sandbox

import sbx

QUESTIONS = [("the sum of 2 and 3", "5"), ("6 times 7", "42"), ("10 minus 4", "6"), ("2 to the 10th", "1024")]
# The model's fixed answers, in sample order: right, wrong, right, wrong.
ANSWERS = ["print(2 + 3)", "print(6 + 7)", "print(10 - 4)", "print(2 * 10)"]


def answer(text: str) -> ModelOutput:
    """A fixed model output. With its usage given, mockllm counts no tokens (its counter would
    fetch a tokenizer from the network, which these machines do not reach)."""
    output = ModelOutput.from_content("mockllm/model", text)
    output.usage = ModelUsage(input_tokens=10, output_tokens=len(text), total_tokens=10 + len(text))
    return output


@scorer(metrics=[accuracy()])
def runs_in_the_sandbox():
    async def score(state: TaskState, target: Target) -> Score:
        box = sandbox()
        await box.write_file("answer/main.py", state.output.completion)
        assert await box.read_file("answer/main.py") == state.output.completion
        result = await box.exec(["python3", "main.py"], cwd="answer", timeout=60)
        got = result.stdout.strip()
        return Score(value=CORRECT if result.success and got == target.text else INCORRECT, answer=got)

    return score


@task
def arithmetic():
    return Task(
        dataset=[Sample(input=f"Print {q} in Python.", target=t) for q, t in QUESTIONS],
        solver=generate(),
        scorer=runs_in_the_sandbox(),
        sandbox="sbx",
    )


def test_an_inspect_task_on_sbx_sandboxes_scores_as_expected(tmp_path):
    model = get_model("mockllm/model", custom_outputs=[answer(a) for a in ANSWERS])
    [log] = eval(arithmetic(), model=model, max_samples=1, log_dir=str(tmp_path), display="none")
    assert log.status == "success", log.error
    scores = [s.scores["runs_in_the_sandbox"] for s in log.samples]
    assert [s.value for s in scores] == [CORRECT, INCORRECT, CORRECT, INCORRECT]
    assert [s.answer for s in scores] == ["5", "13", "6", "20"]
    assert log.results.scores[0].metrics["accuracy"].value == pytest.approx(0.5)
    # Each sample's sandbox was terminated at cleanup.
    with sbx.Client() as client:
        assert not client.sandboxes.list(state="running")


async def test_exec_read_file_and_write_file_keep_inspects_contract():
    from sbx_inspect import SbxSandboxEnvironment

    envs = await SbxSandboxEnvironment.sample_init("t", "sbx/python:local", {})
    env = envs["default"]
    try:
        r = await env.exec(["sh", "-c", 'read x; echo "$x $GREETING $(pwd)"'], input="hi\n", cwd="/tmp", env={"GREETING": "hello"})
        assert (r.success, r.returncode, r.stdout) == (True, 0, "hi hello /tmp\n")
        r = await env.exec(["sh", "-c", "echo err >&2; exit 3"])
        assert (r.success, r.returncode, r.stderr) == (False, 3, "err\n")
        with pytest.raises(TimeoutError):
            await env.exec(["sleep", "5"], timeout=1)
        blob = bytes(range(256)) * 2048  # 512 KiB: written in several pieces
        await env.write_file("d/e/blob.bin", blob)
        assert await env.read_file("d/e/blob.bin", text=False) == blob
        await env.write_file("t.txt", "héllo\n")
        assert await env.read_file("t.txt") == "héllo\n"
        with pytest.raises(FileNotFoundError):
            await env.read_file("missing.txt")
        with pytest.raises(IsADirectoryError):
            await env.read_file("d")
    finally:
        await SbxSandboxEnvironment.sample_cleanup("t", "sbx/python:local", envs, False)
