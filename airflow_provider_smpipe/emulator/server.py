"""The HTTP server: moto's WSGI application, wrapped.

Every request goes through :class:`EmulatorApp`:

1. ``/_smpipe/*`` is the emulator's own admin API (state, reset, scenario, health); a malformed
   request gets a 400 naming the field, a known path with the wrong method a 405.
2. The operation is identified (``X-Amz-Target`` for JSON services such as SageMaker and SQS, the
   ``Action`` form field for query services, ``<service>:<METHOD>`` for REST services such as S3),
   counted, delayed and possibly throttled as the scenario says. Calls the engine makes to moto
   (header ``X-Smpipe-Internal`` carrying this server's secret token, compared in constant time)
   are exempt; the header with any other value is ignored.
3. A JSON-protocol request is checked as the service checks it before anything runs: a target that
   names no operation of a known service is ``UnknownOperationException``; a body that is not UTF-8,
   not JSON, nested too deeply or not an object is ``SerializationException``; a member of the wrong
   type, or a missing required one, is ``ValidationException`` (all HTTP 400); a body over
   :data:`MAX_BODY_BYTES` is a 413.
4. ``SageMaker.<Op>`` for the pipeline-execution operations in
   :data:`~airflow_provider_smpipe.emulator.api.OWNED_OPERATIONS` is answered by the engine, and
   the ones moto lacks (or gets wrong) in :data:`~airflow_provider_smpipe.emulator.api.DIRECT_OPERATIONS`
   by :class:`~airflow_provider_smpipe.emulator.direct.DirectWork`, as are EMR ``CancelSteps`` and
   EMR Serverless ``CancelJobRun``; Lambda ``Invoke`` of a function the scenario scripts is
   answered there too.
5. Everything else goes to moto. Jobs, endpoints and EMR steps that clients (not the engine)
   create through moto are then handed to ``DirectWork``, which moves them along as the scenario
   says, and Describe* of such a job gets the scenario's ``properties`` (translation mode).

No exception leaves the application: what moto does not implement is a 501 ``NotImplemented``, a
body moto cannot read a 400, and anything else an AWS-shaped 500 ``InternalFailure`` (an emulator
or moto bug), in the protocol of the request (JSON, query XML, S3 XML).
"""

from __future__ import annotations

import hmac
import io
import json
import logging
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

from werkzeug.serving import BaseWSGIServer, make_server

from airflow_provider_smpipe.emulator.api import DIRECT_OPERATIONS, OWNED_OPERATIONS, Api
from airflow_provider_smpipe.emulator.direct import DESCRIBES, EMR_OPERATIONS, LAMBDA_INVOKE_PATH, MOTO_CREATES, NAME_MEMBERS, DirectWork
from airflow_provider_smpipe.emulator.direct_serverless import application_created, cancel_job_run, check_request, job_run_started, serverless_operation
from airflow_provider_smpipe.emulator.engine import Engine
from airflow_provider_smpipe.emulator.errors import (
    AwsError,
    InternalFailure,
    NotImplementedByEmulator,
    RequestTooLarge,
    SerializationException,
    ThrottlingException,
    UnknownOperationException,
    ValidationException,
    error_response,
    new_request_id,
    query_error_response,
    reason_phrase,
    s3_error_response,
)
from airflow_provider_smpipe.emulator.gateway import INTERNAL_HEADER, Gateway, moto_account, new_internal_token, sagemaker_backend
from airflow_provider_smpipe.emulator.job_api import JobStore
from airflow_provider_smpipe.emulator.scenario import Scenario, ScenarioError, coerce_scenario
from airflow_provider_smpipe.emulator.shapes import json_target_services, service_for_target, validate_input, validate_output, validation_message

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_INTERNAL_ENVIRON = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")
#: The largest request body the emulator reads for a JSON-protocol, form or Lambda request (bytes);
#: larger ones get a 413. An emulator limit, far above the service limits that matter here
#: (a pipeline definition is at most 1 MB). S3 object bodies are not read by the emulator: no limit.
MAX_BODY_BYTES = 20 * 1024 * 1024
#: Lambda's limit for a synchronous Invoke payload ("Request must be smaller than 6291456 bytes for
#: the InvokeFunction operation", the service's ``RequestTooLargeException``).
LAMBDA_MAX_PAYLOAD = 6 * 1024 * 1024
#: At most this much of a too-large body is read and dropped before answering (so that the client
#: sees the 413 rather than a reset connection); beyond it the connection is closed unread.
_DRAIN_LIMIT = 64 * 1024 * 1024
#: Admin endpoints and their methods.
_ADMIN_ROUTES = {
    "/_smpipe/health": ("GET", "HEAD", "POST"),
    "/_smpipe/state": ("GET",),
    "/_smpipe/reset": ("POST",),
    "/_smpipe/scenario": ("GET", "POST"),
}
_ADMIN_MAX_BODY = 4 * 1024 * 1024
_EMULATOR_JSON_OPERATIONS = {"ElasticMapReduce": ("CancelSteps",)}


class _AdminError(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


class EmulatorApp:
    """The WSGI application (see the module docstring)."""

    def __init__(self, endpoint_url: Callable[[], str], scenario: Scenario | None = None, *, strict: bool = False) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.endpoint_url = endpoint_url
        #: The secret the engine's own calls carry in ``X-Smpipe-Internal`` (never sent to clients).
        self._internal_token = new_internal_token()
        self.gateway = Gateway(endpoint_url, internal_token=self._internal_token)
        self.engine = Engine(self.gateway, scenario or Scenario())
        self.direct = DirectWork(self.gateway)
        self.strict = strict
        self.job_store = JobStore()
        self.engine.job_store = self.job_store  # the engine's Job steps use it
        self.api = Api(self.engine, self.direct, strict=strict, job_store=self.job_store)
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.calls_by_service: dict[str, Counter[str]] = {}
        self.throttled: Counter[str] = Counter()
        self.rng = random.Random(self._throttle_seed(self.engine.scenario))

    # -- scenario and counters --

    @property
    def scenario(self) -> Scenario:
        return self.engine.scenario

    def load_scenario(self, scenario: Scenario) -> None:
        with self.lock:
            self.engine.scenario = scenario
            self.rng = random.Random(self._throttle_seed(scenario))
        self.direct.reset_attempts()
        self.job_store.reset_attempts()

    @staticmethod
    def _throttle_seed(scenario: Scenario) -> int:
        if scenario.throttle is not None and scenario.throttle.seed is not None:
            return scenario.throttle.seed
        return scenario.seed

    def reset(self, *, executions: bool = False) -> None:
        with self.lock:
            self.calls.clear()
            self.calls_by_service.clear()
            self.throttled.clear()
        if executions:
            self.engine.forget()
            self.direct.forget()
            self.job_store.forget()

    def state(self, *, arn: str | None = None, pipeline: str | None = None) -> dict[str, Any]:
        with self.lock:
            counters = {
                "calls": dict(self.calls),
                "calls_by_service": {service: dict(c) for service, c in self.calls_by_service.items()},
                "throttled": dict(self.throttled),
            }
        return {
            "endpoint_url": self.endpoint_url(),
            "executions": self.engine.state(arn=arn, pipeline=pipeline),
            **self.direct.state(),
            "sagemaker_jobs": self.job_store.state(),
            **counters,
            "scenario": self.scenario.to_dict(),
        }

    # -- WSGI --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started: list[str] = []

        def tracked(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started.append(status)
            return start_response(status, headers, exc_info)

        try:
            return self._dispatch(environ, tracked)
        except Exception as exc:  # an emulator (or moto) bug: an AWS-shaped 500, the server keeps serving
            if started:
                raise
            log.exception("the emulator failed to answer %s %s", environ.get("REQUEST_METHOD"), environ.get("PATH_INFO"))
            failure = InternalFailure(f"emulator bug: {type(exc).__name__}: {str(exc)[:500]}")
            return self._fail(environ, tracked, failure, new_request_id())

    def _is_internal(self, environ: dict[str, Any]) -> bool:
        """Whether the request carries this server's secret in ``X-Smpipe-Internal`` (constant time)."""
        sent = environ.get(_INTERNAL_ENVIRON)
        if not sent:
            return False
        return hmac.compare_digest(str(sent).encode("latin-1", "replace"), self._internal_token.encode())

    def _dispatch(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or ""
        if path.startswith("/_smpipe/") or path == "/_smpipe":
            return self._admin(environ, start_response, path)
        request_id = new_request_id()
        service, operation, target_prefix, body = self._identify(environ)
        internal = self._is_internal(environ)
        if not internal:
            self._count(service, operation)
            delay = self.scenario.delay_seconds.get(operation, self.scenario.delay_seconds.get("*"))
            if delay:
                time.sleep(delay)
            if self._throttle(operation, target_prefix):
                with self.lock:
                    self.throttled[operation] += 1
                return self._throttling(start_response, environ, service, request_id)
        params: dict[str, Any] | None = None
        try:
            if environ.get("smpipe.too_large"):
                raise self._too_large(environ, service, operation)
            if target_prefix is not None:
                params = self._json_params(target_prefix, operation, body or b"", environ.get("HTTP_X_AMZ_TARGET"))
            elif _is_query(environ) and path in ("", "/") and operation == f"{service}:POST":
                raise AwsError("The request must contain the parameter Action.", code="MissingAction")
            if target_prefix == "SageMaker" and (operation in OWNED_OPERATIONS or operation in DIRECT_OPERATIONS):
                return self._owned(start_response, operation, params or {}, request_id, _region(environ))
            if target_prefix is not None and operation in _EMULATOR_JSON_OPERATIONS.get(target_prefix, ()):
                return self._emulator_json(start_response, target_prefix, operation, params or {}, request_id, _region(environ))
            if target_prefix is not None and params is not None:
                self._check_structure(target_prefix, operation, params)
        except AwsError as exc:
            return self._fail(environ, start_response, exc, request_id)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        if service == "lambda" and operation == "Invoke":
            answered = self._invoke(environ, start_response, body or b"", request_id)
            if answered is not None:
                return answered
        serverless = serverless_operation(service, environ)
        if serverless is not None and (not internal or serverless == "CancelJobRun"):
            return self._serverless(environ, start_response, serverless, request_id)
        if not internal and target_prefix in ("SageMaker", "ElasticMapReduce", "AmazonSQS") and body is not None and params is not None:
            direct = self._direct(environ, start_response, target_prefix, operation, params, body, request_id)
            if direct is not None:
                return direct
        try:
            status, headers, payload = self._moto_guarded(environ, service, operation)
        except AwsError as exc:
            return self._fail(environ, start_response, exc, request_id)
        if target_prefix == "SageMaker" and operation in ("CreatePipeline", "UpdatePipeline") and body and status.startswith("200"):
            _keep_s3_definition_text(environ, body)
        start_response(status, headers)  # moto's own headers (a HEAD's Content-Length included)
        return [payload]

    def _identify(self, environ: dict[str, Any]) -> tuple[str, str, str | None, bytes | None]:
        """``(service, operation, target prefix, body if it was read)``.

        The target prefix is ``None`` unless this is a JSON-protocol request (an ``X-Amz-Target``
        header, or an ``application/x-amz-json`` body); then it is ``""`` when the target names no
        ``Service.Operation``."""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = _CREDENTIAL.search(auth)
        service = match.group(2) if match else "unknown"
        method = environ.get("REQUEST_METHOD", "GET")
        target = environ.get("HTTP_X_AMZ_TARGET")
        content_type = environ.get("CONTENT_TYPE", "") or ""
        if target:
            prefix, _, operation = target.rpartition(".")
            return service, operation or target, prefix, _read_body(environ)
        if content_type.startswith("application/x-amz-json"):
            return service, f"{service}:{method}", "", _read_body(environ)
        if method == "POST" and LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "") or ""):
            return service, "Invoke", None, _read_body(environ, LAMBDA_MAX_PAYLOAD)
        if _is_query(environ):
            body = _read_body(environ)
            action = parse_qs(body.decode("utf-8", errors="replace")).get("Action", [None])[0]
            if action:
                return service, action, None, body
            return service, f"{service}:POST", None, body
        return service, f"{service}:{method}", None, None

    def _count(self, service: str, operation: str) -> None:
        with self.lock:
            self.calls[operation] += 1
            self.calls_by_service.setdefault(service, Counter())[operation] += 1

    def _throttle(self, operation: str, target_prefix: str | None) -> bool:
        spec = self.scenario.throttle
        if spec is None or spec.fraction <= 0:
            return False
        names = set(spec.operations)
        if not ("*" in names or operation in names or (target_prefix and f"{target_prefix}.{operation}" in names)):
            return False
        with self.lock:
            return self.rng.random() < spec.fraction

    def _throttling(self, start_response: StartResponse, environ: dict[str, Any], service: str, request_id: str) -> list[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET"):
            status, headers, body = error_response(ThrottlingException("Rate exceeded"), request_id)
        elif service == "s3":
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                f"<Message>Please reduce your request rate.</Message><RequestId>{request_id}</RequestId></Error>"
            ).encode()
            status, headers = "503 Slow Down", [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
        elif service == "lambda":  # REST-JSON: the code travels in a header
            status, headers, body = error_response(AwsError("Rate exceeded", code="TooManyRequestsException", status=429), request_id)
        else:
            body = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
                f"<RequestId>{request_id}</RequestId></ErrorResponse>"
            ).encode()
            status, headers = "400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    # -- the JSON protocol's checks --

    @staticmethod
    def _json_params(target_prefix: str, operation: str, body: bytes, target: str | None) -> dict[str, Any]:
        """The request's JSON object, after the checks the service makes before anything runs."""
        model = service_for_target(target_prefix) if target_prefix else None
        if model is None or operation not in model.operation_names:
            if not target:
                raise UnknownOperationException("The request has no X-Amz-Target header naming an operation.")
            raise UnknownOperationException(f"Unknown operation: {target[:200]}")
        if not body.strip():
            return {}
        try:
            params = json.loads(body.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise SerializationException(f"The request body is not valid UTF-8 (byte {exc.start}).") from None
        except json.JSONDecodeError as exc:
            raise SerializationException(f"Could not parse the request body: {exc.msg} (line {exc.lineno} column {exc.colno}).") from None
        except RecursionError:
            raise SerializationException("Could not parse the request body: it is nested too deeply.") from None
        if not isinstance(params, dict):
            raise SerializationException(f"The request body must be a JSON object, not {_json_kind(params)}.")
        return params

    @staticmethod
    def _check_structure(target_prefix: str, operation: str, params: dict[str, Any]) -> None:
        """Required members and types (moto checks little and crashes on wrong types)."""
        name = json_target_services().get(target_prefix)
        if name is None:
            return
        try:
            errors = validate_input(operation, params, service=name, structural=True)
        except RecursionError:
            raise SerializationException("Could not parse the request body: it is nested too deeply.") from None
        if errors:
            raise ValidationException(validation_message(errors))

    def _too_large(self, environ: dict[str, Any], service: str, operation: str) -> AwsError:
        size = environ.get("smpipe.too_large")
        if service == "lambda" and operation == "Invoke":
            return AwsError(f"Request must be smaller than {LAMBDA_MAX_PAYLOAD} bytes for the InvokeFunction operation", code="RequestTooLargeException", status=413)
        return RequestTooLarge(f"The request body ({size} bytes) is larger than the emulator accepts ({MAX_BODY_BYTES} bytes).")

    # -- answers --

    def _fail(self, environ: dict[str, Any], start_response: StartResponse, error: AwsError, request_id: str) -> list[bytes]:
        """``error`` in the protocol of the request (JSON, query XML, S3 XML, REST-JSON)."""
        service = _service(environ)
        if environ.get("HTTP_X_AMZ_TARGET") or (environ.get("CONTENT_TYPE") or "").startswith("application/x-amz-json"):
            status, headers, body = error_response(error, request_id)
        elif _is_query(environ):
            status, headers, body = query_error_response(error, request_id)
        elif service == "s3":
            status, headers, body = s3_error_response(error, request_id)
        else:
            status, headers, body = error_response(error, request_id, content_type="application/json")
        if environ.get("smpipe.close"):
            headers = [*headers, ("Connection", "close")]
        start_response(status, headers)
        return [body]

    def _moto_guarded(self, environ: dict[str, Any], service: str, operation: str) -> tuple[str, list[tuple[str, str]], bytes]:
        """moto's answer; what moto cannot do becomes an AWS-shaped error (``AwsError``)."""
        try:
            return self._moto_call(environ)
        except NotImplementedError as exc:
            raise NotImplementedByEmulator(f"The emulator does not implement {operation} ({service}): {exc}.") from None
        except RecursionError:
            raise SerializationException("Could not parse the request: it is nested too deeply.") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            code = "InvalidRequestContentException" if service == "lambda" else "MalformedXML" if service == "s3" else "SerializationException"
            raise AwsError(f"Could not parse the request: {exc}", code=code) from None

    def _owned(self, start_response: StartResponse, operation: str, params: dict[str, Any], request_id: str, region: str) -> list[bytes]:
        try:
            result = self.api.handle(operation, params, moto_account(), region)
        except AwsError as exc:
            status, headers, payload = error_response(exc, request_id)
            start_response(status, headers)
            return [payload]
        except RecursionError:
            status, headers, payload = error_response(SerializationException("Could not parse the request body: it is nested too deeply."), request_id)
            start_response(status, headers)
            return [payload]
        except Exception as exc:  # an emulator bug: a 500, like the service's InternalFailure
            log.exception("%s failed", operation)
            status, headers, payload = error_response(InternalFailure(f"{type(exc).__name__}: {exc}"), request_id)
            start_response(status, headers)
            return [payload]
        return _json_answer(start_response, result, request_id)

    def _emulator_json(self, start_response: StartResponse, target_prefix: str, operation: str, params: dict[str, Any], request_id: str, region: str) -> list[bytes]:
        """JSON-protocol operations of other services that the emulator answers (EMR CancelSteps)."""
        service = json_target_services()[target_prefix]
        errors = validate_input(operation, params, service=service)
        if errors:
            raise ValidationException(validation_message(errors))
        if (target_prefix, operation) == ("ElasticMapReduce", "CancelSteps"):
            return _json_answer(start_response, self.direct.cancel_emr_steps(params, moto_account(), region), request_id)
        raise NotImplementedByEmulator(f"The emulator does not implement {target_prefix}.{operation}.")  # pragma: no cover

    # -- directly created work (translation mode) --

    def _invoke(self, environ: dict[str, Any], start_response: StartResponse, body: bytes, request_id: str) -> list[bytes] | None:
        match = LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "") or "")
        if match is None:
            return None
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        headers = {"invocation_type": environ.get("HTTP_X_AMZ_INVOCATION_TYPE", ""), "log_type": environ.get("HTTP_X_AMZ_LOG_TYPE", "")}
        try:
            answer = self.direct.invoke(unquote(match.group("function")), qualifier, headers, body, self.scenario)
        except AwsError as exc:
            return self._fail(environ, start_response, exc, request_id)
        if answer is None:
            return None
        status, response_headers, payload = answer
        start_response(status, response_headers)
        return [payload]

    def _direct(
        self,
        environ: dict[str, Any],
        start_response: StartResponse,
        target_prefix: str,
        operation: str,
        params: dict[str, Any],
        body: bytes,
        request_id: str,
    ) -> list[bytes] | None:
        """Creates and Describes of directly created work; ``None`` for everything else (moto)."""
        sagemaker = target_prefix == "SageMaker"
        wanted = {
            "SageMaker": operation in MOTO_CREATES or operation in DESCRIBES,
            "ElasticMapReduce": operation in EMR_OPERATIONS,
            "AmazonSQS": operation == "SendMessage" and b"smpipeReplyQueueUrl" in body,  # a translated Callback step's request
        }
        if not wanted[target_prefix]:
            return None
        region, account = _region(environ), moto_account()
        job = None
        if sagemaker and operation in DESCRIBES:
            name = params.get(NAME_MEMBERS[DESCRIBES[operation]])
            job = self.direct.find(account, region, DESCRIBES[operation], name) if isinstance(name, str) else None
            if job is None:
                return None
        if sagemaker and operation in MOTO_CREATES:
            errors = validate_input(operation, params)  # moto checks little (e.g. not the 32-character tuning job names)
            refused = ValidationException(validation_message(errors)) if errors else self.direct.duplicate(operation, params, account, region)
            if refused is not None:
                status, headers, payload = error_response(refused, request_id)
                start_response(status, headers)
                return [payload]
        try:
            status, headers, payload = self._moto_guarded(environ, "sagemaker" if sagemaker else target_prefix, operation)
        except AwsError as exc:
            return self._fail(environ, start_response, exc, request_id)
        if not status.startswith("200"):
            return _respond(start_response, status, headers, payload)
        try:
            response = json.loads(payload or b"{}")
        except json.JSONDecodeError:  # pragma: no cover - moto answers JSON here
            return _respond(start_response, status, headers, payload)
        if job is not None:
            response = self.direct.patch_described(job, operation, response)
            if self.strict:
                problems = validate_output(operation, response)
                if problems:
                    failure = InternalFailure(
                        f"emulator: the {operation} response for directly created job {job.name} does not match botocore's output shape: " + "; ".join(problems)
                    )
                    status, headers, payload = error_response(failure, request_id)
                    start_response(status, headers)
                    return [payload]
            return _respond(start_response, status, headers, json.dumps(response).encode())
        if sagemaker:
            self.direct.created(operation, params, response, account, region, self.scenario)
        elif target_prefix == "ElasticMapReduce":
            self.direct.emr_created(operation, params, response, account, region, self.scenario)
        else:
            self.direct.callback_requested(params, account, region, self.scenario)
        return _respond(start_response, status, headers, payload)

    def _serverless(self, environ: dict[str, Any], start_response: StartResponse, operation: str, request_id: str) -> list[bytes]:
        """A client's EMR Serverless CreateApplication or StartJobRun: moto answers, then the
        application is CREATED as in the service, or the job run lives by the scenario.
        CancelJobRun is the emulator's (:func:`~.direct_serverless.cancel_job_run`)."""
        account, region = moto_account(), _region(environ)
        try:
            if operation == "CancelJobRun":
                result = cancel_job_run(self.direct, environ.get("PATH_INFO", "") or "", environ.get("QUERY_STRING", "") or "", account, region)
                payload = json.dumps(result).encode()
                return _respond(start_response, "200 OK", [("Content-Type", "application/json"), ("x-amzn-RequestId", request_id)], payload)
            body = _read_body(environ)
            if environ.get("smpipe.too_large"):
                raise self._too_large(environ, "emr-serverless", operation)
            check_request(operation, environ.get("PATH_INFO", "") or "", body)
            environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
            status, headers, payload = self._moto_guarded(environ, "emr-serverless", operation)
        except AwsError as exc:
            return self._fail(environ, start_response, exc, request_id)
        if status.startswith("200"):
            if operation == "StartJobRun":
                job_run_started(self.direct, body, payload, account, region, self.scenario)
            else:
                application_created(payload, account, region)
        return _respond(start_response, status, headers, payload)

    def _moto_call(self, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
        """moto's whole answer, buffered: ``(status line, headers, body)``."""
        captured: dict[str, Any] = {}
        chunks: list[bytes] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
            captured["status"], captured["headers"] = status, list(headers)
            return chunks.append

        result = self.moto(environ, capture)
        try:
            chunks.extend(result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        return captured.get("status", "500 Internal Server Error"), captured.get("headers", []), b"".join(chunks)

    # -- admin API --

    def _admin(self, environ: dict[str, Any], start_response: StartResponse, path: str) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        route = path.rstrip("/")
        allowed = _ADMIN_ROUTES.get(route)
        if allowed is None:
            endpoints = ["GET /_smpipe/state", "POST /_smpipe/reset", "GET|POST /_smpipe/scenario", "GET /_smpipe/health"]
            return _json(start_response, 404, {"error": f"no such endpoint: {method} {path}", "endpoints": endpoints})
        if method not in allowed:
            return _json(start_response, 405, {"error": f"{route} does not take {method} (allowed: {', '.join(allowed)})"}, [("Allow", ", ".join(allowed))])
        try:
            if route == "/_smpipe/health":
                return _json(start_response, 200, {"ok": True})
            if route == "/_smpipe/state":
                query = _admin_query(environ, ("execution", "pipeline"))
                return _json(start_response, 200, self.state(arn=query.get("execution"), pipeline=query.get("pipeline")))
            if route == "/_smpipe/reset":
                options = _admin_body(environ, route)
                if options is None:
                    options = {}
                if not isinstance(options, dict):
                    raise _AdminError(400, f'the body of POST {route} must be a JSON object such as {{"executions": true}}, not {_json_kind(options)}')
                unknown = sorted(set(options) - {"executions"})
                if unknown:
                    raise _AdminError(400, f"unknown field '{unknown[0]}' in the body of POST {route} (allowed: executions)", field=unknown[0])
                executions = options.get("executions", False)
                if not isinstance(executions, bool):
                    raise _AdminError(400, f"field 'executions' must be true or false, not {_json_kind(executions)} {json.dumps(executions)[:100]}", field="executions")
                self.reset(executions=executions)
                return _json(start_response, 200, {"ok": True})
            if route == "/_smpipe/scenario" and method == "POST":
                _admin_body(environ, route)  # readable JSON (a clear 400 otherwise)
                text = environ["smpipe.body"].decode("utf-8")
                try:
                    scenario = Scenario.from_json(text or "{}", source=f"POST {route}")
                except ScenarioError as exc:
                    return _json(start_response, 400, {"error": str(exc), "problems": exc.problems})
                self.load_scenario(scenario)
                return _json(start_response, 200, {"ok": True, "scenario": scenario.to_dict()})
            return _json(start_response, 200, self.scenario.to_dict())  # GET /_smpipe/scenario
        except _AdminError as exc:
            return _json(start_response, exc.status, {"error": exc.message, **exc.extra})


def _admin_query(environ: dict[str, Any], allowed: tuple[str, ...]) -> dict[str, str]:
    """The admin endpoint's query parameters: each at most once, none unknown (400 otherwise)."""
    try:
        query = parse_qs(environ.get("QUERY_STRING", "") or "", keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        raise _AdminError(400, "the query string is not valid UTF-8") from None
    out: dict[str, str] = {}
    for name, values in query.items():
        if name not in allowed:
            raise _AdminError(400, f"unknown query parameter '{name}' (allowed: {', '.join(allowed)})", field=name)
        if len(values) > 1:
            raise _AdminError(400, f"query parameter '{name}' is given {len(values)} times (at most once)", field=name)
        out[name] = values[0]
    return out


def _admin_body(environ: dict[str, Any], route: str) -> Any:
    """The admin request's JSON body (``None`` when empty); 400/413 when it cannot be read."""
    body = _read_body(environ, _ADMIN_MAX_BODY)
    if environ.get("smpipe.too_large"):
        raise _AdminError(413, f"the body of POST {route} is larger than {_ADMIN_MAX_BODY} bytes")
    if not body.strip():
        return None
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _AdminError(400, f"the body of POST {route} is not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise _AdminError(400, f"the body of POST {route} is not valid JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise _AdminError(400, f"the body of POST {route} is nested too deeply") from None


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _is_query(environ: dict[str, Any]) -> bool:
    """A query-protocol request (STS, IAM, ...): a form POST."""
    return environ.get("REQUEST_METHOD") == "POST" and (environ.get("CONTENT_TYPE", "") or "").startswith("application/x-www-form-urlencoded")


def _service(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(2) if match else "unknown"


def _region(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def _respond(start_response: StartResponse, status: str, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*kept, ("Content-Length", str(len(body)))])
    return [body]


def _json_answer(start_response: StartResponse, result: Any, request_id: str) -> list[bytes]:
    payload = json.dumps(result).encode()
    start_response(
        "200 OK",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload))), ("x-amzn-RequestId", request_id)],
    )
    return [payload]


def _keep_s3_definition_text(environ: dict[str, Any], body: bytes) -> None:
    """moto stores a definition given as ``PipelineDefinitionS3Location`` as a parsed dict, so its
    DescribePipeline returns the dict's Python repr (not JSON). Store the S3 object's text instead."""
    try:
        request = json.loads(body)
        location = request.get("PipelineDefinitionS3Location")
        if not location:
            return
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = match.group(1) if match else "us-east-1"
        account = moto_account()
        pipeline = sagemaker_backend(account, region).pipelines.get(request.get("PipelineName"))
        if pipeline is None or isinstance(pipeline.pipeline_definition, str):
            return
        try:
            from moto.s3.models import s3_backends

            text = s3_backends[account]["aws"].get_object(location["Bucket"], location["ObjectKey"]).value.decode("utf-8")
        except Exception:  # pragma: no cover - fall back to the parsed document
            text = json.dumps(pipeline.pipeline_definition)
        pipeline.pipeline_definition = text
    except Exception:  # pragma: no cover - never break moto's own answer
        log.debug("could not normalise the S3 pipeline definition", exc_info=True)


def _read_body(environ: dict[str, Any], limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body (read once, then cached). A body over ``limit`` is not kept: the result is
    ``b""`` and ``environ["smpipe.too_large"]`` its size (up to :data:`_DRAIN_LIMIT` of it is read
    and dropped; beyond that the connection is closed after the answer)."""
    cached = environ.get("smpipe.body")
    if cached is not None:
        return cached
    stream = environ.get("wsgi.input")
    try:
        length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
    except ValueError:
        length = 0
    body = b""
    if stream is not None and length > limit:
        environ["smpipe.too_large"] = length
        _drain(stream, length, environ)
    elif stream is not None and length > 0:
        body = stream.read(length)
    elif stream is not None and (environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated")):
        body = stream.read(limit + 1)
        if len(body) > limit:
            environ["smpipe.too_large"] = f"more than {limit}"
            environ["smpipe.close"] = True
            body = b""
    environ["smpipe.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _drain(stream: Any, length: int, environ: dict[str, Any]) -> None:
    if length > _DRAIN_LIMIT:
        environ["smpipe.close"] = True
        return
    remaining = length
    while remaining > 0:
        chunk = stream.read(min(remaining, 1024 * 1024))
        if not chunk:
            break
        remaining -= len(chunk)


def _json(start_response: StartResponse, status: int, document: Any, extra_headers: list[tuple[str, str]] | None = None) -> list[bytes]:
    payload = json.dumps(document, default=str).encode()
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *(extra_headers or [])]
    start_response(f"{status} {reason_phrase(status) if status != 200 else 'OK'}", headers)
    return [payload]


def _request_handler(verbose: bool) -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class Handler(MotoRequestHandler):  # type: ignore[misc, valid-type]
        def log_request(self, code: Any = "-", size: Any = "-") -> None:
            if verbose:
                super().log_request(code, size)

        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - werkzeug's signature
            if verbose or type == "error":
                super().log(type, message, *args)

    return Handler


class EmulatorServer:
    """A running emulator: moto plus the pipeline engine, on ``host:port`` (port 0: any free port).

    Use it as a context manager (``with EmulatorServer() as server: ...``), or call :meth:`start`
    and :meth:`stop`; :meth:`serve_forever` runs it in the foreground (the CLI).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: Scenario | dict[str, Any] | str | None = None,
        *,
        strict: bool = False,
        verbose: bool = False,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.verbose = verbose
        self.app = EmulatorApp(lambda: self.endpoint_url, coerce_scenario(scenario), strict=strict)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --

    def _bind(self) -> BaseWSGIServer:
        if self._server is None:
            self._server = make_server(self.host, self.requested_port, self.app, threaded=True, request_handler=_request_handler(self.verbose))
            self._server.daemon_threads = True  # type: ignore[attr-defined]
        return self._server

    def start(self) -> EmulatorServer:
        if self._thread is not None:
            return self
        server = self._bind()
        self._thread = threading.Thread(target=server.serve_forever, name="smpipe-emulator", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._bind().serve_forever()

    def stop(self) -> None:
        # Events first, while the endpoint their PutEvents calls go to still answers.
        self.app.engine.events.close()
        if self._server is not None:
            self._server.shutdown() if self._thread is not None else None
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- facts --

    @property
    def port(self) -> int:
        return int(self._bind().server_address[1])

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def engine(self) -> Engine:
        return self.app.engine

    @property
    def scenario(self) -> Scenario:
        return self.app.scenario

    def state(self, *, execution: str | None = None, pipeline: str | None = None) -> dict[str, Any]:
        """What ``GET /_smpipe/state`` returns: executions with their steps, directly created
        ``jobs`` and Lambda ``invocations``, call counts, throttles.

        :param execution: only that execution (ARN); :param pipeline: only that pipeline's executions.
        """
        return self.app.state(arn=execution, pipeline=pipeline)

    def calls(self, operation: str | None = None) -> Any:
        """All call counts, or the count of one operation."""
        counts = self.app.state()["calls"]
        return counts.get(operation, 0) if operation else counts

    def reset(self, *, executions: bool = False) -> None:
        """Zero the call/throttle counters (and forget finished executions if asked)."""
        self.app.reset(executions=executions)

    def load_scenario(self, scenario: Scenario | dict[str, Any] | str | None) -> Scenario:
        """Use ``scenario`` (a Scenario, dict, JSON text or file path; ``None``: defaults) from now on.

        Executions already running keep the scenario they started with.
        """
        loaded = coerce_scenario(scenario)
        self.app.load_scenario(loaded)
        return loaded

    def wait_for_execution(self, arn: str, timeout: float = 30.0) -> str:
        """Block until the execution is Succeeded, Failed or Stopped; return that status."""
        return self.engine.wait(arn, timeout)

    def client(self, service: str, region: str = "us-east-1", **kwargs: Any) -> Any:
        """A boto3 client for ``service`` pointed at this emulator (fake credentials)."""
        import boto3

        options: dict[str, Any] = {
            "region_name": region,
            "endpoint_url": self.endpoint_url,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_session_token": "testing",
        }
        options.update(kwargs)
        return boto3.session.Session().client(service, **options)
