"""Cleanup steps: delete the S3 outputs of their source steps, report what was done.

What is deleted is decided by the core (:func:`~airflow_provider_smpipe.definition.cleanup.plan_cleanup`,
shared with the dry-run and the emulator): with ``S3Uris`` exactly those objects, each of which must
lie under an output location of the source step; without, a Training source's
``<S3OutputPath>/<TrainingJobName>/``. A source that never ran is skipped; a failed source is cleaned
from the properties its task recorded when it failed. Nothing outside the planned objects and
prefixes is ever deleted. The report — ``CleanedSteps``, ``FailedSteps``, ``SkippedSteps`` (the
service's ``CleanupStepMetadata``) plus the objects deleted per source — is the task's
``return_value``; a failed deletion is reported there and does not fail the task.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from airflow_provider_smpipe.definition.cleanup import CLIENT_ERROR, plan_cleanup
from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.model import FAILED, STOPPED
from airflow_provider_smpipe.definition.runstate import SUCCEEDED
from airflow_provider_smpipe.translation.base import GuardedStep
from airflow_provider_smpipe.translation.runtime import PROPERTIES_KEY, StepRun
from airflow_provider_smpipe.translation.states import OUTCOME_KEY, outcome_of, pull, task_states

if TYPE_CHECKING:
    from airflow.sdk import Context

#: DeleteObjects takes at most this many keys per request.
DELETE_BATCH = 1000


class S3DeleteError(Exception):
    """A deletion S3 refused (``code``: the S3 error code)."""

    def __init__(self, message: str, code: str = CLIENT_ERROR) -> None:
        super().__init__(message)
        self.code = code


class SageMakerPipelineCleanupOperator(GuardedStep):
    """A Cleanup step: deletes its sources' S3 outputs and pushes the report.

    :param settings: the pipeline-wide :class:`~airflow_provider_smpipe.translation.settings.TranslationSettings`.
    :param step_name: the step this task runs.
    """

    ui_color = "#f0f0f0"

    def run_step(self, context: Context) -> Any:
        run = self._run(context)
        reused, outputs = self._reused_or_runs(run, context)
        if reused:
            return outputs
        outcomes, described = self._sources(run)
        step = self.step
        try:
            plan = plan_cleanup(
                self.definition,
                step,
                outcomes=outcomes,
                described=described,
                resolve_uris=lambda uris, location: run.resolver.resolve(uris, step=step, location=location),
            )
        except DefinitionError as exc:
            raise self._resolve_failure(exc) from None
        s3 = run.client("s3")
        deleted: dict[str, list[str]] = {}
        for source, targets in list(plan.deletes.items()):
            try:
                deleted[source] = delete_targets(s3, targets)
                self.log.info("Cleanup %s: deleted %d object(s) of step %s", self.step_name, len(deleted[source]), source)
            except (S3DeleteError, ClientError) as exc:
                code = exc.code if isinstance(exc, S3DeleteError) else str(exc.response.get("Error", {}).get("Code") or CLIENT_ERROR)
                self.log.warning("Cleanup %s: could not delete the outputs of %s: %s", self.step_name, source, exc)
                plan.mark_failed(source, str(exc)[:1024], CLIENT_ERROR if code != "InternalError" else "InternalFailure")
        return {**plan.metadata(), "DeletedObjects": deleted}

    def _sources(self, run: StepRun) -> tuple[dict[str, str], dict[str, Any]]:
        """The outcome and last known properties of every source step."""
        sources = [source.step for source in self.step.cleanup_sources]
        ids = {name: run.task_id_of(name) for name in sources}

        def map_index(name: str) -> int:
            same_iteration = run.for_each is not None and self.definition.steps[name].parent_for_each == run.for_each
            return run.index if same_iteration else -1

        states = task_states(run.ti, ids.values())
        outcomes: dict[str, str] = {}
        described: dict[str, Any] = {}
        for name, task_id in ids.items():
            index = map_index(name)
            outcome = outcome_of(run.ti, task_id, index, states.get((task_id, index)))
            if outcome is None:
                continue
            outcomes[name] = outcome
            if outcome == SUCCEEDED:
                described[name] = pull(run.ti, task_id, index, PROPERTIES_KEY)
            elif outcome in (FAILED, STOPPED):
                record = pull(run.ti, task_id, index, OUTCOME_KEY)
                if isinstance(record, dict) and isinstance(record.get("properties"), dict):
                    described[name] = record["properties"]
        return outcomes, described


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _keys_under(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            yield entry["Key"]


def _exists(s3: Any, bucket: str, key: str) -> bool:
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents", [])
    return bool(listed) and listed[0]["Key"] == key


def delete_targets(s3: Any, targets: list[str]) -> list[str]:
    """Delete each target — an exact object, or every object under a prefix ending in ``/`` —
    and return the URIs of the objects deleted (an exact object that does not exist is not one).

    boto3 directly rather than the amazon provider's ``S3Hook.delete_objects``: the report needs the
    per-key errors S3 returns, which that method turns into one exception.
    """
    by_bucket: dict[str, list[str]] = {}
    for target in targets:
        bucket, key = _split(target)
        if not key:
            continue  # a bare bucket is not an object, and never a prefix to empty
        if key.endswith("/"):
            by_bucket.setdefault(bucket, []).extend(_keys_under(s3, bucket, key))
        elif _exists(s3, bucket, key):
            by_bucket.setdefault(bucket, []).append(key)
    deleted: list[str] = []
    for bucket, keys in by_bucket.items():
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), DELETE_BATCH):
            batch = unique[start : start + DELETE_BATCH]
            response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise S3DeleteError(f"s3://{bucket}/{first.get('Key')}: {first.get('Code')}: {first.get('Message')}", str(first.get("Code") or CLIENT_ERROR))
            deleted.extend(f"s3://{bucket}/{k}" for k in batch)
    return deleted
