"""Regenerate the SDK's generated parts, then check them in:

- ``sbx/_models.py``: pydantic models of every schema in the server's OpenAPI document
  (datamodel-code-generator, pinned in ``tests/python-requirements.txt``);
- ``sbx/_sync/``: the sync client, written from ``sbx/_async/`` by unasync, so that both clients
  have the same surface.

Usage: ``python generate.py OPENAPI_JSON`` (a file, or the server's ``/openapi.json`` URL).
``python generate.py --check OPENAPI_JSON`` fails if a checked-in file differs (the tests run it).
"""

from __future__ import annotations

import difflib
import pathlib
import subprocess
import sys
import tempfile
import urllib.request

import unasync

HERE = pathlib.Path(__file__).resolve().parent
MODELS = HERE / "sbx" / "_models.py"
ASYNC_DIR = HERE / "sbx" / "_async"
SYNC_DIR = HERE / "sbx" / "_sync"

#: Names of the async surface and what the sync one calls them.
RENAMES = {
    "AsyncClient": "Client",
    "AsyncSandboxes": "Sandboxes",
    "AsyncSandbox": "Sandbox",
    "AsyncCommands": "Commands",
    "AsyncFiles": "Files",
    "AsyncProcesses": "Processes",
    "AsyncProcess": "Process",
    "AsyncTerminal": "Terminal",
    "AsyncJobs": "Jobs",
    "AsyncJob": "Job",
    "AsyncArtifacts": "Artifacts",
    "AsyncBatches": "Batches",
    "AsyncBatch": "Batch",
    "AsyncTemplates": "Templates",
    "AsyncTemplate": "Template",
    "asleep": "sleep",
    "aws_connect": "ws_connect",
    "aws_recv": "ws_recv",
    "aconnect_sse": "connect_sse",
    "aiter_sse": "iter_sse",
    "aiter_lines": "iter_lines",
    "aiter_bytes": "iter_bytes",
    "aclose": "close",
    "aread": "read",
    "acontent": "content",
    "AsyncIterator": "Iterator",
    "_async": "_sync",
}


def models(openapi: str) -> str:
    """The generated models for the OpenAPI document at ``openapi`` (a path or URL)."""
    with tempfile.TemporaryDirectory() as tmp:
        source = pathlib.Path(tmp) / "openapi.json"
        if openapi.startswith(("http://", "https://")):
            with urllib.request.urlopen(openapi) as r:
                source.write_bytes(r.read())
        else:
            source.write_bytes(pathlib.Path(openapi).read_bytes())
        out = pathlib.Path(tmp) / "models.py"
        subprocess.run(
            [
                sys.executable, "-m", "datamodel_code_generator",
                "--input", str(source), "--input-file-type", "openapi",
                "--output", str(out),
                "--output-model-type", "pydantic_v2.BaseModel",
                "--target-python-version", "3.9",
                "--use-annotated", "--field-constraints", "--use-double-quotes",
                "--enum-field-as-literal", "all", "--collapse-root-models",
                "--use-schema-description", "--use-field-description",
                "--disable-timestamp",
            ],
            check=True,
        )
        text = out.read_text()
    return text.replace("#   filename:  openapi.json", "#   from the server's /openapi.json by generate.py: do not edit")


def sync_sources() -> "dict[pathlib.Path, str]":
    """The sync client's files as unasync writes them from the async ones."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        rule = unasync.Rule(str(ASYNC_DIR) + "/", tmp + "/", additional_replacements=RENAMES)
        sources = sorted(ASYNC_DIR.glob("*.py"))
        unasync.unasync_files([str(s) for s in sources], rules=[rule])
        for src in sources:
            text = (pathlib.Path(tmp) / src.name).read_text()
            header = f"# Written from sbx/_async/{src.name} by generate.py (unasync): do not edit.\n"
            out[SYNC_DIR / src.name] = header + text
    return out


def main(argv: "list[str]") -> int:
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    wanted = {MODELS: models(args[0]), **sync_sources()}
    stale = []
    for path, text in wanted.items():
        old = path.read_text() if path.exists() else ""
        if old == text:
            continue
        if check:
            stale.append(path)
            sys.stdout.writelines(
                difflib.unified_diff(old.splitlines(True), text.splitlines(True), str(path), "generated")
            )
        else:
            path.write_text(text)
            print(f"wrote {path.relative_to(HERE)}")
    if stale:
        print(f"\nout of date: {', '.join(str(p.relative_to(HERE)) for p in stale)}; run generate.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
