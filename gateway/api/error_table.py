"""The one table from exception class to HTTP status and error code. The error middleware
answers with it and the OpenAPI document is generated from it, so the two cannot drift: a
service raises a domain error, and only this module knows how HTTP says it."""

from __future__ import annotations

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from gateway.core.errors import (
    CallDenied,
    Conflict,
    Forbidden,
    InvalidRecording,
    InvalidRequest,
    InvalidState,
    NotFound,
    PolicyBelowFloor,
    PreconditionFailed,
    RangeNotSatisfiable,
    RefusalProtected,
    RequestIdConflict,
    RequestTimeout,
    TokenExpired,
    TooLarge,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
)
from gateway.store.postgres import UNREACHABLE

# PostgreSQL or Redis gone mid-request (redis-py's own connection and timeout errors are
# not OSErrors): nothing was answered, so the client may retry.
STORE_UNREACHABLE: tuple[type[Exception], ...] = (
    *(kind for kind in UNREACHABLE if issubclass(kind, Exception)),
    RedisConnectionError,
    RedisTimeoutError,
)

# Exception class → (status, code); an exception takes the entry of the first class of its
# MRO found here, so a subclass answers as its base unless it has its own.
ERRORS: dict[type[Exception], tuple[int, str]] = {
    InvalidRequest: (400, "invalid_request"),
    PolicyBelowFloor: (400, "policy_below_floor"),
    Unauthorized: (401, "unauthorized"),
    TokenExpired: (401, "token_expired"),
    Forbidden: (403, "forbidden"),
    NotFound: (404, "not_found"),
    web.HTTPMethodNotAllowed: (405, "method_not_allowed"),
    RequestTimeout: (408, "request_timeout"),
    Conflict: (409, "exists"),
    InvalidState: (409, "invalid_state"),
    CallDenied: (409, "call_denied"),
    RefusalProtected: (409, "refusal_protected"),
    RequestIdConflict: (409, "request_id_conflict"),
    PreconditionFailed: (412, "precondition_failed"),
    TooLarge: (413, "too_large"),
    UnsupportedMediaType: (415, "unsupported_media_type"),
    RangeNotSatisfiable: (416, "range_not_satisfiable"),
    InvalidRecording: (422, "invalid_recording"),
    Unavailable: (503, "unavailable"),
    # Anything else is a fault of the gateway's: never declared, always logged.
    Exception: (500, "internal"),
}

# aiohttp's own errors (no route, a body past client_max_size, ...) answer as the domain
# error of the same meaning.
_AIOHTTP: dict[type[web.HTTPException], type[Exception]] = {
    web.HTTPBadRequest: InvalidRequest,
    web.HTTPUnauthorized: Unauthorized,
    web.HTTPForbidden: Forbidden,
    web.HTTPNotFound: NotFound,
    web.HTTPRequestTimeout: RequestTimeout,
    web.HTTPConflict: Conflict,
    web.HTTPRequestEntityTooLarge: TooLarge,
    web.HTTPUnsupportedMediaType: UnsupportedMediaType,
    web.HTTPServiceUnavailable: Unavailable,
}
ERRORS.update({http: ERRORS[domain] for http, domain in _AIOHTTP.items()})
ERRORS.update({kind: ERRORS[Unavailable] for kind in STORE_UNREACHABLE})

# An HTTP error of aiohttp's that the table does not name keeps its status.
OTHER_HTTP_ERROR = "error"

# Error code → what it means in Chinese, the start of every envelope's `message_zh`. A test
# keeps it equal to the codes above.
ERROR_ZH: dict[str, str] = {
    "invalid_request": "请求无效",
    "policy_below_floor": "设置低于监管要求的下限",
    "unauthorized": "未认证：缺少令牌，或令牌未知、已吊销",
    "token_expired": "令牌已过期，请使用新令牌",
    "forbidden": "无权限：该角色不得执行此操作",
    "not_found": "未找到",
    "method_not_allowed": "不支持该请求方法",
    "request_timeout": "请求发送超时",
    "exists": "已存在",
    "invalid_state": "当前状态不允许此变更",
    "refusal_protected": "客户拒绝受保护期内，不得削弱，除非提供客户同意的证据",
    "call_denied": "该呼叫的记录不接受此事件",
    "request_id_conflict": "请求编号已用于另一个请求",
    "precondition_failed": "前提条件不满足",
    "too_large": "请求过大",
    "unsupported_media_type": "不支持的内容类型",
    "range_not_satisfiable": "请求的范围无法满足",
    "invalid_recording": "录音文件无效：不是所声明格式的音频，或为空、被截断、时长为零",
    "unavailable": "服务暂时不可用，请稍后重试",
    "internal": "网关内部错误",
    OTHER_HTTP_ERROR: "请求错误",
}


def message_zh(exc: Exception, code: str, message: str) -> str:
    """The envelope's Chinese message: the service's own when it gave one, else the code's
    summary followed by the English detail (which names the field or thing concerned)."""
    own = getattr(exc, "message_zh", None)
    if isinstance(own, str) and own:
        return own
    summary = ERROR_ZH.get(code, ERROR_ZH[OTHER_HTTP_ERROR])
    return f"{summary}：{message}" if message else summary


def lookup(kind: type[BaseException]) -> tuple[int, str] | None:
    """The status and code of an exception class, or None for one the table does not know
    (only BaseExceptions that are not Exceptions)."""
    for cls in kind.__mro__:
        found = ERRORS.get(cls)
        if found is not None:
            return found
    return None


def answer_for(exc: Exception) -> tuple[int, str]:
    """The status and code an exception is answered with."""
    status, code = lookup(type(exc)) or ERRORS[Exception]
    if status == 500 and isinstance(exc, web.HTTPException):
        return exc.status, OTHER_HTTP_ERROR
    return status, code
