# Written from sbx/_async/client.py by generate.py (unasync): do not edit.
"""The client. Written once, async; ``generate.py`` writes the sync client (``sbx/_sync``) from
this file with unasync, so both have the same surface: ``AsyncX`` here is ``X`` there, and
``await``/``async for``/``async with`` are plain calls, loops and ``with`` blocks."""

from __future__ import annotations

import json
import os
import pathlib
import posixpath
import time
import uuid
from typing import IO, Any, Iterator, Dict, Iterable, List, Mapping, Optional, Sequence, Union

import httpx
import tqdm
from httpx_sse import EventSource, connect_sse
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidStatus

from .. import _core
from .. import _models as models
from .._core import sleep, ws_connect, ws_recv
from ..errors import ApiError, BuildFailed, ConnectionFailed, NotFound, PathConflict, SbxError

Json = Dict[str, Any]


class Client:
    """A client of one sbx server.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8080``; default ``SBX_URL``, else that one.
        api_key: An API key; default ``SBX_API_KEY``.
        timeout: Seconds a request may take (an exec also gets its own time limit on top).
        max_retries: Extra attempts at a request that is safe to repeat (reads; creates, which
            carry an automatic ``Idempotency-Key``; anything refused with 429 before it ran),
            waiting as ``Retry-After`` says or with exponential backoff.

    Raises:
        SbxError: no API key, or a URL that is not http(s).

    Use it as a context manager, or call ``aclose()``, to close its connections.
    """

    def __init__(
        self,
        url: Optional[str] = None,
        api_key: Optional[str] = None,
        *,
        timeout: float = _core.DEFAULT_TIMEOUT_S,
        max_retries: int = _core.DEFAULT_MAX_RETRIES,
    ) -> None:
        self.url, key = _core.settings(url, api_key)
        self.max_retries = max_retries
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {key}", "User-Agent": "sbx-python"},
            timeout=timeout,
        )
        self.sandboxes = Sandboxes(self)
        self.jobs = Jobs(self)
        self.batches = Batches(self)
        self.webhooks = SyncWebhooks(self)
        self.templates = Templates(self)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's connections."""
        self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Optional[Any] = None,
        params: Optional[Mapping[str, Any]] = None,
        headers: Optional[Mapping[str, str]] = None,
        safe: Optional[bool] = None,
        timeout: Optional[Union[float, httpx.Timeout]] = None,
        content: Optional[Union[bytes, _core.Upload]] = None,
        stream: bool = False,
    ) -> httpx.Response:
        """One API call with the retry policy; the 2xx (or 3xx) response.

        ``safe`` says whether the call may be repeated (default: for GET and HEAD). A POST that
        makes an object passes an ``Idempotency-Key`` header and ``safe=True``. ``content`` is
        a raw body: bytes, or an :class:`~sbx._core.Upload` (sent again from its start on a
        retry; one that cannot seek is sent once). With ``stream=True`` the body of a 2xx is
        not read: iterate it, then close the response.

        Raises:
            ApiError: a problem answer (the subclass follows its ``code``), after retries.
            ConnectionFailed: the server could not be reached, after retries.
        """
        safe = method in ("GET", "HEAD") if safe is None else safe
        params = {k: v for k, v in (params or {}).items() if v is not None}
        headers = dict(headers or {})
        retries = self.max_retries
        if isinstance(content, _core.Upload):
            if not content.replayable:
                retries = 0
            length = content.length()
            if length is not None:
                headers["Content-Length"] = str(length)
        attempt = 0
        while True:
            data = content.content() if isinstance(content, _core.Upload) else content
            try:
                request = self._http.build_request(
                    method,
                    path,
                    json=body,
                    content=data,
                    params=params,
                    headers=headers,
                    timeout=timeout or self.timeout,
                )
                response = self._http.send(request, stream=stream)
                if stream and response.status_code >= 400:
                    try:
                        response.read()
                    finally:
                        response.close()
            except httpx.TransportError as e:
                # Nothing came back: only a request safe to repeat is sent again.
                if not safe or attempt >= retries:
                    raise _core.connection_failed(self.url, e) from None
                sleep(_core.backoff(attempt, None))
                attempt += 1
                continue
            if response.status_code < 400:
                return response
            error = _core.problem(response)
            if attempt < retries and _core.retryable_status(response.status_code, error.code, safe):
                sleep(_core.backoff(attempt, error.retry_after))
                attempt += 1
                continue
            raise error

    def _websocket(self, path: str, params: Mapping[str, Any], *, safe: bool) -> Any:
        """Open the API's WebSocket at ``path`` (with the API key), with the retry policy of
        :meth:`request`: a refusal (problem answer) that is worth another attempt is retried,
        and so is a connection that failed, when ``safe`` (opening it twice does no harm).

        Raises:
            ApiError: the upgrade was refused (the subclass follows the problem's ``code``).
            ConnectionFailed: the server could not be reached, after retries.
        """
        url = _core.ws_url(self.url, path, params)
        headers = {"Authorization": self._http.headers["Authorization"]}
        attempt = 0
        while True:
            try:
                return ws_connect(url, headers, self.timeout)
            except InvalidStatus as e:
                error = _core.ws_problem(e)
                if attempt < self.max_retries and _core.retryable_status(error.status, error.code, safe):
                    sleep(_core.backoff(attempt, error.retry_after))
                    attempt += 1
                    continue
                raise error from None
            except _core.WS_CONNECT_ERRORS as e:
                if not safe or attempt >= self.max_retries:
                    raise _core.ws_connection_failed(self.url, e) from None
                sleep(_core.backoff(attempt, None))
                attempt += 1

    def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        return (self.request(method, path, **kwargs)).json()

    def exec(
        self,
        code: str,
        *,
        language: str = "python",
        args: Optional[Sequence[str]] = None,
        stdin: Optional[str] = None,
        env: Optional[Mapping[str, str]] = None,
        files: Optional[Mapping[str, Union[str, bytes]]] = None,
        timeout_ms: Optional[int] = None,
        memory_mb: Optional[int] = None,
        disk_mb: Optional[int] = None,
        output_limit_bytes: Optional[int] = None,
    ) -> models.ExecResponse:
        """Run ``code`` now, in a fresh sandbox, and return its result (``POST /v1/exec``).

        Args:
            code: Python source (``language="python"``), or a WASI module in base64
                (``language="wasi"``).
            files: ``{path: text or bytes}`` placed under ``/workspace``.
            timeout_ms, memory_mb, disk_mb, output_limit_bytes: limits (server defaults:
                10 000 ms, 512 MiB, 128 MiB, 1 MiB per stream; at most the project's ceilings).

        Returns:
            The result: ``status`` (``succeeded``, ``failed``, ``timeout``, ``memory_limit``,
            …: a limit hit is a status, not an exception), ``exit_code``, ``stdout``,
            ``stderr``, ``files`` and the job ``id`` that records it.

        Raises:
            InvalidRequest: a field is invalid (``field`` names it).
            RateLimited, QuotaExceeded: retried first, then raised.
        """
        body = _core.drop_none(
            {
                "language": language,
                "code" if language != "wasi" else "module_b64": code,
                "args": list(args) if args else None,
                "stdin": stdin,
                "env": dict(env) if env else None,
                "files": _core.files_in(files) or None,
                "timeout_ms": timeout_ms,
                "memory_mb": memory_mb,
                "disk_mb": disk_mb,
                "output_limit_bytes": output_limit_bytes,
            }
        )
        wait = (timeout_ms or 10_000) / 1000 + self.timeout
        return models.ExecResponse.model_validate(
            self._json("POST", "/v1/exec", body=body, timeout=wait)
        )

    def usage(
        self,
        *,
        start: Optional[str] = None,
        end: Optional[str] = None,
        group_by: Optional[str] = None,
        sandbox_id: Optional[str] = None,
    ) -> models.UsageReport:
        """Metered usage and cost of the project (``GET /v1/usage``).

        Args:
            start, end: RFC 3339 times (default: the 30 days to now).
            group_by: ``resource`` (default), ``sandbox`` or ``day``.
            sandbox_id: only this sandbox's usage (execs left out); with ``start`` at its
                ``created_at``, its cost so far.
        """
        params = {"from": start, "to": end, "group_by": group_by, "sandbox_id": sandbox_id}
        return models.UsageReport.model_validate(self._json("GET", "/v1/usage", params=params))

    def prices(self) -> models.PriceList:
        """The rates the meter charges, USD per second of one unit of each resource
        (``GET /v1/prices``)."""
        return models.PriceList.model_validate(self._json("GET", "/v1/prices"))

    def images(self) -> models.ImageList:
        """The curated sandbox images (``GET /v1/images``)."""
        return models.ImageList.model_validate(self._json("GET", "/v1/images"))

    def gpus(self) -> models.GpuList:
        """GPU models and cards, and what is free (``GET /v1/gpus``)."""
        return models.GpuList.model_validate(self._json("GET", "/v1/gpus"))

    def events(
        self,
        *,
        types: Optional[Sequence[str]] = None,
        sandbox_id: Optional[str] = None,
        after: Optional[int] = None,
    ) -> Iterator[models.Event]:
        """The project's sandbox events as they happen (``GET /v1/events``), without end:
        ``sandbox.pending``, ``.running``, ``.paused``, ``.resumed``, ``.terminated``,
        ``.failed``, and ``sandbox.egress_denied``: a container with an allow list tried to
        reach something not on it (``data.reason`` ``"egress_denied"``, ``data.state`` the
        sandbox's current state, ``data.detail`` what and how, e.g.
        ``"denied.test:443 (connect)"``: ``dns``, ``connect``, ``http`` or ``tls``; at most
        one a minute per host and sandbox). A dropped connection is resumed after the last
        event seen.

        Args:
            types: only these types (default: all).
            sandbox_id: only this sandbox's events.
            after: start after this event id (``0``: every event kept); default: from now.

        Raises:
            BadRequest: an unknown type.
        """
        params = {"types": ",".join(types) if types else None, "sandbox_id": sandbox_id}
        params = {k: v for k, v in params.items() if v is not None}
        last = None if after is None else str(after)
        while True:
            headers = {"Last-Event-ID": last} if last is not None else {}
            try:
                with connect_sse(
                    self._http, "GET", "/v1/events", params=params, headers=headers, timeout=None
                ) as source:
                    if source.response.status_code >= 400:
                        source.response.read()
                        raise _core.problem(source.response)
                    for sse in source.iter_sse():
                        if sse.data:
                            last = sse.id
                            yield models.Event.model_validate_json(sse.data)
            except (httpx.RemoteProtocolError, httpx.ReadError, httpx.ConnectError):
                sleep(1.0)

    def _logs(self, path: str, last_event_id: Optional[str]) -> Iterator[_core.LogEvent]:
        """The SSE log at ``path``, each event as it comes, resumed after ``last_event_id``,
        until the ``end`` event."""
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        with connect_sse(self._http, "GET", path, headers=headers, timeout=None) as source:
            if source.response.status_code == 204:
                return
            if source.response.status_code >= 400:
                source.response.read()
                raise _core.problem(source.response)
            for sse in source.iter_sse():
                event = _core.log_event(sse.event, sse.id, sse.data)
                yield event
                if event.event == "end":
                    return

    def _follow(
        self,
        path: str,
        *,
        follow: bool = True,
        last_event_id: Optional[str] = None,
        deadline: Optional[float] = None,
        params: Optional[Mapping[str, Any]] = None,
    ) -> Iterator[_core.LogEvent]:
        """The SSE log at ``path`` (a process's, a template build's), each event as it comes,
        after ``last_event_id``, until its ``end`` event; with ``follow=False``, until what is
        kept now has come (``params`` go in the query too). The connection is made with the retry policy; a stream that breaks
        midway (or ends before ``end`` while following) is resumed after the last event given
        (``Last-Event-ID``), at most ``max_retries`` times in a row, then ConnectionFailed.
        With ``deadline`` (a ``time.monotonic()`` value) it stops without ``end`` once that
        time has passed."""
        last = last_event_id
        failures = 0
        while True:
            read = None
            if deadline is not None:
                read = deadline - time.monotonic()
                if read <= 0:
                    return
            headers = {"Accept": "text/event-stream", "Cache-Control": "no-store"}
            if last is not None:
                headers["Last-Event-ID"] = last
            response = self.request(
                "GET",
                path,
                params={**(params or {}), "follow": None if follow else "false"},
                headers=headers,
                timeout=httpx.Timeout(self.timeout, read=read),
                stream=True,
            )
            broken: Optional[Exception] = None
            try:
                if response.status_code == 204:  # the reader had the end already
                    return
                for sse in EventSource(response).iter_sse():
                    event = _core.log_event(sse.event, sse.id, sse.data)
                    if event.id:
                        last = event.id
                    failures = 0
                    yield event
                    if event.event == "end":
                        return
                    if deadline is not None and time.monotonic() >= deadline:
                        return
            except httpx.TransportError as e:
                broken = e
            finally:
                response.close()
            if deadline is not None and time.monotonic() >= deadline:
                return
            if broken is None and not follow:
                return
            if failures >= self.max_retries:
                if broken is not None:
                    raise _core.connection_failed(self.url, broken)
                raise ConnectionFailed(f"the log stream {path} ended {failures + 1} times in a row before its end")
            sleep(_core.backoff(failures, None))
            failures += 1

    def _pages(self, path: str, params: Mapping[str, Any]) -> Iterator[Json]:
        """Every object of a cursor-paged list."""
        cursor = None
        while True:
            page = self._json("GET", path, params={**params, "cursor": cursor})
            for item in page["data"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return


class Sandboxes:
    """``client.sandboxes``: create, find and list sandboxes."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self,
        image: str = "code-interpreter",
        *,
        memory: Optional[str] = None,
        disk: Optional[str] = None,
        cpu: Optional[float] = None,
        gpu: Optional[Mapping[str, Any]] = None,
        timeout_s: Optional[int] = None,
        idle_timeout_s: Optional[int] = None,
        env: Optional[Mapping[str, str]] = None,
        command: Optional[Sequence[str]] = None,
        network: Optional[_core.NetworkArg] = None,
        ports: Optional[Iterable[int]] = None,
        registry: Optional[Mapping[str, str]] = None,
    ) -> "Sandbox":
        """Create a sandbox (``POST /v1/sandboxes``); use it as a context manager to terminate
        it when the block ends.

        Args:
            image: ``code-interpreter`` (a persistent Python interpreter), a container image,
                or one of the project's templates (``client.templates``): ``"name"`` runs its
                newest ready version, ``"name:2"`` version 2.
            memory, disk: quantities such as ``512Mi``, ``2Gi``.
            gpu: ``{"type": "H100 80GB", "count": 1, "fraction": 0.5}`` (containers only).
            timeout_s: lifetime in seconds (default 3600, at most 86 400).
            network: What a container may reach (read back as ``sandbox.network``):
                ``False`` (the default: loopback only), ``True`` (the full network), or a list
                of what it may reach, nothing else: host names (``"pypi.org"``; a
                ``"*.example.com"`` wildcard matches its subdomains, not ``example.com``
                itself), addresses (``"10.0.0.5"``) and CIDR ranges (``"203.0.113.0/24"``), 1
                to 64 of them. An allow list goes through an egress proxy: the container gets
                ``HTTP_PROXY``/``HTTPS_PROXY``, and DNS answers only allowed names; a refused
                connection is a ``sandbox.egress_denied`` event (``client.events()``). The
                API's own form ``{"allow": [...]}`` is taken too.
            ports: The ports a server in the container will listen on (read back, ascending,
                as ``sandbox.ports``): distinct, 1 to 65535, at most 16, e.g. ``[8000]``.
                ``list_ports()`` says which listen; ``expose_port()`` declares more later.
                Containers only.

        Raises:
            InvalidRequest: a field is invalid (``field`` names it: a bad allow-list rule is
                ``network.allow[i]``, its index in the list; a bad port ``ports[i]``, too many
                or repeated ports, or any on a code interpreter, ``ports``). QuotaExceeded:
                the project's sandbox cap.
            Forbidden: GPU work without KYC.
            TemplateNotReady: ``image`` names a template without a ready version (or a version
                that is not ready).
            TypeError: ``network`` is not a bool, a list of strings or ``{"allow": [...]}``
                (a lone string is refused: give ``["pypi.org"]``); ``ports`` is a lone number
                (give ``[8000]``); checked before sending.
        """
        body = _core.drop_none(
            {
                "image": image,
                "memory": memory,
                "disk": disk,
                "cpu": cpu,
                "gpu": dict(gpu) if gpu else None,
                "timeout_s": timeout_s,
                "idle_timeout_s": idle_timeout_s,
                "env": dict(env) if env else None,
                "command": list(command) if command else None,
                "network": _core.network_in(network),
                "ports": _core.ports_in(ports),
                "registry": dict(registry) if registry else None,
            }
        )
        view = self._client._json(
            "POST",
            "/v1/sandboxes",
            body=body,
            headers={"Idempotency-Key": _core.idempotency_key()},
            safe=True,
        )
        return Sandbox(self._client, models.SandboxView.model_validate(view))

    def get(self, sandbox_id: str) -> "Sandbox":
        """The sandbox ``sandbox_id``. Raises NotFound."""
        view = self._client._json("GET", f"/v1/sandboxes/{sandbox_id}")
        return Sandbox(self._client, models.SandboxView.model_validate(view))

    def list(self, *, state: Optional[str] = None) -> List["Sandbox"]:
        """The project's sandboxes, newest first; only those in ``state`` when given."""
        return [
            Sandbox(self._client, models.SandboxView.model_validate(v))
            for v in self._client._pages("/v1/sandboxes", {"state": state, "limit": 200})
        ]


class Sandbox:
    """One sandbox. ``info`` is its last known view (``refresh()`` reads it again).

    Attributes:
        id: Its id.
        commands: ``commands.run(...)`` runs a command in a container sandbox.
        processes: ``processes.start(...)``, ``.list()``, ``.get(pid)``: background processes
            in a container sandbox.
        files: ``files.write(...)``, ``files.read(...)``, …: its files under ``/workspace``
            (and ``/outputs`` in a container).

    ``terminal()`` opens an interactive shell in a container sandbox.
    """

    def __init__(self, client: Client, info: models.SandboxView) -> None:
        self._client = client
        self.info = info
        self.id = str(info.id)
        self.commands = Commands(self)
        self.processes = Processes(self)
        self.files = Files(self)

    def __repr__(self) -> str:
        return f"<Sandbox {self.id} {self.info.image} {self.info.state}>"

    @property
    def state(self) -> str:
        """``pending``, ``running``, ``paused``, ``terminated`` or ``failed`` (as last read)."""
        return self.info.state

    @property
    def network(self) -> Union[bool, Json, None]:
        """What the sandbox may reach, as plain JSON (as last read): ``False`` (loopback
        only), ``True`` (the full network) or ``{"allow": ["pypi.org", ...]}`` (only those
        hosts, addresses and ranges, through the egress proxy); ``None`` from a server without
        egress rules."""
        return _core.network_out(self.info)

    @property
    def ports(self) -> List[int]:
        """The ports declared for the sandbox (``ports=`` at create, ``expose_port()``),
        ascending (as last read); ``[]`` for none, and always for a code interpreter.
        ``list_ports()`` says which of them, and which others, a server listens on."""
        return _core.ports_out(self.info)

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.terminate()

    def _path(self, action: str = "") -> str:
        return f"/v1/sandboxes/{self.id}{action}"

    def _update(self, method: str, action: str, **kwargs: Any) -> "Sandbox":
        self.info = models.SandboxView.model_validate(
            self._client._json(method, self._path(action), **kwargs)
        )
        return self

    def refresh(self) -> "Sandbox":
        """Read the sandbox again."""
        return self._update("GET", "")

    def run_code(
        self,
        code: str,
        *,
        files: Optional[Mapping[str, Union[str, bytes]]] = None,
        timeout_ms: Optional[int] = None,
        output_limit_bytes: Optional[int] = None,
    ) -> _core.CellResult:
        """Run a cell in a code-interpreter sandbox: variables and imports persist between calls.

        Returns:
            The cell's result: ``status``, ``result`` (the repr of a final expression),
            ``stdout``, ``stderr``, ``figures`` (PNG, shown in Jupyter), ``exit_code``,
            ``reset``.

        Raises:
            Conflict: the sandbox has ended, or is paused or pending.
        """
        body = _core.drop_none(
            {
                "code": code,
                "files": _core.files_in(files) or None,
                "timeout_ms": timeout_ms,
                "output_limit_bytes": output_limit_bytes,
            }
        )
        wait = (timeout_ms or 10_000) / 1000 + self._client.timeout
        result = self._client._json("POST", self._path("/exec"), body=body, timeout=wait)
        return _core.CellResult.model_validate(result)

    def pause(self) -> "Sandbox":
        """Pause: its state is kept, its CPU, memory and GPU freed."""
        return self._update("POST", "/pause")

    def resume(self) -> "Sandbox":
        """Resume a paused sandbox."""
        return self._update("POST", "/resume")

    def set_timeout(self, timeout_s: int) -> "Sandbox":
        """End the sandbox ``timeout_s`` seconds from now (1 to 86 400)."""
        return self._update("POST", "/timeout", body={"timeout_s": timeout_s})

    def fork(self, count: int = 1) -> List["Sandbox"]:
        """Copies of this running sandbox, each independent and billed on its own; this one
        keeps running (``POST /v1/sandboxes/{id}/fork``). A code-interpreter's copies have its
        variables, imports and files; a container's have its ``/workspace`` and ``/outputs``
        and start its command afresh.

        Raises:
            InvalidRequest: ``count`` is not 1 to 16.
            Conflict: a sandbox that is not running, or has ended.
        """
        made = self._client._json("POST", self._path("/fork"), body={"count": count})
        return [
            Sandbox(self._client, models.SandboxView.model_validate(v)) for v in made["data"]
        ]

    def preview_url(
        self, port: int, *, expires_in: Optional[int] = None
    ) -> models.PreviewView:
        """A signed URL that opens ``port`` of this container sandbox in a browser (every path
        under it goes to the server on that port, cookies included), without an API key, until
        ``expires_at`` or the sandbox's end (``POST /v1/sandboxes/{id}/previews``).

        Args:
            port: the port the server listens on in the sandbox, 1 to 65535.
            expires_in: seconds the URL works, 1 to 86 400 (default 3600).

        Raises:
            InvalidRequest: ``port`` or ``expires_in`` out of range.
            Conflict: a code-interpreter, or an ended sandbox.
        """
        body = _core.drop_none({"port": port, "expires_in": expires_in})
        return models.PreviewView.model_validate(
            self._client._json("POST", self._path("/previews"), body=body)
        )

    def expose_port(self, port: int) -> "Sandbox":
        """Declare one more port of this container sandbox (``POST /v1/sandboxes/{id}/ports``);
        ``sandbox.info`` is read again, so ``sandbox.ports`` includes it. Declaring a port
        already declared changes nothing (and is retried like a read).

        Args:
            port: the port a server listens on in the sandbox (or will), 1 to 65535.

        Returns:
            The sandbox itself.

        Raises:
            InvalidRequest: ``port`` out of range, or 16 ports declared already (``field``
                ``port``).
            Conflict: a code interpreter (``not_a_container``), or an ended sandbox
                (``sandbox_ended``).
            NotFound: no such sandbox.
        """
        return self._update("POST", "/ports", body={"port": port}, safe=True)

    def list_ports(self) -> List[models.PortView]:
        """The ports of this container sandbox (``GET /v1/sandboxes/{id}/ports``): those
        declared, and any other a server listens on inside it, ascending by port.

        Returns:
            ``PortView`` entries: ``port`` (1 to 65535), ``declared`` (``True`` for one of
            ``sandbox.ports``; ``False`` for one found listening), ``listening`` (a server
            accepts connections on it at the sandbox's loopback now; always ``False`` unless
            the sandbox is running).

        Raises:
            Conflict: a code interpreter (``not_a_container``).
            NotFound: no such sandbox.
        """
        listed = self._client._json("GET", self._path("/ports"))
        return models.PortList.model_validate(listed).ports

    def wait_for_port(
        self, port: int, timeout_s: float = 60.0, interval_s: float = 0.2
    ) -> models.PortView:
        """Wait until a server listens on ``port`` in this container sandbox, asking
        ``list_ports()`` every ``interval_s`` seconds; the port need not be declared.

        Args:
            port: the port, 1 to 65535.
            timeout_s: seconds to wait at most (``0``: ask once).
            interval_s: seconds between two asks.

        Returns:
            The port's ``PortView`` entry, ``listening`` ``True``.

        Raises:
            SbxError: nothing listened on ``port`` within ``timeout_s`` seconds (the
                message names both), as ``wait_running`` says its own time out; a sandbox
                that is not running never listens.
            Conflict: a code interpreter (``not_a_container``).
            NotFound: no such sandbox.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            for entry in self.list_ports():
                if entry.port == port and entry.listening:
                    return entry
            left = deadline - time.monotonic()
            if left <= 0:
                raise SbxError(
                    f"sandbox {self.id}: nothing listens on port {port} after {timeout_s:g} s"
                )
            sleep(min(interval_s, left))

    def metrics(
        self, *, start: Optional[str] = None, end: Optional[str] = None, step: Optional[int] = None
    ) -> models.SandboxMetrics:
        """CPU (cores), memory, disk and network bytes, and cost, step by step from the meter's
        one-second samples (containers; an interpreter's series is empty), and the cost so far
        (``GET /v1/sandboxes/{id}/metrics``).

        Args:
            start, end: RFC 3339 times (default: the last hour of the sandbox's life).
            step: seconds per point (default: at most 300 points).

        Raises:
            BadRequest: a bad range, or a step giving over 2000 points.
        """
        params = {"from": start, "to": end, "step": step}
        return models.SandboxMetrics.model_validate(
            self._client._json("GET", self._path("/metrics"), params=params)
        )

    def terminate(self) -> "Sandbox":
        """Terminate the sandbox (``DELETE``); a sandbox that has ended stays as it is."""
        return self._update("DELETE", "", safe=True)

    def wait_running(self, timeout_s: float = 120.0, interval_s: float = 0.2) -> "Sandbox":
        """Wait while the sandbox is ``pending`` (a container being placed and started).

        Raises:
            SbxError: still pending after ``timeout_s``.
        """
        waited = 0.0
        while self.state == "pending":
            if waited >= timeout_s:
                raise SbxError(f"sandbox {self.id} is still pending after {timeout_s:g} s")
            sleep(interval_s)
            waited += interval_s
            self.refresh()
        return self

    def logs(self, *, last_event_id: Optional[str] = None) -> Iterator[_core.LogEvent]:
        """A container sandbox's output as it comes: ``stdout``/``stderr`` events (``text``
        exactly as written), then ``end`` when the sandbox ends; after ``last_event_id`` when
        given (an event's ``id``)."""
        for event in self._client._logs(self._path("/logs"), last_event_id):
            yield event

    def terminal(
        self, cols: Optional[int] = None, rows: Optional[int] = None, pid: Optional[int] = None
    ) -> "Terminal":
        """An interactive shell in a terminal of this container sandbox, over a WebSocket
        (``GET /v1/sandboxes/{id}/pty``): a new one (bash if the image has it, else sh, in
        ``/workspace``, ``TERM=xterm-256color``), or, with ``pid``, one started earlier
        (reattached: what is kept of its output, its last 1 MiB, comes first, then what it
        writes now). Use it as a context manager to close the connection when the block ends;
        the shell runs on either way (end it with ``send("exit\\n")`` or ``kill()``).

        Args:
            cols, rows: The terminal's size in characters, 1 to 1000 each (a new shell:
                default 80 columns, 24 rows; reattached: its size is kept unless given).
            pid: The terminal's ``pid`` (``terminal.pid``) to reattach to.

        Returns:
            The terminal, its ``pid`` known (it is also one of ``processes.list()``).

        Raises:
            InvalidRequest: ``cols`` or ``rows`` out of range (``field`` names it).
            NotFound: no such sandbox, or no process ``pid`` (never started, or gone with a
                pause).
            ProcessExited: the shell ``pid`` has exited.
            Conflict: process ``pid`` is not a terminal (code ``conflict``; started by
                ``processes.start``), the sandbox is a code interpreter (``not_a_container``)
                or cannot be reached now (``sandbox_paused``, ``sandbox_pending``,
                ``sandbox_ended``, ``sandbox_not_running``).
            TooManyProcesses: 32 processes run in the sandbox already (a shell is one).
            ConnectionFailed: the server could not be reached (a reattach is retried first;
                a new shell is not, since it may have started: see ``processes.list()``).
        """
        params = {"cols": cols, "rows": rows, "pid": None if pid is None else int(pid)}
        ws = self._client._websocket(self._path("/pty"), params, safe=pid is not None)
        try:
            first = ws_recv(ws, self._client.timeout)
        except (TimeoutError, ConnectionClosed) as e:
            ws.close()
            raise ConnectionFailed(f"the terminal of sandbox {self.id} did not say it was ready: {e!r}") from None
        ready = _core.terminal_message(first)
        if ready.get("type") != "ready" or not isinstance(ready.get("pid"), int):
            ws.close()
            raise SbxError(f"the terminal of sandbox {self.id} began with {first!r}, not its ready message")
        return Terminal(self, ws, ready["pid"])


class Commands:
    """``sandbox.commands``: commands in a container sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def run(
        self,
        command: Union[str, Sequence[str]],
        *,
        timeout_ms: Optional[int] = None,
        output_limit_bytes: Optional[int] = None,
    ) -> models.CommandOutcome:
        """Run ``command`` (a list of arguments, or a string for ``sh -c``) and wait for it.

        Returns:
            ``status``, ``exit_code``, ``stdout``, ``stderr``, ``truncated``, ``duration_ms``.
        """
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        body = _core.drop_none(
            {"command": argv, "timeout_ms": timeout_ms, "output_limit_bytes": output_limit_bytes}
        )
        client = self._sandbox._client
        wait = (timeout_ms or 10_000) / 1000 + client.timeout
        result = client._json("POST", self._sandbox._path("/exec"), body=body, timeout=wait)
        return models.CommandOutcome.model_validate(result)


class Files:
    """``sandbox.files``: the files of a running sandbox, under ``/workspace`` (both kinds) and
    ``/outputs`` (containers: what a job would keep as artifacts).

    A path is absolute (``/workspace/data/train.csv``); a relative one is taken below
    ``/workspace`` (``"data/train.csv"``). Sizes are in bytes.

    Every call can raise:
        InvalidRequest: code ``invalid_path`` (``field`` ``"path"``): a path outside
            ``/workspace`` and ``/outputs`` (``/outputs`` of a code interpreter too), with
            ``..``, ``.``, an empty name or a NUL byte, or through a link leading out.
        NotFound: no such sandbox, or nothing at the path.
        Conflict: the sandbox cannot be reached now: ``code`` ``sandbox_paused`` (resume it),
            ``sandbox_pending`` (``wait_running()`` first) or ``sandbox_ended``.
        PathConflict: a :class:`Conflict` with code ``path_conflict``: the wrong kind of entry
            is at the path (each method says which).
        RateLimited, ServiceUnavailable, ConnectionFailed: after the retries.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def _url(self, path: Union[str, "os.PathLike[str]"], kind: str = "files") -> str:
        return self._sandbox._path(f"/{kind}/{_core.file_url(path)}")

    def write(self, path: Union[str, "os.PathLike[str]"], data: _core.UploadData) -> models.FileInfo:
        """Write a file (``PUT /v1/sandboxes/{id}/files/{path}``): created with the folders it
        lacks, or replaced whole (a reader sees the old file or the new one, never a mix).

        Args:
            path: The file, e.g. ``/workspace/data/train.csv``.
            data: Its content: ``bytes``; a ``str``, written as UTF-8; or a binary file object
                (``open(p, "rb")``, ``io.BytesIO``), streamed from where it stands to its end in
                chunks of 1 MiB, never read into memory whole. A retry (after 429, 502-504 or a
                dropped connection) seeks back to where it stood when the call began; a file
                object that cannot seek (a pipe) is sent once, without retries.

        Returns:
            The file's entry: ``path``, ``type`` (``"file"``), ``size`` in bytes, ``mode``
            (permission bits, e.g. 420 = ``0o644``), ``mtime``.

        Raises:
            DiskFull: 507 ``disk_full``: the sandbox's disk cap is full (bytes or files);
                nothing was written, a file already there is unchanged.
            PathConflict: a folder is at ``path``, or a file where one of its folders should be.
            TypeError: ``data`` is none of the above (or a file opened in text mode).
        """
        upload = _core.Upload(data)
        response = self._sandbox._client.request(
            "PUT",
            self._url(path),
            content=upload,
            headers={"Content-Type": "application/octet-stream"},
            safe=True,
        )
        return models.FileInfo.model_validate(response.json())

    def upload(
        self, local_path: Union[str, "os.PathLike[str]"], path: Union[str, "os.PathLike[str]", None] = None
    ) -> models.FileInfo:
        """Upload the local file ``local_path`` to ``path`` (default: its name, below
        ``/workspace``), streamed as :meth:`write` does. Returns the entry written.

        Raises:
            OSError: ``local_path`` cannot be read. The rest: as :meth:`write`.
        """
        target = pathlib.PurePath(local_path).name if path is None else path
        with open(local_path, "rb") as f:
            return self.write(target, f)

    def read(
        self, path: Union[str, "os.PathLike[str]"], *, offset: int = 0, length: Optional[int] = None
    ) -> bytes:
        """The bytes of a file (``GET /v1/sandboxes/{id}/files/{path}``), whole, or ``length``
        bytes from byte ``offset`` (an HTTP range; fewer at the end of the file, ``b""`` past
        it). For a large file, :meth:`download` or :meth:`stream` keep memory flat.

        Raises:
            PathConflict: ``path`` is a folder (or a FIFO, socket or device).
            ValueError: a negative ``offset`` or ``length``.
        """
        if offset < 0 or (length is not None and length < 0):
            raise ValueError("offset and length are byte counts: 0 or more")
        ranged = offset > 0 or length is not None
        headers = {}
        if ranged:
            last = "" if length is None else str(offset + max(length, 1) - 1)
            headers["Range"] = f"bytes={offset}-{last}"
        try:
            response = self._sandbox._client.request("GET", self._url(path), headers=headers)
        except ApiError as e:
            if ranged and e.status == 416:  # the range starts past the end
                return b""
            raise
        data = response.content
        if ranged and response.status_code == 200:  # the whole file: the range was ignored
            data = data[offset:]
        return data if length is None else data[:length]

    def read_text(
        self, path: Union[str, "os.PathLike[str]"], *, encoding: str = "utf-8", errors: str = "strict"
    ) -> str:
        """A file's content as text, decoded with ``encoding``.

        Raises:
            UnicodeDecodeError: not text in that encoding (with ``errors="strict"``). The rest:
                as :meth:`read`.
        """
        return (self.read(path)).decode(encoding, errors)

    def stream(
        self, path: Union[str, "os.PathLike[str]"], *, chunk_size: Optional[int] = None
    ) -> Iterator[bytes]:
        """A file's bytes as they arrive, chunk by chunk (of ``chunk_size`` bytes if given, the
        last one shorter), for a file too large to hold in memory. The request is made when
        the iteration starts; the errors of :meth:`read` are raised then. A connection lost
        midway is :class:`ConnectionFailed` (not retried: the chunks given out stay given).
        Stopping early: close the iterator to free its connection at once."""
        client = self._sandbox._client
        response = client.request("GET", self._url(path), stream=True)
        try:
            for chunk in response.iter_bytes(chunk_size):
                yield chunk
        except httpx.TransportError as e:
            raise _core.connection_failed(client.url, e) from None
        finally:
            response.close()

    def download(
        self, path: Union[str, "os.PathLike[str]"], dest: Union[str, "os.PathLike[str]", IO[bytes]]
    ) -> int:
        """Save a file, streamed (memory stays flat), to ``dest``: a local path (a folder, or a
        path ending in ``/``: the file's name in it), its folders made, written beside it and
        renamed into place when whole, so that a failed download leaves no partial file; or a
        binary file object, written from where it stands. Returns the number of bytes written.

        Raises:
            OSError: ``dest`` cannot be written. The rest: as :meth:`read`.
        """
        if hasattr(dest, "write"):
            written = 0
            for chunk in self.stream(path):
                dest.write(chunk)  # type: ignore[union-attr]
                written += len(chunk)
            return written
        target = pathlib.Path(dest)  # type: ignore[arg-type]
        if target.is_dir() or os.fspath(dest).endswith(("/", os.sep)):  # type: ignore[arg-type]
            target = target / posixpath.basename(_core.guest_path(path).rstrip("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            with open(part, "wb") as f:
                written = self.download(path, f)
            os.replace(part, target)
        finally:
            if part.exists():
                part.unlink()
        return written

    def list(
        self, path: Union[str, "os.PathLike[str]"] = _core.WORKSPACE, *, recursive: bool = False
    ) -> _core.FileListing:
        """The entries of a folder (``GET /v1/sandboxes/{id}/files?path=&recursive=``), sorted
        by name; with ``recursive=True`` everything below it, each folder's entries right
        after it (at most 10 000 entries and 32 folders deep: ``truncated`` says if some were
        left out).

        Returns:
            A list of entries, each with ``path`` (absolute), ``type`` (``"file"``,
            ``"directory"``, ``"symlink"`` — not followed — or ``"other"``), ``size`` in bytes
            (0 but for files), ``mode`` (permission bits) and ``mtime``; and ``truncated``.

        Raises:
            PathConflict: ``path`` is not a folder.
        """
        params = {"path": _core.guest_path(path), "recursive": "true" if recursive else "false"}
        page = self._sandbox._client._json("GET", self._sandbox._path("/files"), params=params)
        listing = models.FileList.model_validate(page)
        return _core.FileListing(listing.data, listing.truncated)

    def remove(self, path: Union[str, "os.PathLike[str]"], *, recursive: bool = False) -> None:
        """Delete a file, a link (not what it points to) or an empty folder
        (``DELETE /v1/sandboxes/{id}/files/{path}``); with ``recursive=True`` a folder and
        everything in it.

        Raises:
            PathConflict: a folder that is not empty without ``recursive=True``, or
                ``/workspace`` (``/outputs``) itself.
            NotFound: nothing at ``path``.
        """
        params = {"recursive": "true" if recursive else "false"}
        self._sandbox._client.request("DELETE", self._url(path), params=params, safe=True)

    def mkdir(self, path: Union[str, "os.PathLike[str]"]) -> models.FileInfo:
        """Make a folder and the parents it lacks, like ``mkdir -p``
        (``POST /v1/sandboxes/{id}/directories/{path}``); one already there is fine.

        Returns:
            The folder's entry (``type`` ``"directory"``).

        Raises:
            PathConflict: a file is at ``path``, or where one of its folders should be.
            DiskFull: the sandbox's disk cap is full (its file count, most likely).
        """
        response = self._sandbox._client.request("POST", self._url(path, "directories"), safe=True)
        return models.FileInfo.model_validate(response.json())

    def exists(self, path: Union[str, "os.PathLike[str]"]) -> bool:
        """Whether anything is at ``path``: a file, a folder, a link to something there (a
        link to nothing: False), a FIFO, socket or device. A file is one ``HEAD`` request; a
        folder is listed too (an answer to HEAD has no problem document to say what it is).

        Raises:
            NotFound: no such sandbox (not: nothing at ``path``, which is False).
            InvalidRequest, Conflict: as every call (an invalid path, a paused sandbox, …).
        """
        try:
            self._sandbox._client.request("HEAD", self._url(path))
            return True
        except ApiError as e:
            if e.status == 404:
                self._sandbox.refresh()  # NotFound when the sandbox is what is missing
                return False
        try:
            self.list(path)
            return True  # a folder
        except NotFound:
            return False
        except PathConflict:
            pass  # neither a file nor a folder: a FIFO, socket or device, or a file in the way
        try:
            self.list(posixpath.dirname(_core.guest_path(path).rstrip("/")))
            return True  # its folder is a folder: the entry is there
        except (NotFound, PathConflict):
            return False


class Processes:
    """``sandbox.processes``: background processes of a container sandbox — a server, a
    watcher, a training run — answered as soon as they run, then followed, written to and
    signalled (``sandbox.commands.run`` waits for its command instead).

    A process runs as the sandbox user, with the sandbox's environment, until it exits, is
    signalled, hits its ``timeout_ms`` or the sandbox stops. Its ``pid`` is sbx's number for it
    in the sandbox (1, 2, …), not the kernel's. The sandbox keeps the last 32 processes
    (running and exited) and the last 1 MiB of each one's output. A pause stops them: after the
    resume the list is empty, an old pid is NotFound, and numbers start again at 1.

    Every call can raise:
        Conflict: code ``not_a_container`` (a code-interpreter sandbox has no processes), or
            the sandbox cannot be reached now: ``sandbox_paused`` (resume it),
            ``sandbox_pending`` (``wait_running()`` first) or ``sandbox_ended``.
        NotFound: no such sandbox, or no process with that pid.
        RateLimited, ServiceUnavailable, ConnectionFailed: after the retries.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def start(
        self,
        command: Union[str, Sequence[str]],
        *,
        env: Optional[Mapping[str, str]] = None,
        cwd: Union[str, "os.PathLike[str]", None] = None,
        stdin: bool = False,
        timeout_ms: Optional[int] = None,
        tag: Optional[str] = None,
    ) -> "Process":
        """Start ``command`` in the background (``POST /v1/sandboxes/{id}/processes``); the
        answer comes as soon as it runs. Follow it with the process's ``logs()`` or
        ``wait()``.

        Args:
            command: Its argv (``["python3", "-m", "http.server", "8000"]``), or a string run by
                ``sh -c``.
            env: Variables added to the sandbox's environment for it.
            cwd: Its working directory, default ``/workspace``; a relative path is taken below
                ``/workspace``.
            stdin: Keep its standard input open for the process's ``write_stdin()``;
                otherwise it reads end-of-file at once.
            timeout_ms: Wall-time limit in ms (1 to 604 800 000, 7 days), after which it and
                everything it started are killed with ``SIGKILL`` (``timed_out`` True, exit
                code 137); default none.
            tag: A label of yours, shown by :meth:`list` (1 to 64 of ``A-Z a-z 0-9 . _ -``).

        Returns:
            The process, ``state`` ``"running"``.

        Raises:
            InvalidRequest: a field is invalid (``field`` names it: ``command``, ``env``,
                ``cwd``, ``timeout_ms``, ``tag``, or an unknown one).
            TooManyProcesses: 32 processes run in the sandbox already.
            ConnectionFailed: the connection broke: not retried, since the process may have
                started (see :meth:`list`).
        """
        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        body = _core.drop_none(
            {
                "command": argv,
                "env": dict(env) if env else None,
                "cwd": _core.guest_path(cwd) if cwd is not None else None,
                "stdin": stdin,
                "timeout_ms": timeout_ms,
                "tag": tag,
            }
        )
        info = self._sandbox._client._json("POST", self._sandbox._path("/processes"), body=body)
        return Process(self._sandbox, models.ProcessInfo.model_validate(info))

    def list(self) -> List["Process"]:
        """The sandbox's processes, running and exited (the last 32), oldest first
        (``GET /v1/sandboxes/{id}/processes``); empty after a pause."""
        page = self._sandbox._client._json("GET", self._sandbox._path("/processes"))
        listed = models.ProcessList.model_validate(page)
        return [Process(self._sandbox, info) for info in listed.processes]

    def get(self, pid: int) -> "Process":
        """Process ``pid`` (``GET /v1/sandboxes/{id}/processes/{pid}``).

        Raises:
            NotFound: no such process: never started, dropped from the 32 kept, or gone with
                a pause.
        """
        info = self._sandbox._client._json("GET", self._sandbox._path(f"/processes/{int(pid)}"))
        return Process(self._sandbox, models.ProcessInfo.model_validate(info))


class Process:
    """One background process of a container sandbox. ``info`` is its last known view
    (:class:`sbx.models.ProcessInfo`: ``pid``, ``tag``, ``command``, ``cwd``, ``stdin``,
    ``state``, ``exit_code``, ``timed_out``, ``started_at``, ``ended_at``): ``refresh()`` reads
    it again; ``wait()``, and ``logs()`` when it reaches the ``end``, bring it up to date.

    Attributes:
        pid: Its number in the sandbox (1, 2, …): sbx's, not the kernel's.
        sandbox: The sandbox it runs in.

    Every call can raise what those of ``sandbox.processes`` can (NotFound once the process
    is gone with a pause, Conflict ``sandbox_paused``, …).
    """

    def __init__(self, sandbox: Sandbox, info: models.ProcessInfo) -> None:
        self.sandbox = sandbox
        self._client = sandbox._client
        self.info = info
        self.pid = info.pid

    def __repr__(self) -> str:
        return f"<Process {self.pid} {self.state} {' '.join(self.info.command)!r}>"

    @property
    def state(self) -> str:
        """``running`` or ``exited`` (as last read)."""
        return self.info.state

    @property
    def exit_code(self) -> Optional[int]:
        """Its exit code once it exited (as last read): 128 + n when signal n ended it (143
        for ``TERM``, 137 for ``KILL`` and ``timeout_ms``); None while it runs, or when the
        sandbox's stop ended it unrecorded."""
        return self.info.exit_code

    @property
    def done(self) -> bool:
        """Whether it has exited (as last read)."""
        return self.state == "exited"

    def _path(self, action: str = "") -> str:
        return self.sandbox._path(f"/processes/{self.pid}{action}")

    def refresh(self) -> "Process":
        """Read the process again (``GET …/processes/{pid}``). Returns itself."""
        self.info = models.ProcessInfo.model_validate(self._client._json("GET", self._path()))
        return self

    def logs(
        self, *, follow: bool = True, last_event_id: Optional[str] = None
    ) -> Iterator[_core.LogEvent]:
        """The process's output (``GET …/processes/{pid}/logs``): what is kept (its last 1 MiB),
        then, with ``follow``, as it is written until it exits: ``stdout`` and ``stderr``
        events (``text`` exactly as written, ``id`` its number), a ``dropped`` event
        (``data["first"]``: the first number still kept) where output left the ring before it
        was read, and last ``end`` (``data``: the process as a dict; ``info`` is updated from
        it). With ``follow=False``, only what is kept now, with ``end`` if it exited. After
        ``last_event_id`` when given (an event's ``id``; after ``"end"`` nothing comes).

        A stream that breaks midway is resumed after the last event given
        (``Last-Event-ID``): no chunk is lost or given twice. ConnectionFailed after
        ``max_retries`` failed resumptions in a row. The request is made when the iteration
        starts; stopping early: close the iterator to free its connection at once.
        """
        last = None if last_event_id is None else str(last_event_id)
        events = self._client._follow(self._path("/logs"), follow=follow, last_event_id=last)
        try:
            for event in events:
                if event.event == "end" and event.data:
                    self.info = models.ProcessInfo.model_validate(event.data)
                yield event
        finally:
            events.close()  # its connection, at once when the caller stops early

    def wait(self, timeout_s: Optional[float] = None) -> "Process":
        """Wait until the process exits, following its log to the ``end`` event (the output is
        read and dropped; a broken stream is resumed); ``info`` then has ``exit_code``,
        ``timed_out`` and ``ended_at``. Returns itself at once if it had exited when last read.

        Raises:
            SbxError: still running after ``timeout_s`` seconds (None: as long as it takes).
        """
        if self.done:
            return self
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        ended = False
        for event in self._client._follow(self._path("/logs"), deadline=deadline):
            if event.event == "end" and event.data:  # the last event: the stream ends
                self.info = models.ProcessInfo.model_validate(event.data)
                ended = True
        if not ended:
            raise SbxError(f"process {self.pid} is still running after {timeout_s or 0:g} s")
        return self

    def write_stdin(self, data: Union[bytes, str], *, close: bool = False) -> None:
        """Write ``data`` to the process's standard input (``POST …/processes/{pid}/stdin``):
        bytes as they are, a ``str`` as UTF-8, at most 1 MiB a call; with ``close=True``, close
        its input afterwards (it reads end-of-file). It must have been started with
        ``stdin=True``. Not retried after a dropped connection (the input may have been
        written): ConnectionFailed.

        Raises:
            StdinClosed: its input is not open (started without ``stdin=True``, or closed).
            ProcessExited: it has exited.
            PayloadTooLarge: over 1 MiB.
            TypeError: ``data`` is neither bytes nor str.
        """
        self._client.request(
            "POST",
            self._path("/stdin"),
            content=_core.stdin_bytes(data),
            params={"close": "true" if close else None},
            headers={"Content-Type": "application/octet-stream"},
        )

    def close_stdin(self) -> None:
        """Close the process's standard input: it reads end-of-file.

        Raises:
            StdinClosed: its input is not open (started without ``stdin=True``, or closed
                already).
            ProcessExited: it has exited.
        """
        self.write_stdin(b"", close=True)

    def signal(self, name: str = "TERM") -> None:
        """Send signal ``name`` (``TERM``, ``KILL``, ``INT`` or ``HUP``; ``"SIGTERM"``,
        ``"term"`` and ``signal.SIGTERM`` too) to the process and every process it started
        (``POST …/processes/{pid}/signal``). It does not wait: :meth:`wait` does; one that
        ends from signal n exits 128 + n (143 for ``TERM``).

        Raises:
            ProcessExited: it has exited.
            InvalidRequest: another signal (``field`` ``"signal"``).
        """
        body = {"signal": _core.signal_name(name)}
        self._client.request("POST", self._path("/signal"), body=body)

    def kill(self) -> None:
        """Send ``KILL``: the process and every process it started end now (exit code 137).

        Raises:
            ProcessExited: it has exited.
        """
        self.signal("KILL")


class Terminal:
    """An interactive shell in a terminal of a container sandbox, over a WebSocket
    (``sandbox.terminal()``): what is typed goes in with :meth:`send`, what the terminal shows
    comes out of :meth:`recv` (or :meth:`read_until`, or by iterating the terminal) as raw
    bytes — UTF-8 text with the terminal's escape sequences (colours, cursor moves) and
    ``\\r\\n`` line ends, the typed input echoed as a terminal does.

    The shell is one of the sandbox's processes (``tty`` True in ``processes.list()``). It
    outlives the connection: :meth:`close` (or the end of a ``with`` block) leaves it running,
    ``sandbox.terminal(pid=terminal.pid)`` reattaches. It ends when it exits (``send("exit\\n")``),
    with :meth:`kill`, or with a pause or the end of the sandbox.

    Attributes:
        pid: Its number among the sandbox's processes (1, 2, …): sbx's, not the kernel's.
        sandbox: The sandbox it runs in.
        exit_code: The shell's exit code once :meth:`recv` has met its end (None before, or
            when the sandbox's stop ended it unrecorded): 128 + n when signal n ended it (137
            for :meth:`kill`).
    """

    def __init__(self, sandbox: Sandbox, ws: Any, pid: int) -> None:
        self.sandbox = sandbox
        self.pid = pid
        self.exit_code: Optional[int] = None
        self._ws = ws
        self._pending = b""  # output read past what read_until() returned
        self._exited = False
        self._ended = False  # nothing more comes: the shell exited or the connection closed

    def __repr__(self) -> str:
        state = f"exited {self.exit_code}" if self._exited else "running"
        return f"<Terminal {self.pid} of sandbox {self.sandbox.id} {state}>"

    @property
    def done(self) -> bool:
        """Whether the shell has exited (its end came through :meth:`recv`)."""
        return self._exited

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> "Terminal":
        return self

    def __next__(self) -> bytes:
        chunk = self.recv()
        if chunk is None:
            raise StopIteration
        return chunk

    def _closed(self, error: Optional[Exception] = None) -> SbxError:
        if self._exited:
            return SbxError(f"terminal {self.pid}: the shell has exited (exit code {self.exit_code})")
        return SbxError(f"terminal {self.pid}: the connection is closed" + (f" ({error})" if error else ""))

    def send(self, data: Union[bytes, str]) -> None:
        """Type ``data`` into the terminal: bytes as they are, a ``str`` as UTF-8 (``"ls\\n"``
        runs ``ls``; ``"\\x03"`` is Ctrl-C, ``"\\x04"`` Ctrl-D), sent in frames of 64 KiB at
        most. It does not wait for the shell to read it. Input the shell could not be given
        is reported by a later :meth:`recv`.

        Raises:
            SbxError: the connection is closed, or the shell has exited.
            TypeError: ``data`` is neither bytes nor str.
        """
        payload = _core.stdin_bytes(data)
        if self._exited:
            raise self._closed()
        try:
            for start in range(0, len(payload), _core.TERMINAL_FRAME_BYTES):
                self._ws.send(payload[start : start + _core.TERMINAL_FRAME_BYTES])
        except ConnectionClosed as e:
            raise self._closed(e) from None

    def recv(self, timeout: Optional[float] = None) -> Optional[bytes]:
        """The terminal's next output, as it comes: a chunk of bytes (whole UTF-8 characters),
        or None once nothing more will come: the shell has exited (``exit_code`` is then
        set; a pause or the end of the sandbox ends it too) or the connection was closed
        (:meth:`close`).

        Args:
            timeout: Seconds to wait at most (None: as long as it takes).

        Raises:
            TimeoutError: no output within ``timeout`` (nothing is lost: call again).
            SbxError: the server reported an error (``{"type": "error"}``): input that could not
                be written to the shell; the terminal goes on.
            ConnectionFailed: the connection broke; the shell runs on (reattach with
                ``sandbox.terminal(pid=terminal.pid)``).
        """
        if self._pending:
            chunk, self._pending = self._pending, b""
            return chunk
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            wait = None if deadline is None else deadline - time.monotonic()
            try:
                message = ws_recv(self._ws, wait)
            except ConnectionClosedOK:
                self._ended = True
                break
            except ConnectionClosed as e:
                self._ended = True
                raise ConnectionFailed(
                    f"terminal {self.pid}: the connection broke ({e}); the shell runs on: "
                    f"reattach with sandbox.terminal(pid={self.pid})"
                ) from None
            if isinstance(message, bytes):
                return message
            event = _core.terminal_message(message)
            if event.get("type") == "exit":
                code = event.get("exit_code")
                self.exit_code = code if isinstance(code, int) else None
                self._exited = self._ended = True
            elif event.get("type") == "error":
                raise SbxError(f"terminal {self.pid}: {event.get('detail') or message}")
            # Other messages (a later protocol's) are skipped.
        return None

    def read_until(self, text: Union[str, bytes], timeout: float) -> bytes:
        """Read the terminal's output until it contains ``text`` (a ``str`` is looked for as
        UTF-8): handy for scripts and tests (``send("make\\n")``, then
        ``read_until("$ ", 60)``). Returns what was read, up to the end of the first ``text``;
        what came after it is kept for the next :meth:`recv` or ``read_until``.

        Args:
            text: What to wait for, e.g. a prompt or a marker the command prints. Mind that
                the terminal echoes what is typed: wait for what the command's output has and
                its command line has not (``echo hi-$((6*7))`` prints ``hi-42``).
            timeout: Seconds to wait at most, in all.

        Raises:
            TimeoutError: ``text`` did not come within ``timeout``; the exception's
                ``output`` has what came instead (read: it is not given again).
            SbxError: the shell exited, or the connection was closed, before ``text`` came
                (``output`` has what came); or as :meth:`recv`.
        """
        want = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        deadline = time.monotonic() + timeout
        got = b""
        while want not in got:
            try:
                chunk = self.recv(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                late = TimeoutError(f"terminal {self.pid}: no {text!r} within {timeout:g} s; got {got[-2000:]!r}")
                late.output = got  # type: ignore[attr-defined]
                raise late from None
            if chunk is None:
                why = f"the shell exited (exit code {self.exit_code})" if self._exited else "the connection closed"
                ended = SbxError(f"terminal {self.pid}: {why} before {text!r} came; got {got[-2000:]!r}")
                ended.output = got  # type: ignore[attr-defined]
                raise ended
            got += chunk
        end = got.index(want) + len(want)
        got, self._pending = got[:end], got[end:] + self._pending
        return got

    def resize(self, cols: int, rows: int) -> None:
        """Resize the terminal to ``cols`` columns and ``rows`` rows (the shell gets
        ``SIGWINCH``; ``stty size`` says ``rows cols``).

        Raises:
            ValueError: either is not a whole number from 1 to 1000.
            SbxError: the connection is closed, or the shell has exited.
        """
        size = _core.terminal_size(cols, rows)
        if self._exited:
            raise self._closed()
        try:
            self._ws.send(json.dumps({"type": "resize", **size}))
        except ConnectionClosed as e:
            raise self._closed(e) from None

    def close(self) -> None:
        """Close the connection; the shell runs on (reattach with
        ``sandbox.terminal(pid=terminal.pid)``; end it with :meth:`kill` first, or with
        ``send("exit\\n")``). Output not read yet is dropped; :meth:`recv` then gives None.
        Closing twice is fine."""
        self._ended = True
        self._pending = b""
        self._ws.close()

    def kill(self) -> None:
        """End the shell and everything it started with ``KILL`` (through
        ``POST …/processes/{pid}/signal``); it does not wait: :meth:`recv` then gives what
        is left of the output and None, ``exit_code`` 137.

        Raises:
            ProcessExited: the shell has exited.
            NotFound: it is gone (a pause).
        """
        path = self.sandbox._path(f"/processes/{self.pid}/signal")
        self.sandbox._client.request("POST", path, body={"signal": "KILL"})


class Jobs:
    """``client.jobs``: queued runs, recorded with their output."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(
        self,
        code: Optional[str] = None,
        *,
        language: str = "python",
        image: Optional[str] = None,
        command: Optional[Sequence[str]] = None,
        callback_url: Optional[str] = None,
        network: Optional[_core.NetworkArg] = None,
        **fields: Any,
    ) -> "Job":
        """Queue a job (``POST /v1/jobs``) and return it at once.

        Python: ``submit(code, timeout_ms=..., memory_mb=..., files=...)``. A container job:
        ``submit(image="sbx/python:local", command=[...], gpu=..., memory="2Gi",
        timeout_s=..., network=...)``; it keeps what it writes under ``/outputs`` as artifacts.
        ``callback_url`` is sent the job when it ends (signed webhook). ``image`` may name one
        of the project's templates (``"name"``, ``"name:2"``); one without a ready version is
        TemplateNotReady.

        ``network`` (container jobs) is as for ``client.sandboxes.create``: ``False`` (the
        default: loopback only), ``True``, or a list of host names (``"*.example.com"``:
        subdomains only), addresses and CIDR ranges to allow, nothing else
        (``["pypi.org", "files.pythonhosted.org"]``; ``{"allow": [...]}`` too). A bad rule is
        InvalidRequest with ``field`` ``network.allow[i]``; a ``network`` that is none of
        those types is TypeError, before anything is sent.
        """
        if network is not None:
            fields["network"] = _core.network_in(network)
        if image is not None:
            body = {"kind": "container", "image": image, "command": list(command or []), **fields}
        else:
            if code is None:
                raise SbxError("give code (a Python job) or image and command (a container job)")
            files = fields.pop("files", None)
            body = {"language": language, "code": code, **fields}
            if files:
                body["files"] = _core.files_in(files)
        if callback_url:
            body["callback_url"] = callback_url
        view = self._client._json(
            "POST",
            "/v1/jobs",
            body=_core.drop_none(body),
            headers={"Idempotency-Key": _core.idempotency_key()},
            safe=True,
        )
        return Job(self._client, models.JobView.model_validate(view))

    def get(self, job_id: str) -> "Job":
        """The job ``job_id``. Raises NotFound."""
        view = self._client._json("GET", f"/v1/jobs/{job_id}")
        return Job(self._client, models.JobView.model_validate(view))

    def list(self, *, status: Optional[str] = None, limit: int = 200) -> List["Job"]:
        """The project's latest jobs, newest first, at most ``limit``."""
        jobs: List[Job] = []
        for v in self._client._pages("/v1/jobs", {"status": status, "limit": min(limit, 200)}):
            jobs.append(Job(self._client, models.JobView.model_validate(v)))
            if len(jobs) >= limit:
                break
        return jobs


class Job:
    """One job. ``info`` is its last known view.

    Attributes:
        id: Its id.
        artifacts: ``artifacts.download(dir)`` saves what a container job wrote to ``/outputs``.
    """

    def __init__(self, client: Client, info: models.JobView) -> None:
        self._client = client
        self.info = info
        self.id = str(info.id)
        self.artifacts = Artifacts(self)

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.info.status}>"

    @property
    def status(self) -> str:
        """``queued``, ``running``, or how it ended (an exec status), as last read."""
        return self.info.status

    @property
    def done(self) -> bool:
        """Whether the job has ended (as last read)."""
        return self.status in _core.TERMINAL_JOB_STATUSES

    def refresh(self) -> "Job":
        """Read the job again."""
        self.info = models.JobView.model_validate(self._client._json("GET", f"/v1/jobs/{self.id}"))
        return self

    def wait(self, timeout_s: Optional[float] = None, interval_s: float = 0.25) -> "Job":
        """Wait until the job ends; its ``info`` then has the ``result``.

        Raises:
            SbxError: it has not ended after ``timeout_s`` (None: wait as long as it takes).
        """
        waited = 0.0
        self.refresh()
        while not self.done:
            if timeout_s is not None and waited >= timeout_s:
                raise SbxError(f"job {self.id} is still {self.status} after {timeout_s:g} s")
            sleep(interval_s)
            waited += interval_s
            interval_s = min(interval_s * 1.5, 2.0)
            self.refresh()
        return self

    def cancel(self) -> "Job":
        """Cancel the job (a job that has ended stays as it is)."""
        view = self._client._json("POST", f"/v1/jobs/{self.id}/cancel", safe=True)
        self.info = models.JobView.model_validate(view)
        return self

    def logs(self, *, last_event_id: Optional[str] = None) -> Iterator[_core.LogEvent]:
        """The job's output as it comes: ``stdout``/``stderr`` events, then ``end`` with the
        final status and result; after ``last_event_id`` when given."""
        for event in self._client._logs(f"/v1/jobs/{self.id}/logs", last_event_id):
            yield event


class Artifacts:
    """``job.artifacts``: the files a container job wrote under ``/outputs``."""

    def __init__(self, job: Job) -> None:
        self._job = job

    def list(self) -> List[Json]:
        """``[{path, size}]`` of the job as last read (``wait()`` first)."""
        return list((self._job.info.result or {}).get("artifacts") or [])

    def read(self, path: str) -> bytes:
        """The bytes of artifact ``path``. Raises NotFound."""
        r = self._job._client.request("GET", f"/v1/jobs/{self._job.id}/artifacts/{path}")
        return r.content

    def download(self, directory: Union[str, pathlib.Path]) -> List[pathlib.Path]:
        """Save every artifact under ``directory`` (made if missing); the files written."""
        root = pathlib.Path(directory)
        written = []
        for a in self.list():
            target = (root / a["path"]).resolve()
            if root.resolve() not in target.parents:
                raise SbxError(f"artifact path {a['path']!r} leaves {root}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(self.read(a["path"]))
            written.append(target)
        return written


class SyncWebhooks:
    """``client.webhooks``: endpoints the project's sandbox events are POSTed to, signed with
    the project's secret (Standard Webhooks)."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def create(
        self, url: str, *, events: Optional[Sequence[str]] = None, description: Optional[str] = None
    ) -> models.WebhookEndpoint:
        """Register an endpoint (``POST /v1/webhooks``) for ``events`` (default: all): types
        as the client's ``events()`` gives them, e.g. ``["sandbox.failed",
        "sandbox.egress_denied"]``.

        Raises:
            InvalidRequest: a bad URL or event type (``field`` names it, e.g. ``events[1]``).
            Conflict: the project has 16 endpoints already.
        """
        body: Json = {"url": url}
        if events is not None:
            body["events"] = list(events)
        if description is not None:
            body["description"] = description
        return models.WebhookEndpoint.model_validate(
            self._client._json("POST", "/v1/webhooks", body=body)
        )

    def list(self) -> List[models.WebhookEndpoint]:
        """The project's endpoints, oldest first (``GET /v1/webhooks``)."""
        page = self._client._json("GET", "/v1/webhooks")
        return models.WebhookEndpointList.model_validate(page).data

    def delete(self, endpoint_id: str) -> None:
        """Remove an endpoint (``DELETE /v1/webhooks/{id}``). Raises NotFound."""
        self._client.request("DELETE", f"/v1/webhooks/{endpoint_id}")


class Batches:
    """``client.batches``: many code items at once, with results and a pass rate."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def submit(
        self, items: Union[Iterable[Mapping[str, Any]], str, pathlib.Path], *, progress: bool = False
    ) -> "Batch":
        """Queue a batch (``POST /v1/batches``): ``items`` as dicts (``id``, ``code``,
        ``expected_stdout``, ``stdin``, ``timeout_ms``, …) or the path of a ``.jsonl`` file
        with one per line. ``progress=True`` makes ``wait()`` show a progress bar.

        Raises:
            InvalidRequest: an item is invalid (``field`` names it, e.g. ``items[3].id``).
            PayloadTooLarge: over 10 000 items or the body cap.
        """
        if isinstance(items, (str, pathlib.Path)):
            with open(items, encoding="utf-8") as f:
                items = [json.loads(line) for line in f if line.strip()]
        view = self._client._json(
            "POST",
            "/v1/batches",
            body={"items": [dict(i) for i in items]},
            headers={"Idempotency-Key": _core.idempotency_key()},
            safe=True,
        )
        return Batch(self._client, models.BatchView.model_validate(view), progress)

    def get(self, batch_id: str) -> "Batch":
        """The batch ``batch_id``. Raises NotFound."""
        view = self._client._json("GET", f"/v1/batches/{batch_id}")
        return Batch(self._client, models.BatchView.model_validate(view))


class Batch:
    """One batch. ``info`` is its last known view (counts, ``pass_rate``)."""

    def __init__(self, client: Client, info: models.BatchView, progress: bool = False) -> None:
        self._client = client
        self.info = info
        self.id = str(info.id)
        self.progress = progress

    def __repr__(self) -> str:
        return f"<Batch {self.id} {self.info.status} {self.info.ended}/{self.info.total}>"

    @property
    def pass_rate(self) -> Optional[float]:
        """Passed items over ended items, 0 to 1 (as last read); None before any ended."""
        return self.info.pass_rate

    @property
    def done(self) -> bool:
        """Whether the batch has ended (as last read)."""
        return self.info.status in _core.ENDED_BATCH_STATUSES

    def refresh(self) -> "Batch":
        """Read the batch again."""
        view = self._client._json("GET", f"/v1/batches/{self.id}")
        self.info = models.BatchView.model_validate(view)
        return self

    def wait(
        self, timeout_s: Optional[float] = None, interval_s: float = 0.5, progress: Optional[bool] = None
    ) -> "Batch":
        """Wait until every item has ended, with a tqdm progress bar when ``progress`` (default:
        as submitted).

        Raises:
            SbxError: not done after ``timeout_s`` (None: as long as it takes).
        """
        show = self.progress if progress is None else progress
        bar = tqdm.tqdm(total=self.info.total, unit="item", disable=not show)
        waited = 0.0
        try:
            while True:
                self.refresh()
                bar.n = self.info.ended
                bar.set_postfix_str(
                    f"pass rate {self.pass_rate:.1%}" if self.pass_rate is not None else "", refresh=False
                )
                bar.refresh()
                if self.done:
                    return self
                if timeout_s is not None and waited >= timeout_s:
                    raise SbxError(f"batch {self.id} is still {self.info.status} after {timeout_s:g} s")
                sleep(interval_s)
                waited += interval_s
        finally:
            bar.close()

    def results(self) -> Iterator[models.ItemView]:
        """Every item's result, in item order, streamed as JSON lines."""
        headers = {"Accept": "application/x-ndjson"}
        with self._client._http.stream(
            "GET", f"/v1/batches/{self.id}/results", headers=headers, timeout=None
        ) as r:
            if r.status_code >= 400:
                r.read()
                raise _core.problem(r)
            for line in r.iter_lines():
                if line.strip():
                    yield models.ItemView.model_validate_json(line)

    def cancel(self) -> "Batch":
        """Cancel the items that have not ended."""
        view = self._client._json("POST", f"/v1/batches/{self.id}/cancel", safe=True)
        self.info = models.BatchView.model_validate(view)
        return self



class Templates:
    """``client.templates``: the project's own container images, built by the server from a
    Dockerfile and a build context (``POST /v1/templates``), then run by sandboxes and
    container jobs with ``image="<name>"`` (its newest ready version) or ``"<name>:<version>"``.

    Each build of a name makes its next version (1, 2, …); a version goes ``queued →
    building → ready | failed``. The Dockerfile starts (``FROM``, ``COPY --from=``) from
    catalog images (``python``), the project's templates, or images the hosts have: nothing is
    pulled from a registry. Its ``RUN`` steps have no network unless ``network=True``.

    Every call can raise:
        NotFound: no such template (or version) in the project.
        RateLimited, ServiceUnavailable, ConnectionFailed: after the retries.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    def build(
        self,
        name: str,
        path: Union[str, "os.PathLike[str]", None] = None,
        *,
        dockerfile: Optional[str] = None,
        file: str = "Dockerfile",
        files: Optional[Mapping[str, Union[str, bytes]]] = None,
        network: bool = False,
        timeout_s: Optional[int] = None,
        wait: bool = False,
    ) -> "Template":
        """Build the next version of template ``name`` (``POST /v1/templates``): the build
        context is made into a tar in memory and sent; the answer comes at once, the version
        ``queued`` (a runner with Docker builds it). Follow it with the template's ``wait()``
        or ``logs()``, or pass ``wait=True``.

        Args:
            name: The template's name: 1 to 63 of ``a-z 0-9 . _ -``, starting with a letter or
                a digit, not a catalog image's (``python``, …).
            path: A local folder to send whole as the build context (links are sent as links,
                not followed; ``.dockerignore`` is not read), holding the Dockerfile at
                ``file``.
            dockerfile: The Dockerfile's text, when there is no folder (or to replace the
                folder's): sent as ``file``.
            file: The Dockerfile's path in the context (default ``Dockerfile``).
            files: More files of the context, ``{relative path: text or bytes}`` (text as
                UTF-8), e.g. what the Dockerfile ``COPY``s; each replaces the folder's file of
                that path.
            network: Let ``RUN`` steps reach the network (default: no network while building).
            timeout_s: Longest the build may take, in seconds, 1 to 3600 (server default 600).
            wait: Wait for the build to end (as ``template.wait()``): the ready version is
                returned, a failed one raises :class:`BuildFailed`.

        Returns:
            The new version: ``version``, ``image`` (``"name:version"``), ``state``
            ``queued`` (``ready`` with ``wait=True``), ``info`` (its
            :class:`sbx.models.TemplateView`).

        Raises:
            InvalidRequest: ``field`` names what is wrong: ``name``, ``timeout_s``,
                ``dockerfile`` (no such file in the context, a Dockerfile that does not parse
                or has no ``FROM``, a variable in a base image, ``ADD`` of a URL without
                network) or ``body`` (an entry with an absolute path or ``..``).
            PayloadTooLarge: the build context is over 64 MiB.
            TemplateNotReady: the Dockerfile starts from a template with no ready version.
            TooManyTemplates: the project keeps 200 template versions already.
            BuildFailed: with ``wait=True``, the build failed (``error`` says why).
            ValueError: no context given (no ``path``, ``dockerfile`` or ``files``), or
                ``files`` alone without the Dockerfile.
            OSError: the folder cannot be read.
            ConnectionFailed: not retried after a dropped connection (a version may have been
                made: see :meth:`versions`).
        """
        context = _core.build_context(path, dockerfile, file, files)
        params = {
            "name": name,
            "dockerfile": None if file == "Dockerfile" else _core.tar_name(file),
            "network": "true" if network else None,
            "timeout_s": timeout_s,
        }
        response = self._client.request(
            "POST",
            "/v1/templates",
            params=params,
            content=context,
            headers={"Content-Type": "application/x-tar"},
        )
        template = Template(self._client, models.TemplateView.model_validate(response.json()))
        if wait:
            template.wait()
        return template

    def get(self, name: str, version: Optional[int] = None) -> "Template":
        """Version ``version`` of template ``name``, default its newest, whatever its state
        (``GET /v1/templates/{name}``). Raises NotFound."""
        params = {"version": None if version is None else int(version)}
        view = self._client._json("GET", _core.template_url(name), params=params)
        return Template(self._client, models.TemplateView.model_validate(view))

    def list(self) -> List["Template"]:
        """The project's templates, the newest version of each name (ready or not), by name
        (``GET /v1/templates``)."""
        page = self._client._json("GET", "/v1/templates")
        return [Template(self._client, v) for v in models.TemplateList.model_validate(page).data]

    def versions(self, name: str) -> List["Template"]:
        """Every version of template ``name``, newest first
        (``GET /v1/templates/{name}/versions``). Raises NotFound."""
        page = self._client._json("GET", _core.template_url(name, "/versions"))
        return [Template(self._client, v) for v in models.TemplateList.model_validate(page).data]

    def delete(self, name: str) -> None:
        """Delete template ``name``: every version, with their logs
        (``DELETE /v1/templates/{name}``). Sandboxes running one keep running; new ones naming
        it get NotFound (or, if the name is also an image the hosts have, that image).

        Raises:
            NotFound: no such template.
        """
        self._client.request("DELETE", _core.template_url(name))

    def logs(
        self, name: str, version: Optional[int] = None, *, last_event_id: Optional[str] = None
    ) -> Iterator[_core.LogEvent]:
        """The build log of version ``version`` of template ``name`` (default: its newest, as
        it is when the iteration starts): as ``template.logs()``."""
        template = self.get(name, version)
        events = template.logs(last_event_id=last_event_id)
        try:
            for event in events:
                yield event
        finally:
            events.close()


class Template:
    """One version of a template. ``info`` is its last known view
    (:class:`sbx.models.TemplateView`: ``name``, ``version``, ``image``, ``state``,
    ``error``, ``dockerfile`` (the path), ``context_bytes``, ``network``, ``timeout_s``,
    ``size_bytes``, ``image_id``, ``created_at``, ``started_at``, ``ended_at``):
    ``refresh()`` reads it again; ``wait()`` brings it up to date.

    Attributes:
        id: The version's id.
        name: The template's name.
        version: Its number, 1, 2, …
        image: What a sandbox or job names to run this version: ``"name:version"``
            (``client.sandboxes.create(template.image)``).
    """

    def __init__(self, client: Client, info: models.TemplateView) -> None:
        self._client = client
        self.info = info
        self.id = str(info.id)
        self.name = info.name
        self.version = info.version
        self.image = info.image

    def __repr__(self) -> str:
        return f"<Template {self.image} {self.state}>"

    @property
    def state(self) -> str:
        """``queued``, ``building``, ``ready`` or ``failed`` (as last read)."""
        return self.info.state

    @property
    def error(self) -> Optional[str]:
        """Why the build failed (as last read); None unless ``failed``."""
        return self.info.error

    @property
    def done(self) -> bool:
        """Whether the build has ended, ready or failed (as last read)."""
        return self.state in ("ready", "failed")

    def _path(self, action: str = "") -> str:
        return _core.template_url(self.name, action)

    def refresh(self) -> "Template":
        """Read this version again (``GET /v1/templates/{name}?version=``). Returns itself.

        Raises:
            NotFound: the template was deleted.
        """
        view = self._client._json("GET", self._path(), params={"version": self.version})
        self.info = models.TemplateView.model_validate(view)
        return self

    def logs(self, *, last_event_id: Optional[str] = None) -> Iterator[_core.LogEvent]:
        """The build's output (``GET /v1/templates/{name}/logs?version=``): what the builder
        wrote so far, then as it writes it, until the build ends: ``stdout`` events (``text``
        exactly as written, with ``[sbx: …]`` lines added by sbx; ``id`` its number), then
        ``end`` (``data``: ``{"state": "ready" | "failed", "error": …}``). After
        ``last_event_id`` when given (an event's ``id``; after ``"end"`` nothing comes).

        A stream that breaks midway is resumed after the last event given
        (``Last-Event-ID``): no chunk is lost or given twice. The request is made when the
        iteration starts; stopping early: close the iterator to free its connection at once.

        Raises:
            NotFound: the template was deleted (before or while following it).
        """
        last = None if last_event_id is None else str(last_event_id)
        params = {"version": self.version}
        events = self._client._follow(self._path("/logs"), last_event_id=last, params=params)
        try:
            for event in events:
                yield event
        finally:
            events.close()  # its connection, at once when the caller stops early

    def wait(self, timeout_s: Optional[float] = None) -> "Template":
        """Wait until the build ends, following its log to the ``end`` event (a broken stream
        is resumed), then read the version again (``size_bytes``, ``image_id``,
        ``ended_at``). Returns itself, ``ready``; at once if it was ready when last read.

        Raises:
            BuildFailed: the build failed: ``error`` says why (e.g. ``"… returned a non-zero
                code: 3"``), ``log`` has the end of its output, ``template`` the version.
            SbxError: not ended after ``timeout_s`` seconds (None: as long as it takes; a
                build itself ends within its own ``timeout_s`` once a runner takes it).
            NotFound: the template was deleted.
        """
        if self.state == "ready":
            return self
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        log = ""
        end: Optional[Json] = None
        params = {"version": self.version}
        for event in self._client._follow(self._path("/logs"), deadline=deadline, params=params):
            if event.event == "end":
                end = event.data or {}
            elif event.text:
                log = (log + event.text)[-_core.BUILD_LOG_TAIL_CHARS :]
        self.refresh()
        if end is None and not self.done:
            raise SbxError(f"template {self.image} is still {self.state} after {timeout_s or 0:g} s")
        if self.state == "failed":
            reason = self.error or (end or {}).get("error") or "the build failed"
            raise BuildFailed(self.info, reason, log)
        return self
