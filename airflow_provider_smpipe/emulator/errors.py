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


class SerializationException(AwsError):
    """The request body cannot be read (not UTF-8, not JSON, nested too deeply, not an object)."""

    code = "SerializationException"


class UnknownOperationException(AwsError):
    """An ``X-Amz-Target`` that names no operation of the service (or no service)."""

    code = "UnknownOperationException"


class NotImplementedByEmulator(AwsError):
    """An operation botocore knows that neither the emulator nor moto implements (HTTP 501: not a
    transient error, so botocore's retry handler does not retry it)."""

    code = "NotImplemented"
    status = 501


class RequestTooLarge(AwsError):
    code = "RequestEntityTooLargeException"
    status = 413


_REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    501: "Not Implemented",
}


def reason_phrase(status: int) -> str:
    return _REASONS.get(status, "Error")


def new_request_id() -> str:
    return str(uuid.uuid4())


def error_response(error: AwsError, request_id: str | None = None, *, content_type: str = "application/x-amz-json-1.1") -> tuple[str, list[tuple[str, str]], bytes]:
    """``(status line, headers, body)`` for a WSGI ``start_response``. The same form serves the
    REST-JSON services (Lambda, EMR Serverless; ``content_type="application/json"``): botocore reads
    their code from ``x-amzn-ErrorType`` or ``__type``."""
    body = json.dumps({"__type": error.code, "message": error.message}).encode()
    status = f"{error.status} {reason_phrase(error.status)}"
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        ("x-amzn-RequestId", request_id or new_request_id()),
        ("x-amzn-ErrorType", error.code),
    ]
    return status, headers, body


def query_error_response(error: AwsError, request_id: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """The query protocol's (STS, IAM, ...) XML error: ``<ErrorResponse><Error><Type>``."""
    kind = "Receiver" if error.status >= 500 else "Sender"
    body = (
        f"<ErrorResponse><Error><Type>{kind}</Type><Code>{_xml(error.code)}</Code><Message>{_xml(error.message)}</Message></Error>"
        f"<RequestId>{request_id or new_request_id()}</RequestId></ErrorResponse>"
    ).encode()
    return f"{error.status} {reason_phrase(error.status)}", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))], body


def s3_error_response(error: AwsError, request_id: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
    """S3's (REST-XML) error: ``<Error><Code>``."""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{_xml(error.code)}</Code><Message>{_xml(error.message)}</Message>'
        f"<RequestId>{request_id or new_request_id()}</RequestId></Error>"
    ).encode()
    return f"{error.status} {reason_phrase(error.status)}", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))], body


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
