"""A scripted SageMaker Pipelines endpoint for what the emulator cannot run yet.

The emulator refuses ForEach steps and run conditions for now, so it never produces ForEach
children, ``Metadata.ForEach``, ``CompletedWithFailures``, Cleanup/EMRServerless/Job metadata or
``MLflowConfig``. This module serves exactly such responses, scripted by the test, over real HTTP
in the SageMaker JSON protocol (``X-Amz-Target: SageMaker.<Operation>``), so the hook, the trigger
(aiobotocore), the operators and the sensors run unchanged through botocore's serialisers, parsers,
paginators, retry handlers and error classes. Every response is checked against botocore's output
shape before it is sent (``unvalidated=True`` on a snapshot skips that, to script a status the
model does not know yet); every request against the input shape (the service's validation).

An execution is a *timeline* of snapshots ``{"status", "steps", "failure_reason"}``: the n-th
DescribePipelineExecution returns snapshot n (the last one repeats), and ListPipelineExecutionSteps
lists the steps of the snapshot last described. ``on_stop`` / ``on_retry`` timelines replace the
rest of the timeline when StopPipelineExecution / RetryPipelineExecution is called.
"""

from __future__ import annotations

import atexit
import copy
import itertools
import json
import os
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_smpipe.emulator.shapes import assert_valid_output, to_wire, validate_input, validation_message

ACCOUNT = "123456789012"
REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecutionRole"
T0 = datetime(2026, 3, 4, 12, 0, 0, tzinfo=timezone.utc)
ACTIVE = ("Executing", "Stopping")
_ids = itertools.count(1)


def at(seconds: float) -> datetime:
    """A timestamp ``seconds`` after the scripted executions' common start."""
    return T0 + timedelta(seconds=seconds)


def job_arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name.lower()}"


@dataclass
class Execution:
    arn: str
    pipeline: str
    timeline: list[dict[str, Any]]
    definition: str
    definition_error: tuple[str, str] | None = None
    mlflow: dict[str, Any] | None = None
    on_stop: list[dict[str, Any]] | None = None
    on_retry: list[dict[str, Any]] | None = None
    parameters: list[dict[str, str]] = field(default_factory=list)
    request: dict[str, Any] = field(default_factory=dict)
    position: int = -1  # the snapshot last described

    @property
    def current(self) -> dict[str, Any]:
        return self.timeline[max(self.position, 0)]

    def advance(self) -> dict[str, Any]:
        self.position = min(self.position + 1, len(self.timeline) - 1)
        return self.current

    def replace_future(self, timeline: Sequence[dict[str, Any]]) -> None:
        self.timeline = [*self.timeline[: max(self.position, 0) + 1], *copy.deepcopy(list(timeline))]


class ServiceError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


class SyntheticSageMaker:
    """The endpoint: ``.endpoint_url``, ``.pipeline(...)``, ``.execution(...)``, ``.calls``, ``.requests``."""

    def __init__(self) -> None:
        self.pipelines: dict[str, dict[str, Any]] = {}
        self.executions: dict[str, Execution] = {}
        self.queued: dict[str, list[Execution]] = {}
        self.calls: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, Any]]] = []
        #: Operation -> errors to answer before answering normally (``(code, message, http status)``).
        self.fail_next: dict[str, list[tuple[str, str, int]]] = {}
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="synthetic-sagemaker", daemon=True)
        self.thread.start()

    @property
    def endpoint_url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # -- scripting ---------------------------------------------------------------------------------

    def pipeline(self, name: str, definition: Mapping[str, Any]) -> str:
        self.pipelines[name] = {"definition": json.dumps(definition), "arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:pipeline/{name}"}
        return self.pipelines[name]["arn"]

    def execution(
        self,
        pipeline: str,
        timeline: Sequence[dict[str, Any]],
        *,
        started: bool = False,
        definition: Mapping[str, Any] | str | None = None,
        definition_error: tuple[str, str] | None = None,
        mlflow: Mapping[str, Any] | None = None,
        on_stop: Sequence[dict[str, Any]] | None = None,
        on_retry: Sequence[dict[str, Any]] | None = None,
    ) -> str:
        """Script an execution of ``pipeline``: the next StartPipelineExecution returns it, or, with
        ``started=True``, it exists at once (started elsewhere). Returns its ARN."""
        text = definition if isinstance(definition, str) else json.dumps(definition) if definition is not None else self.pipelines[pipeline]["definition"]
        arn = f"{self.pipelines[pipeline]['arn']}/execution/synth{next(_ids):08d}"
        execution = Execution(
            arn=arn,
            pipeline=pipeline,
            timeline=copy.deepcopy(list(timeline)),
            definition=text,
            definition_error=definition_error,
            mlflow=dict(mlflow) if mlflow else None,
            on_stop=copy.deepcopy(list(on_stop)) if on_stop is not None else None,
            on_retry=copy.deepcopy(list(on_retry)) if on_retry is not None else None,
        )
        if started:
            self.executions[arn] = execution
        else:
            self.queued.setdefault(pipeline, []).append(execution)
        return arn

    def count(self, operation: str) -> int:
        return self.calls[operation]

    def last_request(self, operation: str) -> dict[str, Any]:
        return next(params for op, params in reversed(self.requests) if op == operation)

    # -- operations --------------------------------------------------------------------------------

    def _execution(self, params: Mapping[str, Any]) -> Execution:
        arn = params["PipelineExecutionArn"]
        if arn not in self.executions:
            raise ServiceError("ResourceNotFound", f"Pipeline execution '{arn}' does not exist.")
        return self.executions[arn]

    def describe_pipeline(self, params: Mapping[str, Any]) -> dict[str, Any]:
        name = params["PipelineName"]
        if name not in self.pipelines:
            raise ServiceError("ResourceNotFound", f"Pipeline '{name}' does not exist.")
        return {
            "PipelineArn": self.pipelines[name]["arn"],
            "PipelineName": name,
            "PipelineDefinition": self.pipelines[name]["definition"],
            "RoleArn": ROLE,
            "PipelineStatus": "Active",
            "CreationTime": T0,
        }

    def start_pipeline_execution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        queue = self.queued.get(params["PipelineName"]) or []
        if not queue:
            raise ServiceError("ValidationException", f"the test scripted no execution of '{params['PipelineName']}'")
        execution = queue.pop(0)
        execution.request = dict(params)
        execution.parameters = [dict(p) for p in params.get("PipelineParameters") or []]
        self.executions[execution.arn] = execution
        return {"PipelineExecutionArn": execution.arn}

    def describe_pipeline_execution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        execution = self._execution(params)
        snapshot = execution.advance()
        response: dict[str, Any] = {
            "PipelineArn": self.pipelines[execution.pipeline]["arn"],
            "PipelineExecutionArn": execution.arn,
            "PipelineExecutionStatus": snapshot["status"],
            "CreationTime": T0,
            "LastModifiedTime": T0,
        }
        if snapshot.get("failure_reason"):
            response["FailureReason"] = snapshot["failure_reason"]
        if execution.mlflow:
            response["MLflowConfig"] = execution.mlflow
        return response

    def list_pipeline_execution_steps(self, params: Mapping[str, Any]) -> dict[str, Any]:
        execution = self._execution(params)
        steps = execution.current.get("steps", [])
        return self._page(params, "PipelineExecutionSteps", steps)

    def describe_pipeline_definition_for_execution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        execution = self._execution(params)
        if execution.definition_error:
            raise ServiceError(*execution.definition_error)
        return {"PipelineDefinition": execution.definition, "CreationTime": T0}

    def list_pipeline_parameters_for_execution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self._page(params, "PipelineParameters", self._execution(params).parameters)

    def list_pipeline_executions(self, params: Mapping[str, Any]) -> dict[str, Any]:
        summaries = [
            {"PipelineExecutionArn": e.arn, "PipelineExecutionStatus": e.current["status"], "StartTime": T0}
            for e in reversed(list(self.executions.values()))
            if e.pipeline == params["PipelineName"]
        ]
        return self._page(params, "PipelineExecutionSummaries", summaries)

    def stop_pipeline_execution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        execution = self._execution(params)
        status = execution.current["status"] if execution.position >= 0 else execution.timeline[0]["status"]
        if status not in ACTIVE:
            raise ServiceError("ValidationException", f"Pipeline execution with status {status} cannot be stopped.")
        if execution.on_stop is not None:
            execution.replace_future(execution.on_stop)
        return {"PipelineExecutionArn": execution.arn}

    def retry_pipeline_execution(self, params: Mapping[str, Any]) -> dict[str, Any]:
        execution = self._execution(params)
        if execution.on_retry is None:
            raise ServiceError("ValidationException", "the test scripted no retry")
        execution.timeline, execution.position = copy.deepcopy(execution.on_retry), -1  # Executing again at once
        return {"PipelineExecutionArn": execution.arn}

    @staticmethod
    def _page(params: Mapping[str, Any], key: str, items: Sequence[Any], default_size: int = 10) -> dict[str, Any]:
        start = int(params.get("NextToken") or 0)
        size = int(params.get("MaxResults") or default_size)
        page: dict[str, Any] = {key: list(items[start : start + size])}
        if start + size < len(items):
            page["NextToken"] = str(start + size)
        return page

    # -- HTTP --------------------------------------------------------------------------------------

    def handle(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self.lock:
            self.calls[operation] += 1
            self.requests.append((operation, params))
            try:
                errors = validate_input(operation, params)
                if errors:
                    raise ServiceError("ValidationException", validation_message(errors))
                pending = self.fail_next.get(operation)
                if pending:
                    raise ServiceError(*pending.pop(0))
                method = getattr(self, _snake(operation), None)
                if method is None:
                    raise ServiceError("UnknownOperationException", f"{operation} is not scripted")
                response = method(params)
            except ServiceError as exc:
                return exc.status, {"__type": exc.code, "message": exc.message}
            wire = to_wire(operation, response)
            snapshot = self.executions.get(params.get("PipelineExecutionArn", ""))
            if not (snapshot and snapshot.current.get("unvalidated")):
                assert_valid_output(operation, wire)
            return 200, wire

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                operation = str(self.headers.get("X-Amz-Target", "")).rpartition(".")[2]
                status, payload = service.handle(operation, json.loads(body or b"{}"))
                data = json.dumps(payload, default=str).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("x-amzn-RequestId", f"synthetic-{next(_ids)}")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
                return

        return Handler


def _snake(operation: str) -> str:
    from botocore import xform_name

    return xform_name(operation)


SYNTHETIC_CONN_ID = "aws_synthetic"


_SERVICE: list[SyntheticSageMaker] = []


def shared_service() -> SyntheticSageMaker:
    """The process's one scripted endpoint (conftests of several folders import the fixtures, so it
    is a module-level singleton rather than one per conftest), with the Airflow connection
    ``aws_synthetic`` pointing at it."""
    if not _SERVICE:
        service = SyntheticSageMaker()
        os.environ[f"AIRFLOW_CONN_{SYNTHETIC_CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "aws", "login": "testing", "password": "testing", "extra": {"region_name": REGION, "endpoint_url": service.endpoint_url}}
        )
        atexit.register(service.close)
        _SERVICE.append(service)
    return _SERVICE[0]


@pytest.fixture(scope="session")
def synthetic_service() -> SyntheticSageMaker:
    return shared_service()


@pytest.fixture
def synthetic(synthetic_service: SyntheticSageMaker) -> SyntheticSageMaker:
    """The session's scripted endpoint with its call counters and scripted errors cleared. Give each
    test its own pipeline names (``native_helpers.unique``)."""
    with synthetic_service.lock:
        synthetic_service.calls.clear()
        synthetic_service.requests.clear()
        synthetic_service.fail_next.clear()
    return synthetic_service


# -- realistic ListPipelineExecutionSteps entries -----------------------------------------------------


def step(
    name: str,
    status: str,
    metadata: Mapping[str, Any] | None = None,
    *,
    start: float = 0,
    end: float | None = None,
    reason: str | None = None,
    attempts: int = 1,
    iteration: tuple[str, int, str] | None = None,
) -> dict[str, Any]:
    """One ``PipelineExecutionStep``: ``iteration=(parent ForEach, index, item)`` for a ForEach child."""
    entry: dict[str, Any] = {"StepName": name, "StepStatus": status, "StartTime": at(start), "AttemptCount": attempts, "Metadata": dict(metadata or {})}
    if status not in ACTIVE and status != "Starting":
        entry["EndTime"] = at(end if end is not None else start + 30)
    if reason:
        entry["FailureReason"] = reason
    if iteration is not None:
        entry["IterationContext"] = {"ParentStepName": iteration[0], "Index": iteration[1], "Item": iteration[2]}
    return entry


def training(name: str, status: str, **kwargs: Any) -> dict[str, Any]:
    return step(name, status, {"TrainingJob": {"Arn": job_arn("training-job", f"pipelines-synth-{name}")}}, **kwargs)


def processing(name: str, status: str, **kwargs: Any) -> dict[str, Any]:
    return step(name, status, {"ProcessingJob": {"Arn": job_arn("processing-job", f"pipelines-synth-{name}")}}, **kwargs)


def lambda_step(name: str, status: str, outputs: Mapping[str, str] | None = None, **kwargs: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name.lower()}"}
    if outputs:
        metadata["OutputParameters"] = [{"Name": k, "Value": v} for k, v in outputs.items()]
    return step(name, status, {"Lambda": metadata}, **kwargs)


def for_each(
    name: str,
    status: str,
    *,
    items: int,
    succeeded: int,
    failed: int = 0,
    stopped: int = 0,
    selected: tuple[str, int] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"InputItemCount": items, "TotalStepCount": succeeded + failed + stopped, "SucceededStepCount": succeeded,
                                "FailedStepCount": failed, "StoppedStepCount": stopped}  # fmt: skip
    if status in ("Succeeded", "Failed", "Stopped"):
        metadata["Status"] = status
    if selected is not None:
        metadata["Selector"] = {"StepName": selected[0], "Index": selected[1]}
    return step(name, status, {"ForEach": metadata}, **kwargs)


def cleanup(name: str, status: str, *, cleaned: Sequence[str] = (), failed: Sequence[tuple[str, str, str]] = (), skipped: Sequence[str] = (), **kwargs: Any) -> dict[str, Any]:
    metadata = {
        "CleanedSteps": list(cleaned),
        "FailedSteps": [{"StepName": s, "ErrorCode": code, "ErrorMessage": message} for s, code, message in failed],
        "SkippedSteps": list(skipped),
    }
    return step(name, status, {"Cleanup": metadata}, **kwargs)


def emr_serverless(name: str, status: str, **kwargs: Any) -> dict[str, Any]:
    metadata = {"ApplicationId": "00fgh1ab2cd3ef4g", "JobRunId": "00fgh1ijk5lm6no7", "JobRunName": f"pipelines-synth-{name}",
                "LogFilePath": f"s3://example-v3-ml-artifacts/emr-logs/{name}/"}  # fmt: skip
    return step(name, status, {"EMRServerless": metadata}, **kwargs)


def job(name: str, status: str, **kwargs: Any) -> dict[str, Any]:
    return step(name, status, {"Job": {"Arn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:job/pipelines-synth-{name.lower()}"}}, **kwargs)


# -- executions as the definition core's dry-run says they go ------------------------------------------

#: ARN resource type of the job each metadata kind names.
_RESOURCES = {
    "ProcessingJob": "processing-job",
    "TrainingJob": "training-job",
    "TransformJob": "transform-job",
    "TuningJob": "hyper-parameter-tuning-job",
    "AutoMLJob": "automl-job",
    "Job": "job",
}


def dry_run_execution(
    definition: Mapping[str, Any] | str,
    step_status: Mapping[str, Any] | None = None,
    *,
    step_outputs: Mapping[str, Any] | None = None,
    execution_id: str = "synth0000001",
) -> dict[str, Any]:
    """What the service would list for an execution of ``definition`` in which ``step_status`` steps
    fail or are stopped (``{step: "Failed"}`` or ``{step: {"status", "reason"}}``), derived from the
    definition core's dry-run (the run semantics the emulator will use): steps that run, in the order
    they run, with the metadata of their type, ForEach children with their ``IterationContext``, the
    ForEach's and the Cleanup's metadata. ``step_outputs`` as for the dry-run (``--step-outputs``).
    Returns ``{"status", "failure_reason", "steps"}``."""
    from airflow_provider_smpipe.definition.dryrun import DryRunInputs, dry_run
    from airflow_provider_smpipe.definition.loader import load_definition
    from airflow_provider_smpipe.definition.model import STEP_TYPES

    loaded = load_definition(definition if isinstance(definition, str) else json.dumps(definition))
    report = dry_run(loaded, DryRunInputs(step_status=step_status or {}, step_outputs=step_outputs, execution={"PipelineExecutionId": execution_id}))
    steps = []
    for position, name in enumerate(report["order"]):
        entry = report["steps"][name]
        if entry["status"] == "NotExecuted":
            continue
        status = "Succeeded" if entry["status"] == "Executed" else entry["status"]
        kind = STEP_TYPES[entry["type"]].metadata_key
        metadata: dict[str, Any] = {}
        if kind in _RESOURCES and entry.get("job_name"):
            metadata = {"Arn": job_arn(_RESOURCES[kind], entry["job_name"])}
        elif kind == "Lambda":
            metadata = {"Arn": entry.get("fields", {}).get("FunctionArn")}
        elif kind == "EMRServerless":
            arguments = entry.get("arguments") or {}
            metadata = {"ApplicationId": str(arguments.get("ApplicationId") or "00fgh1ab2cd3ef4g"), "JobRunId": f"00synth{position:09d}",
                        "JobRunName": str(entry.get("job_name") or name), "LogFilePath": f"s3://example-v3-ml-artifacts/emr-logs/{name}/"}  # fmt: skip
        elif kind in ("ForEach", "Cleanup") and entry.get("metadata"):
            metadata = copy.deepcopy(entry["metadata"])
        elif kind == "Condition" and "outcome" in entry:
            metadata = {"Outcome": str(entry["outcome"]).capitalize()}
        iteration = (entry["parent"], int(entry["index"]), str(entry["item"])) if entry.get("parent") else None
        steps.append(step(name, status, {kind: metadata}, start=10 * position, reason=entry.get("failure_reason"), iteration=iteration))
    return {"status": report["execution_status"], "failure_reason": report.get("failure_reason"), "steps": steps}


def timeline(final: Mapping[str, Any], *, running_polls: int = 1) -> list[dict[str, Any]]:
    """``running_polls`` snapshots of the execution half-way, then ``final`` (from
    :func:`dry_run_execution`). Half-way: the first half of its steps have started, the last of
    them is still executing, and so is every ForEach among them (its counts are those of the
    children listed so far, its ``Status`` and ``Selector`` are not known yet)."""
    steps = list(final["steps"])
    half = copy.deepcopy(steps[: max(1, len(steps) // 2)])

    def running(entry: dict[str, Any]) -> None:
        entry["StepStatus"] = "Executing"
        for key in ("EndTime", "FailureReason"):
            entry.pop(key, None)

    running(half[-1])
    for entry in half:
        metadata = entry["Metadata"].get("ForEach")
        if metadata is None:
            continue
        running(entry)
        children = [c for c in half if (c.get("IterationContext") or {}).get("ParentStepName") == entry["StepName"]]
        statuses = [c["StepStatus"] for c in children]
        metadata.pop("Status", None)
        metadata.pop("Selector", None)
        metadata.update(TotalStepCount=len(children), SucceededStepCount=statuses.count("Succeeded"),
                        FailedStepCount=statuses.count("Failed"), StoppedStepCount=statuses.count("Stopped"))  # fmt: skip
    snapshot = {"status": "Executing", "steps": half}
    return [*(copy.deepcopy(snapshot) for _ in range(running_polls)), {"status": final["status"], "failure_reason": final.get("failure_reason"), "steps": steps}]


# -- definitions -----------------------------------------------------------------------------------

V3 = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "definitions_v3"


def v3(name: str) -> dict[str, Any]:
    """An SDK v3 fixture definition (``tests/fixtures/definitions_v3/<name>.json``)."""
    return json.loads((V3 / f"{name}.json").read_text())


def sweep_definition() -> dict[str, Any]:
    """A hyper-parameter sweep in SDK v3's shape: ForEach ``Sweep`` over three JSON items (MaxBy
    Selector on the validation AUC) with body ``TrainCandidate`` (Training) and
    ``NotifyCandidateFailed`` (Lambda, runs when that iteration's training failed); then
    ``RegisterBest`` (Lambda reading ``Sweep.Selected``) and ``NotifySweepFailed`` (Lambda on
    ``{"Step": "Sweep", "Trigger": "Failed"}``). Built from ``run_conditions_training.json``'s steps."""
    source = {s["Name"]: s for s in v3("run_conditions_training")["Steps"]}
    train = copy.deepcopy(source["TrainEventsModel"])
    train["Name"] = "TrainCandidate"
    train["Arguments"]["HyperParameters"] = {"max_depth": {"Get": "ForEach.CurrentItem.max_depth"}, "eta": {"Get": "ForEach.CurrentItem.eta"}}
    train["Arguments"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = {"Get": "Parameters.TrainData"}
    train["Arguments"]["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"
    notify = copy.deepcopy(source["NotifyTrainingFailed"])

    def lambda_(name: str, depends_on: list[Any] | None, arguments: dict[str, Any]) -> dict[str, Any]:
        out = {**copy.deepcopy(notify), "Name": name, "Arguments": arguments}
        if depends_on is None:
            out.pop("DependsOn", None)
        else:
            out["DependsOn"] = depends_on
        return out

    items = [json.dumps({"max_depth": d, "eta": e}) for d, e in ((3, 0.3), (6, 0.1), (9, 0.05))]
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "MlflowConfig": {"MlflowResourceArn": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:mlflow-app/app-example-v3", "MlflowExperimentName": "sweeps"},
        "Parameters": [{"Name": "TrainData", "Type": "String", "DefaultValue": "s3://example-v3-ml-artifacts/sweep/train/"}],
        "PipelineExperimentConfig": None,
        "Steps": [
            {
                "Name": "Sweep",
                "Type": "ForEach",
                "Arguments": {
                    "IterableItems": items,
                    "MaxConcurrency": 2,
                    "Selector": {"Pick": "MaxBy", "Field": {"Get": "IterationOutput.TrainCandidate.FinalMetricDataList['validation:auc'].Value"}},
                    "ForEachBody": [
                        train,
                        lambda_("NotifyCandidateFailed", [{"Step": "TrainCandidate", "Trigger": "Failed"}],
                                {"event": "candidate-failed", "item": {"Get": "ForEach.CurrentItem"}}),  # fmt: skip
                    ],
                },
            },
            lambda_("RegisterBest", None, {"model": {"Get": "Steps.Sweep.Selected.ModelArtifacts.S3ModelArtifacts"}}),
            lambda_("NotifySweepFailed", [{"Step": "Sweep", "Trigger": "Failed"}], {"event": "sweep-failed", "failed": {"Get": "Steps.Sweep.FailedStepCount"}}),
        ],
    }


#: Validation AUC of each sweep child (the Selector picks the highest among those that succeeded).
SWEEP_AUC = {0: 0.81, 1: 0.86, 2: 0.84}


def sweep_outputs() -> dict[str, Any]:
    return {f"TrainCandidate-{i}": {"FinalMetricDataList": [{"MetricName": "validation:auc", "Value": auc}]} for i, auc in SWEEP_AUC.items()}
