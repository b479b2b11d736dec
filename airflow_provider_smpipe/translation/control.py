"""Control steps: Condition (a branch task) and Fail."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException

try:
    from airflow.sdk.bases.branch import BaseBranchOperator
except ImportError:  # Airflow 3.0: its Task SDK has no branch base; the standard provider has the same class
    from airflow.providers.standard.operators.branch import BaseBranchOperator

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.expressions import render_join_value
from airflow_provider_smpipe.translation.base import GuardedStep, TranslatedStep
from airflow_provider_smpipe.translation.runtime import PROPERTIES_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context


class SageMakerPipelineConditionOperator(TranslatedStep, BaseBranchOperator):
    """A Condition step: evaluates its conditions like the service and follows one branch.

    The steps of the branch not taken are skipped, and Airflow's skip propagation skips everything
    downstream of them (the service's semantics). Pushes ``{"Outcome": bool}`` as ``return_value``
    itself (created with ``do_xcom_push=False`` so the followed task ids never replace it).

    :param settings: the pipeline-wide :class:`~airflow_provider_smpipe.translation.settings.TranslationSettings`.
    :param step_name: the step this task runs.
    """

    ui_color = "#fff4d6"

    def choose_branch(self, context: Context) -> list[str]:
        return self._guarded(context, self._choose)

    def _choose(self, context: Context) -> list[str]:
        run = self._run(context)
        step = self.step
        mode = self._selective(run)
        if mode == "not_run":
            raise AirflowSkipException(f"selective re-run: step '{self.step_name}' does not run")
        if mode == "reused":
            outcome = bool((self._reuse(run, context) or {}).get("Outcome"))
            resolved: list[Any] = []
        else:
            self._check_run_conditions(run)
            try:
                outcome, resolved = run.resolver.evaluate_conditions(step)
            except DefinitionError as exc:
                raise self._resolve_failure(exc) from None
        self.log.info("Condition %s evaluated %s: %s", self.step_name, outcome, json.dumps(resolved, default=str))
        # Pushed here, not returned: the branch machinery raises to report skipped tasks (so a return
        # value may never be pushed) and would otherwise push the followed task ids. Rendering sets
        # do_xcom_push=False on Condition tasks for the same reason.
        context["ti"].xcom_push(key=PROPERTIES_KEY, value={"Outcome": outcome})
        skipped = set(step.else_steps if outcome else step.if_steps)
        plan = self.settings.plan
        downstream = self.definition.scope(None).graph.downstream[self.step_name]
        return [self.task_prefix + plan.by_step[name].entry_id for name in sorted(downstream) if name not in skipped]


class SageMakerPipelineFailOperator(GuardedStep):
    """A Fail step: fails the task, and so the run, with the resolved ``ErrorMessage``.

    :param settings: the pipeline-wide :class:`~airflow_provider_smpipe.translation.settings.TranslationSettings`.
    :param step_name: the step this task runs.
    """

    ui_color = "#ffe0e0"

    def run_step(self, context: Context) -> None:
        run = self._run(context)
        if self._selective(run) is not None:
            raise AirflowSkipException(f"selective re-run: step '{self.step_name}' is not selected")
        self._check_run_conditions(run)
        try:
            value = run.resolver.resolve(self.step.arguments.get("ErrorMessage", ""), step=self.step, location=f"{self.step.location}.Arguments.ErrorMessage")
        except DefinitionError as exc:
            raise self._resolve_failure(exc) from None
        message = value if isinstance(value, str) else render_join_value(value, step=self.step_name, location="ErrorMessage")
        raise AirflowFailException(f"Step '{self.step_name}' failed with message: {message}")
