"""What the sync and async clients share: settings, the retry policy, problems as exceptions,
and the plain objects results come in. No I/O here but sleeping and the WebSocket calls of the
terminal, each in a sync and an async form that ``generate.py`` maps onto each other."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import random
import stat
import tarfile
import time
import uuid
from dataclasses import dataclass, field
from typing import IO, Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, Sequence, Union
from urllib.parse import quote, urlencode

import httpx
import websockets.asyncio.client
import websockets.exceptions
import websockets.sync.client
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
        field=problem_field(body),
        retry_after=retry_after(response),
        body=body,
    )


def problem_field(body: Mapping[str, Any]) -> Optional[str]:
    """The request field a problem document names: its ``field``, else the first of its
    ``errors`` that names one (``{"errors": [{"field": "network.allow[3]", …}]}``)."""
    field = body.get("field")
    if isinstance(field, str) and field:
        return field
    items = body.get("errors")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("field"), str) and item["field"]:
            return item["field"]
    return None


def connection_failed(url: str, error: Exception) -> errors.ConnectionFailed:
    """The exception for a server that could not be reached at ``url``."""
    if isinstance(error, httpx.TimeoutException):
        return errors.ConnectionFailed(f"{url} did not answer in time ({type(error).__name__})")
    return errors.ConnectionFailed(f"cannot reach the sbx server at {url}: {error}")


#: Bytes of terminal input one WebSocket frame carries at most (the server's cap); longer input
#: is sent in several frames.
TERMINAL_FRAME_BYTES = 64 << 10
#: Largest WebSocket message the terminal accepts from the server, in bytes (a reattach replays
#: up to about 1 MiB of output first).
TERMINAL_MAX_MESSAGE_BYTES = 16 << 20
#: Columns and rows a terminal may have (``cols`` and ``rows``: 1 to 1000).
TERMINAL_SIZES = range(1, 1001)

#: What a failed WebSocket opening raises, but a refusal (``InvalidStatus``, caught first): the
#: server unreachable, no answer in time, or an answer that is not an upgrade.
WS_CONNECT_ERRORS = (OSError, asyncio.TimeoutError, websockets.exceptions.InvalidHandshake)


def ws_url(url: str, path: str, params: Mapping[str, Any]) -> str:
    """The WebSocket URL of API ``path`` on server ``url``: ``http://`` becomes ``ws://``,
    ``https://`` ``wss://``; ``params`` without their ``None`` values as the query."""
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return "ws" + url[len("http"):] + path + (f"?{query}" if query else "")


def ws_problem(error: "websockets.exceptions.InvalidStatus") -> errors.ApiError:
    """The exception for a WebSocket upgrade the server refused (a 4xx or 5xx answer with a
    problem document), as :func:`problem` makes it for any other answer."""
    answer = error.response
    headers = {k: v for k, v in answer.headers.raw_items() if k.lower() in ("content-type", "retry-after")}
    return problem(httpx.Response(answer.status_code, headers=headers, content=bytes(answer.body or b"")))


def ws_connection_failed(url: str, error: Exception) -> errors.ConnectionFailed:
    """The exception for a WebSocket at ``url`` that could not be opened."""
    if isinstance(error, (TimeoutError, asyncio.TimeoutError)):
        return errors.ConnectionFailed(f"{url} did not answer in time (opening a WebSocket)")
    return errors.ConnectionFailed(f"cannot open a WebSocket to the sbx server at {url}: {error}")


def ws_connect(url: str, headers: Mapping[str, str], timeout: float) -> Any:
    """Open the WebSocket at ``url`` (the sync client's), sending ``headers``, within
    ``timeout`` seconds.

    Raises:
        websockets.exceptions.InvalidStatus: the server refused the upgrade.
        OSError, websockets.exceptions.InvalidHandshake: it could not be opened.
    """
    return websockets.sync.client.connect(
        url,
        additional_headers=dict(headers),
        user_agent_header="sbx-python",
        open_timeout=timeout,
        max_size=TERMINAL_MAX_MESSAGE_BYTES,
    )


async def aws_connect(url: str, headers: Mapping[str, str], timeout: float) -> Any:
    """Open the WebSocket at ``url`` (the async client's), as :func:`ws_connect` does."""
    return await websockets.asyncio.client.connect(
        url,
        additional_headers=dict(headers),
        user_agent_header="sbx-python",
        open_timeout=timeout,
        max_size=TERMINAL_MAX_MESSAGE_BYTES,
    )


def ws_recv(ws: Any, timeout: Optional[float]) -> "Union[str, bytes]":
    """The next message of WebSocket ``ws`` (the sync client's): ``str`` for a text frame,
    ``bytes`` for a binary one.

    Raises:
        TimeoutError: none came within ``timeout`` seconds (None: wait as long as it takes);
            nothing is lost, the next call gets it.
        websockets.exceptions.ConnectionClosed: the connection is closed.
    """
    return ws.recv(timeout)


async def aws_recv(ws: Any, timeout: Optional[float]) -> "Union[str, bytes]":
    """The next message of WebSocket ``ws`` (the async client's), as :func:`ws_recv` gives it
    (cancelling the wait loses nothing)."""
    if timeout is None:
        return await ws.recv()
    try:
        return await asyncio.wait_for(ws.recv(), max(timeout, 0.0))
    except asyncio.TimeoutError:
        raise TimeoutError(f"no message within {timeout:g} s") from None


def terminal_message(message: "Union[str, bytes]") -> Dict[str, Any]:
    """A terminal's text message as a dict (``{"type": "ready", "pid": 3}``, ``exit``,
    ``error``); ``{}`` for anything that is not a JSON object."""
    try:
        value = json.loads(message)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def terminal_size(cols: Any, rows: Any) -> Dict[str, int]:
    """``{"cols": cols, "rows": rows}`` for a resize message, checked here (the server's
    answer to a bad one would only come later, in the stream).

    Raises:
        ValueError: either is not a whole number from 1 to 1000.
    """
    for name, value in (("cols", cols), ("rows", rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value not in TERMINAL_SIZES:
            raise ValueError(f"{name} is a whole number from 1 to 1000, not {value!r}")
    return {"cols": cols, "rows": rows}


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


#: What the ``network`` argument of a container sandbox or job may be: ``False`` (loopback
#: only), ``True`` (the full network), a list of host names, addresses and CIDR ranges to allow
#: (``["pypi.org", "*.example.com", "203.0.113.0/24"]``), or the API's own form
#: ``{"allow": [...]}``.
NetworkArg = Union[bool, Sequence[str], Mapping[str, Any]]


def network_in(network: Optional[NetworkArg]) -> Union[bool, Dict[str, Any], None]:
    """The request's ``network`` field for the SDK's ``network`` argument: ``None`` (the
    server's default, no network), a ``bool`` as it is, a sequence of strings as
    ``{"allow": [...]}``, a mapping as a dict with its ``allow`` made a list. Only the types
    are checked here: the rules themselves (host name syntax, wildcards, CIDR ranges, 1 to 64
    of them) are the server's to judge, as 422 ``InvalidRequest`` naming ``network.allow[i]``.

    Raises:
        TypeError: anything else: a lone string (``"pypi.org"``: give ``["pypi.org"]``), a
            number, a set (unordered: the server names a bad rule by its index), a mapping
            without ``allow``, or a rule that is not a ``str``.
    """
    if network is None or isinstance(network, bool):
        return network
    if isinstance(network, Mapping):
        if "allow" not in network:
            raise TypeError(f"network as a mapping is {{'allow': [...]}}; got keys {sorted(map(str, network))}")
        body = dict(network)
        body["allow"] = _allow_list(network["allow"], "network['allow']")
        return body
    return {"allow": _allow_list(network, "network")}


def _allow_list(rules: Any, name: str) -> List[str]:
    """``rules`` as a list of strings, each checked to be one (not what it says)."""
    if isinstance(rules, (str, bytes)):
        raise TypeError(f"{name} is True, False or a list of host names and addresses: give [{rules!r}], not {rules!r}")
    if not isinstance(rules, Sequence):
        raise TypeError(
            f"{name} is True, False or a list of host names and addresses, not {type(rules).__name__}"
        )
    out = list(rules)
    for i, rule in enumerate(out):
        if not isinstance(rule, str):
            raise TypeError(f"{name}[{i}] is a host name, address or CIDR range as a str, not {type(rule).__name__}")
    return out


def network_out(view: Any) -> Union[bool, Dict[str, Any], None]:
    """A sandbox view's ``network`` as plain JSON: ``False``, ``True`` or
    ``{"allow": [...]}`` (``None`` when the view has none: a server or models from before
    egress rules)."""
    network = getattr(view, "network", None)
    if isinstance(network, BaseModel):
        return network.model_dump(mode="json", exclude_none=True)
    return network


def ports_in(ports: Any) -> Optional[List[int]]:
    """The request's ``ports`` field for the SDK's ``ports`` argument: ``None`` (and an empty
    list, the same) is left out, any other iterable becomes a list in its order. The ports
    themselves (1 to 65535, distinct, at most 16) are the server's to judge, as 422
    ``InvalidRequest`` naming ``ports[i]`` or ``ports``.

    Raises:
        TypeError: a lone port (``8000``: give ``[8000]``), a string, or no iterable at all.
    """
    if ports is None:
        return None
    if isinstance(ports, (int, str, bytes)):
        raise TypeError(f"ports is a list of port numbers: give [{ports!r}], not {ports!r}")
    try:
        out = list(ports)
    except TypeError:
        raise TypeError(f"ports is a list of port numbers, not {type(ports).__name__}") from None
    return out or None


def ports_out(view: Any) -> List[int]:
    """A sandbox view's declared ``ports`` as plain ints, ascending as the server gives them
    (``[]`` when it has none, or from a server before declared ports)."""
    return [int(getattr(p, "root", p)) for p in getattr(view, "ports", None) or []]


#: The sandbox folder a relative file path is taken below.
WORKSPACE = "/workspace"
#: Bytes read from an upload's file object at a time.
UPLOAD_CHUNK_BYTES = 1 << 20

#: What a data argument of ``files.write`` may be.
UploadData = Union[bytes, bytearray, memoryview, str, IO[bytes]]


def guest_path(path: "Union[str, os.PathLike[str]]") -> str:
    """``path`` as an absolute path in the sandbox: a relative one is taken below
    ``/workspace`` (``"data/x.csv"`` is ``/workspace/data/x.csv``). Nothing else is changed:
    the server judges the path (``invalid_path``)."""
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"a sandbox path is a str, not {type(path).__name__}")
    if path.startswith("/"):
        return path
    return f"{WORKSPACE}/{path}" if path else WORKSPACE


def file_url(path: "Union[str, os.PathLike[str]]") -> str:
    """The URL form of sandbox ``path`` below ``…/files/`` or ``…/directories/``: the absolute
    path without its leading ``/``, each name percent-encoded (``/workspace/a b/ü.txt`` is
    ``workspace/a%20b/%C3%BC.txt``). ``.`` and ``..`` are encoded too, so that they reach the
    server, which refuses them, instead of being resolved away by the HTTP client."""
    names = guest_path(path)[1:].split("/")
    return "/".join(n.replace(".", "%2E") if n in (".", "..") else quote(n, safe="") for n in names)


#: Largest build context of a template, in bytes (the server answers 413 past it).
MAX_TEMPLATE_CONTEXT_BYTES = 64 << 20
#: Bytes of a failed build's output kept for :class:`~sbx.errors.BuildFailed` (its end).
BUILD_LOG_TAIL_CHARS = 8 << 10


def template_url(name: str, action: str = "") -> str:
    """The path of template ``name`` (percent-encoded: the server judges the name), with
    ``action`` (``/logs``, ``/versions``) after it."""
    if not isinstance(name, str):
        raise TypeError(f"a template name is a str, not {type(name).__name__}")
    encoded = name.replace(".", "%2E") if name in (".", "..") else quote(name, safe="")
    return f"/v1/templates/{encoded}{action}"


def build_context(
    path: "Union[str, os.PathLike[str], None]",
    dockerfile: Optional[str],
    file: str,
    files: Optional[Mapping[str, "Union[str, bytes]"]],
) -> bytes:
    """A template's build context as an uncompressed tar, made in memory: the folder ``path``
    (every entry below it, links kept as links, not followed), then each of ``files``
    (``{relative path: text or bytes}``, text as UTF-8) and ``dockerfile`` (text) at ``file``;
    an entry of ``files`` or the Dockerfile replaces the folder's entry of that path. Owners
    are recorded as root (0:0), not the local user.

    Raises:
        ValueError: none of ``path``, ``dockerfile`` and ``files`` given, or no Dockerfile at
            ``file`` when the context is made of ``files`` alone.
        TypeError: a file's content is neither str nor bytes.
        OSError: the folder cannot be read (``NotADirectoryError``: ``path`` is no folder).
    """
    extra: Dict[str, bytes] = {}
    for name, content in (files or {}).items():
        if isinstance(content, str):
            content = content.encode("utf-8")
        if not isinstance(content, (bytes, bytearray, memoryview)):
            raise TypeError(f"the content of {name!r} is str or bytes, not {type(content).__name__}")
        extra[tar_name(name)] = bytes(content)
    if dockerfile is not None:
        extra[tar_name(file)] = dockerfile.encode("utf-8")
    if path is None and not extra:
        raise ValueError("give the build context: a folder (path), or dockerfile= text (and files=)")
    if path is None and tar_name(file) not in extra:
        raise ValueError(f"no Dockerfile: give dockerfile= text, or put {file!r} in files=")

    def owned_by_root(info: tarfile.TarInfo) -> Optional[tarfile.TarInfo]:
        if info.name in extra:
            return None  # replaced by an entry given in files= or dockerfile=
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if path is not None:
            root = os.fspath(path)
            if not os.path.isdir(root):
                raise NotADirectoryError(f"the build context {root!r} is not a folder")
            for child in sorted(os.listdir(root)):
                tar.add(os.path.join(root, child), arcname=child, recursive=True, filter=owned_by_root)
        now = time.time()
        for name, content in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o644
            info.mtime = int(now)
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def tar_name(name: "Union[str, os.PathLike[str]]") -> str:
    """A path of the build context as a tar entry's name: ``/`` separators, no ``./`` in
    front. An absolute path or one with ``..`` is kept, for the server to refuse (422,
    ``field`` ``body``)."""
    name = os.fspath(name).replace(os.sep, "/")
    while name.startswith("./"):
        name = name[2:]
    return name


class Upload:
    """The body of an upload: bytes (a ``str`` is encoded as UTF-8), or a binary file object
    read in chunks of ``UPLOAD_CHUNK_BYTES`` as it is sent, from where it stood when the call
    began; each retry seeks back there first. A file object that cannot seek is sent once,
    never retried.

    Raises:
        TypeError: ``data`` is none of these, or a file opened in text mode.
    """

    def __init__(self, data: UploadData) -> None:
        self.data: Optional[bytes] = None
        self.file: Optional[IO[bytes]] = None
        self.start: Optional[int] = None
        if isinstance(data, str):
            self.data = data.encode("utf-8")
        elif isinstance(data, (bytes, bytearray, memoryview)):
            self.data = bytes(data)
        elif isinstance(data, io.TextIOBase):
            raise TypeError("open the file in binary mode ('rb'): a text file gives str, not bytes")
        elif callable(getattr(data, "read", None)):
            self.file = data
            self.start = self._tell()
        else:
            raise TypeError(f"data must be bytes, str or a binary file object, not {type(data).__name__}")

    def _tell(self) -> Optional[int]:
        """Where the file stands, if it can seek back there."""
        f = self.file
        try:
            seekable = f.seekable() if hasattr(f, "seekable") else hasattr(f, "seek") and hasattr(f, "tell")
            return f.tell() if seekable else None  # type: ignore[union-attr]
        except (OSError, ValueError):
            return None

    @property
    def replayable(self) -> bool:
        """Whether it can be sent again (bytes, or a file that can seek)."""
        return self.file is None or self.start is not None

    def length(self) -> Optional[int]:
        """Bytes that one attempt sends, when known (``Content-Length``): those of the data, or
        of a file that can seek from its start to its end; else None (sent chunked)."""
        if self.data is not None:
            return len(self.data)
        if self.start is None:
            return None
        f = self.file
        try:
            st = os.fstat(f.fileno())  # type: ignore[union-attr]
            if stat.S_ISREG(st.st_mode):
                return max(0, st.st_size - self.start)
        except (AttributeError, OSError, ValueError):
            pass
        try:
            end = f.seek(0, io.SEEK_END)  # type: ignore[union-attr]
            end = end if isinstance(end, int) else f.tell()  # type: ignore[union-attr]
            f.seek(self.start)  # type: ignore[union-attr]
            return max(0, end - self.start)
        except (OSError, ValueError):
            return None

    def _rewind(self) -> None:
        if self.start is not None:
            self.file.seek(self.start)  # type: ignore[union-attr]

    def _chunk(self, chunk: Any) -> bytes:
        if isinstance(chunk, str):
            raise TypeError("open the file in binary mode ('rb'): its read() gives str, not bytes")
        return bytes(chunk)

    def content(self) -> "Union[bytes, Iterator[bytes]]":
        """The body of one attempt (the sync client's): the bytes, or the file's chunks from
        its start."""
        if self.data is not None:
            return self.data
        self._rewind()
        return self._chunks()

    def _chunks(self) -> Iterator[bytes]:
        while True:
            chunk = self.file.read(UPLOAD_CHUNK_BYTES)  # type: ignore[union-attr]
            if not chunk:
                return
            yield self._chunk(chunk)

    def acontent(self) -> "Union[bytes, AsyncIterator[bytes]]":
        """The body of one attempt (the async client's): the bytes, or the file's chunks from
        its start, each read in a worker thread so that the event loop does not wait on it."""
        if self.data is not None:
            return self.data
        self._rewind()
        return self._achunks()

    async def _achunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        while True:
            chunk = await loop.run_in_executor(None, self.file.read, UPLOAD_CHUNK_BYTES)  # type: ignore[union-attr]
            if not chunk:
                return
            yield self._chunk(chunk)


class FileListing(List[_models.FileInfo]):
    """A listing of a sandbox folder: a list of :class:`sbx.models.FileInfo` (``path``,
    ``type``, ``size`` in bytes, ``mode``, ``mtime``), each folder's entries sorted by name,
    a folder's contents right after it when recursive.

    Attributes:
        truncated: Whether entries were left out (over 10 000 entries, or deeper than 32
            folders below the one listed).
    """

    truncated: bool = False

    def __init__(self, entries: "List[_models.FileInfo]" = (), truncated: bool = False) -> None:  # type: ignore[assignment]
        super().__init__(entries)
        self.truncated = truncated

    def __repr__(self) -> str:
        return f"FileListing({list.__repr__(self)}, truncated={self.truncated})"


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
    """One event of a job's, sandbox's or background process's log stream.

    Attributes:
        event: ``stdout``, ``stderr`` or ``end``; in a process's stream also ``dropped``
            (output before ``data["first"]`` left the 1 MiB ring before it was read).
        id: The event id (resume after it with ``Last-Event-ID``); ``end`` for the last.
        text: The chunk, exactly as written (``stdout``/``stderr``); empty for the others.
        data: The ``end`` event's object (the final status; a process's
            :class:`sbx.models.ProcessInfo` as a dict), ``dropped``'s ``{"first": n}``, else
            ``None``.
    """

    event: str
    id: str
    text: str = ""
    data: Optional[Dict[str, Any]] = field(default=None)


def log_event(event: str, id: str, data: str) -> LogEvent:
    """A log stream's SSE event: ``stdout``/``stderr`` data is the chunk as a JSON string; the
    last event, id ``end`` (named ``status`` in a job's stream, ``end`` in a sandbox's and a
    process's), has a JSON object and is called ``end`` here for all; a process's ``dropped``
    has ``{"first": n}``."""
    if id == "end":
        event = "end"
    value = json.loads(data) if data else None
    if isinstance(value, str):
        return LogEvent(event, id, text=value)
    return LogEvent(event, id, data=value if isinstance(value, dict) else None)


def stdin_bytes(data: "Union[bytes, bytearray, memoryview, str]") -> bytes:
    """Input for a process: bytes as they are, a ``str`` encoded as UTF-8.

    Raises:
        TypeError: anything else.
    """
    if isinstance(data, str):
        return data.encode("utf-8")
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"input is bytes or str, not {type(data).__name__}")


def signal_name(name: Any) -> str:
    """A signal's name as the API takes it (``TERM``, ``KILL``, ``INT`` or ``HUP``): ``"term"``, ``"SIGTERM"``, ``signal.SIGTERM`` and
    ``"TERM"`` are all ``"TERM"``. Others are passed on for the server to refuse
    (``InvalidRequest``)."""
    name = str(getattr(name, "name", name)).upper()
    return name[3:] if name.startswith("SIG") else name


TERMINAL_JOB_STATUSES = frozenset(
    ["succeeded", "failed", "timeout", "memory_limit", "output_limit", "disk_limit", "cancelled", "error"]
)
"""Job statuses after which nothing changes."""

ENDED_BATCH_STATUSES = frozenset(["finished", "cancelled"])
"""Batch statuses after which nothing changes."""
