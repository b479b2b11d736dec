"""The HTTP server: moto's WSGI application, wrapped.

Every request goes through :class:`EmulatorApp`:

1. ``/_smpipe/*`` is the emulator's own admin API (state, reset, scenario, health).
2. The operation is identified (``X-Amz-Target`` for JSON services such as SageMaker and SQS, the
   ``Action`` form field for query services, ``<service>:<METHOD>`` for REST services such as S3),
   counted, delayed and possibly throttled as the scenario says. Calls the engine makes to moto
   (header ``X-Smpipe-Internal``) are exempt.
3. ``SageMaker.<Op>`` for the pipeline-execution operations in
   :data:`~airflow_provider_smpipe.emulator.api.OWNED_OPERATIONS` is answered by the engine, and
   the ones moto lacks in :data:`~airflow_provider_smpipe.emulator.api.DIRECT_OPERATIONS` by
   :class:`~airflow_provider_smpipe.emulator.direct.DirectWork`; Lambda ``Invoke`` of a function
   the scenario scripts is answered there too.
4. Everything else goes to moto. Jobs, endpoints and EMR steps that clients (not the engine)
   create through moto are then handed to ``DirectWork``, which moves them along as the scenario
   says, and Describe* of such a job gets the scenario's ``properties`` (translation mode).
"""

from __future__ import annotations

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
from airflow_provider_smpipe.emulator.engine import Engine
from airflow_provider_smpipe.emulator.errors import AwsError, InternalFailure, ThrottlingException, ValidationException, error_response, new_request_id
from airflow_provider_smpipe.emulator.gateway import INTERNAL_HEADER, Gateway, moto_account, sagemaker_backend
from airflow_provider_smpipe.emulator.scenario import Scenario, ScenarioError, coerce_scenario
from airflow_provider_smpipe.emulator.shapes import validate_input, validate_output, validation_message

log = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
_CREDENTIAL = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_INTERNAL_ENVIRON = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")


class EmulatorApp:
    """The WSGI application (see the module docstring)."""

    def __init__(self, endpoint_url: Callable[[], str], scenario: Scenario | None = None, *, strict: bool = False) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        self.moto = DomainDispatcherApplication(create_backend_app)
        self.endpoint_url = endpoint_url
        self.gateway = Gateway(endpoint_url)
        self.engine = Engine(self.gateway, scenario or Scenario())
        self.direct = DirectWork(self.gateway)
        self.strict = strict
        self.api = Api(self.engine, self.direct, strict=strict)
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
            **counters,
            "scenario": self.scenario.to_dict(),
        }

    # -- WSGI --

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or ""
        if path.startswith("/_smpipe/") or path == "/_smpipe":
            return self._admin(environ, start_response, path)
        request_id = new_request_id()
        service, operation, target_prefix, body = self._identify(environ)
        internal = environ.get(_INTERNAL_ENVIRON) == "1"
        if not internal:
            self._count(service, operation)
            delay = self.scenario.delay_seconds.get(operation, self.scenario.delay_seconds.get("*"))
            if delay:
                time.sleep(delay)
            if self._throttle(operation, target_prefix):
                with self.lock:
                    self.throttled[operation] += 1
                return self._throttling(start_response, environ, service, request_id)
        if target_prefix == "SageMaker" and (operation in OWNED_OPERATIONS or operation in DIRECT_OPERATIONS):
            return self._owned(environ, start_response, operation, body, request_id)
        if body is not None:
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        if service == "lambda" and operation == "Invoke":
            answered = self._invoke(environ, start_response, body or b"")
            if answered is not None:
                return answered
        if not internal and target_prefix in ("SageMaker", "ElasticMapReduce", "AmazonSQS") and body is not None:
            direct = self._direct(environ, start_response, target_prefix, operation, body, request_id)
            if direct is not None:
                return direct
        result = self.moto(environ, start_response)
        if target_prefix == "SageMaker" and operation in ("CreatePipeline", "UpdatePipeline") and body:
            _keep_s3_definition_text(environ, body)
        return result

    def _identify(self, environ: dict[str, Any]) -> tuple[str, str, str | None, bytes | None]:
        """``(service, operation, target prefix, body if it was read)``."""
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = _CREDENTIAL.search(auth)
        service = match.group(2) if match else "unknown"
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target and "." in target:
            prefix, operation = target.rsplit(".", 1)
            return service, operation, prefix, _read_body(environ)
        if environ.get("REQUEST_METHOD") == "POST" and LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "") or ""):
            return service, "Invoke", None, _read_body(environ)
        content_type = environ.get("CONTENT_TYPE", "") or ""
        if environ.get("REQUEST_METHOD") == "POST" and content_type.startswith("application/x-www-form-urlencoded"):
            body = _read_body(environ)
            action = parse_qs(body.decode("utf-8", errors="replace")).get("Action", [None])[0]
            if action:
                return service, action, None, body
            return service, f"{service}:POST", None, body
        return service, f"{service}:{environ.get('REQUEST_METHOD', 'GET')}", None, None

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

    def _owned(self, environ: dict[str, Any], start_response: StartResponse, operation: str, body: bytes | None, request_id: str) -> list[bytes]:
        region = _region(environ)
        try:
            try:
                params = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise AwsError(f"Could not parse the request body: {exc.msg}", code="SerializationException") from None
            if not isinstance(params, dict):
                raise AwsError("The request body must be a JSON object.", code="SerializationException")
            result = self.api.handle(operation, params, moto_account(), region)
        except AwsError as exc:
            status, headers, payload = error_response(exc, request_id)
            start_response(status, headers)
            return [payload]
        except Exception as exc:  # pragma: no cover - reported to the client as a 500, like the service
            log.exception("%s failed", operation)
            status, headers, payload = error_response(InternalFailure(f"{type(exc).__name__}: {exc}"), request_id)
            start_response(status, headers)
            return [payload]
        payload = json.dumps(result).encode()
        start_response(
            "200 OK",
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(payload))), ("x-amzn-RequestId", request_id)],
        )
        return [payload]

    # -- directly created work (translation mode) --

    def _invoke(self, environ: dict[str, Any], start_response: StartResponse, body: bytes) -> list[bytes] | None:
        match = LAMBDA_INVOKE_PATH.match(environ.get("PATH_INFO", "") or "")
        if match is None:
            return None
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        headers = {"invocation_type": environ.get("HTTP_X_AMZ_INVOCATION_TYPE", ""), "log_type": environ.get("HTTP_X_AMZ_LOG_TYPE", "")}
        answer = self.direct.invoke(unquote(match.group("function")), qualifier, headers, body, self.scenario)
        if answer is None:
            return None
        status, response_headers, payload = answer
        start_response(status, response_headers)
        return [payload]

    def _direct(
        self, environ: dict[str, Any], start_response: StartResponse, target_prefix: str, operation: str, body: bytes, request_id: str
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
        try:
            params = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return None  # moto reports it
        if not isinstance(params, dict):
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
        status, headers, payload = self._moto_call(environ)
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
        try:
            if route == "/_smpipe/health":
                return _json(start_response, 200, {"ok": True})
            if route == "/_smpipe/state" and method == "GET":
                query = parse_qs(environ.get("QUERY_STRING", ""))
                arn = query.get("execution", [None])[0]
                pipeline = query.get("pipeline", [None])[0]
                return _json(start_response, 200, self.state(arn=arn, pipeline=pipeline))
            if route == "/_smpipe/reset" and method == "POST":
                body = _read_body(environ)
                options = json.loads(body) if body.strip() else {}
                self.reset(executions=bool(options.get("executions")))
                return _json(start_response, 200, {"ok": True})
            if route == "/_smpipe/scenario" and method == "POST":
                body = _read_body(environ)
                try:
                    scenario = Scenario.from_json(body.decode("utf-8", errors="replace") or "{}", source="POST /_smpipe/scenario")
                except ScenarioError as exc:
                    return _json(start_response, 400, {"error": str(exc), "problems": exc.problems})
                self.load_scenario(scenario)
                return _json(start_response, 200, {"ok": True, "scenario": scenario.to_dict()})
            if route == "/_smpipe/scenario" and method == "GET":
                return _json(start_response, 200, self.scenario.to_dict())
        except json.JSONDecodeError as exc:
            return _json(start_response, 400, {"error": f"not valid JSON: {exc.msg}"})
        return _json(
            start_response,
            404,
            {"error": f"no such endpoint: {method} {path}", "endpoints": ["GET /_smpipe/state", "POST /_smpipe/reset", "GET|POST /_smpipe/scenario", "GET /_smpipe/health"]},
        )


def _region(environ: dict[str, Any]) -> str:
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else "us-east-1"


def _respond(start_response: StartResponse, status: str, headers: list[tuple[str, str]], body: bytes) -> list[bytes]:
    kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*kept, ("Content-Length", str(len(body)))])
    return [body]


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


def _read_body(environ: dict[str, Any]) -> bytes:
    cached = environ.get("smpipe.body")
    if cached is not None:
        return cached
    stream = environ.get("wsgi.input")
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if stream is None:
        body = b""
    elif length > 0:
        body = stream.read(length)
    elif environ.get("HTTP_TRANSFER_ENCODING", "").lower() == "chunked" or environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["smpipe.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _json(start_response: StartResponse, status: int, document: Any) -> list[bytes]:
    payload = json.dumps(document, default=str).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}.get(status, "OK")
    start_response(f"{status} {reason}", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))])
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
