"""Operators that drive SageMaker Pipelines: upsert, start (with selective re-runs), stop, retry.

Every waiting operator waits the same way whether ``deferrable`` or not: the trigger's polling
code runs in the triggerer (deferrable) or in the worker (not), and one function turns its final
event into the task's outcome, so ``Stopped``, ``CompletedWithFailures`` and failures are handled
identically everywhere.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.operators.base_aws import AwsBaseOperator
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowFailException, conf

from airflow_provider_smpipe.assets import emit_registered_model_packages, model_package_outlets
from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, SelectionError
from airflow_provider_smpipe.definition.foreach import split_child_name
from airflow_provider_smpipe.definition.naming import sanitize_name_part
from airflow_provider_smpipe.hooks.pipeline import EXECUTION_SELECTORS, SageMakerPipelineHook, check_mlflow_experiment_name, request_token
from airflow_provider_smpipe.hooks.start_request import check_start_inputs
from airflow_provider_smpipe.links.pipeline import SageMakerPipelineExecutionLink
from airflow_provider_smpipe.triggers.execution_events import DEFAULT_SAFETY_POLL_SECONDS, check_wait_via, execution_wait_trigger
from airflow_provider_smpipe.triggers.pipeline_execution import SageMakerPipelineExecutionTrigger, wait_inline
from airflow_provider_smpipe.utils.events import finish_from_event
from airflow_provider_smpipe.utils.jsonsafe import json_safe
from airflow_provider_smpipe.utils.reporting import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Policy,
    check_completed_with_failures_policy,
    check_stopped_policy,
    pipeline_name_from_arn,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

#: XCom key holding the execution ARN as soon as it is known (before any wait).
EXECUTION_ARN_KEY = "execution_arn"
#: Marker appended to the execution description so a retried task can find what an earlier
#: attempt started (works on every Airflow 3 version, with or without task state).
MARKER_PREFIX = "airflow-ti:"
TASK_STATE_KEY = "smpipe_execution_arn"
REATTACH_SCAN_LIMIT = 100


def _seconds(value: timedelta | float | int | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def ti_identity(context: Context) -> str:
    ti = context["ti"]
    return f"{ti.dag_id}\0{ti.run_id}\0{ti.task_id}\0{getattr(ti, 'map_index', -1)}"


def ti_marker(context: Context) -> str:
    return MARKER_PREFIX + hashlib.sha256(ti_identity(context).encode()).hexdigest()[:24]


class _WaitingOperator(AwsBaseOperator[SageMakerPipelineHook]):
    """Shared waiting behaviour: ``wait_for_completion``, ``deferrable``, ``poll_interval``,
    ``max_wait``, ``stopped_policy``, ``completed_with_failures_policy``."""

    aws_hook_class = SageMakerPipelineHook
    operator_extra_links = (SageMakerPipelineExecutionLink(),)

    def __init__(
        self,
        *,
        wait_for_completion: bool = True,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poll_interval: float = 30.0,
        max_wait: timedelta | float | None = None,
        stopped_policy: Policy = "fail",
        completed_with_failures_policy: Policy = "fail",
        wait_via: str = "polling",
        events_queue_url: str | None = None,
        safety_poll_interval: float = DEFAULT_SAFETY_POLL_SECONDS,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.wait_for_completion = wait_for_completion
        self.deferrable = deferrable
        self.wait_via = check_wait_via(wait_via, events_queue_url, deferrable or not wait_for_completion)
        self.events_queue_url = events_queue_url
        self.safety_poll_interval = safety_poll_interval
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.stopped_policy = check_stopped_policy(stopped_policy)
        self.completed_with_failures_policy = check_completed_with_failures_policy(completed_with_failures_policy)
        self._execution_arn: str | None = None

    def _trigger(self, execution_arn: str, *, stop_on_kill: bool) -> SageMakerPipelineExecutionTrigger:
        wait = _seconds(self.max_wait)
        return execution_wait_trigger(
            wait_via=self.wait_via,
            events_queue_url=self.events_queue_url,
            safety_poll_interval=self.safety_poll_interval,
            execution_arn=execution_arn,
            poll_interval=self.poll_interval,
            timeout_at=time.time() + wait if wait is not None else None,
            stop_on_kill=stop_on_kill,
            aws_conn_id=self.aws_conn_id,
            region_name=self.region_name,
            verify=self.verify,
            botocore_config=self.botocore_config,
        )

    def _wait(self, context: Context, execution_arn: str, *, stop_on_kill: bool = True) -> Any:
        """Wait as configured; returns the task result, or defers (raising TaskDeferred)."""
        if not self.wait_for_completion:
            return self._result(context, execution_arn, None)
        trigger = self._trigger(execution_arn, stop_on_kill=stop_on_kill)
        if self.deferrable:
            wait = _seconds(self.max_wait)
            # The trigger ends itself at its deadline with a "timeout" event; the deferral timeout is
            # only a backstop in case the triggerer cannot run it at all.
            backstop = timedelta(seconds=wait + 2 * self.poll_interval + 60) if wait is not None else None
            self.defer(trigger=trigger, method_name="execute_complete", timeout=backstop)
        return self.execute_complete(context, wait_inline(trigger))

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        arn = (event or {}).get("execution_arn") or self._execution_arn
        self._execution_arn = arn  # a resumed task is a new instance: its link needs it again
        finished = finish_from_event(
            event, stopped_policy=self.stopped_policy, completed_with_failures_policy=self.completed_with_failures_policy, log=self.log
        )
        return self._result(context, str(arn), finished)

    def _result(self, context: Context, execution_arn: str, event: Mapping[str, Any] | None) -> dict[str, Any]:
        """The task's XCom: plain JSON (ARN, status, step table, parameters used, the execution's
        MLflow configuration, and for ``CompletedWithFailures`` which steps handled which failure)."""
        if event is None:
            described = self.hook.describe_execution(execution_arn)
            status, reason, steps = described["PipelineExecutionStatus"], described.get("FailureReason"), None
            mlflow, handled = described.get("MLflowConfig"), []
        else:
            status, reason, steps = event.get("execution_status"), event.get("failure_reason"), event.get("steps")
            mlflow, handled = event.get("mlflow_config"), list(event.get("handled_failures") or [])
        return {
            "execution_arn": execution_arn,
            "pipeline_name": pipeline_name_from_arn(execution_arn),
            "status": status,
            "failure_reason": reason,
            "steps": steps if steps is not None else self.hook.step_table(execution_arn),
            "parameters": self.hook.list_parameters(execution_arn),
            "mlflow_config": json_safe(mlflow) if mlflow else None,
            "handled_failures": handled,
        }

    def _publish(self, context: Context, execution_arn: str) -> None:
        self._execution_arn = execution_arn
        context["ti"].xcom_push(key=EXECUTION_ARN_KEY, value=execution_arn)
        SageMakerPipelineExecutionLink.persist(
            context=context,
            operator=self,
            region_name=self.hook.conn_region_name,
            aws_partition=self.hook.conn_partition,
            pipeline_name=pipeline_name_from_arn(execution_arn),
            execution_id=execution_arn.rsplit("/", 1)[-1],
        )

    def on_kill(self) -> None:
        """Stop the execution this task started or waits on (synchronous waits; deferred waits are
        stopped by the trigger's ``on_kill``)."""
        if self._execution_arn:
            status = self.hook.describe_execution(self._execution_arn)["PipelineExecutionStatus"]
            if status in ACTIVE_STATUSES:
                self.log.info("Task killed: stopping %s", self._execution_arn)
                self.hook.stop_execution(self._execution_arn)


class SageMakerPipelineUpsertOperator(AwsBaseOperator[SageMakerPipelineHook]):
    """Create a SageMaker pipeline, or update it when its definition or settings changed.

    The definition is validated by the definition core first (every problem listed, nothing sent
    to AWS); an unchanged definition (compared semantically) makes no update call.

    :param pipeline_name: name of the pipeline (templated).
    :param definition: the definition: a dict, JSON text, or the path (or ``s3://`` URI) of a JSON
        file. Only a path or URI is templated: a definition is data, and its content is never
        rendered as Jinja (a ``{{ ... }}`` in it is deployed as written).
    :param role_arn: IAM role the pipeline runs as (templated).
    :param description: pipeline description (templated).
    :param display_name: pipeline display name (templated).
    :param tags: tags to set on the pipeline.
    :param parallelism: default ``MaxParallelExecutionSteps`` for its executions.
    :param definition_s3_bucket: bucket to upload definitions over 100 KiB to (the API limit inline).
    :param definition_s3_key: object key for that upload (default ``<pipeline>/definition-<hash>.json``).

    Pushes ``{"pipeline_arn", "created", "changed"}``.
    """

    aws_hook_class = SageMakerPipelineHook
    template_fields: Sequence[str] = aws_template_fields("pipeline_name", "definition", "role_arn", "description", "display_name")
    template_fields_renderers = {"definition": "json"}

    def __init__(
        self,
        *,
        pipeline_name: str,
        definition: Mapping[str, Any] | str | Path,
        role_arn: str,
        description: str | None = None,
        display_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parallelism: int | None = None,
        definition_s3_bucket: str | None = None,
        definition_s3_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline_name = pipeline_name
        self.definition = definition_field(definition)
        self.role_arn = role_arn
        self.description = description
        self.display_name = display_name
        self.tags = tags
        self.parallelism = parallelism
        self.definition_s3_bucket = definition_s3_bucket
        self.definition_s3_key = definition_s3_key

    def execute(self, context: Context) -> dict[str, Any]:
        definition = self.definition
        if type(definition).__name__ == "LiteralValue":  # not rendered (execute called directly)
            definition = definition.value
        return self.hook.upsert_pipeline(
            self.pipeline_name,
            definition,
            self.role_arn,
            description=self.description,
            display_name=self.display_name,
            tags=self.tags,
            parallelism=self.parallelism,
            definition_s3_bucket=self.definition_s3_bucket,
            definition_s3_key=self.definition_s3_key,
        )


class SageMakerPipelineStartOperator(_WaitingOperator):
    """Start a pipeline execution with this run's parameters, and wait for it.

    Parameters and selected steps are checked against the pipeline's definition before the start
    call (one DescribePipeline); an unknown name, a value of the wrong type or outside
    ``EnumValues``, or an invalid selection fails the task and starts nothing.

    Idempotent: the ``ClientRequestToken`` is derived from the task instance and its try number, and
    a retried (or crashed and retried) task first looks for the execution an earlier try started —
    through the task state store on Airflow 3.3+, otherwise by a marker in the execution
    description — and re-attaches to it instead of starting a second one while it is still running.
    An execution that already ended is not re-attached: the try starts a new one (clearing a finished
    task in the UI re-runs the pipeline).

    :param pipeline_name: the pipeline (templated).
    :param parameters: ``{name: value}`` overrides (templated, e.g. ``{"InputDate": "{{ ds }}"}``);
        typed values are converted to the strings the API wants.
    :param display_name: execution display name (templated; default derived from task and run).
    :param description: execution description (templated).
    :param parallelism: ``MaxParallelExecutionSteps`` for this execution.
    :param selected_steps: run only these steps (selective execution; templated).
    :param source_execution: reference execution for ``selected_steps``: an ARN, ``latest``,
        ``latest-succeeded``, ``latest-failed`` or ``latest-stopped`` (templated).
    :param rerun_failed_steps_of: re-run the failed steps of this execution (an ARN or
        ``latest-failed``), and everything downstream of them, reusing its other outputs (templated).
        A failed Fail step is re-run from its Condition, so changed parameters re-decide the branch.
    :param pipeline_version_id: run this pipeline version.
    :param mlflow_experiment_name: MLflow experiment this execution logs to, instead of the one in the
        definition's ``MlflowConfig`` (templated; StartPipelineExecution's ``MlflowExperimentName``,
        1-256 characters, checked before any call). Default: none, the definition's experiment.
    :param reattach: look for an execution started by an earlier try of this task (default True).
    :param wait_for_completion: wait until the execution ends (default True). ``False`` returns
        right after the start, whatever ``deferrable`` says.
    :param deferrable: wait in the triggerer instead of the worker (only changes *how* it waits).
    :param poll_interval: seconds between status checks.
    :param max_wait: give up waiting after this long (the execution keeps running); default no limit.
    :param wait_via: ``"polling"`` (default) or ``"events"``: a deferred wait fed by SageMaker's
        EventBridge events from ``events_queue_url`` — no Describe per poll, only a safety poll
        (Airflow >= 3.3; below, it polls every ``poll_interval``). Needs ``deferrable=True``.
    :param events_queue_url: the SQS queue an EventBridge rule sends SageMaker's pipeline events to
        (``smpipe events setup``; templated).
    :param safety_poll_interval: with ``wait_via="events"``, seconds between safety polls while no
        event arrives (default 600).
    :param stopped_policy: what a ``Stopped`` execution means for the task: ``fail`` (default),
        ``succeed`` or ``skip``.
    :param completed_with_failures_policy: what a ``CompletedWithFailures`` execution (a step failed,
        and every failed step had a step declared to run on its failure that ran) means for the task:
        ``fail`` (default: a step of the pipeline failed), ``succeed`` or ``skip``. The message names
        the failed steps and the steps that handled them; ``succeed`` logs it as a warning.
    :param model_package_groups: model package groups (not templated): outlets (aliases) of their
        assets (:mod:`airflow_provider_smpipe.assets`); a wait that ends well emits one asset event per
        package the execution's RegisterModel steps registered in them, none for the other groups.
    """

    template_fields: Sequence[str] = aws_template_fields(
        "pipeline_name", "parameters", "display_name", "description", "selected_steps", "source_execution", "rerun_failed_steps_of",
        "mlflow_experiment_name", "events_queue_url",
    )  # fmt: skip
    template_fields_renderers = {"parameters": "json"}

    def __init__(
        self,
        *,
        pipeline_name: str,
        parameters: Mapping[str, Any] | None = None,
        display_name: str | None = None,
        description: str | None = None,
        parallelism: int | None = None,
        selected_steps: Sequence[str] | None = None,
        source_execution: str | None = None,
        rerun_failed_steps_of: str | None = None,
        pipeline_version_id: int | None = None,
        mlflow_experiment_name: str | None = None,
        reattach: bool = True,
        model_package_groups: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        groups, kwargs["outlets"] = model_package_outlets(model_package_groups, kwargs.get("outlets"))
        super().__init__(**kwargs)
        self.model_package_groups = groups
        self.pipeline_name = pipeline_name
        self.parameters = parameters
        self.display_name = display_name
        self.description = description
        self.parallelism = parallelism
        self.selected_steps = selected_steps
        self.source_execution = source_execution
        self.rerun_failed_steps_of = rerun_failed_steps_of
        self.pipeline_version_id = pipeline_version_id
        self.mlflow_experiment_name = mlflow_experiment_name
        self.reattach = reattach

    def execute(self, context: Context) -> Any:
        try:
            return self._start(context)
        except DefinitionError as exc:  # InvalidDefinitionError included: a located input problem
            raise AirflowFailException(str(exc)) from None

    def _start(self, context: Context) -> Any:
        # Checked here, not in __init__: they may be templates that render to None (see the
        # selective re-run example DAG). Everything the caller gave is checked before any call.
        if self.selected_steps is not None and self.rerun_failed_steps_of:
            raise AirflowFailException("give either selected_steps or rerun_failed_steps_of, not both")
        check_mlflow_experiment_name(self.mlflow_experiment_name)
        check_start_inputs(
            parameters=self.parameters, parallelism=self.parallelism, selected_steps=self.selected_steps, source_execution=self.source_execution
        )
        if self.rerun_failed_steps_of is not None and (not isinstance(self.rerun_failed_steps_of, str) or not self.rerun_failed_steps_of.strip()):
            raise AirflowFailException(f"rerun_failed_steps_of is {self.rerun_failed_steps_of!r}: expected an execution ARN or 'latest-failed'")
        hook = self.hook
        definition = hook.get_definition(self.pipeline_name, self.pipeline_version_id)
        selected, source = self._selection(definition)
        marker = ti_marker(context)
        description = f"{self.description}\n{marker}" if self.description else marker
        ti = context["ti"]
        request = hook.build_start_request(
            self.pipeline_name,
            parameters=self.parameters,
            display_name=self.display_name or _default_display_name(context),
            description=description,
            parallelism=self.parallelism,
            selected_steps=selected,
            source_execution_arn=source,
            client_request_token=request_token(ti_identity(context), str(ti.try_number)),
            pipeline_version_id=self.pipeline_version_id,
            definition=definition,
            mlflow_experiment_name=self.mlflow_experiment_name,
        )
        arn = self._earlier_execution(context, marker) if self.reattach else None
        if arn is None:
            arn = hook.start_execution(request)
            store = context.get("task_state_store")
            if store is not None:
                store.set(TASK_STATE_KEY, arn)
        self._publish(context, arn)
        return self._wait(context, arn)

    def _result(self, context: Context, execution_arn: str, event: Mapping[str, Any] | None) -> dict[str, Any]:
        result = super()._result(context, execution_arn, event)
        if event is not None and self.model_package_groups:  # the wait ended well (else it raised)
            emit_registered_model_packages(context, self.hook.conn, result, self.model_package_groups, log=self.log)
        return result

    def _selection(self, definition: Any) -> tuple[list[str] | None, str | None]:
        if self.rerun_failed_steps_of:
            source = self.hook.resolve_execution_arn(self.pipeline_name, self.rerun_failed_steps_of)
            return failed_steps_to_rerun(definition, self.hook.list_steps(source), source), source
        inputs = check_start_inputs(selected_steps=self.selected_steps, source_execution=self.source_execution)
        if inputs.selected_steps is None:
            return None, None
        source = self.hook.resolve_execution_arn(self.pipeline_name, inputs.source_execution) if inputs.source_execution else None
        return inputs.selected_steps, source

    def _earlier_execution(self, context: Context, marker: str) -> str | None:
        """The execution an earlier try of this task started, when this try should take it over
        instead of starting another one (see :func:`reattach_decision`)."""
        ti = context["ti"]
        if int(ti.try_number) <= 1:
            return None
        automatic = is_automatic_retry(ti, self.retries)
        candidates: list[str] = []
        store = context.get("task_state_store")
        if store is not None and store.get(TASK_STATE_KEY):
            candidates.append(store.get(TASK_STATE_KEY))
        else:
            for index, summary in enumerate(self.hook.iter_executions(self.pipeline_name)):
                if index >= REATTACH_SCAN_LIMIT:
                    break
                if marker in (summary.get("PipelineExecutionDescription") or ""):
                    candidates.append(summary["PipelineExecutionArn"])
                    break
        for arn in candidates:
            status = self.hook.describe_execution(arn)["PipelineExecutionStatus"]
            decision = reattach_decision(status, automatic_retry=automatic, stopped_policy=self.stopped_policy, completed_with_failures_policy=self.completed_with_failures_policy)
            if decision == "reattach":
                self.log.info("Re-attaching to %s (%s), started by an earlier try of this task", arn, status)
                return arn
            if decision == "report":
                self.log.info("An earlier try's execution %s already ended %s; reporting it instead of starting another (automatic retry)", arn, status)
                return arn
            why = "this try was started by a Clear or a new run" if not automatic else "it did not succeed"
            self.log.info("An earlier try's execution %s ended %s; starting a new one (%s)", arn, status, why)
        return None


def is_automatic_retry(ti: Any, retries: int | None) -> bool:
    """Whether this try is Airflow retrying the task (after a failure or a lost worker), as opposed
    to its first try after being scheduled or cleared. Airflow raises ``max_tries`` on a Clear, so
    the first try of the current round is ``max_tries - retries + 1`` (the formula Airflow itself
    uses for the first reschedule date)."""
    try:
        first_try = int(ti.max_tries) - int(retries or 0) + 1
    except (AttributeError, TypeError, ValueError):
        return int(ti.try_number) > 1
    return int(ti.try_number) > max(first_try, 1)


def reattach_decision(status: str, *, automatic_retry: bool, stopped_policy: Policy, completed_with_failures_policy: Policy) -> str:
    """What a later try does with the execution an earlier try started: ``reattach`` (it is
    running: wait for it), ``report`` (an automatic retry finds it ended the way this task succeeds:
    return it — the earlier try's worker died after it finished), or ``new`` (start another).

    The decisions of Airflow 3.3's ``ResumableJobMixin`` (reconnect if running, return the result if
    it succeeded, resubmit if it failed), with one difference the mixin cannot make: a try that a
    user's Clear (or a new schedule) started re-runs a finished pipeline, because that is what
    clearing a finished task asks for. The mixin is not used itself: it only covers synchronous
    polling (these waits defer) and knows no Clear from a retry.
    """
    if status in ACTIVE_STATUSES:
        return "reattach"
    if not automatic_retry:
        return "new"
    succeeded = status == "Succeeded"
    succeeded = succeeded or (status == "Stopped" and stopped_policy != "fail")
    succeeded = succeeded or (status == "CompletedWithFailures" and completed_with_failures_policy != "fail")
    return "report" if succeeded else "new"


def definition_field(definition: Mapping[str, Any] | str | Path) -> Any:
    """The upsert operator's ``definition`` as a template field: a path or URI renders (``{{ ds }}``
    in a file name is fine), the definition's content never does — wrapped in Airflow's ``literal``
    it reaches ``execute`` as given, so ``{{ conn.aws_default.password }}`` inside a definition is
    deployed as that text, not as the secret."""
    try:
        from airflow.sdk import literal
    except ImportError:  # Airflow 3.0: airflow.sdk does not re-export it yet
        from airflow.sdk.definitions.template import literal

    if isinstance(definition, Path):
        return str(definition)
    if isinstance(definition, str) and not definition.lstrip().startswith(("{", "[")):
        return definition
    return literal(definition)


def failed_steps_to_rerun(definition: Any, steps: Sequence[Mapping[str, Any]], source_arn: str) -> list[str]:
    """Steps to select for "re-run the failed steps of <source>": the failed ones (a failed Fail step
    is replaced by its Condition) and everything downstream of them."""
    failed = {s["StepName"] for s in steps if s.get("StepStatus") in ("Failed", "Stopped")}
    if not failed:
        raise InvalidDefinitionError(
            [SelectionError(f"execution {source_arn} has no failed steps to re-run", location="rerun_failed_steps_of")],
            what="selective execution request",
        )
    roots = set()
    for name in failed:
        child = split_child_name(definition, name)
        if child is not None:  # a ForEach child: the ForEach is selected (it runs whole)
            name = definition.steps[child[0]].parent_for_each
        step = definition.steps.get(name)
        if step is None:
            raise DefinitionError(f"step '{name}' of {source_arn} is not in the current definition", location="rerun_failed_steps_of")
        roots.add(step.parent_condition if step.type == "Fail" and step.parent_condition else name)
    graph = definition.run_graph  # without ForEach body steps, which cannot be selected
    selected = roots | graph.descendants(roots)
    return [name for name in graph.topological_order() if name in selected]


def _default_display_name(context: Context) -> str:
    ti = context["ti"]
    return sanitize_name_part(f"airflow-{ti.dag_id}-{ti.run_id}")[:82].strip("-") or "airflow"


class SageMakerPipelineStopOperator(_WaitingOperator):
    """Stop a pipeline execution; optionally wait until it is ``Stopped``.

    A transient ``ConflictException`` is retried; an execution that already ended is not an error
    (the task returns its final status).

    :param execution_arn: the execution, or a selector (``latest``) together with ``pipeline_name`` (templated).
    :param pipeline_name: needed only with a selector (templated).
    :param wait_for_completion: wait until the execution reaches a final status (default True).
    :param deferrable: wait in the triggerer.
    :param poll_interval: seconds between status checks.
    :param max_wait: give up waiting after this long.
    :param wait_via: ``"polling"`` or ``"events"`` (see :class:`SageMakerPipelineStartOperator`).
    :param events_queue_url: the SQS queue of SageMaker's events, for ``wait_via="events"`` (templated).
    :param safety_poll_interval: seconds between safety polls of an event-fed wait.
    :param stopped_policy: defaults to ``succeed`` here: stopping is what was asked for.
    :param completed_with_failures_policy: defaults to ``succeed`` here: an execution that ended
        ``CompletedWithFailures`` on its own (before or while being stopped) is, like one that ended
        ``Succeeded`` or ``Failed``, not the stop task's failure. ``fail`` or ``skip`` apply as on the
        start operator, also when it had ended before the stop call.
    """

    template_fields: Sequence[str] = aws_template_fields("execution_arn", "pipeline_name", "events_queue_url")

    def __init__(
        self,
        *,
        execution_arn: str,
        pipeline_name: str | None = None,
        stopped_policy: Policy = "succeed",
        completed_with_failures_policy: Policy = "succeed",
        **kwargs: Any,
    ) -> None:
        super().__init__(stopped_policy=stopped_policy, completed_with_failures_policy=completed_with_failures_policy, **kwargs)
        self.execution_arn = execution_arn
        self.pipeline_name = pipeline_name

    def execute(self, context: Context) -> Any:
        arn = self.hook.resolve_execution_arn(self.pipeline_name, self.execution_arn)
        status = self.hook.stop_execution(arn)
        self._publish(context, arn)
        if status in TERMINAL_STATUSES and status != "Stopped":
            self.log.info("%s had already ended %s", arn, status)
            # One poll of the wait's own code: the same event (and report, and policies) as a wait.
            return self.execute_complete(context, self._trigger(arn, stop_on_kill=False).poll_inline())
        return self._wait(context, arn, stop_on_kill=False)

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        # An execution that finished on its own while stopping is not the stop task's failure.
        if event and event.get("status") in ("succeeded", "failed") and event.get("execution_status") in ("Succeeded", "Failed"):
            return self._result(context, str(event["execution_arn"]), event)
        return super().execute_complete(context, event)


class SageMakerPipelineRetryOperator(_WaitingOperator):
    """Retry a failed execution in place (RetryPipelineExecution: same ARN, failed steps re-run).

    :param execution_arn: the execution, or ``latest-failed`` together with ``pipeline_name`` (templated).
    :param pipeline_name: needed only with a selector (templated).
    :param parallelism: ``MaxParallelExecutionSteps`` for the retry.
    :param wait_for_completion: wait until the execution ends again (default True).
    :param deferrable: wait in the triggerer.
    :param poll_interval: seconds between status checks.
    :param max_wait: give up waiting after this long.
    :param wait_via: ``"polling"`` or ``"events"`` (see :class:`SageMakerPipelineStartOperator`).
    :param events_queue_url: the SQS queue of SageMaker's events, for ``wait_via="events"`` (templated).
    :param safety_poll_interval: seconds between safety polls of an event-fed wait.
    :param stopped_policy: what ``Stopped`` means for the task (default ``fail``).
    :param completed_with_failures_policy: what ``CompletedWithFailures`` means for the task:
        ``fail`` (default), ``succeed`` or ``skip`` (see the start operator).
    """

    template_fields: Sequence[str] = aws_template_fields("execution_arn", "pipeline_name", "events_queue_url")

    def __init__(self, *, execution_arn: str, pipeline_name: str | None = None, parallelism: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.execution_arn = execution_arn
        self.pipeline_name = pipeline_name
        self.parallelism = parallelism

    def execute(self, context: Context) -> Any:
        arn = self.hook.resolve_execution_arn(self.pipeline_name, self.execution_arn)
        ti = context["ti"]
        arn = self.hook.retry_execution(arn, parallelism=self.parallelism, client_request_token=request_token("retry", ti_identity(context), str(ti.try_number)))
        self._publish(context, arn)
        return self._wait(context, arn)


__all__ = [
    "EXECUTION_ARN_KEY",
    "EXECUTION_SELECTORS",
    "SageMakerPipelineRetryOperator",
    "SageMakerPipelineStartOperator",
    "SageMakerPipelineStopOperator",
    "SageMakerPipelineUpsertOperator",
    "failed_steps_to_rerun",
]
