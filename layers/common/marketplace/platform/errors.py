"""Domain errors that carry the HTTP status they map to; handlers turn them into JSON error bodies."""

from __future__ import annotations

from typing import ClassVar


class MarketplaceError(Exception):
    """An error a client can act on. ``message`` is safe to show: it never carries secrets."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"error": self.code, "message": self.message}


class BadRequest(MarketplaceError):
    status = 400
    code = "bad_request"


class Unauthorized(MarketplaceError):
    status = 401
    code = "unauthorized"


class Forbidden(MarketplaceError):
    status = 403
    code = "forbidden"


class NotFound(MarketplaceError):
    status = 404
    code = "not_found"


class Conflict(MarketplaceError):
    status = 409
    code = "conflict"


class PreconditionFailed(MarketplaceError):
    status = 412
    code = "precondition_failed"


class PayloadTooLarge(MarketplaceError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(MarketplaceError):
    status = 415
    code = "unsupported_media_type"


class TooManyRequests(MarketplaceError):
    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class ServiceUnavailable(MarketplaceError):
    status = 503
    code = "service_unavailable"


# What AWS answers when it cannot take a request now: throttling, or a service (or the local emulator's storage)
# that is unavailable. The caller may retry; it is not the caller's fault, and not a bug of ours.
_UNAVAILABLE_CODES = frozenset({
    "ServiceUnavailable", "ServiceUnavailableException", "ThrottlingException", "Throttling", "RequestLimitExceeded",
    "ProvisionedThroughputExceededException", "SlowDown", "ThrottledException", "KMSInternalException",
    "RequestThrottled", "InsufficientStorage",
})


def aws_unavailable(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it: pynamodb wraps the SDK's errors) is AWS saying "not now": a
    throttle or a 503. Read from the SDK error's ``response`` without importing botocore."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = str((response.get("Error") or {}).get("Code", ""))
            status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
            if code in _UNAVAILABLE_CODES or status == 503:
                return True
        cause = getattr(current, "cause", None)
        current = cause if isinstance(cause, BaseException) else (current.__cause__ or current.__context__)
    return False


class ConfigurationError(RuntimeError):
    """The deployment is missing a setting; an operator problem, never the caller's."""
