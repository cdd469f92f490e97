"""The API's own error body: {"status": <code>, "message": "..."} (as recorded for 404/422)."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(f"{status} {message}")
        self.status = status
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"status": self.status, "message": self.message}


def invalid(message: str, status: int = 422) -> ApiError:
    """Validation failure worded like the real API ("Invalid params: ...")."""
    return ApiError(status, f"Invalid params: {message}")


NO_SUCH_MODEL = "No such model"
