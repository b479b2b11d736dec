"""Job and resource names, and execution ARNs.

SageMaker job names must match ``^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`` (63 characters, no ``_``),
while step names may contain ``_`` and be 64 long, so a step name cannot be used as is. The service
names jobs ``pipelines-<execution id>-<StepName>-<random>``; we keep that shape but derive the suffix
from a hash so the same (execution, step, attempt) always gets the same name: a retried or restarted
task re-attaches to the job it created instead of creating a second one.
"""

from __future__ import annotations

import hashlib
import re

MAX_JOB_NAME = 63
#: Step types whose job names are shorter (HyperParameterTuningJobName, AutoMLJobName: 32).
NAME_LIMITS = {"Tuning": 32, "AutoML": 32}
_INVALID = re.compile(r"[^a-zA-Z0-9-]+")
_DASHES = re.compile(r"-{2,}")


def sanitize_name_part(text: str) -> str:
    """Replace characters a job name may not contain and trim dashes at the ends."""
    return _DASHES.sub("-", _INVALID.sub("-", text)).strip("-")


def job_name(
    step_name: str, execution_id: str, *, prefix: str | None = None, salt: str = "", step_type: str | None = None
) -> str:
    """A valid, deterministic job name for ``step_name`` in ``execution_id``.

    :param prefix: a name kept in the definition (``use_custom_job_prefix``, or the notebook step's
        timestamped name); used as the beginning of the name instead of ``pipelines-<id>-<step>``.
    :param salt: anything else that must make the name unique (e.g. the attempt number).
    :param step_type: for types with shorter names (:data:`NAME_LIMITS`) the name is
        ``<step>-<hash>``: 32 characters leave no room for the execution id, which is in the hash.
    """
    limit = NAME_LIMITS.get(step_type or "", MAX_JOB_NAME)
    digest = hashlib.sha256(f"{execution_id}\0{step_name}\0{salt}".encode()).hexdigest()[:10]
    if prefix:
        base = sanitize_name_part(prefix)
    elif limit < MAX_JOB_NAME:
        base = sanitize_name_part(step_name)
    else:
        base = sanitize_name_part(f"pipelines-{execution_id}-{step_name}")
    base = base[: limit - len(digest) - 1].rstrip("-") or "job"
    return f"{base}-{digest}"


def pipeline_arn(pipeline_name: str, *, region: str = "us-east-1", account: str = "123456789012") -> str:
    return f"arn:aws:sagemaker:{region}:{account}:pipeline/{pipeline_name.lower()}"


def execution_arn(pipeline_name: str, execution_id: str, *, region: str = "us-east-1", account: str = "123456789012") -> str:
    return f"{pipeline_arn(pipeline_name, region=region, account=account)}/execution/{execution_id}"


def execution_id_from_arn(arn: str) -> str:
    return arn.rsplit("/", 1)[-1]
