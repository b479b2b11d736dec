"""Plain-JSON views of a pipeline execution and the one place failures are worded.

Used identically by the hook, the trigger, the sensors and the operators so that every path
(synchronous, deferred, sensor) reports the same thing and applies the same policies for the two
statuses that are neither plain success nor plain failure: ``Stopped`` (``stopped_policy``) and
``CompletedWithFailures`` (``completed_with_failures_policy``). No Airflow import: trigger events
and XCom carry only what these functions return.

Execution statuses (botocore ``PipelineExecutionStatus``): ``Executing`` and ``Stopping`` are
active; ``Succeeded``, ``Failed``, ``Stopped`` and ``CompletedWithFailures`` are final. A status this
version does not know is treated as final and as a failure, never as success: if the service adds
a status it ends the wait with a message naming it instead of hanging or passing silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from airflow_provider_smpipe.definition.errors import did_you_mean
from airflow_provider_smpipe.definition.foreach import child_name, split_child_name

if TYPE_CHECKING:
    from airflow_provider_smpipe.definition.model import PipelineDefinition

ACTIVE_STATUSES = frozenset({"Executing", "Stopping"})
COMPLETED_WITH_FAILURES = "CompletedWithFailures"
TERMINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", COMPLETED_WITH_FAILURES})
KNOWN_STATUSES = ACTIVE_STATUSES | TERMINAL_STATUSES
FAILED_STEP_STATUSES = frozenset({"Failed", "Stopped"})

Policy = Literal["fail", "succeed", "skip"]
StoppedPolicy = Policy
CompletedWithFailuresPolicy = Policy
Outcome = Literal["success", "failure", "skip"]
POLICIES: tuple[str, ...] = ("fail", "succeed", "skip")
STOPPED_POLICIES = POLICIES
#: The argument that decides what each "neither success nor failure" status means for a task.
POLICY_ARGUMENTS = {"Stopped": "stopped_policy", COMPLETED_WITH_FAILURES: "completed_with_failures_policy"}
#: Characters of a ForEach item shown in messages and log lines (the XCom keeps the whole item).
ITEM_PREVIEW = 60


def check_policy(policy: str, argument: str = "stopped_policy") -> Policy:
    """``policy`` if it is ``fail``, ``succeed`` or ``skip``; a ``ValueError`` naming ``argument`` otherwise."""
    if policy not in POLICIES:
        raise ValueError(f"{argument} must be one of {', '.join(POLICIES)}, not {policy!r}")
    return policy  # type: ignore[return-value]


def check_stopped_policy(policy: str) -> Policy:
    return check_policy(policy, "stopped_policy")


def check_completed_with_failures_policy(policy: str) -> Policy:
    return check_policy(policy, "completed_with_failures_policy")


def is_terminal(status: str | None) -> bool:
    """Whether the wait for an execution in ``status`` is over (unknown statuses included)."""
    return status is not None and status not in ACTIVE_STATUSES


def outcome_of(status: str, stopped_policy: Policy = "fail", completed_with_failures_policy: Policy = "fail") -> Outcome:
    """How a final execution status ends an Airflow task: the single rule every path uses.

    ``Succeeded`` -> success; ``Failed`` -> failure; ``Stopped`` -> as ``stopped_policy`` says;
    ``CompletedWithFailures`` -> as ``completed_with_failures_policy`` says (both fail by default:
    somebody stopped the work, or a step of the pipeline failed even though a step declared to run on
    that failure ran); any status this version does not know -> failure.

    :raises ValueError: ``status`` is active (``Executing``, ``Stopping``): nothing has ended.
    """
    if status == "Succeeded":
        return "success"
    if status in ACTIVE_STATUSES:
        raise ValueError(f"execution status {status!r} is not terminal")
    policy = {"Stopped": stopped_policy, COMPLETED_WITH_FAILURES: completed_with_failures_policy}.get(status)
    if policy is None:
        return "failure"
    return {"fail": "failure", "succeed": "success", "skip": "skip"}[policy]  # type: ignore[return-value]


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if isinstance(value, datetime) else str(value)


def step_job(metadata: Mapping[str, Any] | None) -> tuple[str | None, str | None]:
    """``(metadata kind, ARN or id)`` of what a step ran: a job ARN, a model ARN, an EMR step id
    (``cluster/step``), an EMR Serverless job run (``application/job run``), an Athena query id, ..."""
    for kind, value in (metadata or {}).items():
        if isinstance(value, Mapping):
            if value.get("Arn"):
                return kind, str(value["Arn"])
            if kind == "EMR" and value.get("StepId"):
                return kind, f"{value.get('ClusterId')}/{value['StepId']}"
            if kind == "EMRServerless" and value.get("JobRunId"):
                return kind, f"{value.get('ApplicationId')}/{value['JobRunId']}"
            if kind == "Athena" and value.get("QueryExecutionId"):
                return kind, str(value["QueryExecutionId"])
            if value.get("CheckJobArn"):
                return kind, str(value["CheckJobArn"])
            return kind, None
    return None, None


def for_each_row(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``ForEachStepMetadata`` as plain JSON: the fan-out's status, counts and the child its Selector
    picked (``selected``: ``{"step_name", "index"}``, ``None`` without a Selector or before the end)."""
    selector = metadata.get("Selector") or {}
    return {
        "status": metadata.get("Status"),
        "input_item_count": metadata.get("InputItemCount"),
        "total_step_count": metadata.get("TotalStepCount"),
        "succeeded_step_count": metadata.get("SucceededStepCount"),
        "failed_step_count": metadata.get("FailedStepCount"),
        "stopped_step_count": metadata.get("StoppedStepCount"),
        "selected": {"step_name": selector.get("StepName"), "index": selector.get("Index")} if selector else None,
    }


def cleanup_row(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``CleanupStepMetadata`` as plain JSON: which sources' outputs were deleted, failed, skipped."""
    return {
        "cleaned_steps": list(metadata.get("CleanedSteps") or []),
        "failed_steps": [
            {"step_name": f.get("StepName"), "error_code": f.get("ErrorCode"), "error_message": f.get("ErrorMessage")}
            for f in metadata.get("FailedSteps") or []
        ],
        "skipped_steps": list(metadata.get("SkippedSteps") or []),
    }


def step_row(step: Mapping[str, Any]) -> dict[str, Any]:
    """One ``ListPipelineExecutionSteps`` entry as a plain-JSON row.

    Every row has ``name``, ``type``, ``status``, ``attempt_count``, ``cache_hit``, ``reused_from``,
    ``job_arn``, ``failure_reason``, ``start_time``, ``end_time``. Some add: ``outcome`` (Condition),
    ``error_message`` (Fail), ``output_parameters`` (Lambda, Callback), ``parent``/``index``/``item``
    (a ForEach child, from ``IterationContext``), ``for_each`` (a ForEach: :func:`for_each_row`),
    ``cleanup`` (Cleanup: :func:`cleanup_row`), ``log_file_path`` (EMR, EMRServerless).
    """
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
    context = step.get("IterationContext")
    if context:
        row["parent"] = context.get("ParentStepName")
        row["index"] = context.get("Index")
        row["item"] = context.get("Item")
    if "ForEach" in metadata:
        row["for_each"] = for_each_row(metadata["ForEach"])
    if "Cleanup" in metadata:
        row["cleanup"] = cleanup_row(metadata["Cleanup"])
    for kind_name in ("EMR", "EMRServerless"):
        if (metadata.get(kind_name) or {}).get("LogFilePath"):
            row["log_file_path"] = metadata[kind_name]["LogFilePath"]
    return row


def _order(row: Mapping[str, Any]) -> tuple[str, str, int, str]:
    # Children that started together sort by index (Train-2 before Train-10), then by name.
    index = row.get("index")
    return (row.get("start_time") or "", row.get("parent") or "", index if isinstance(index, int) else -1, row.get("name") or "")


def step_table(steps: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows for every step, ForEach children included, oldest first (the API lists newest first)."""
    return sorted((step_row(s) for s in steps), key=_order)


def failed_steps(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(r) for r in rows if r.get("status") in FAILED_STEP_STATUSES]


def pipeline_name_from_arn(execution_arn: str) -> str:
    """``arn:aws:sagemaker:r:a:pipeline/<name>/execution/<id>`` -> ``<name>``."""
    parts = execution_arn.split("/")
    return parts[1] if len(parts) >= 4 else execution_arn


# -- wording ---------------------------------------------------------------------------------------


def _preview(text: Any, limit: int = ITEM_PREVIEW) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def for_each_text(summary: Mapping[str, Any]) -> str:
    """``3 items, 3 child steps: 2 succeeded, 1 failed, 0 stopped; selected 'Train-2'``."""
    items = summary.get("input_item_count")
    parts = []
    if items is not None:
        parts.append(f"{items} item{'s' if items != 1 else ''}")
    total = summary.get("total_step_count")
    if total is not None:
        counts = ", ".join(
            f"{summary.get(key) or 0} {word}"
            for key, word in (("succeeded_step_count", "succeeded"), ("failed_step_count", "failed"), ("stopped_step_count", "stopped"))
        )
        parts.append(f"{total} child step{'s' if total != 1 else ''}: {counts}")
    text = ", ".join(parts)
    if (summary.get("selected") or {}).get("step_name"):
        text += f"; selected '{summary['selected']['step_name']}'"
    return text


def cleanup_text(summary: Mapping[str, Any]) -> str:
    """``cleaned A, B; failed C (ClientError: Access Denied); skipped D`` (empty parts left out)."""
    parts = []
    if summary.get("cleaned_steps"):
        parts.append("cleaned " + ", ".join(summary["cleaned_steps"]))
    if summary.get("failed_steps"):
        failed = [
            f"{f.get('step_name')} ({': '.join(str(x) for x in (f.get('error_code'), f.get('error_message')) if x)})"
            for f in summary["failed_steps"]
        ]
        parts.append("failed to clean " + ", ".join(failed))
    if summary.get("skipped_steps"):
        parts.append("skipped " + ", ".join(summary["skipped_steps"]))
    return "; ".join(parts) or "nothing to clean"


def step_context(row: Mapping[str, Any]) -> str:
    """What a row adds to a message or log line: its iteration, its fan-out, its cleanup."""
    parts = []
    if row.get("parent") is not None:
        where = f"iteration {row.get('index')} of '{row['parent']}'"
        if row.get("item") is not None:
            where += f", item {_preview(row['item'])}"
        parts.append(where)
    if row.get("for_each"):
        parts.append(for_each_text(row["for_each"]))
    if row.get("cleanup"):
        parts.append(cleanup_text(row["cleanup"]))
    return "; ".join(p for p in parts if p)


def step_line(row: Mapping[str, Any]) -> str:
    """``'B' (ProcessingJob) Failed: reason [job] after 2 attempts (context)``: one step, one line."""
    text = f"'{row.get('name')}'"
    if row.get("type"):
        text += f" ({row['type']})"
    text += f" {row.get('status')}"
    reason = row.get("failure_reason") or row.get("error_message")
    if reason:
        text += f": {reason}"
    if row.get("job_arn"):
        text += f" [{row['job_arn']}]"
    if row.get("attempt_count") and row["attempt_count"] > 1:
        text += f" after {row['attempt_count']} attempts"
    context = step_context(row)
    if context:
        text += f" ({context})"
    return text


# -- CompletedWithFailures: which steps handled which failure ----------------------------------------


def failure_handlers(definition: PipelineDefinition, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """For every failed or stopped step, the steps the definition declares to run on that outcome.

    A step is a handler of a failed step when its ``DependsOn`` has ``{"Step": <failed>, "Trigger":
    "Failed" | "Any"}`` (of a stopped step: ``Stopped`` | ``Any``); it *ran* when the execution lists
    it. For a ForEach child ``<body>-<i>`` the handlers are the body steps declared on ``<body>``, in
    the same iteration (``<handler>-<i>``).

    :return: ``[{"step", "status", "declared": [names], "handlers": [{"name", "status"}]}]`` (plain
        JSON; ``handlers`` are the declared ones that ran, in declaration order).
    """
    by_name = {r.get("name"): r for r in rows}
    result = []
    for row in failed_steps(rows):
        name, status = str(row.get("name")), str(row.get("status"))
        declared: list[str] = []
        child = split_child_name(definition, name)
        if child is not None:
            body, index = child
            scope = definition.scope(definition.steps[body].parent_for_each)
            declared = [child_name(h, index) for h in scope.handlers.get(body, {}).get(status, ())]
        elif name in definition.steps and definition.steps[name].parent_for_each is None:
            declared = list(definition.scope(None).handlers.get(name, {}).get(status, ()))
        handlers = [{"name": h, "status": by_name[h].get("status")} for h in declared if h in by_name]
        result.append({"step": name, "status": status, "declared": declared, "handlers": handlers})
    return result


def step_target(definition: PipelineDefinition, name: str) -> dict[str, str | None]:
    """What waiting for step ``name`` of an execution of ``definition`` means.

    :return: ``{"for_each": the ForEach whose child ``name`` is (``None`` otherwise), "problem": why
        ``name`` can never appear in ``ListPipelineExecutionSteps`` (``None`` when it can)}``. A ForEach
        body step never runs as itself, only as its children ``<name>-<index>``.
    """
    child = split_child_name(definition, name)
    if child is not None:
        return {"for_each": definition.steps[child[0]].parent_for_each, "problem": None}
    step = definition.steps.get(name)
    if step is not None and step.parent_for_each is None:
        return {"for_each": None, "problem": None}
    if step is not None:
        return {
            "for_each": step.parent_for_each,
            "problem": f"'{name}' is a body step of ForEach '{step.parent_for_each}': it never runs as itself, each item runs "
            f"a child '{name}-<index>' ('{name}-0', '{name}-1', ...); wait for one child, or for the ForEach '{step.parent_for_each}'",
        }
    candidates = [n for n, s in definition.steps.items() if s.parent_for_each is None]
    candidates += [child_name(n, 0) for n, s in definition.steps.items() if s.parent_for_each is not None]
    return {"for_each": None, "problem": f"the execution's definition has no step '{name}'{did_you_mean(name, candidates)}"}


def _handler_line(entry: Mapping[str, Any], by_name: Mapping[str, Mapping[str, Any]]) -> str | None:
    trigger = "Failed" if entry["status"] == "Failed" else "Stopped"
    if entry["handlers"]:
        shown = []
        for handler in entry["handlers"]:
            row = by_name.get(handler["name"], {"name": handler["name"], "status": handler["status"]})
            text = f"'{handler['name']}'" + (f" ({row['type']})" if row.get("type") else "") + f" {handler['status']}"
            if row.get("cleanup"):
                text += f" ({cleanup_text(row['cleanup'])})"
            shown.append(text)
        return "      handled by " + ", ".join(shown)
    if entry["declared"]:
        return f"      no handler ran (declared on {trigger}/Any: " + ", ".join(f"'{h}'" for h in entry["declared"]) + ")"
    if by_name.get(entry["step"], {}).get("parent") is not None:
        return None  # a child without a handler in its body: its ForEach's own line says what handled it
    return f"      no step declares {trigger}/Any on it"


def failure_message(
    *,
    execution_arn: str,
    status: str,
    failure_reason: str | None,
    rows: Iterable[Mapping[str, Any]],
    pipeline_name: str | None = None,
    handled_failures: Sequence[Mapping[str, Any]] | None = None,
    definition_error: str | None = None,
) -> str:
    """A message that names the pipeline, the execution and every failed step with reason and job
    (ForEach children with their iteration and item, a ForEach with its counts). For
    ``CompletedWithFailures`` also, under each failed step, the handler steps that ran
    (``handled_failures`` from :func:`failure_handlers`), or why they cannot be named
    (``definition_error``)."""
    rows = list(rows)
    name = pipeline_name or pipeline_name_from_arn(execution_arn)
    lines = [f"SageMaker pipeline '{name}' execution {execution_arn} ended {status}"]
    if failure_reason:
        lines[0] += f": {failure_reason}"
    if status not in KNOWN_STATUSES:
        lines.append(f"  (status {status!r} is not one this provider knows; it is treated as a failure, never as success)")
    by_name = {str(r.get("name")): r for r in rows}
    handled = {str(h["step"]): h for h in handled_failures or ()}
    bad = failed_steps(rows)
    for row in bad:
        lines.append(f"  - step {step_line(row)}")
        entry = handled.get(str(row.get("name")))
        if entry is not None:
            line = _handler_line(entry, by_name)
            if line:
                lines.append(line)
    if not bad and status != "Succeeded":
        lines.append("  (no step reported a failure; see the execution in the console)")
    if definition_error:
        lines.append(f"  (the steps that handled these failures cannot be named: {definition_error})")
    return "\n".join(lines)


def status_counts(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("status"))] = counts.get(str(row.get("status")), 0) + 1
    return dict(sorted(counts.items()))
