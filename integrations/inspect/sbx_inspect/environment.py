"""The ``sbx`` sandbox environment: Inspect's ``exec``, ``read_file`` and ``write_file`` on an sbx
container sandbox, through the sbx SDK (``SBX_URL``, ``SBX_API_KEY``).

sbx runs a command as an argument list with a time limit and an output cap; what Inspect adds
(standard input, a working directory, environment variables) is given to the command by a
small ``sh`` wrapper, and files travel as base64 through ``sh``, ``base64`` and ``mkdir``, which
every curated image has.
"""

from __future__ import annotations

import base64
import shlex
from typing import Any, Dict, List, Literal, Optional, Union, overload

from pydantic import BaseModel
from typing_extensions import override

import sbx
from inspect_ai.util import (
    ExecResult,
    OutputLimitExceededError,
    SandboxEnvironment,
    SandboxEnvironmentConfigType,
    sandboxenv,
)
from inspect_ai.util._sandbox.environment import SandboxUserUnsupportedError

#: The image a sample gets when the task names none.
DEFAULT_IMAGE = "sbx/python:local"
#: Output cap of one command, per stream (Inspect's own exec limit is 10 MiB).
OUTPUT_LIMIT_BYTES = 10 << 20
#: Base64 characters per command when a file is written (one argument may be at most 128 KiB).
WRITE_CHUNK = 96 << 10
#: Commands with no timeout of their own get this many seconds (a project's default ceiling).
DEFAULT_TIMEOUT_S = 300

# $1: stdin in base64 ("" for none), $2: working directory, then NAME=VALUE... and the command.
_RUN = 'in=$1; cd "$2" || exit 126; shift 2; if [ -n "$in" ]; then printf %s "$in" | base64 -d | exec env "$@"; else exec env "$@" </dev/null; fi'


class SbxConfig(BaseModel, frozen=True):
    """A sample's sandbox: the fields of ``POST /v1/sandboxes`` for a container.

    In a task, ``sandbox=("sbx", "IMAGE")`` sets only the image; ``sandbox=SandboxEnvironmentSpec(
    "sbx", SbxConfig(image=..., memory="2Gi", network=True))`` sets the rest.
    """

    image: str = DEFAULT_IMAGE
    memory: Optional[str] = None
    disk: Optional[str] = None
    cpu: Optional[float] = None
    timeout_s: Optional[int] = None
    network: Optional[bool] = None
    env: Optional[Dict[str, str]] = None


def _config(config: SandboxEnvironmentConfigType | None) -> SbxConfig:
    if config is None:
        return SbxConfig()
    if isinstance(config, str):
        return SbxConfig(image=config)
    if isinstance(config, SbxConfig):
        return config
    return SbxConfig(**config.model_dump())


@sandboxenv(name="sbx")
class SbxSandboxEnvironment(SandboxEnvironment):
    """One sample's sbx container sandbox."""

    def __init__(self, client: sbx.AsyncClient, sandbox: sbx.AsyncSandbox) -> None:
        super().__init__()
        self._client = client
        self._sandbox = sandbox

    @classmethod
    def config_deserialize(cls, config: Dict[str, Any]) -> BaseModel:
        return SbxConfig(**config)

    @classmethod
    def default_concurrency(cls) -> Optional[int]:
        return 16

    @override
    @classmethod
    async def sample_init(
        cls, task_name: str, config: SandboxEnvironmentConfigType | None, metadata: Dict[str, str]
    ) -> Dict[str, SandboxEnvironment]:
        c = _config(config)
        client = sbx.AsyncClient()
        sandbox = await client.sandboxes.create(
            c.image, memory=c.memory, disk=c.disk, cpu=c.cpu, timeout_s=c.timeout_s, network=c.network, env=c.env
        )
        await sandbox.wait_running()
        if sandbox.state != "running":
            await client.aclose()
            raise RuntimeError(f"sbx sandbox {sandbox.id} is {sandbox.state}: {sandbox.info.state_detail}")
        return {"default": cls(client, sandbox)}

    @override
    @classmethod
    async def sample_cleanup(
        cls,
        task_name: str,
        config: SandboxEnvironmentConfigType | None,
        environments: Dict[str, SandboxEnvironment],
        interrupted: bool,
    ) -> None:
        for environment in environments.values():
            env = environment.as_type(SbxSandboxEnvironment)
            try:
                await env._sandbox.terminate()
            finally:
                await env._client.aclose()

    @property
    def sandbox_id(self) -> str:
        """The sbx sandbox's id."""
        return self._sandbox.id

    @override
    async def exec(
        self,
        cmd: List[str],
        input: Union[str, bytes, None] = None,
        cwd: Optional[str] = None,
        env: Optional[Dict[str, str]] = None,
        user: Optional[str] = None,
        timeout: Optional[int] = None,
        timeout_retry: bool = True,
        concurrency: bool = True,
    ) -> ExecResult[str]:
        if user is not None:
            raise SandboxUserUnsupportedError(f"sbx sandboxes run commands as their own user, not {user!r}")
        stdin = input.encode() if isinstance(input, str) else (input or b"")
        argv = [
            "sh", "-c", _RUN, "sh",
            base64.b64encode(stdin).decode(),
            cwd or ".",
            *[f"{k}={v}" for k, v in (env or {}).items()],
            *cmd,
        ]
        out = await self._sandbox.commands.run(
            argv,
            timeout_ms=(timeout or DEFAULT_TIMEOUT_S) * 1000,
            output_limit_bytes=OUTPUT_LIMIT_BYTES,
        )
        if out.status == "timeout":
            raise TimeoutError(f"{shlex.join(cmd)} ran past its {timeout} s")
        if out.truncated:
            raise OutputLimitExceededError("10 MiB", out.stdout)
        code = out.exit_code if out.exit_code is not None else -1
        return ExecResult(success=code == 0, returncode=code, stdout=out.stdout, stderr=out.stderr)

    async def _sh(self, script: str, *args: str) -> ExecResult[str]:
        out = await self._sandbox.commands.run(
            ["sh", "-c", script, "sh", *args], timeout_ms=DEFAULT_TIMEOUT_S * 1000, output_limit_bytes=OUTPUT_LIMIT_BYTES
        )
        if out.truncated:
            raise OutputLimitExceededError("10 MiB", None)
        code = out.exit_code if out.exit_code is not None else -1
        return ExecResult(success=code == 0, returncode=code, stdout=out.stdout, stderr=out.stderr)

    @staticmethod
    def _file_error(file: str, r: ExecResult[str]) -> Exception:
        text = r.stderr.strip() or r.stdout.strip()
        if r.returncode == 2 or "No such file" in text:
            return FileNotFoundError(f"{file}: no such file in the sandbox")
        if r.returncode == 3 or "Is a directory" in text:
            return IsADirectoryError(f"{file} is a directory")
        if "Permission denied" in text:
            return PermissionError(f"{file}: permission denied")
        return RuntimeError(f"{file}: {text}")

    @override
    async def write_file(self, file: str, contents: Union[str, bytes]) -> None:
        data = base64.b64encode(contents.encode() if isinstance(contents, str) else contents).decode()
        chunks = [data[i : i + WRITE_CHUNK] for i in range(0, len(data), WRITE_CHUNK)] or [""]
        for n, chunk in enumerate(chunks):
            redirect = ">" if n == 0 else ">>"
            r = await self._sh(
                f'[ -d "$1" ] && exit 3; mkdir -p "$(dirname "$1")" && printf %s "$2" | base64 -d {redirect} "$1"',
                file,
                chunk,
            )
            if not r.success:
                raise self._file_error(file, r)

    @overload
    async def read_file(self, file: str, text: Literal[True] = True) -> str: ...

    @overload
    async def read_file(self, file: str, text: Literal[False]) -> bytes: ...

    @override
    async def read_file(self, file: str, text: bool = True) -> Union[str, bytes]:
        r = await self._sh('[ -e "$1" ] || exit 2; [ -d "$1" ] && exit 3; base64 "$1"', file)
        if not r.success:
            raise self._file_error(file, r)
        data = base64.b64decode(r.stdout)
        return data.decode("utf-8") if text else data
