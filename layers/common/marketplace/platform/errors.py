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


class ConfigurationError(RuntimeError):
    """The deployment is missing a setting; an operator problem, never the caller's."""
