"""ForEach steps as dynamic task mapping.

A ForEach ``F`` becomes a task group ``F`` holding:

* ``F.items``: resolves ``IterableItems`` at run time (a literal list, a parameter's JSON list, an
  upstream step's output) with the core's rules and returns the items; it also checks the
  ForEach's run conditions and its part in a selective re-run;
* ``F.iterations``: a mapped task group expanded over those items, one task per body step
  (``F.iterations.<bodyStep>``), one map index per item; each task reads ``ForEach.CurrentItem``
  and its own iteration's outputs from its map index, and its map index is labelled with the item;
  each body task runs at most ``MaxConcurrency`` map indexes at once per run
  (``max_active_tis_per_dagrun``);
* ``F.results``: once every child ended, computes what later steps read — ``IterationOutputs``,
  ``Selected`` and the aggregates — with the core's :class:`~airflow_provider_smpipe.definition.foreach.FanOut`
  rules, pushes them as the ForEach's properties (and ``for_each``: ``ForEachStepMetadata``), and
  fails when a child failed (the aggregates stay readable by ``Failed``/``Any`` dependents).

Differences from the service, by choice: after a child fails, children of other items that had not
started still run (Airflow runs map indexes independently, and clearing the failed child must re-run
it alone, not leave its siblings skipped), so the counts in the aggregates may be higher than the
service's; ``MaxConcurrency`` caps each body step's running children, so a body of several steps can
have up to ``MaxConcurrency`` × body steps children running at once where the service caps the total.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import AirflowFailException, AirflowSkipException, conf

from airflow_provider_smpipe.definition.errors import DefinitionError
from airflow_provider_smpipe.definition.foreach import FanOut, child_name, resolve_items, selected_index
from airflow_provider_smpipe.definition.model import FAILED
from airflow_provider_smpipe.definition.runstate import NOT_RUN, SUCCEEDED
from airflow_provider_smpipe.translation.base import GuardedStep, StepEnded
from airflow_provider_smpipe.translation.plan import FOR_EACH_ITEMS
from airflow_provider_smpipe.translation.runtime import PROPERTIES_KEY, StepRun
from airflow_provider_smpipe.translation.states import outcome_of, pull, task_states

if TYPE_CHECKING:
    from airflow.sdk import Context

#: XCom key of a ForEach's ``ForEachStepMetadata`` (as native mode reports it).
FOR_EACH_KEY = "for_each"
_NOT_STARTED = frozenset({"skipped", "upstream_failed", "removed"})


class SageMakerPipelineForEachItemsOperator(GuardedStep):
    """The ``items`` task of a ForEach: its resolved items (the mapped body expands over them).

    :param settings: the pipeline-wide :class:`~airflow_provider_smpipe.translation.settings.TranslationSettings`.
    :param step_name: the ForEach step.
    """

    ui_color = "#efe6ff"

    def run_step(self, context: Context) -> list[Any]:
        run = self._run(context)
        mode = self._selective(run)
        if mode == "not_run":
            raise AirflowSkipException(f"selective re-run: ForEach '{self.step_name}' is downstream of the selection and does not run")
        if mode == "reused":
            self.log.info("Selective re-run: ForEach %s is reused from run %s; no child runs", self.step_name, run.reference_run_id)
            return []
        self._check_run_conditions(run)
        try:
            items = resolve_items(run.resolver, self.step)
        except DefinitionError as exc:
            raise self._resolve_failure(exc) from None
        limit = conf.getint("core", "max_map_length", fallback=1024)
        if len(items) > limit:
            raise AirflowFailException(
                f"ForEach '{self.step_name}': {len(items)} items, but Airflow maps a task at most {limit} times "
                "([core] max_map_length); raise that setting or split the items"
            )
        self.log.info("ForEach %s: %d item(s), at most %d children of each body step at once", self.step_name, len(items), _max_concurrency(self))
        return items


class SageMakerPipelineForEachResultsOperator(GuardedStep):
    """The ``results`` task of a ForEach: the ForEach's properties once every child ended.

    :param settings: the pipeline-wide :class:`~airflow_provider_smpipe.translation.settings.TranslationSettings`.
    :param step_name: the ForEach step.
    """

    ui_color = "#efe6ff"

    def run_step(self, context: Context) -> Any:
        ti = context["ti"]
        items_id = f"{self.task_prefix}{self.step_name}.{FOR_EACH_ITEMS}"
        body = self.step_plan.body
        body_ids = {p.step.name: self.task_prefix + p.task_id for p in body}
        states = task_states(ti, [items_id, *body_ids.values()])
        items_state = states.get((items_id, -1))
        run = self._run(context)
        mode = self._selective(run)
        if mode == "reused":
            return self._reuse(run, context)
        if items_state in _NOT_STARTED or mode == "not_run":
            raise AirflowSkipException(f"ForEach '{self.step_name}' did not run (its items task is {items_state})")
        if items_state != "success":
            raise StepEnded(f"ForEach '{self.step_name}': its items could not be resolved (see task {items_id})", status=FAILED)
        items = pull(ti, items_id, -1, PROPERTIES_KEY) or []
        fan = FanOut.plan(self.definition, self.step, list(items))
        child_properties = self._children(ti, fan, body_ids, states)
        return self._conclude(context, run, fan, child_properties)

    def _children(self, ti: Any, fan: FanOut, body_ids: dict[str, str], states: dict[tuple[str, int], str | None]) -> dict[str, Any]:
        """Record every child's outcome in ``fan``; the properties of those that succeeded."""
        succeeded: dict[str, list[int]] = {}
        for child, (body_step, index) in fan.children.items():
            task_id = body_ids[body_step]
            outcome = outcome_of(ti, task_id, index, states.get((task_id, index)))
            if outcome is None:  # all_done: cannot happen unless the task was removed meanwhile
                self.log.warning("Child %s (task %s, map index %d) has not ended; counted as not run", child, task_id, index)
                outcome = NOT_RUN
            fan.scheduler.finish(child, outcome)
            if outcome == SUCCEEDED:
                succeeded.setdefault(body_step, []).append(index)
        properties: dict[str, Any] = {}
        for body_step, indexes in succeeded.items():
            values = ti.xcom_pull(task_ids=body_ids[body_step], key=PROPERTIES_KEY, map_indexes=indexes)
            for index, value in zip(indexes, values if isinstance(values, list) else [values]):
                if value is not None:
                    properties[child_name(body_step, index)] = value
        return properties

    def _conclude(self, context: Context, run: StepRun, fan: FanOut, child_properties: dict[str, Any]) -> Any:
        selector_error = None
        try:
            selected = selected_index(run.resolver, self.step, child_properties, len(fan.items))
        except DefinitionError as exc:
            selected, selector_error = None, str(exc)
        status, reason = fan.status(), fan.failure_reason()
        if selector_error is not None:
            status, reason = FAILED, selector_error
        properties = fan.properties(child_properties, selected, status)
        metadata = fan.metadata(selected, status)
        context["ti"].xcom_push(key=FOR_EACH_KEY, value=metadata)
        self.log.info("ForEach %s: %s", self.step_name, metadata)
        if status != SUCCEEDED:
            # Readable whatever the outcome: a Failed/Any dependent reads the aggregates.
            context["ti"].xcom_push(key=PROPERTIES_KEY, value=properties)
            raise StepEnded(f"ForEach '{self.step_name}' ended {status}: {reason}", status=status)
        return properties


def _max_concurrency(operator: GuardedStep) -> int:
    spec = operator.step.for_each
    return spec.max_concurrency if spec is not None else 1
