"""What a translated step task knows at run time: parameters, execution variables, upstream
properties (from XCom), the selective-run plan; all checked before any AWS call.

Execution variables map to the Airflow run: ``PipelineExecutionId`` is derived from the run id (12
hex characters), ``PipelineName`` is the DAG's pipeline name, ``StartDateTime`` is the run's start
(or its logical date with ``start_time_from="logical_date"``, for backfills), ``CurrentDateTime`` is
now, ARNs use the connection's region and the caller's account.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any

import pendulum

from airflow.providers.common.compat.sdk import AirflowFailException

from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError, ParameterError, did_you_mean
from airflow_provider_smpipe.definition.expressions import Iteration, Resolver
from airflow_provider_smpipe.definition.foreach import child_name
from airflow_provider_smpipe.definition.model import PipelineDefinition, PropertyFile, Step
from airflow_provider_smpipe.definition.naming import execution_arn, pipeline_arn
from airflow_provider_smpipe.definition.parameters import resolve_parameters
from airflow_provider_smpipe.definition.selective import SelectivePlan, plan_selective_execution
from airflow_provider_smpipe.hooks.pipeline import service_hook
from airflow_provider_smpipe.translation.plan import CONTROL_KEYS, FOR_EACH_ITEMS, REFERENCE_RUN_KEY, SELECTED_STEPS_KEY, TranslationPlan

PROPERTIES_KEY = "return_value"
PROPERTY_FILES_KEY = "property_files"
FINISHED_RUN_STATES = ("success", "failed")


def execution_id_for(dag_id: str, run_id: str) -> str:
    """The ``PipelineExecutionId`` of an Airflow run: stable, 12 lowercase hex characters."""
    return hashlib.sha256(f"{dag_id}\0{run_id}".encode()).hexdigest()[:12]


class XComProperties(Mapping[str, Any]):
    """Step properties read lazily from the XCom of the steps' tasks (in this run or another).

    :param locate: step name -> the full id of the task holding its properties.
    :param map_index: ``-1`` for top-level steps; an iteration's index for the body steps of a
        ForEach (``Steps.<bodyStep>`` in a body step reads its own iteration's child).
    """

    def __init__(self, ti: Any, locate: Callable[[str], str], run_id: str | None = None, map_index: int = -1) -> None:
        self.ti = ti
        self.locate = locate
        self.run_id = run_id
        self.map_index = map_index
        self._seen: dict[str, Any] = {}

    def __getitem__(self, step_name: str) -> Any:
        if step_name not in self._seen:
            kwargs: dict[str, Any] = {"task_ids": self.locate(step_name), "key": PROPERTIES_KEY, "map_indexes": self.map_index}
            if self.run_id:
                kwargs["run_id"] = self.run_id
            value = self.ti.xcom_pull(**kwargs)
            if value is None:
                raise KeyError(step_name)
            self._seen[step_name] = value
        return self._seen[step_name]

    def __contains__(self, step_name: object) -> bool:
        try:
            self[str(step_name)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._seen)

    def __len__(self) -> int:
        return len(self._seen)


class ExecutionVariables(Mapping[str, Any]):
    """Execution variables of an Airflow run, computed on first use (ARNs need the account id)."""

    def __init__(self, *, pipeline_name: str, execution_id: str, start: str, region: str, account: Any) -> None:
        self._values: dict[str, Any] = {"PipelineName": pipeline_name, "PipelineExecutionId": execution_id, "StartDateTime": start}
        self._region = region
        self._account = account  # a callable: STS is asked only if an ARN is referenced

    def __getitem__(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        if name == "PipelineArn":
            return pipeline_arn(self._values["PipelineName"], region=self._region, account=self._account())
        if name == "PipelineExecutionArn":
            return execution_arn(self._values["PipelineName"], self._values["PipelineExecutionId"], region=self._region, account=self._account())
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(("PipelineName", "PipelineExecutionId", "StartDateTime", "PipelineArn", "PipelineExecutionArn"))

    def __len__(self) -> int:
        return 5


class StepRun:
    """Everything one translated step task needs, built from the task context.

    :param task_prefix: the TaskGroup prefix of the step tasks (``""`` for a whole-DAG translation).
    :param plan: where each step's task is (see :class:`~airflow_provider_smpipe.translation.plan.TranslationPlan`).
    """

    def __init__(
        self,
        *,
        definition: PipelineDefinition,
        step: Step,
        context: Any,
        pipeline_name: str,
        task_prefix: str,
        start_time_from: str,
        aws: Mapping[str, Any],
        plan: TranslationPlan,
    ) -> None:
        self.definition = definition
        self.plan = plan
        self.step = step
        self.context = context
        self.ti = context["ti"]
        self.pipeline_name = pipeline_name
        self.task_prefix = task_prefix
        self.start_time_from = start_time_from
        self.aws = dict(aws)
        dag_run = context["dag_run"]
        self.run_id: str = dag_run.run_id
        self.conf: dict[str, Any] = dict(getattr(dag_run, "conf", None) or {})
        self.execution_id = execution_id_for(dag_run.dag_id, dag_run.run_id)
        self.parameters = self._parameters()
        self.selection, self.reference_run_id = self._selection()

    # -- checks, all before any AWS call ------------------------------------------------------

    def _fail(self, problems: list[DefinitionError], what: str) -> AirflowFailException:
        return AirflowFailException(str(InvalidDefinitionError(problems, "run conf", what=what)))

    def _parameters(self) -> dict[str, Any]:
        declared = self.definition.parameters
        unknown = [k for k in self.conf if k not in declared and k not in CONTROL_KEYS]
        problems: list[DefinitionError] = [
            ParameterError(
                f"unknown run conf key '{key}'{did_you_mean(key, list(declared) + list(CONTROL_KEYS))}",
                location=f"conf.{key}",
                expected="a pipeline parameter (" + ", ".join(declared) + ") or " + " / ".join(CONTROL_KEYS),
            )
            for key in unknown
        ]
        params = self.context.get("params") or {}
        # A param still at the pipeline's default is not an override (the SDK may declare a default
        # the API would refuse as an override, such as "").
        overrides = {
            name: params[name]
            for name, parameter in declared.items()
            if params.get(name) is not None and not (parameter.has_default and params[name] == parameter.default)
        }
        try:
            values = resolve_parameters(declared, overrides, source="run conf")
        except InvalidDefinitionError as exc:
            problems.extend(exc.problems)
            values = {}
        if problems:
            raise self._fail(problems, "run conf")
        return values

    def _selection(self) -> tuple[SelectivePlan | None, str | None]:
        params = self.context.get("params") or {}
        selected = self.conf.get(SELECTED_STEPS_KEY, params.get(SELECTED_STEPS_KEY))
        reference = self.conf.get(REFERENCE_RUN_KEY, params.get(REFERENCE_RUN_KEY)) or None
        if not selected:
            if reference:
                raise self._fail([DefinitionError(f"{REFERENCE_RUN_KEY} given without {SELECTED_STEPS_KEY}", location=f"conf.{REFERENCE_RUN_KEY}")], "selective re-run")
            return None, None
        if isinstance(selected, str):
            selected = [s.strip() for s in selected.split(",") if s.strip()]
        if not isinstance(selected, list) or not all(isinstance(s, str) for s in selected):
            raise self._fail([DefinitionError(f"{SELECTED_STEPS_KEY} is {selected!r}", location=f"conf.{SELECTED_STEPS_KEY}", expected="a list of step names")], "selective re-run")
        try:
            plan = plan_selective_execution(self.definition, selected)
        except InvalidDefinitionError as exc:
            raise AirflowFailException(str(exc)) from None
        if plan.needs_reference:
            self._check_reference(plan, reference)
        return plan, reference

    def _check_reference(self, plan: SelectivePlan, reference: str | None) -> None:
        where = f"conf.{REFERENCE_RUN_KEY}"
        if not reference:
            raise self._fail(
                [DefinitionError(f"the selected steps need outputs of {sorted(plan.reused)}", location=where, expected="a reference run id")],
                "selective re-run",
            )
        if reference == self.run_id:
            raise self._fail([DefinitionError("the reference run is this run", location=where)], "selective re-run")
        try:
            state = self.ti.get_dagrun_state(dag_id=self.context["dag_run"].dag_id, run_id=reference)
        except Exception as exc:  # noqa: BLE001 - the API says "not found" in several ways
            raise self._fail([DefinitionError(f"reference run '{reference}' cannot be read: {exc}", location=where)], "selective re-run") from None
        state = getattr(state, "value", state)  # DagRunState is a str enum; compare its value
        if str(state) not in FINISHED_RUN_STATES:
            raise self._fail(
                [DefinitionError(f"reference run '{reference}' is {state}", location=where, expected="a finished run (success or failed)")],
                "selective re-run",
            )
        previous = XComProperties(self.ti, self.task_id_of, run_id=reference)
        missing = sorted(name for name in plan.reused if self.definition.steps[name].type != "Fail" and name not in previous)
        if missing:
            raise self._fail(
                [DefinitionError(f"reference run '{reference}' has no outputs for {missing}", location=where, expected="a run in which those steps succeeded")],
                "selective re-run",
            )

    # -- evaluation ---------------------------------------------------------------------------

    def task_id_of(self, step_name: str) -> str:
        """The full id of the task holding ``step_name``'s properties."""
        return self.task_prefix + self.plan.locate(step_name)

    @cached_property
    def properties(self) -> XComProperties:
        return XComProperties(self.ti, self.task_id_of)

    @property
    def for_each(self) -> str | None:
        """The ForEach whose body this step is in (``None`` at the top level)."""
        return self.step.parent_for_each

    @property
    def child(self) -> str:
        """The step's name as its jobs are named: ``<bodyStep>-<index>`` for a ForEach child (the
        service's child name, so every child's job has its own name), else the step name."""
        return child_name(self.step.name, self.index) if self.for_each is not None else self.step.name

    @cached_property
    def index(self) -> int:
        """The iteration of a body step's task: its map index."""
        return int(self.ti.map_index)

    @cached_property
    def item(self) -> Any:
        """The item of a body step's iteration, from its ForEach's items task."""
        items = self.ti.xcom_pull(task_ids=f"{self.task_prefix}{self.for_each}.{FOR_EACH_ITEMS}", key=PROPERTIES_KEY, map_indexes=-1)
        if not isinstance(items, list) or not 0 <= self.index < len(items):
            raise AirflowFailException(
                f"step '{self.step.name}': ForEach '{self.for_each}' has no item {self.index} (its items task pushed {type(items).__name__})"
            )
        return items[self.index]

    @cached_property
    def iteration(self) -> Iteration | None:
        if self.for_each is None:
            return None
        return Iteration(
            for_each=self.for_each, index=self.index, item=self.item, properties=XComProperties(self.ti, self.task_id_of, map_index=self.index)
        )

    @cached_property
    def execution(self) -> ExecutionVariables:
        dag_run = self.context["dag_run"]
        when = dag_run.logical_date if self.start_time_from == "logical_date" and dag_run.logical_date else dag_run.start_date
        start = pendulum.instance(when).in_timezone("UTC").isoformat() if when else pendulum.now("UTC").isoformat()
        return ExecutionVariables(
            pipeline_name=self.pipeline_name,
            execution_id=self.execution_id,
            start=start,
            region=self.region,
            account=self._account_id,
        )

    @cached_property
    def region(self) -> str:
        return self.aws.get("region_name") or self.client("sts").meta.region_name or "us-east-1"

    def _account_id(self) -> str:
        return self.client("sts").get_caller_identity()["Account"]

    def client(self, service: str) -> Any:
        return service_hook(
            service,
            aws_conn_id=self.aws.get("aws_conn_id"),
            region_name=self.aws.get("region_name"),
            verify=self.aws.get("verify"),
            config=self.aws.get("botocore_config"),
        ).conn

    @cached_property
    def resolver(self) -> Resolver:
        return Resolver(
            self.definition,
            parameters=self.parameters,
            execution=self.execution,
            step_properties=self.properties,
            property_file_loader=self._property_file,
            s3_loader=self._s3_json,
            iteration=self.iteration,
        )

    def _property_file(self, step: Step, pfile: PropertyFile, uri: str) -> Any:
        same_iteration = step.parent_for_each is not None and step.parent_for_each == self.for_each
        map_index = self.index if same_iteration else -1
        files = self.ti.xcom_pull(task_ids=self.task_id_of(step.name), key=PROPERTY_FILES_KEY, map_indexes=map_index) or {}
        if pfile.name in files:
            return files[pfile.name]
        return self._s3_json(uri)

    def _s3_json(self, uri: str) -> Any:
        bucket, _, key = uri[len("s3://") :].partition("/")
        s3 = self.client("s3")
        try:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            raise KeyError(uri) from None
        except Exception as exc:  # noqa: BLE001 - a missing bucket, no permission: say which object
            if "NoSuchBucket" in str(exc) or "Not Found" in str(exc) or "404" in str(exc):
                raise KeyError(uri) from None
            raise
        return json.loads(body)
