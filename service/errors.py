"""One error shape per API family, and handlers that never let a bad request become a 500.

Native routes: ``{"error": {"code": "<machine_code>", "message": "...", "details": {...}}}``.
Perspective routes (``/v1alpha1``), as Google APIs answer:
``{"error": {"code": 400, "message": "...", "status": "INVALID_ARGUMENT"}}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("civility.errors")

PERSPECTIVE_PREFIX = "/v1alpha1"

GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}

# What Google APIs answer for a missing or wrong key.
GOOGLE_AUTH_ERRORS = {
    "missing_api_key": (403, "The request is missing a valid API key."),
    "invalid_api_key": (400, "API key not valid. Please pass a valid API key."),
}


class ApiError(Exception):
    """An error a client can act on: HTTP status, machine code, human message, details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details or {}
        self.headers = headers


def native_body(code: str, message: str, details: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def google_body(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": GOOGLE_STATUS.get(status, "UNKNOWN")}}


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Shape an error for the API family the request belongs to."""
    path = request.url.path if request is not None else ""
    if path.startswith(PERSPECTIVE_PREFIX) or path.startswith("/$discovery"):
        google_status, message = GOOGLE_AUTH_ERRORS.get(code, (status, message))
        if google_status in (413, 422):
            google_status = 400
        return JSONResponse(google_body(google_status, message), status_code=google_status, headers=headers)
    return JSONResponse(native_body(code, message, details), status_code=status, headers=headers)


def _describe_validation(errors: list[Any]) -> tuple[str, str, list[dict[str, Any]]]:
    """Turn pydantic errors into (code, message, JSON-safe details)."""
    clean: list[dict[str, Any]] = []
    for err in errors:
        loc = [str(part) for part in err.get("loc", ())]
        clean.append({"loc": loc, "type": str(err.get("type", "")), "msg": str(err.get("msg", ""))})
    if any(item["type"] == "json_invalid" for item in clean):
        return "invalid_json", "The request body is not valid JSON (UTF-8 encoded).", clean
    if any(item["loc"] == ["body"] and item["type"] == "model_attributes_type" for item in clean):
        return (
            "invalid_body",
            "The request body must be a JSON object (Content-Type: application/json).",
            clean,
        )
    first = clean[0] if clean else {"loc": [], "msg": "invalid request"}
    where = ".".join(part for part in first["loc"] if part != "body") or "request"
    return "invalid_request", f"Invalid field {where}: {first['msg']}", clean


def install_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, message, details = _describe_validation(list(exc.errors()))
        status = 400 if code == "invalid_json" else 422
        return error_response(request, status, code, message, {"errors": details})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "error"
        code = getattr(exc, "code", None) or phrase.lower().replace(" ", "_").replace("-", "_")
        message = exc.detail if isinstance(exc.detail, str) else phrase
        if isinstance(exc.__cause__, UnicodeDecodeError):  # FastAPI wraps body decoding errors
            code, message = "invalid_utf8", "The request body is not valid UTF-8."
        headers = dict(exc.headers) if exc.headers else None
        return error_response(request, exc.status_code, code, message, headers=headers)

    @app.exception_handler(UnicodeDecodeError)
    async def _unicode(request: Request, exc: UnicodeDecodeError) -> JSONResponse:
        return error_response(request, 400, "invalid_utf8", "The request body is not valid UTF-8.")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path, error_type=type(exc).__name__)
        return error_response(request, 500, "internal_error", "Internal server error; see the server log.")
