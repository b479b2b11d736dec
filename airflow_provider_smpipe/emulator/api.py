"""The SageMaker pipeline-execution operations the emulator owns (everything else is moto's).

Each handler gets the request's JSON body, already checked against botocore's input shape with the
service's validation messages, and returns the response body. Business rules live in the engine;
here are the request/response forms, pagination and sorting.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_smpipe.emulator.direct import STOPS, DirectWork
from airflow_provider_smpipe.emulator.engine import Engine, Execution
from airflow_provider_smpipe.emulator.errors import InternalFailure, ResourceNotFound, ValidationException
from airflow_provider_smpipe.emulator.gateway import sagemaker_backend
from airflow_provider_smpipe.emulator.job_api import JobStore
from airflow_provider_smpipe.emulator.shapes import to_wire, validate_input, validate_output, validation_message

OWNED_OPERATIONS = (
    "StartPipelineExecution",
    "DescribePipelineExecution",
    "ListPipelineExecutions",
    "ListPipelineExecutionSteps",
    "ListPipelineParametersForExecution",
    "DescribePipelineDefinitionForExecution",
    "StopPipelineExecution",
    "RetryPipelineExecution",
    "SendPipelineExecutionStepSuccess",
    "SendPipelineExecutionStepFailure",
    "UpdatePipelineExecution",
)
#: SageMaker operations moto lacks that translated pipelines call directly: answered by the emulator
#: for the work clients create themselves (see :mod:`airflow_provider_smpipe.emulator.direct`).
DIRECT_OPERATIONS = (
    "CreateAutoMLJob",
    "DescribeAutoMLJob",
    "ListTrainingJobsForHyperParameterTuningJob",
    "UpdateEndpoint",
    # SageMaker's generic job API (see :mod:`airflow_provider_smpipe.emulator.job_api`)
    "CreateJob",
    "DescribeJob",
    "StopJob",
    # Stop* (moto has only StopProcessingJob and StopAutoMLJob, which set Stopped at once, also on
    # jobs that already ended): Stopping, then Stopped, as the service does
    *STOPS,
)
#: Page size when a List call gives no ``MaxResults`` (an assumption: the service documents none).
DEFAULT_PAGE_SIZE = 10


class Api:
    """Dispatches an owned operation: validate the request, run it, (strict mode) check the response."""

    def __init__(self, engine: Engine, direct: DirectWork, *, strict: bool = False, job_store: JobStore | None = None) -> None:
        self.engine = engine
        self.direct = direct
        self.job_store = job_store if job_store is not None else JobStore()
        self.strict = strict
        self.handlers: dict[str, Callable[[Mapping[str, Any], str, str], dict[str, Any]]] = {
            "StartPipelineExecution": self.start,
            "DescribePipelineExecution": self.describe,
            "ListPipelineExecutions": self.list_executions,
            "ListPipelineExecutionSteps": self.list_steps,
            "ListPipelineParametersForExecution": self.list_parameters,
            "DescribePipelineDefinitionForExecution": self.describe_definition,
            "StopPipelineExecution": self.stop,
            "RetryPipelineExecution": self.retry,
            "SendPipelineExecutionStepSuccess": self.send_success,
            "SendPipelineExecutionStepFailure": self.send_failure,
            "UpdatePipelineExecution": self.update,
            "CreateAutoMLJob": self.create_automl,
            "DescribeAutoMLJob": self.describe_automl,
            "ListTrainingJobsForHyperParameterTuningJob": self.list_tuning_training_jobs,
            "UpdateEndpoint": self.update_endpoint,
            "CreateJob": self.create_job,
            "DescribeJob": self.describe_job,
            "StopJob": self.stop_job,
            **{operation: self._stopper(operation) for operation in STOPS},
        }

    def handle(self, operation: str, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        errors = validate_input(operation, params)
        if errors:
            raise ValidationException(validation_message(errors))
        result = self.handlers[operation](params, account, region)
        if self.strict:
            problems = validate_output(operation, result)
            if problems:
                raise InternalFailure(f"emulator bug: the {operation} response does not match botocore's output shape: " + "; ".join(problems))
        return result

    # -- executions --

    def start(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return {"PipelineExecutionArn": self.engine.start(account, region, params)}

    def describe(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        execution = self.engine.execution(params["PipelineExecutionArn"])
        with self.engine.lock:
            return execution.describe()

    def list_executions(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        ref = params["PipelineName"]
        name = ref.split(":pipeline/", 1)[1].split("/", 1)[0] if ref.startswith("arn:") else ref
        backend = sagemaker_backend(account, region)
        if not any(n.lower() == name.lower() for n in backend.pipelines):
            raise ResourceNotFound(f"Pipeline 'arn:aws:sagemaker:{region}:{account}:pipeline/{name.lower()}' does not exist.")
        executions = self.engine.executions_of(account, region, name)
        after, before = params.get("CreatedAfter"), params.get("CreatedBefore")
        with self.engine.lock:
            if after is not None:
                executions = [e for e in executions if e.created > _epoch(after)]
            if before is not None:
                executions = [e for e in executions if e.created < _epoch(before)]
            sort_by = params.get("SortBy", "CreationTime")
            descending = params.get("SortOrder", "Descending") == "Descending"
            key: Callable[[Execution], Any] = (lambda e: e.arn) if sort_by == "PipelineExecutionArn" else (lambda e: e.created)
            executions.sort(key=key, reverse=descending)
            page, token = _paginate(executions, params, f"executions:{name.lower()}")
            result: dict[str, Any] = {"PipelineExecutionSummaries": [e.summary() for e in page]}
        if token:
            result["NextToken"] = token
        return result

    def list_steps(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        arn = params.get("PipelineExecutionArn")
        if not arn:
            raise ValidationException("1 validation error detected: Value null at 'pipelineExecutionArn' failed to satisfy constraint: Member must not be null")
        execution = self.engine.execution(arn)
        with self.engine.lock:
            runs = sorted(execution.runs.values(), key=lambda r: r.created, reverse=params.get("SortOrder", "Descending") == "Descending")
            page, token = _paginate(runs, params, f"steps:{execution.arn}")
            result: dict[str, Any] = {"PipelineExecutionSteps": [r.wire() for r in page]}
        if token:
            result["NextToken"] = token
        return result

    def list_parameters(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        execution = self.engine.execution(params["PipelineExecutionArn"])
        page, token = _paginate(list(execution.wire_parameters), params, f"parameters:{execution.arn}")
        result: dict[str, Any] = {"PipelineParameters": [dict(p) for p in page]}
        if token:
            result["NextToken"] = token
        return result

    def describe_definition(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        execution = self.engine.execution(params["PipelineExecutionArn"])
        return {"PipelineDefinition": execution.definition_text, "CreationTime": execution.created}

    def stop(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return {"PipelineExecutionArn": self.engine.stop(params["PipelineExecutionArn"], params["ClientRequestToken"])}

    def retry(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        arn = self.engine.retry(params["PipelineExecutionArn"], params["ClientRequestToken"], params.get("ParallelismConfiguration"))
        return {"PipelineExecutionArn": arn}

    def update(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return {"PipelineExecutionArn": self.engine.update(params["PipelineExecutionArn"], params)}

    # -- callbacks --

    def send_success(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        answer = {"status": "success", "output_parameters": [dict(p) for p in params.get("OutputParameters") or []], "reason": None}
        arn = self.engine.answer_callback(params["CallbackToken"], answer, params.get("ClientRequestToken"))
        return {"PipelineExecutionArn": arn}

    def send_failure(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        answer = {"status": "failure", "output_parameters": [], "reason": params.get("FailureReason")}
        arn = self.engine.answer_callback(params["CallbackToken"], answer, params.get("ClientRequestToken"))
        return {"PipelineExecutionArn": arn}


    # -- directly created work (translation mode) --

    def create_automl(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return self.direct.create_automl(params, account, region, self.engine.scenario)

    def describe_automl(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return self.direct.describe_automl(params, account, region)

    def update_endpoint(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return self.direct.update_endpoint(params, account, region, self.engine.scenario)

    def create_job(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return self.job_store.create(params, account, region, scenario=self.engine.scenario)

    def describe_job(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return self.job_store.describe(params, account, region)

    def stop_job(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        return self.job_store.stop(params, account, region)

    def _stopper(self, operation: str) -> Callable[[Mapping[str, Any], str, str], dict[str, Any]]:
        def stop(params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
            return self.direct.stop(operation, params, account, region)

        return stop

    def list_tuning_training_jobs(self, params: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
        name = params["HyperParameterTuningJobName"]
        summaries = self.direct.tuning_summaries(name, account, region)
        if params.get("StatusEquals"):
            summaries = [s for s in summaries if s.get("TrainingJobStatus") == params["StatusEquals"]]
        sort_by = params.get("SortBy", "Name")
        descending = params.get("SortOrder", "Ascending") == "Descending"
        if sort_by == "FinalObjectiveMetricValue":  # the service leaves out jobs without an objective value
            summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        keys: dict[str, Callable[[dict[str, Any]], Any]] = {
            "Name": lambda s: s["TrainingJobName"],
            "CreationTime": lambda s: _epoch(s["CreationTime"]),
            "Status": lambda s: s["TrainingJobStatus"],
            "FinalObjectiveMetricValue": lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
        }
        summaries.sort(key=keys.get(sort_by, keys["Name"]), reverse=descending)
        page, token = _paginate(summaries, params, f"tuning:{name}")
        result = to_wire("ListTrainingJobsForHyperParameterTuningJob", {"TrainingJobSummaries": page})
        if token:
            result["NextToken"] = token
        return result


def _epoch(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value)
    from datetime import datetime

    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValidationException(f"Value '{value}' is not a valid timestamp.") from None


def _paginate(items: list[Any], params: Mapping[str, Any], scope: str) -> tuple[list[Any], str | None]:
    size = params.get("MaxResults") or DEFAULT_PAGE_SIZE
    offset = 0
    token = params.get("NextToken")
    if token:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()).decode())
            offset = int(decoded["offset"])
            if decoded["scope"] != scope or offset < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError, json.JSONDecodeError):
            raise ValidationException(f"The NextToken '{token}' is invalid for this request.") from None
    page = items[offset : offset + size]
    if offset + size < len(items):
        next_token = base64.urlsafe_b64encode(json.dumps({"scope": scope, "offset": offset + size}).encode()).decode()
        return page, next_token
    return page, None
