"""The events SageMaker sends to EventBridge's default bus for pipelines, built and read in one place.

Source: the SageMaker developer guide, "Events that Amazon SageMaker AI sends to Amazon EventBridge"
(sections "Pipeline execution state change", "Pipeline step state change", "Model package state
change"). Every event has ``source`` ``aws.sagemaker``, a ``detail-type``, ``resources`` (for pipeline
events: the pipeline ARN and the execution ARN) and a ``detail``:

* ``SageMaker Model Building Pipeline Execution Status Change``: ``pipelineArn``,
  ``pipelineExecutionArn``, ``pipelineExecutionDisplayName``, ``pipelineExecutionDescription``,
  ``currentPipelineExecutionStatus``, ``previousPipelineExecutionStatus``, ``executionStartTime``,
  ``executionEndTime`` (ISO-8601 UTC, seconds).
* ``SageMaker Model Building Pipeline Execution Step Status Change``: ``pipelineArn``,
  ``pipelineExecutionArn``, ``stepName``, ``stepType``, ``currentStepStatus``, ``previousStepStatus``,
  ``stepStartTime``, ``stepEndTime``, ``metadata`` (lower-camel-case job keys, e.g.
  ``{"processingJob": {"arn": ...}}``), ``failureReason`` when the step failed, ``cacheHitResult`` on a
  cache hit.
* ``SageMaker Model Package State Change``: the model package as DescribeModelPackage returns it
  (``ModelPackageGroupName``, ``ModelPackageVersion``, ``ModelPackageArn``, ``ModelApprovalStatus``,
  ``ModelPackageStatus``, ``MetadataProperties.GeneratedBy`` = the execution ARN, ...).

AWS notes that SageMaker "may send multiple events to EventBridge for each state change": readers
deduplicate on what the event says (:func:`dedup_key`), never on the event ``id`` (each copy has its own).

An SQS queue that is the target of an EventBridge rule receives the whole event as the message body
(JSON text). :func:`parse_message` reads such a body; anything else (a foreign message, a malformed
one) is a :class:`NotAPipelineEvent` naming why, for the reader to skip with a warning.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

SOURCE = "aws.sagemaker"
EXECUTION_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Status Change"
STEP_STATUS_CHANGE = "SageMaker Model Building Pipeline Execution Step Status Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
PIPELINE_DETAIL_TYPES = (EXECUTION_STATUS_CHANGE, STEP_STATUS_CHANGE)
ALL_DETAIL_TYPES = (*PIPELINE_DETAIL_TYPES, MODEL_PACKAGE_STATE_CHANGE)

#: ``kind`` of a :class:`PipelineEvent` per detail-type.
KINDS = {EXECUTION_STATUS_CHANGE: "execution", STEP_STATUS_CHANGE: "step", MODEL_PACKAGE_STATE_CHANGE: "model_package"}


class NotAPipelineEvent(ValueError):
    """An SQS message body that is not one of the events above; the message says why."""


def iso_seconds(epoch: float | None) -> str | None:
    """EventBridge's time format: ISO-8601 UTC to the second, ``Z`` suffix."""
    if epoch is None:
        return None
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pipeline_name_of(arn: str) -> str:
    """``arn:aws:sagemaker:r:a:pipeline/NAME[/execution/ID]`` -> ``NAME`` ('' when not such an ARN)."""
    _, _, rest = arn.partition(":pipeline/")
    return rest.split("/", 1)[0]


def envelope(detail_type: str, detail: dict[str, Any], *, account: str, region: str, resources: list[str], at: float) -> dict[str, Any]:
    """The whole event as EventBridge delivers it to a target (what an SQS message body holds)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": account,
        "time": iso_seconds(at),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def execution_status_detail(
    *,
    pipeline_arn: str,
    execution_arn: str,
    status: str,
    previous_status: str | None,
    display_name: str | None,
    description: str | None,
    start_time: float,
    end_time: float | None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "pipelineExecutionDisplayName": display_name,
        "currentPipelineExecutionStatus": status,
        "previousPipelineExecutionStatus": previous_status,
        "executionStartTime": iso_seconds(start_time),
        "executionEndTime": iso_seconds(end_time),
        "pipelineExecutionDescription": description,
        "pipelineArn": pipeline_arn,
        "pipelineExecutionArn": execution_arn,
    }
    return {key: value for key, value in detail.items() if value is not None}


def step_status_detail(
    *,
    pipeline_arn: str,
    execution_arn: str,
    step_name: str,
    step_type: str,
    status: str,
    previous_status: str | None,
    start_time: float | None,
    end_time: float | None,
    metadata: dict[str, Any] | None = None,
    failure_reason: str | None = None,
    cache_hit_result: dict[str, Any] | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "metadata": metadata or {},
        "stepStartTime": iso_seconds(start_time),
        "stepEndTime": iso_seconds(end_time),
        "stepName": step_name,
        "stepType": step_type,
        "previousStepStatus": previous_status,
        "currentStepStatus": status,
        "pipelineArn": pipeline_arn,
        "pipelineExecutionArn": execution_arn,
    }
    if failure_reason and status == "Failed":
        detail["failureReason"] = failure_reason
    if cache_hit_result:
        detail["cacheHitResult"] = cache_hit_result
    return {key: value for key, value in detail.items() if value is not None}


#: Model package members that are times: ISO-8601 UTC to the second in the event (the developer
#: guide's example), whatever form the DescribeModelPackage copy had them in.
_MODEL_PACKAGE_TIMES = ("CreationTime", "LastModifiedTime", "ApprovalTime")


def model_package_detail(described: dict[str, Any], *, execution_arn: str | None = None) -> dict[str, Any]:
    """The detail of a ``SageMaker Model Package State Change``: the model package as
    DescribeModelPackage returns it (``described``, a JSON-safe copy: times as epoch numbers or ISO
    strings), times as ISO-8601 seconds, ``ModelApprovalStatus`` defaulting to
    ``PendingManualApproval`` (the service's default for a new package), and
    ``MetadataProperties.GeneratedBy`` the registering execution's ARN when not already set."""
    detail = {key: value for key, value in described.items() if key != "ResponseMetadata"}
    for key in _MODEL_PACKAGE_TIMES:
        if key in detail:
            detail[key] = _iso_of(detail[key])
    detail.setdefault("ModelApprovalStatus", "PendingManualApproval")
    if execution_arn:
        metadata = dict(detail.get("MetadataProperties") or {})
        metadata.setdefault("GeneratedBy", execution_arn)
        detail["MetadataProperties"] = metadata
    return {key: value for key, value in detail.items() if value is not None}


def _iso_of(value: Any) -> Any:
    """An epoch number, datetime or ISO string as :func:`iso_seconds` text (anything else unchanged)."""
    if isinstance(value, datetime):
        return iso_seconds(value.timestamp())
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return iso_seconds(float(value))
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
        return iso_seconds((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())
    return value


@dataclass(frozen=True)
class PipelineEvent:
    """One SageMaker pipeline (or model package) event, read from an SQS message.

    ``status`` is the current execution status, step status or (model packages) the
    ``ModelApprovalStatus``; ``step_name`` is set for step events only.
    """

    kind: str
    event_id: str
    time: str | None
    pipeline_arn: str
    pipeline_name: str
    execution_arn: str
    status: str
    previous_status: str | None = None
    step_name: str | None = None
    step_type: str | None = None
    failure_reason: str | None = None
    model_package_group: str | None = None
    model_package_arn: str | None = None
    detail: dict[str, Any] = field(default_factory=dict, compare=False)

    def dedup_key(self) -> tuple[str, ...]:
        """Equal for the copies of one state change SageMaker may send (their ids differ)."""
        return dedup_key(self)

    def to_payload(self) -> dict[str, Any]:
        """Plain JSON for a TriggerEvent / an asset event's extra (no ``detail`` blob: it can be large)."""
        payload = {
            "kind": self.kind,
            "event_id": self.event_id,
            "event_time": self.time,
            "pipeline_arn": self.pipeline_arn,
            "pipeline_name": self.pipeline_name,
            "execution_arn": self.execution_arn,
            "status": self.status,
            "previous_status": self.previous_status,
            "step_name": self.step_name,
            "step_type": self.step_type,
            "failure_reason": self.failure_reason,
            "model_package_group": self.model_package_group,
            "model_package_arn": self.model_package_arn,
        }
        return {key: value for key, value in payload.items() if value is not None}


def dedup_key(event: PipelineEvent) -> tuple[str, ...]:
    return (event.kind, event.execution_arn or event.model_package_arn or "", event.step_name or "", event.status)


def _text(detail: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = detail.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value):
        raise NotAPipelineEvent(f"detail.{key} is {'missing' if value is None else 'not a non-empty string'}")
    return value


def parse_event(event: Any) -> PipelineEvent:
    """Read an EventBridge event (a dict); :class:`NotAPipelineEvent` when it is not one of ours."""
    if not isinstance(event, dict):
        raise NotAPipelineEvent(f"the message is JSON {type(event).__name__}, not an EventBridge event object")
    if event.get("source") != SOURCE:
        raise NotAPipelineEvent(f"source is {event.get('source')!r}, not {SOURCE!r}")
    detail_type = event.get("detail-type")
    if detail_type not in KINDS:
        raise NotAPipelineEvent(f"detail-type {detail_type!r} is not a pipeline or model package event")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise NotAPipelineEvent("detail is missing or not an object")
    event_id = event.get("id") if isinstance(event.get("id"), str) else ""
    time = event.get("time") if isinstance(event.get("time"), str) else None
    if detail_type == MODEL_PACKAGE_STATE_CHANGE:
        generated_by = (detail.get("MetadataProperties") or {}).get("GeneratedBy") if isinstance(detail.get("MetadataProperties"), dict) else None
        execution_arn = generated_by if isinstance(generated_by, str) and ":pipeline/" in generated_by else ""
        return PipelineEvent(
            kind="model_package",
            event_id=event_id,
            time=time,
            pipeline_arn=execution_arn.split("/execution/", 1)[0] if execution_arn else "",
            pipeline_name=pipeline_name_of(execution_arn),
            execution_arn=execution_arn,
            status=_text(detail, "ModelApprovalStatus") or "",
            model_package_group=_text(detail, "ModelPackageGroupName"),
            model_package_arn=_text(detail, "ModelPackageArn"),
            detail=detail,
        )
    pipeline_arn = _text(detail, "pipelineArn") or ""
    execution_arn = _text(detail, "pipelineExecutionArn") or ""
    if detail_type == EXECUTION_STATUS_CHANGE:
        return PipelineEvent(
            kind="execution",
            event_id=event_id,
            time=time,
            pipeline_arn=pipeline_arn,
            pipeline_name=pipeline_name_of(pipeline_arn),
            execution_arn=execution_arn,
            status=_text(detail, "currentPipelineExecutionStatus") or "",
            previous_status=_text(detail, "previousPipelineExecutionStatus", required=False),
            detail=detail,
        )
    return PipelineEvent(
        kind="step",
        event_id=event_id,
        time=time,
        pipeline_arn=pipeline_arn,
        pipeline_name=pipeline_name_of(pipeline_arn),
        execution_arn=execution_arn,
        status=_text(detail, "currentStepStatus") or "",
        previous_status=_text(detail, "previousStepStatus", required=False),
        step_name=_text(detail, "stepName"),
        step_type=_text(detail, "stepType", required=False),
        failure_reason=_text(detail, "failureReason", required=False),
        detail=detail,
    )


def parse_message(body: Any) -> PipelineEvent:
    """Read an SQS message body (JSON text of an EventBridge event)."""
    if not isinstance(body, str):
        raise NotAPipelineEvent("the message has no text body")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise NotAPipelineEvent(f"the message body is not JSON ({exc.__class__.__name__})") from None
    return parse_event(document)
