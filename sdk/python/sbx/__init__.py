"""sbx: sandboxes for code, evals and training — the Python SDK.

Quickstart::

    import sbx

    client = sbx.Client()                      # SBX_URL, SBX_API_KEY
    print(client.exec("print(1+1)").stdout)    # "2\\n"

    with client.sandboxes.create() as sandbox:  # a code-interpreter; terminated on exit
        sandbox.run_code("x = 41")
        print(sandbox.run_code("x + 1").result)  # "42"
        sandbox.files.write("/workspace/in.txt", "hi")
        print(sandbox.files.read_text("/workspace/in.txt"))  # "hi"

    with client.sandboxes.create("python", ports=[8000]) as box:  # a container
        box.wait_running()
        web = box.processes.start("python3 -m http.server 8000")  # in the background
        box.wait_for_port(8000)                                    # listening=True
        for event in box.processes.start(["ls", "/"]).logs():     # stdout/stderr, then end
            print(event.text, end="")
        web.signal("TERM"); print(web.wait().exit_code)           # 143
        with box.terminal() as t:                                  # an interactive shell
            t.send("echo hi-$((6*7))\\n"); t.read_until("hi-42", timeout=30)

    template = client.templates.build("mine", "./app", wait=True)  # a folder with a Dockerfile
    with client.sandboxes.create(template.image) as box:  # "mine:1"; "mine": the newest ready
        ...

``AsyncClient`` has the same surface with ``await``. Errors are :mod:`sbx.errors` exceptions.
"""

from . import _models as models
from ._async.client import (
    AsyncArtifacts,
    AsyncBatch,
    AsyncBatches,
    AsyncClient,
    AsyncCommands,
    AsyncFiles,
    AsyncJob,
    AsyncJobs,
    AsyncProcess,
    AsyncProcesses,
    AsyncSandbox,
    AsyncSandboxes,
    AsyncTemplate,
    AsyncTemplates,
    AsyncTerminal,
)
from ._core import CellResult, Figure, FileListing, LogEvent
from ._sync.client import (
    Artifacts,
    Batch,
    Batches,
    Client,
    Commands,
    Files,
    Job,
    Jobs,
    Process,
    Processes,
    Sandbox,
    Sandboxes,
    Template,
    Templates,
    Terminal,
)
from .errors import (
    ApiError,
    BadRequest,
    BuildFailed,
    Conflict,
    ConnectionFailed,
    DiskFull,
    Forbidden,
    InvalidRequest,
    NotFound,
    PathConflict,
    PayloadTooLarge,
    ProcessExited,
    QuotaExceeded,
    RateLimited,
    SbxError,
    ServerError,
    ServiceUnavailable,
    StdinClosed,
    TemplateNotReady,
    TooManyProcesses,
    TooManyTemplates,
    Unauthorized,
)

__version__ = "0.1.0"

__all__ = [
    "ApiError",
    "Artifacts",
    "AsyncArtifacts",
    "AsyncBatch",
    "AsyncBatches",
    "AsyncClient",
    "AsyncCommands",
    "AsyncFiles",
    "AsyncJob",
    "AsyncJobs",
    "AsyncProcess",
    "AsyncProcesses",
    "AsyncSandbox",
    "AsyncSandboxes",
    "AsyncTemplate",
    "AsyncTemplates",
    "AsyncTerminal",
    "BadRequest",
    "Batch",
    "Batches",
    "BuildFailed",
    "CellResult",
    "Client",
    "Commands",
    "Conflict",
    "ConnectionFailed",
    "DiskFull",
    "Figure",
    "FileListing",
    "Files",
    "Forbidden",
    "InvalidRequest",
    "Job",
    "Jobs",
    "LogEvent",
    "NotFound",
    "PathConflict",
    "PayloadTooLarge",
    "Process",
    "ProcessExited",
    "Processes",
    "QuotaExceeded",
    "RateLimited",
    "Sandbox",
    "Sandboxes",
    "SbxError",
    "ServerError",
    "ServiceUnavailable",
    "StdinClosed",
    "Template",
    "TemplateNotReady",
    "Templates",
    "Terminal",
    "TooManyProcesses",
    "TooManyTemplates",
    "Unauthorized",
    "models",
]
