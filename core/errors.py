"""Domain errors. Services raise them; the API maps them to JSON responses and the WebSocket
layer to error frames, each in one place."""


class GridcastError(Exception):
    code = "error"
    status = 400

    def __init__(self, message, **detail):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def as_dict(self):
        return {"code": self.code, "message": self.message, **self.detail}


class InvalidInput(GridcastError):
    code = "invalid"


class CellValueInvalid(InvalidInput):
    code = "invalid_value"

    def __init__(self, message, *, row=None, col=None):
        super().__init__(message, row=row, col=col)


class NotAuthenticated(GridcastError):
    code = "not_authenticated"
    status = 401

    def __init__(self, message: str = "log in first", **detail: object) -> None:
        super().__init__(message, **detail)


class NotFound(GridcastError):
    code = "not_found"
    status = 404


class PermissionDenied(GridcastError):
    code = "forbidden"
    status = 403


class Conflict(GridcastError):
    code = "conflict"
    status = 409


class QuotaExceeded(GridcastError):
    """A workspace (or user) has as many of something as it may have: names the quota and its
    limit (settings.GRIDCAST, "Quotas")."""

    code = "quota_exceeded"
    status = 403

    def __init__(self, quota, limit, what):
        super().__init__(f"quota exceeded: at most {limit} {what}", quota=quota, limit=limit)


def check_quota(quota: str, used: int, what: str) -> None:
    """Raise QuotaExceeded when `used` has reached settings.GRIDCAST[quota] (0: unlimited)."""
    from django.conf import settings

    limit = int(settings.GRIDCAST.get(quota) or 0)
    if limit and used >= limit:
        raise QuotaExceeded(quota, limit, what)


class TooLarge(GridcastError):
    code = "too_large"
    status = 413
