"""Plain-JSON views of a pipeline execution and the one place failures are worded.

Used identically by the hook, the trigger, the sensors and the operators so that every path
(synchronous, deferred, sensor) reports the same thing and applies the same ``Stopped`` policy.
No Airflow import: trigger events and XCom carry only what these functions return.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

ACTIVE_STATUSES = frozenset({"Executing", "Stopping"})
TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "CompletedWithFailures"})
FAILED_STEP_STATUSES = frozenset({"Failed", "Stopped"})

StoppedPolicy = Literal["fail", "succeed", "skip"]
Outcome = Literal["success", "failure", "skip"]
STOPPED_POLICIES: tuple[str, ...] = ("fail", "succeed", "skip")


def check_stopped_policy(policy: str) -> StoppedPolicy:
    if policy not in STOPPED_POLICIES:
        raise ValueError(f"stopped_policy must be one of {', '.join(STOPPED_POLICIES)}, not {policy!r}")
    return policy  # type: ignore[return-value]


def outcome_of(status: str, stopped_policy: StoppedPolicy = "fail") -> Outcome:
    """How a terminal execution status ends an Airflow task: the single rule every path uses.

    ``Succeeded`` -> success; ``Failed`` and ``CompletedWithFailures`` -> failure; ``Stopped`` -> as the
    policy says (fail by default: somebody stopped the work the task was asked to do).
    """
    if status == "Succeeded":
        return "success"
    if status == "Stopped":
        return {"fail": "failure", "succeed": "success", "skip": "skip"}[stopped_policy]  # type: ignore[return-value]
    if status in TERMINAL_STATUSES:
        return "failure"
    raise ValueError(f"execution status {status!r} is not terminal")


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def step_job(metadata: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """``(metadata kind, ARN or id)`` of what a step ran: a job ARN, a model ARN, an EMR step id, ..."""
    for kind, value in (metadata or {}).items():
        if isinstance(value, Mapping):
            if value.get("Arn"):
                return kind, str(value["Arn"])
            if kind == "EMR" and value.get("StepId"):
                return kind, f"{value.get('ClusterId')}/{value['StepId']}"
            if value.get("CheckJobArn"):
                return kind, str(value["CheckJobArn"])
            return kind, None
    return None, None


def step_row(step: Mapping[str, Any]) -> dict[str, Any]:
    """One ``ListPipelineExecutionSteps`` entry as a plain-JSON row."""
    metadata = step.get("Metadata") or {}
    kind, arn = step_job(metadata)
    row: dict[str, Any] = {
        "name": step.get("StepName"),
        "type": kind,
        "status": step.get("StepStatus"),
        "attempt_count": step.get("AttemptCount"),
        "cache_hit": (step.get("CacheHitResult") or {}).get("SourcePipelineExecutionArn"),
        "reused_from": (step.get("SelectiveExecutionResult") or {}).get("SourcePipelineExecutionArn"),
        "job_arn": arn,
        "failure_reason": step.get("FailureReason"),
        "start_time": _iso(step.get("StartTime")),
        "end_time": _iso(step.get("EndTime")),
    }
    if "Condition" in metadata:
        row["outcome"] = metadata["Condition"].get("Outcome")
    if "Fail" in metadata:
        row["error_message"] = metadata["Fail"].get("ErrorMessage")
    for kind_name in ("Lambda", "Callback"):
        if kind_name in metadata and metadata[kind_name].get("OutputParameters"):
            row["output_parameters"] = {p["Name"]: p["Value"] for p in metadata[kind_name]["OutputParameters"]}
    return row


def step_table(steps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for every step, oldest first (the API lists newest first by default)."""
    rows = [step_row(s) for s in steps]
    return sorted(rows, key=lambda r: (r["start_time"] or "", r["name"] or ""))


def failed_steps(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows if r.get("status") in FAILED_STEP_STATUSES]


def pipeline_name_from_arn(execution_arn: str) -> str:
    """``arn:aws:sagemaker:r:a:pipeline/<name>/execution/<id>`` -> ``<name>``."""
    parts = execution_arn.split("/")
    return parts[1] if len(parts) >= 4 else execution_arn


def failure_message(
    *,
    execution_arn: str,
    status: str,
    failure_reason: str | None,
    rows: Iterable[Mapping[str, Any]],
    pipeline_name: str | None = None,
) -> str:
    """A message that names the pipeline, the execution and every failed step with reason and job."""
    name = pipeline_name or pipeline_name_from_arn(execution_arn)
    lines = [f"SageMaker pipeline '{name}' execution {execution_arn} ended {status}"]
    if failure_reason:
        lines[0] += f": {failure_reason}"
    bad = failed_steps(rows)
    for row in bad:
        detail = f"  - step '{row['name']}'"
        if row.get("type"):
            detail += f" ({row['type']})"
        detail += f" {row['status']}"
        reason = row.get("failure_reason") or row.get("error_message")
        if reason:
            detail += f": {reason}"
        if row.get("job_arn"):
            detail += f" [{row['job_arn']}]"
        if row.get("attempt_count") and row["attempt_count"] > 1:
            detail += f" after {row['attempt_count']} attempts"
        lines.append(detail)
    if not bad and status != "Succeeded":
        lines.append("  (no step reported a failure; see the execution in the console)")
    return "\n".join(lines)


def status_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
    return dict(sorted(counts.items()))
