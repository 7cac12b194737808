"""What the sync and async clients share: settings, the retry policy, problems as exceptions,
and the plain objects results come in. No I/O here but sleeping."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

import httpx
from pydantic import BaseModel, model_validator

from . import _models, errors

#: Server used when neither ``url=`` nor ``SBX_URL`` is given.
DEFAULT_URL = "http://127.0.0.1:8080"
#: Seconds a request may take, unless the call sets its own (execs add their time limit).
DEFAULT_TIMEOUT_S = 60.0
#: Retries of a request that is safe to repeat, after the first attempt.
DEFAULT_MAX_RETRIES = 3
#: Longest wait between two attempts, in seconds, whatever ``Retry-After`` says.
MAX_BACKOFF_S = 30.0


def settings(url: Optional[str], api_key: Optional[str]) -> "tuple[str, str]":
    """The server URL and API key: the arguments, else ``SBX_URL`` and ``SBX_API_KEY``.

    Raises:
        SbxError: no API key was given either way.
    """
    url = (url or os.environ.get("SBX_URL") or DEFAULT_URL).rstrip("/")
    key = api_key or os.environ.get("SBX_API_KEY")
    if not key:
        raise errors.SbxError("no API key: pass api_key= or set SBX_API_KEY")
    if not url.startswith(("http://", "https://")):
        raise errors.SbxError(f"the server URL must start with http:// or https://: {url!r}")
    return url, key


def idempotency_key() -> str:
    """A fresh ``Idempotency-Key`` for a creating POST: its retries make one object, not two."""
    return f"sbx-py-{uuid.uuid4()}"


def retry_after(response: httpx.Response) -> Optional[float]:
    """The response's ``Retry-After`` in seconds (delta-seconds form), when it has one."""
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def backoff(attempt: int, asked: Optional[float]) -> float:
    """Seconds to wait before attempt ``attempt + 1``: what the server asked (``Retry-After``)
    or an exponential backoff with jitter (0.25 s, 0.5 s, 1 s, …), at most ``MAX_BACKOFF_S``."""
    if asked is not None:
        return min(asked, MAX_BACKOFF_S)
    return min(0.25 * (2**attempt) * (0.5 + random.random()), MAX_BACKOFF_S)


def retryable_status(status: int, code: Optional[str], safe: bool) -> bool:
    """Whether an answer with ``status`` (and problem ``code``) is worth another attempt.

    A request that is ``safe`` to repeat (reads, and creates carrying an Idempotency-Key) is
    retried on 429, 502, 503 and 504. Any request is retried on 429 ``rate_limited`` and
    ``concurrency_limit``: those are refused before anything runs.
    """
    if status == 429 and code in ("rate_limited", "concurrency_limit"):
        return True
    return safe and status in (429, 502, 503, 504)


def problem(response: httpx.Response) -> errors.ApiError:
    """The exception for a 4xx or 5xx answer, from its problem document when it has one."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip()[:300] or response.reason_phrase
        body = {"code": f"http_{response.status_code}", "detail": text}
    code = str(body.get("code") or f"http_{response.status_code}")
    cls = errors.error_class(response.status_code, code)
    return cls(
        response.status_code,
        code,
        str(body.get("detail") or body.get("title") or response.reason_phrase),
        title=str(body.get("title") or ""),
        field=body.get("field"),
        retry_after=retry_after(response),
        body=body,
    )


def connection_failed(url: str, error: Exception) -> errors.ConnectionFailed:
    """The exception for a server that could not be reached at ``url``."""
    if isinstance(error, httpx.TimeoutException):
        return errors.ConnectionFailed(f"{url} did not answer in time ({type(error).__name__})")
    return errors.ConnectionFailed(f"cannot reach the sbx server at {url}: {error}")


def sleep(seconds: float) -> None:
    """Wait (the sync client's backoff)."""
    time.sleep(seconds)


async def asleep(seconds: float) -> None:
    """Wait (the async client's backoff)."""
    await asyncio.sleep(seconds)


def files_in(files: Optional[Mapping[str, "str | bytes"]]) -> List[Dict[str, str]]:
    """``{path: content}`` as the API's ``files``: text as ``content``, bytes as
    ``content_b64``."""
    out = []
    for path, content in (files or {}).items():
        if isinstance(content, bytes):
            out.append({"path": path, "content_b64": base64.b64encode(content).decode()})
        else:
            out.append({"path": path, "content": content})
    return out


def drop_none(body: Dict[str, Any]) -> Dict[str, Any]:
    """``body`` without its ``None`` values: the server's defaults apply to those."""
    return {k: v for k, v in body.items() if v is not None}


class Figure(BaseModel):
    """A matplotlib figure a cell left open, as PNG. Shows itself in Jupyter.

    Attributes:
        name: Its file name, ``figure-1.png``, ….
        png: The PNG bytes.
    """

    name: str
    png: bytes

    def _repr_png_(self) -> bytes:
        return self.png


class CellResult(_models.CellOutcome):
    """A code-interpreter cell's result, its ``figures`` as :class:`Figure` (PNG bytes)."""

    figures: List[Figure]  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _decode_figures(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            data["figures"] = [
                f
                if isinstance(f, Figure)
                else Figure(name=f["path"], png=base64.b64decode(f.get("content_b64") or ""))
                for f in data.get("figures") or []
            ]
        return data


@dataclass
class LogEvent:
    """One event of a job's or sandbox's log stream.

    Attributes:
        event: ``stdout``, ``stderr`` or ``end``.
        id: The event id (resume after it with ``Last-Event-ID``).
        text: The chunk, exactly as written (``stdout``/``stderr``); empty for ``end``.
        data: The ``end`` event's object (the final status), else ``None``.
    """

    event: str
    id: str
    text: str = ""
    data: Optional[Dict[str, Any]] = field(default=None)


def log_event(event: str, id: str, data: str) -> LogEvent:
    """A log stream's SSE event: ``stdout``/``stderr`` data is the chunk as a JSON string; the
    last event, id ``end`` (named ``status`` in a job's stream, ``end`` in a sandbox's), has a
    JSON object and is called ``end`` here for both."""
    if id == "end":
        event = "end"
    value = json.loads(data) if data else None
    if isinstance(value, str):
        return LogEvent(event, id, text=value)
    return LogEvent(event, id, data=value if isinstance(value, dict) else None)


TERMINAL_JOB_STATUSES = frozenset(
    ["succeeded", "failed", "timeout", "memory_limit", "output_limit", "disk_limit", "cancelled", "error"]
)
"""Job statuses after which nothing changes."""

ENDED_BATCH_STATUSES = frozenset(["finished", "cancelled"])
"""Batch statuses after which nothing changes."""
