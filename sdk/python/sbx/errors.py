"""Exceptions of the sbx SDK.

Every failure the SDK expects is an :class:`SbxError`: the server's RFC 9457 problems as
:class:`ApiError` subclasses chosen by the problem's ``code`` (and, for codes this SDK does not
know, by the HTTP status), a server that cannot be reached as :class:`ConnectionFailed`, and
a template build that failed as :class:`BuildFailed`. A limit a program hits (time, memory,
output, disk) is not an exception: it is the result's ``status``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Type


class SbxError(Exception):
    """Base class of every error the SDK raises on purpose."""


class ConnectionFailed(SbxError):
    """The server could not be reached, or did not answer in time (after the retries)."""


class BuildFailed(SbxError):
    """A template's build failed: a step exited non-zero, it ran past its ``timeout_s``, or the
    image was over the size cap (raised by ``template.wait()``, not an API answer).

    Attributes:
        template: The failed version (:class:`sbx.models.TemplateView`: ``image``,
            ``state`` ``"failed"``, ``error``, …).
        error: Why it failed, as the server says (e.g. ``"… returned a non-zero code: 3"``).
        log: The end of the build's output (its last 8 KiB), as the builder wrote it.
    """

    def __init__(self, template: Any, error: str, log: str = "") -> None:
        self.template = template
        self.error = error
        self.log = log
        super().__init__(f"the build of template {template.image} failed: {error}")


class ApiError(SbxError):
    """The server answered with a problem (``application/problem+json``).

    Attributes:
        status: The HTTP status, e.g. 422.
        code: The problem's stable code, e.g. ``"invalid_limit"``.
        title: A short summary of the problem type.
        detail: What was wrong with this request, in words.
        field: The request field at fault (``"timeout_ms"``, ``"items[3].id"``), when one is.
        retry_after: Seconds the server asked to wait before trying again (``Retry-After``),
            when it said.
        body: The whole problem document.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str = "",
        field: Optional[str] = None,
        retry_after: Optional[float] = None,
        body: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.field = field
        self.retry_after = retry_after
        self.body = body or {}
        where = f" ({field})" if field else ""
        super().__init__(f"{status} {code}: {detail}{where}")


class BadRequest(ApiError):
    """400: the body is not JSON, or a query parameter or header is not understood."""


class Unauthorized(ApiError):
    """401: no API key, or the key is unknown or revoked."""


class Forbidden(ApiError):
    """403: the project may not do this (``kyc_required`` for GPU work)."""


class NotFound(ApiError):
    """404: no such object in the caller's project."""


class Conflict(ApiError):
    """409: the object is not in a state that allows this (``sandbox_ended``,
    ``sandbox_paused``, ``sandbox_pending``, ``not_a_container``, ``template_not_ready``, …)."""


class PathConflict(Conflict):
    """409 ``path_conflict``: a sandbox file operation met the wrong kind of entry — a folder
    where a file is expected (or a file where a folder is), a folder that is not empty deleted
    without ``recursive=True``, or ``/workspace`` itself deleted."""


class ProcessExited(Conflict):
    """409 ``process_exited``: a background process has exited, so it takes no more input or
    signals; its ``exit_code`` is in ``process.refresh().info``."""


class StdinClosed(Conflict):
    """409 ``stdin_closed``: a background process's standard input is not open: it was started
    without ``stdin=True``, or its input was closed (``close_stdin()``, ``close=True``)."""


class TooManyProcesses(Conflict):
    """409 ``too_many_processes``: 32 background processes run in the sandbox already (an
    exited one makes room by itself); wait for one to end, or signal one."""


class TemplateNotReady(Conflict):
    """409 ``template_not_ready``: a sandbox or job (``image=``), or a Dockerfile's ``FROM``,
    names a template that has no ready version (or the version named is queued, building or
    failed: ``detail`` says which). Wait for its build (``template.wait()``), or name a
    version that is ready."""


class TooManyTemplates(Conflict):
    """409 ``too_many_templates``: the project keeps as many template versions as it may
    (200); delete some (``client.templates.delete(name)``) before building more."""


class PayloadTooLarge(ApiError):
    """413: the body, code, module, files or a template's build context are over their cap."""


class InvalidRequest(ApiError):
    """422: well-formed JSON asking for something invalid; ``field`` names the field."""


class RateLimited(ApiError):
    """429 ``rate_limited``: over the project's request rate; see ``retry_after``."""


class QuotaExceeded(ApiError):
    """429 for a project cap: concurrent execs, queued jobs or open sandboxes."""


class DiskFull(ApiError):
    """507 ``disk_full``: the sandbox's disk cap (``disk`` at create) is full, in bytes or
    files; nothing was written. Delete files, or create the sandbox with a larger disk."""


class ServiceUnavailable(ApiError):
    """503: the queue is full or the server cannot reach what it needs; see ``retry_after``."""


class ServerError(ApiError):
    """500 or another 5xx: the server's fault."""


_BY_CODE: Dict[str, Type[ApiError]] = {
    "rate_limited": RateLimited,
    "concurrency_limit": QuotaExceeded,
    "project_queue_full": QuotaExceeded,
    "path_conflict": PathConflict,
    "disk_full": DiskFull,
    "process_exited": ProcessExited,
    "stdin_closed": StdinClosed,
    "too_many_processes": TooManyProcesses,
    "template_not_ready": TemplateNotReady,
    "too_many_templates": TooManyTemplates,
}

_BY_STATUS: Dict[int, Type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    415: BadRequest,
    422: InvalidRequest,
    429: QuotaExceeded,
    503: ServiceUnavailable,
    507: DiskFull,
}


def error_class(status: int, code: str) -> Type[ApiError]:
    """The exception class for a problem with HTTP ``status`` and ``code``."""
    if code in _BY_CODE:
        return _BY_CODE[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError
