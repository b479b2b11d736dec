"""The run's final state, as the service decides an execution's status.

A translated pipeline with run conditions gets one more task, ``execution_status``, downstream of
every step task with ``trigger_rule="all_done"``. It is the DAG's only leaf, so Airflow's run state
is its state: it reads every step's outcome, asks the core for the execution status
(:meth:`~airflow_provider_smpipe.definition.runstate.RunScope.status`) and

* succeeds for ``Succeeded`` and ``CompletedWithFailures`` (every failure was handled: a
  ``Failed``/``Stopped``/``Any`` dependent of the failed step ran) — the failed step tasks stay red
  in the grid, and the summary lists them with the steps that handled them;
* fails for ``Failed`` and ``Stopped``, naming the steps whose failure nobody handled.

Its ``return_value`` is the summary: ``PipelineExecutionStatus``, every step's outcome,
``HandledFailures`` and ``UnhandledFailures``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, BaseOperator

from airflow_provider_smpipe.definition.model import FAILED, STOPPED
from airflow_provider_smpipe.definition.runstate import COMPLETED_WITH_FAILURES, NOT_RUN, RAN
from airflow_provider_smpipe.translation.runtime import PROPERTIES_KEY
from airflow_provider_smpipe.translation.settings import TranslationSettings
from airflow_provider_smpipe.translation.states import OUTCOME_KEY, outcome_of, pull, task_states

if TYPE_CHECKING:
    from airflow.sdk import Context


class SageMakerPipelineExecutionStatusOperator(BaseOperator):
    """Decide the run's final state from its steps' outcomes (the service's execution status).

    :param settings: the pipeline-wide :class:`~airflow_provider_smpipe.translation.settings.TranslationSettings`.
    """

    template_fields = ()
    ui_color = "#e0e0e0"

    def __init__(self, *, settings: TranslationSettings, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.settings = settings

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        definition, plan, prefix = self.settings.definition, self.settings.plan, self.settings.task_prefix
        scope = definition.scope(None)
        ids = {name: prefix + plan.by_step[name].task_id for name in scope.order}
        states = task_states(ti, ids.values())
        outcomes = {name: outcome_of(ti, task_id, -1, states.get((task_id, -1))) or NOT_RUN for name, task_id in ids.items()}
        status = scope.status(outcomes)
        unhandled = scope.unhandled(outcomes)
        summary = {
            "PipelineExecutionStatus": status,
            "Steps": outcomes,
            "HandledFailures": [
                {"StepName": name, "Status": outcomes[name], "HandledBy": _handlers_that_ran(scope.handlers.get(name, {}), outcomes, name)}
                for name in scope.order
                if outcomes[name] in (FAILED, STOPPED) and name not in unhandled
            ],
            "UnhandledFailures": [{"StepName": name, "Status": outcomes[name], "Reason": _reason(ti, ids[name])} for name in unhandled],
        }
        self.log.info("Pipeline execution status: %s (step outcomes %s)", status, outcomes)
        if status in (FAILED, STOPPED):
            ti.xcom_push(key=PROPERTIES_KEY, value=summary)
            culprits = ", ".join(f"'{f['StepName']}' {f['Status'].lower()}" for f in summary["UnhandledFailures"]) or "the run was stopped"
            raise AirflowFailException(f"the pipeline execution is {status}: {culprits}, and no step handles that")
        if status == COMPLETED_WITH_FAILURES:
            handled = "; ".join(f"'{f['StepName']}' {f['Status'].lower()}, handled by {', '.join(f['HandledBy'])}" for f in summary["HandledFailures"])
            self.log.warning("The pipeline execution completed with failures, all handled: %s", handled)
        return summary


def _handlers_that_ran(handlers: Mapping[str, tuple[str, ...]], outcomes: Mapping[str, str], name: str) -> list[str]:
    return [h for h in handlers.get(outcomes[name], ()) if outcomes.get(h) in RAN]


def _reason(ti: Any, task_id: str) -> str | None:
    record = pull(ti, task_id, -1, OUTCOME_KEY)
    return str(record.get("reason")) if isinstance(record, Mapping) and record.get("reason") else None
