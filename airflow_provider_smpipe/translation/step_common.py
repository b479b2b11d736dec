"""What the step operators share: finishing a step (XCom, cache entry), the step cache, waiting
(deferred or inline) and the definition's RetryPolicies."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_smpipe.definition.model import RetryPolicy, canonical_json
from airflow_provider_smpipe.translation.base import GuardedStep
from airflow_provider_smpipe.translation.runtime import PROPERTY_FILES_KEY, StepRun
from airflow_provider_smpipe.translation.states import JOB_KEY
from airflow_provider_smpipe.hooks.pipeline import service_hook
from airflow_provider_smpipe.triggers.base import task_abandoned, wait_inline
from airflow_provider_smpipe.triggers.job import STOP_CALLS, SageMakerResourceTrigger, stop_arguments
from airflow_provider_smpipe.triggers.timer import DelayTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context

CACHE_PREFIX = "smpipe_cache_"


class StepCommon(GuardedStep):
    """Finishing, caching, waiting and retry policies, for every step family."""

    # -- caching ---------------------------------------------------------------------------------

    def _cache_key(self, arguments: Mapping[str, Any]) -> str:
        request = {k: v for k, v in arguments.items() if k != self.step.info.name_key}
        return CACHE_PREFIX + hashlib.sha256(canonical_json({"type": self.step.type, "request": request}).encode()).hexdigest()[:32]

    def _cache_lookup(self, run: StepRun, arguments: Mapping[str, Any]) -> Any:
        config = self.step.cache_config
        if config is None or not config.enabled:
            return None
        # Not pinned to a map index: a ForEach child's entry is valid for any child whose resolved
        # request is the same (the key is a hash of that request), so every index is looked at.
        found = run.ti.xcom_pull(task_ids=self.task_id, key=self._cache_key(arguments), include_prior_dates=True)
        entries = [e for e in (found if isinstance(found, list) else [found]) if isinstance(e, Mapping) and "completed_at" in e]
        if not entries:
            return None
        hit = max(entries, key=lambda e: str(e["completed_at"]))
        expire = config.expire_after_duration()
        age = pendulum.now("UTC") - pendulum.parse(hit["completed_at"])
        if expire is not None and age > expire:
            self.log.info("Cache entry from run %s expired (%s old, ExpireAfter %s)", hit["run_id"], age, config.expire_after)
            return None
        self.log.info("Cache hit: reusing step %s of run %s (%s old)", self.step_name, hit["run_id"], age)
        if hit.get("property_files"):
            run.ti.xcom_push(key=PROPERTY_FILES_KEY, value=hit["property_files"])
        return hit["properties"]

    def _finish(self, context: Context, run: StepRun, properties: Any, property_files: Mapping[str, Any] | None = None) -> Any:
        """Push property files and the cache entry; the properties become the return value."""
        if property_files:
            context["ti"].xcom_push(key=PROPERTY_FILES_KEY, value=dict(property_files))
        if self.step.cache_config is not None and self.step.cache_config.enabled:
            arguments = run.resolver.resolve_arguments(self.step)
            entry = {
                "properties": properties,
                "property_files": dict(property_files or {}),
                "completed_at": pendulum.now("UTC").isoformat(),
                "run_id": run.run_id,
            }
            context["ti"].xcom_push(key=self._cache_key(arguments), value=entry)
        return properties

    # -- waiting -----------------------------------------------------------------------------------

    def on_kill(self) -> None:
        """Stop the job a synchronous wait is on when the user marked the task failed (a deferred
        wait is stopped by its trigger's ``on_kill``). A Clear keeps it running: the cleared task's
        new try re-attaches to it."""
        waiting = getattr(self, "_waiting_on", None)
        ti = getattr(self, "_waiting_ti", None)
        if waiting is None or waiting.step_type not in STOP_CALLS:
            return
        if ti is not None and not task_abandoned(ti, self.log):
            self.log.info("Not stopping %s %s: the task was cleared and its new try takes it over", waiting.step_type, waiting.name)
            return
        service, method = STOP_CALLS[waiting.step_type]
        client = service_hook(service, aws_conn_id=self.aws_conn_id, region_name=self.region_name, verify=self.verify, config=self.botocore_config).conn
        try:
            getattr(client, method)(**stop_arguments(waiting.step_type, waiting.name, cluster_id=waiting.cluster_id, describe_arguments=waiting.describe_arguments))
            self.log.info("Stopped %s %s because the task was killed", waiting.step_type, waiting.name)
        except Exception as exc:  # noqa: BLE001 - already ended, no permission: say so
            self.log.warning("Could not stop %s %s: %s", waiting.step_type, waiting.name, exc)

    def _record_job(self, context: Context, **job: Any) -> None:
        """Note the job this task started: a task that dies before seeing it end was cut off mid-job
        (its step counts as ``Stopped``; see :mod:`~airflow_provider_smpipe.translation.states`)."""
        context["ti"].xcom_push(key=JOB_KEY, value={"type": self.step.type, **job})

    def _resource_trigger(
        self, step_type: str, name: str, *, echo: dict[str, Any], cluster_id: str | None = None, describe_arguments: dict[str, Any] | None = None
    ) -> SageMakerResourceTrigger:
        return SageMakerResourceTrigger(
            step_type=step_type,
            name=name,
            cluster_id=cluster_id,
            describe_arguments=describe_arguments,
            echo=echo,
            poll_interval=self.poll_interval,
            **self.settings.aws(),
        )

    def _wait(self, context: Context, trigger: Any) -> Any:
        """Wait for ``trigger``'s event in the triggerer (deferrable) or here; then :meth:`resume_step`.
        What resume needs travels in the trigger's ``echo`` (defer kwargs are not always kept)."""
        if self.deferrable:
            self.defer(trigger=trigger, method_name="resume")
        # Kept for on_kill: what this synchronous wait is on, and which task instance waits.
        self._waiting_on, self._waiting_ti = trigger, context["ti"]
        event = wait_inline(trigger)
        self._waiting_on = None
        return self.resume_step(context, event)


    # -- retry policies ----------------------------------------------------------------------------

    def _retry_policy(self, exception_type: str, attempt: int, first_started: float) -> RetryPolicy | None:
        """The first policy matching ``exception_type``, if it allows another attempt."""
        for policy in self.step.retry_policies:
            if policy.matches(exception_type):
                allowed = policy.allows(attempt, time.time() - first_started)
                self.log.info("Retry policy for %s: %s after attempt %d", exception_type, "retrying" if allowed else "exhausted", attempt)
                return policy if allowed else None
        return None

    def _schedule_retry(self, context: Context, policy: RetryPolicy, attempt: int, first_started: float, why: str) -> Any:
        delay = policy.delay_before_retry(attempt)
        self.log.warning("Step %s: %s; attempt %d in %.1fs (retry policy)", self.step_name, why, attempt + 1, delay)
        echo = {"phase": "retry", "attempt": attempt + 1, "first_started": first_started}
        if self.deferrable and delay > 0:
            self.defer(trigger=DelayTrigger(until=time.time() + delay, echo=echo), method_name="resume")
        time.sleep(delay)
        return self.resume_step(context, {"status": "delay_done", "echo": echo})


