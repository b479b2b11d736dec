"""AWS-shaped errors for the JSON protocol (what botocore parses into ``ClientError``).

The SageMaker API speaks ``application/x-amz-json-1.1``: an error is an HTTP 4xx/5xx whose body is
``{"__type": "<Code>", "message": "<text>"}`` and whose ``x-amzn-ErrorType`` header repeats the code.
botocore reads the code from ``__type`` (falling back to the header), so ``ClientError.response
["Error"]["Code"]`` is exactly the class's :attr:`AwsError.code`.
"""

from __future__ import annotations

import json
import uuid


class AwsError(Exception):
    """An error returned to the client; never leaves the server as a Python exception."""

    code = "InternalFailure"
    status = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status


class ValidationException(AwsError):
    code = "ValidationException"


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"


class ConflictException(AwsError):
    code = "ConflictException"


class ResourceLimitExceeded(AwsError):
    code = "ResourceLimitExceeded"


class ThrottlingException(AwsError):
    code = "ThrottlingException"


class InternalFailure(AwsError):
    code = "InternalFailure"
    status = 500


_REASONS = {400: "Bad Request", 404: "Not Found", 409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}


def new_request_id() -> str:
    return str(uuid.uuid4())


def error_response(error: AwsError, request_id: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """``(status line, headers, body)`` for a WSGI ``start_response``."""
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    status = f"{error.status} {_REASONS.get(error.status, 'Error')}"
    headers = [
        ("Content-Type", "application/x-amz-json-1.1"),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", request_id or new_request_id()),
        ("x-amzn-ErrorType", error.code),
    ]
    return status, headers, body
