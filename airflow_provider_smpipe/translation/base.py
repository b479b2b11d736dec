"""What every translated step task shares: its settings, its run-time view (:class:`StepRun`),
selective re-runs, run conditions checked at start, and the record of how it ended.

Run conditions: a task whose step has a ``DependsOn`` entry with ``Failed``, ``Stopped`` or
``Any`` is created with ``trigger_rule="all_done"``; when it starts, the core's
:func:`~airflow_provider_smpipe.definition.runstate.readiness` decides from its upstream tasks'
outcomes (:mod:`airflow_provider_smpipe.translation.states`) whether every requirement holds, and
the task is skipped, naming the requirement, when one cannot. One Airflow trigger rule cannot
express "A failed and B succeeded"; evaluating the core's rule at start can.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowException, AirflowFailException, AirflowSkipException, BaseOperator, TaskDeferred

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.foreach import item_text
from airflow_provider_smpipe.definition.model import FAILED, STOPPED, Step
from airflow_provider_smpipe.definition.runstate import NEVER, WAITING, readiness
from airflow_provider_smpipe.translation.plan import StepPlan
from airflow_provider_smpipe.translation.runtime import PROPERTIES_KEY, PROPERTY_FILES_KEY, StepRun
from airflow_provider_smpipe.translation.settings import TranslationSettings
from airflow_provider_smpipe.translation.states import OUTCOME_KEY, outcome_of, task_states
from airflow_provider_smpipe.utils.jsonsafe import json_safe

if TYPE_CHECKING:
    from airflow.sdk import Context

#: The map index label of a body step's task (``map_index_template``): the context variable is set
#: by the task itself, so the item (user data) is a value in the template, never template source.
ITEM_LABEL_VARIABLE = "smpipe_item"
MAP_INDEX_TEMPLATE = "{{ " + ITEM_LABEL_VARIABLE + " | default('') }}"
_LABEL_LENGTH = 120


class StepEnded(AirflowException):
    """A step ended without succeeding: its job failed (``Failed``) or was stopped (``Stopped``).

    :param properties: what the job's Describe* said at the end (kept for a Cleanup of the step).
    """

    def __init__(self, message: str, *, status: str = FAILED, properties: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.properties = dict(properties) if properties is not None else None


class TranslatedStep(BaseOperator):
    """Shared construction (kept light: building a 1000-step DAG must stay cheap).

    :param settings: the pipeline-wide :class:`TranslationSettings`.
    :param step_name: the step this task runs.
    """

    template_fields = ()  # values come from params/XCom through the core's evaluator, never Jinja
    ui_color = "#e8f4ff"

    def __init__(self, *, settings: TranslationSettings, step_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.step_name = step_name

    definition = property(lambda self: self.settings.definition)
    pipeline_name = property(lambda self: self.settings.pipeline_name)
    task_prefix = property(lambda self: self.settings.task_prefix)
    start_time_from = property(lambda self: self.settings.start_time_from)
    deferrable = property(lambda self: self.settings.deferrable)
    poll_interval = property(lambda self: self.settings.poll_interval)
    callback_reply_queue_url = property(lambda self: self.settings.callback_reply_queue_url)
    aws_conn_id = property(lambda self: self.settings.aws_conn_id)
    region_name = property(lambda self: self.settings.region_name)
    verify = property(lambda self: self.settings.verify)
    botocore_config = property(lambda self: self.settings.botocore_config)

    @property
    def step(self) -> Step:
        return self.definition.steps[self.step_name]

    @property
    def step_plan(self) -> StepPlan:
        return self.settings.plan.by_step[self.step_name]

    def _run(self, context: Context) -> StepRun:
        run = StepRun(
            definition=self.definition,
            step=self.step,
            context=context,
            pipeline_name=self.pipeline_name,
            task_prefix=self.task_prefix,
            start_time_from=self.start_time_from,
            aws=self.settings.aws(),
            plan=self.settings.plan,
        )
        if run.for_each is not None:
            # The grid shows the item next to the map index (rendered by Airflow after the task).
            context[ITEM_LABEL_VARIABLE] = f"{run.index}: {item_text(run.item)}"[:_LABEL_LENGTH]  # type: ignore[literal-required]
        return run

    def _selective(self, run: StepRun) -> str | None:
        """``"reused"``, ``"not_run"`` or ``None`` in a selective re-run (body steps follow their ForEach)."""
        plan = run.selection
        name = run.for_each or self.step_name
        if plan is None or name in plan.selected:
            return None
        return "reused" if name in plan.reused else "not_run"

    def _reuse(self, run: StepRun, context: Context) -> Any:
        """Copy this step's outputs from the reference run (a non-selected upstream step)."""
        self.log.info("Selective re-run: reusing the outputs of step %s from run %s", self.step_name, run.reference_run_id)
        source = run.ti.xcom_pull(task_ids=self.task_id, key=PROPERTIES_KEY, run_id=run.reference_run_id, map_indexes=-1)
        files = run.ti.xcom_pull(task_ids=self.task_id, key=PROPERTY_FILES_KEY, run_id=run.reference_run_id, map_indexes=-1)
        if files:
            context["ti"].xcom_push(key=PROPERTY_FILES_KEY, value=files)
        return source

    def _reused_or_runs(self, run: StepRun, context: Context) -> tuple[bool, Any]:
        """Selective re-runs and run conditions, before the step does anything: ``(True, outputs)``
        for a step reused from the reference run, ``(False, None)`` for one that runs; raises a skip
        for one downstream of the selection or whose requirements cannot hold."""
        mode = self._selective(run)
        if mode == "reused":
            return True, self._reuse(run, context)
        if mode == "not_run":
            raise AirflowSkipException(f"selective re-run: step '{self.step_name}' is downstream of the selection and does not run")
        self._check_run_conditions(run)
        return False, None

    def _resolve_failure(self, exc: DefinitionError) -> AirflowFailException:
        return AirflowFailException(f"step '{self.step_name}': {exc}")

    def _check_run_conditions(self, run: StepRun) -> None:
        """Skip the task when one of its step's requirements can no longer hold (gated steps only)."""
        if not self.step_plan.gated:
            return
        requirements = self.definition.scope(run.for_each).requirements[self.step_name]
        map_index = run.index if run.for_each is not None else -1
        ids = {req.upstream: run.task_id_of(req.upstream) for req in requirements}
        states = task_states(run.ti, ids.values())
        outcomes: dict[str, str] = {}
        for upstream, task_id in ids.items():
            outcome = outcome_of(run.ti, task_id, map_index, states.get((task_id, map_index)))
            if outcome is not None:
                outcomes[upstream] = outcome
        decided = readiness(requirements, outcomes)
        self.log.info("Run conditions of %s: upstream outcomes %s -> %s", self.step_name, outcomes, decided.state)
        if decided.state == NEVER:
            raise AirflowSkipException(f"step '{self.step_name}' does not run: {decided.reason()}")
        if decided.state == WAITING:  # all_done makes this impossible unless the DAG was edited
            raise AirflowFailException(f"step '{self.step_name}': its upstream steps have not all ended ({sorted(set(ids) - set(outcomes))})")

    def _guarded(self, context: Context, body: Callable[[Context], Any]) -> Any:
        """Run ``body``; when the step ends without succeeding, record how (``outcome`` XCom)."""
        try:
            return body(context)
        except (AirflowSkipException, TaskDeferred):
            raise
        except StepEnded as exc:
            self._record_end(context, exc.status, str(exc), exc.properties)
            raise
        except Exception as exc:
            self._record_end(context, FAILED, str(exc), None)
            raise

    def _record_end(self, context: Context, status: str, reason: str, properties: Mapping[str, Any] | None) -> None:
        record: dict[str, Any] = {"status": STOPPED if status == STOPPED else FAILED, "reason": reason[:2000]}
        if properties is not None:
            record["properties"] = json_safe(properties)
        try:
            context["ti"].xcom_push(key=OUTCOME_KEY, value=record)
        except Exception:  # noqa: BLE001 - recording must never hide the step's own error
            self.log.warning("Could not record how step %s ended", self.step_name, exc_info=True)


class GuardedStep(TranslatedStep):
    """A step task whose ``execute`` and deferred ``resume`` record how the step ended."""

    def execute(self, context: Context) -> Any:
        return self._guarded(context, self.run_step)

    def resume(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        return self._guarded(context, lambda ctx: self.resume_step(ctx, event))

    def run_step(self, context: Context) -> Any:
        raise NotImplementedError

    def resume_step(self, context: Context, event: dict[str, Any] | None) -> Any:
        raise AirflowException(f"step '{self.step_name}' does not wait")
