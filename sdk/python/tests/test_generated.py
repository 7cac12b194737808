"""The generated parts are current: the models match the server's OpenAPI document and the sync
client matches the async one (``generate.py --check``)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent.parent


def test_models_and_the_sync_client_are_generated_from_the_current_sources():
    openapi = os.environ["SBX_URL"] + "/openapi.json"
    r = subprocess.run(
        [sys.executable, str(HERE / "generate.py"), "--check", openapi], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
