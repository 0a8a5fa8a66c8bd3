"""The errors services raise: what went wrong, in the service's words. None of them knows
HTTP: `gateway.api.error_table.ERRORS`, the one table at the edge, gives each its status and
code, for the error middleware and the OpenAPI document alike."""

from __future__ import annotations


class DomainError(Exception):
    """`message` in English; `message_zh`, when the service has one, the same in Chinese
    (otherwise the answer gives the error code's Chinese summary and the English detail)."""

    def __init__(self, message: str, *, message_zh: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.message_zh = message_zh
        self.headers: dict[str, str] = {}  # sent with the error answer

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


# The name the errors had when each carried its own status; kept for existing imports.
ApiError = DomainError


class InvalidRequest(DomainError):
    """A body, query or path parameter the route does not accept."""


class Unauthorized(DomainError):
    """No token, or one that is unknown or revoked."""


class TokenExpired(Unauthorized):
    """A true token past its expiry."""


class Forbidden(DomainError):
    """A token whose role may not call the route."""


class NotFound(DomainError):
    pass


class Conflict(DomainError):
    """What the request would create exists already."""


class InvalidState(DomainError):
    """The thing is not in a state that allows the change."""


class RefusalProtected(DomainError):
    """A change that would weaken a customer's do-not-call refusal inside its protection
    period, without the customer's consent as evidence."""

    def __init__(
        self, message: str, *, protected_until: str, message_zh: str | None = None
    ) -> None:
        super().__init__(message, message_zh=message_zh)
        self.protected_until = protected_until


class CallDenied(DomainError):
    """A call event that the call's record refuses."""


class RequestIdConflict(DomainError):
    """A request id seen before, with another request."""


class PolicyBelowFloor(DomainError):
    """A policy looser than the regulatory floor."""


class RequestTimeout(DomainError):
    """The client was too slow sending its request's body: answered, then the connection
    is closed."""


class TooLarge(DomainError):
    pass


class InvalidRecording(DomainError):
    """An uploaded recording that is not audio of the container its content type names:
    empty, cut off, another kind of file, or without a single sample."""


class UnsupportedMediaType(DomainError):
    pass


class RangeNotSatisfiable(DomainError):
    def __init__(self, message: str, *, size: int) -> None:
        super().__init__(message)
        self.size = size
        self.headers = {"Content-Range": f"bytes */{size}"}


class PreconditionFailed(DomainError):
    pass


class Unavailable(DomainError):
    pass
