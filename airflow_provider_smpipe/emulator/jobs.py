"""What a SageMaker job "produces", shared by pipeline steps (:mod:`.engine`) and by jobs that
clients create directly (:mod:`.direct`, the translation mode).

Both run the same scenario: the ``files`` a step writes to its outputs, the ``metrics`` of a
training job, the results of a tuning job, the best candidate of an AutoML job, and the status of
the moto job object moving through ``InProgress`` / ``Completed`` / ``Failed`` / ``Stopped``.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from airflow_provider_smpipe.definition.expressions import s3_join
from airflow_provider_smpipe.definition.parameters import to_wire_string
from airflow_provider_smpipe.definition.properties import (
    _dig as dig,  # the core's path lookup (None when absent)
)
from airflow_provider_smpipe.emulator.gateway import Gateway, sagemaker_backend

log = logging.getLogger(__name__)

#: Step type -> (moto backend dict, status attribute) for jobs whose status the emulator moves along.
MOTO_JOBS = {
    "Processing": ("processing_jobs", "processing_job_status"),
    "QualityCheck": ("processing_jobs", "processing_job_status"),
    "ClarifyCheck": ("processing_jobs", "processing_job_status"),
    "Training": ("training_jobs", "training_job_status"),
    "Transform": ("transform_jobs", "transform_job_status"),
    "Tuning": ("hyper_parameter_tuning_jobs", "hyper_parameter_tuning_job_status"),
}
#: moto job attribute holding the end time (absent from Describe* while the job runs).
_END_TIMES = {
    "processing_jobs": "processing_end_time",
    "training_jobs": "training_end_time",
    "transform_jobs": "transform_end_time",
    "hyper_parameter_tuning_jobs": "hyper_parameter_tuning_end_time",
}
#: Where a job type's ``output`` files go (the scenario's ``files.output``).
OUTPUT_PATHS = {
    "Training": ("OutputDataConfig", "S3OutputPath"),
    "AutoML": ("OutputDataConfig", "S3OutputPath"),
    "Transform": ("TransformOutput", "S3OutputPath"),
    "Tuning": ("TrainingJobDefinition", "OutputDataConfig", "S3OutputPath"),
}
#: Attribute of a moto tuning job holding its training-job summaries (ListTrainingJobsForHyperParameterTuningJob).
TUNING_SUMMARIES = "smpipe_training_job_summaries"
#: Attribute set on a moto job that a client stopped (Stop*): from then on only ``Stopping`` and
#: ``Stopped`` are applied to it, so no scripted end (engine or direct) overwrites the stop.
CLIENT_STOPPED = "smpipe_stopped_by_client"
#: Statuses that a job has while it has not ended (no end time yet).
_RUNNING_STATUSES = ("InProgress", "Stopping")


class JobOutputError(Exception):
    """The scenario's files cannot be written (no such output, or S3 refused); the job fails with this."""


def deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, Mapping) and isinstance(override, Mapping):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = deep_merge(base.get(key), value) if key in base else value
        return merged
    return override


def wire_outputs(values: Mapping[str, Any]) -> list[dict[str, str]]:
    """Scenario output parameters as the API's ``[{"Name", "Value"}]`` (values as wire strings)."""
    return [
        {"Name": str(k)[:256], "Value": (to_wire_string(v) if isinstance(v, (bool, int, float)) else str(v))[:1024]}
        for k, v in values.items()
    ]


# -- files -----------------------------------------------------------------------------------------


def output_uri(stype: str, step_name: str, output: str, arguments: Mapping[str, Any]) -> str:
    """The S3 prefix of output ``output`` of a job (``arguments``: its Create* request).

    ``output`` is a Processing/check output's ``OutputName``, ``output`` for the job types that
    have one output path (Training, Transform, Tuning, AutoML), or an ``s3://`` URI.
    """
    if output.startswith("s3://"):
        return output
    names: list[str] = []
    if stype in ("Processing", "QualityCheck", "ClarifyCheck"):
        for item in dig(arguments, ("ProcessingOutputConfig", "Outputs")) or []:
            if isinstance(item, Mapping):
                names.append(str(item.get("OutputName")))
                if item.get("OutputName") == output:
                    uri = dig(item, ("S3Output", "S3Uri"))
                    if isinstance(uri, str):
                        return uri
    elif stype in OUTPUT_PATHS:
        names.append("output")
        uri = dig(arguments, OUTPUT_PATHS[stype])
        if output == "output" and isinstance(uri, str):
            return uri
    raise JobOutputError(
        f"InternalError: the scenario writes files to output '{output}' of {stype} step '{step_name}', "
        f"which has no such output (outputs: {', '.join(names) or 'none'}; an s3:// URI is accepted too)"
    )


def write_files(
    gateway: Gateway,
    region: str,
    files: Mapping[str, Mapping[str, Any]],
    stype: str,
    step_name: str,
    arguments: Mapping[str, Any],
    on_written: Callable[[str], None],
) -> None:
    """Write the scenario's ``files`` (``{OUTPUT: {RELATIVE_PATH: contents}}``) to moto S3."""
    for output, entries in files.items():
        base = output_uri(stype, step_name, output, arguments)
        for relative, contents in entries.items():
            uri = s3_join(base, str(relative))
            try:
                gateway.write_object(uri, contents, region)
            except (ClientError, BotoCoreError, ValueError) as exc:
                raise JobOutputError(f"InternalError: writing the scenario file {uri} failed: {exc}") from None
            on_written(uri)


# -- the moto job object ---------------------------------------------------------------------------


def stopped_by_client(account: str, region: str, stype: str, name: str | None) -> bool:
    """Whether a client stopped this moto job (Stop*) while it ran."""
    job = moto_job(account, region, stype, name)
    return bool(job is not None and getattr(job, CLIENT_STOPPED, False))


def moto_job(account: str, region: str, stype: str, name: str | None) -> Any:
    entry = MOTO_JOBS.get(stype)
    if entry is None or name is None:
        return None
    return getattr(sagemaker_backend(account, region), entry[0]).get(name)


def final_metric_data_list(metrics: Mapping[str, float], stamp: Any) -> list[dict[str, Any]]:
    return [{"MetricName": k, "Value": float(v), "Timestamp": stamp} for k, v in metrics.items()]


def set_moto_job_status(
    account: str,
    region: str,
    stype: str,
    name: str | None,
    status: str,
    reason: str | None = None,
    metrics: Mapping[str, float] | None = None,
) -> None:
    """Move a moto job's status along (moto creates jobs already Completed); on Completed a Training
    job's ``FinalMetricDataList`` becomes ``metrics`` (when given). A job a client stopped
    (:data:`CLIENT_STOPPED`) only takes ``Stopping``/``Stopped``. Best effort."""
    try:
        job = moto_job(account, region, stype, name)
        if job is None:
            return
        if getattr(job, CLIENT_STOPPED, False) and status not in ("Stopping", "Stopped"):
            return
        table, attribute = MOTO_JOBS[stype]
        setattr(job, attribute, status)
        stamp = datetime.now(UTC)
        if stype == "Training":
            job.secondary_status = {"InProgress": "Training", "Completed": "Completed", "Failed": "Failed", "Stopping": "Stopping", "Stopped": "Stopped"}[status]
        if reason is not None:
            job.failure_reason = reason
        job.last_modified_time = stamp
        setattr(job, _END_TIMES[table], None if status in _RUNNING_STATUSES else stamp)
        if stype == "Training" and status == "Completed" and metrics:
            job.final_metric_data_list = final_metric_data_list(metrics, stamp)
    except Exception:  # pragma: no cover - best effort, moto internals may change
        log.debug("could not update the moto job status", exc_info=True)


def normalize_moto_job(account: str, region: str, stype: str, name: str | None, request: Mapping[str, Any]) -> None:
    """Make a just-created moto job describe like the service: keep the request members moto drops
    (a processing job's ``ProcessingResources``, ``Environment``), no empty ``FailureReason`` or
    ARN strings, and no best training job before a tuning job has one."""
    try:
        job = moto_job(account, region, stype, name)
        if job is None:
            return
        if MOTO_JOBS[stype][0] == "processing_jobs":
            for member, attribute in (("ProcessingResources", "processing_resources"), ("Environment", "environment")):
                if request.get(member) is not None and getattr(job, attribute, None) is None:
                    setattr(job, attribute, request[member])
        for attribute in ("failure_reason", "labeling_job_arn", "auto_ml_job_arn"):
            if getattr(job, attribute, None) == "":
                setattr(job, attribute, None)
        if stype == "Tuning":
            job.best_training_job = None
            job.OverallBestTrainingJob = None
    except Exception:  # pragma: no cover - best effort
        log.debug("could not normalise the moto job", exc_info=True)


# -- tuning and AutoML results ---------------------------------------------------------------------


def tuning_results(arguments: Mapping[str, Any], name: str, metrics: Mapping[str, float], region: str, account: str, stamp: str) -> dict[str, Any]:
    """``BestTrainingJob`` and ``TrainingJobSummaries`` (best first) for a finished tuning job.

    The objective metric's value comes from the scenario's ``metrics`` (default 0.5); the other
    training jobs are 0.1 worse each. There are ``MaxNumberOfTrainingJobs`` of them (at most 50).
    """
    config = arguments.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    metric = str(objective.get("MetricName", "objective"))
    minimize = objective.get("Type", "Minimize") == "Minimize"
    count = dig(config, ("ResourceLimits", "MaxNumberOfTrainingJobs"))
    count = max(1, min(int(count) if isinstance(count, int) else 2, 50))
    best = float(metrics.get(metric, 0.5))
    summaries = []
    for i in range(count):
        digest = hashlib.sha256(f"{name}\0{i}".encode()).hexdigest()[:8]
        job = f"{name[:32]}-{i + 1:03d}-{digest}"
        value = best + 0.1 * i if minimize else best - 0.1 * i
        summaries.append(
            {
                "TrainingJobName": job,
                "TrainingJobArn": f"arn:aws:sagemaker:{region}:{account}:training-job/{job}",
                "TuningJobName": name,
                "CreationTime": stamp,
                "TrainingStartTime": stamp,
                "TrainingEndTime": stamp,
                "TrainingJobStatus": "Completed",
                "TunedHyperParameters": {},
                "FinalHyperParameterTuningJobObjectiveMetric": {"Type": "Minimize" if minimize else "Maximize", "MetricName": metric, "Value": round(value, 6)},
                "ObjectiveStatus": "Succeeded",
            }
        )
    return {"BestTrainingJob": dict(summaries[0]), "TrainingJobSummaries": summaries}


def patch_moto_tuning(account: str, region: str, name: str | None, results: Mapping[str, Any]) -> None:
    """Give the moto tuning job the results' best training job (moto's is a fixed placeholder),
    its status counters and the summaries ListTrainingJobsForHyperParameterTuningJob returns."""
    try:
        job = moto_job(account, region, "Tuning", name)
        if job is None:
            return
        best = dict(results["BestTrainingJob"])
        for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime"):
            best[key] = datetime.fromisoformat(best[key])
        job.best_training_job = best
        job.OverallBestTrainingJob = best
        count = len(results["TrainingJobSummaries"])
        job.training_job_status_counters = {"Completed": count, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
        job.objective_status_counters = {"Succeeded": count, "Pending": 0, "Failed": 0}
        setattr(job, TUNING_SUMMARIES, [dict(s) for s in results["TrainingJobSummaries"]])
    except Exception:  # pragma: no cover - best effort
        log.debug("could not patch the moto tuning job", exc_info=True)


def automl_candidate(arguments: Mapping[str, Any], name: str, region: str, account: str, metrics: Mapping[str, float]) -> dict[str, Any]:
    """The best candidate of a finished AutoML job: containers and artifact locations under the
    job's output path, objective from the scenario's first metric."""
    output = dig(arguments, ("OutputDataConfig", "S3OutputPath")) or f"s3://sagemaker-{region}-{account}/automl"
    base = s3_join(str(output), name)
    metric_name, value = next(iter(metrics.items()), ("validation:accuracy", 0.9))
    return {
        "CandidateName": f"{name}-best",
        "FinalAutoMLJobObjectiveMetric": {"MetricName": metric_name, "Value": float(value)},
        "ObjectiveStatus": "Succeeded",
        "CandidateStatus": "Completed",
        "InferenceContainers": [
            {"Image": f"683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-sklearn-automl:2.5-1-cpu-py3", "ModelDataUrl": s3_join(base, "model.tar.gz"), "Environment": {}}
        ],
        "CandidateProperties": {
            "CandidateArtifactLocations": {
                "Explainability": s3_join(base, "documentation", "explainability", "output"),
                "ModelInsights": s3_join(base, "documentation", "model_monitor", "output"),
            }
        },
    }
