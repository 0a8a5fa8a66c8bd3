"""Exceptions that carry an HTTP status and an error code; one handler renders them."""

from __future__ import annotations


class ApiError(Exception):
    status = 400
    code = "invalid_request"

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.headers: dict[str, str] = {}  # sent with the error answer
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, {self.message!r})"


class InvalidRequest(ApiError):
    status = 400
    code = "invalid_request"


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "exists"


class RequestTimeout(ApiError):
    """The client was too slow sending its request's body: answered, then the connection
    is closed."""

    status = 408
    code = "request_timeout"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


class RangeNotSatisfiable(ApiError):
    status = 416
    code = "range_not_satisfiable"

    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.headers = {"Content-Range": f"bytes */{size}"}


class PreconditionFailed(ApiError):
    status = 412
    code = "precondition_failed"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"
