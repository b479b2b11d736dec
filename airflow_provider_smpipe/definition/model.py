"""The typed model of a pipeline definition, and the table of step types."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pendulum

from airflow_provider_smpipe.definition.errors import DefinitionError, did_you_mean

if TYPE_CHECKING:
    from airflow_provider_smpipe.definition.graph import StepGraph
    from airflow_provider_smpipe.definition.runstate import RunScope

PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "String": (str,),
    "Integer": (int,),
    "Float": (int, float),
    "Boolean": (bool,),
}

EXECUTION_VARIABLES: tuple[str, ...] = (
    "PipelineName",
    "PipelineArn",
    "PipelineExecutionId",
    "PipelineExecutionArn",
    "StartDateTime",
    "CurrentDateTime",
    "TrainingJobName",
    "ProcessingJobName",
)

OUTPUT_PARAMETER_TYPES = ("String", "Integer", "Float", "Boolean")


@dataclass(frozen=True, slots=True)
class StepTypeInfo:
    """What the service does for one step type.

    :param api: the AWS call that runs the step (``None`` for Condition and Fail).
    :param name_key: the request member holding the job/resource name.
    :param name_is_kept: ``True`` when the definition carries a real resource name to use verbatim
        (Endpoint, EndpointConfig, InferenceComponent); otherwise the name is generated per execution.
    :param metadata_key: the ``ListPipelineExecutionSteps`` ``Metadata`` member for the step.
    :param cacheable: whether ``CacheConfig`` applies.
    :param retryable: whether ``RetryPolicies`` apply.
    """

    api: str | None
    name_key: str | None
    metadata_key: str
    cacheable: bool
    retryable: bool
    name_is_kept: bool = False
    job_retry: bool = False
    opaque: bool = False


#: Types whose argument format is not published (botocore reports them in step metadata, SDK v3
#: does not emit them): recognised by name, envelope validated, ``Arguments`` kept as written.
OPAQUE_STEP_TYPES = (
    "BedrockCustomModel",
    "BedrockCustomModelDeployment",
    "BedrockProvisionedModelThroughput",
    "BedrockModelImport",
    "Athena",
)

STEP_TYPES: dict[str, StepTypeInfo] = {
    "Processing": StepTypeInfo("CreateProcessingJob", "ProcessingJobName", "ProcessingJob", True, True, job_retry=True),
    "Training": StepTypeInfo("CreateTrainingJob", "TrainingJobName", "TrainingJob", True, True, job_retry=True),
    "Transform": StepTypeInfo("CreateTransformJob", "TransformJobName", "TransformJob", True, True, job_retry=True),
    "Tuning": StepTypeInfo("CreateHyperParameterTuningJob", "HyperParameterTuningJobName", "TuningJob", True, True, job_retry=True),
    "Model": StepTypeInfo("CreateModel", "ModelName", "Model", False, True),
    "RegisterModel": StepTypeInfo("CreateModelPackage", None, "RegisterModel", False, True),
    "AutoML": StepTypeInfo("CreateAutoMLJob", "AutoMLJobName", "AutoMLJob", True, True, job_retry=True),
    "EndpointConfig": StepTypeInfo("CreateEndpointConfig", "EndpointConfigName", "EndpointConfig", True, True, True, job_retry=True),
    "Endpoint": StepTypeInfo("CreateEndpoint", "EndpointName", "Endpoint", True, False, True),
    "InferenceComponent": StepTypeInfo(
        "CreateInferenceComponent", "InferenceComponentName", "InferenceComponent", False, False, True
    ),
    "QualityCheck": StepTypeInfo("CreateProcessingJob", "ProcessingJobName", "QualityCheck", True, False),
    "ClarifyCheck": StepTypeInfo("CreateProcessingJob", "ProcessingJobName", "ClarifyCheck", True, False),
    "EMR": StepTypeInfo("AddJobFlowSteps", None, "EMR", True, True),
    "Lambda": StepTypeInfo("Invoke", None, "Lambda", True, False),
    "Callback": StepTypeInfo("SendMessage", None, "Callback", True, False),
    "Lineage": StepTypeInfo("CreateAction", None, "Lineage", False, False),
    "Condition": StepTypeInfo(None, None, "Condition", False, False),
    "Fail": StepTypeInfo(None, None, "Fail", False, False),
    # Today's service and SDK v3 (see README "SDK v3 and today's service").
    "ForEach": StepTypeInfo(None, None, "ForEach", False, False),
    "Cleanup": StepTypeInfo(None, None, "Cleanup", False, False),
    "EMRServerless": StepTypeInfo("StartJobRun", None, "EMRServerless", True, True),
    # SageMakerJobStepRetryPolicy applies to CreateJob (sagemaker-mlops 1.27.0, JobStep docstring).
    "Job": StepTypeInfo("CreateJob", "JobName", "Job", True, True, job_retry=True),
    **{name: StepTypeInfo(None, None, name, True, True, opaque=True) for name in OPAQUE_STEP_TYPES},
}

#: Entry points that tell the two flavours of "Training" step apart (both serialise as Training).
FUNCTION_STEP_ENTRYPOINT_SUFFIX = "sagemaker_remote_function_bootstrap/job_driver.sh"
NOTEBOOK_STEP_ENTRYPOINT = ["amazon_sagemaker_scheduler"]


@dataclass(frozen=True, slots=True)
class Parameter:
    """A pipeline parameter.

    :param default: the typed default, or ``None`` when :attr:`has_default` is false.
    """

    name: str
    type: str
    default: Any = None
    has_default: bool = False
    enum_values: tuple[str, ...] | None = None
    description: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """One ``RetryPolicies`` entry (StepRetryPolicy or SageMakerJobStepRetryPolicy).

    A policy with neither ``max_attempts`` nor ``expire_after_min`` (the SDK's broken exclusivity
    check lets it through) retries up to :data:`DEFAULT_MAX_ATTEMPTS` attempts, the upper bound the
    service documents for ``MaxAttempts``. With both, whichever limit is reached first ends retrying.
    """

    exception_types: tuple[str, ...]
    interval_seconds: float = 1.0
    backoff_rate: float = 2.0
    max_attempts: int | None = None
    expire_after_min: float | None = None

    DEFAULT_MAX_ATTEMPTS = 20

    def matches(self, exception_type: str) -> bool:
        return exception_type in self.exception_types

    def delay_before_retry(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1 for the first retry)."""
        return self.interval_seconds * (self.backoff_rate ** (retry_number - 1))

    def allows(self, attempts_made: int, seconds_since_first_attempt: float) -> bool:
        """Whether another attempt may start after ``attempts_made`` attempts."""
        limit = self.max_attempts if self.max_attempts is not None else None
        if limit is None and self.expire_after_min is None:
            limit = self.DEFAULT_MAX_ATTEMPTS
        if limit is not None and attempts_made >= limit:
            return False
        if self.expire_after_min is not None and seconds_since_first_attempt >= self.expire_after_min * 60:
            return False
        return True


@dataclass(frozen=True, slots=True)
class CacheConfig:
    enabled: bool
    expire_after: str | None = None

    def expire_after_duration(self) -> pendulum.Duration | None:
        return parse_iso_duration(self.expire_after) if self.expire_after else None


def parse_iso_duration(text: str) -> pendulum.Duration:
    """Parse ``CacheConfig.ExpireAfter``: ISO-8601 (``P30D``, ``PT12H``, ``P4DT12H``) and the forms
    AWS's caching guide shows (``30d``, ``5y``, ``T16m``, ``30dT5h``): case-insensitive, ``P`` optional."""
    normalised = text.strip().upper()
    if not normalised.startswith("P"):
        normalised = "P" + normalised
    if normalised in ("P", "PT") or normalised.endswith("T"):
        raise ValueError(f"not a duration: {text!r}")
    parsed = pendulum.parse(normalised)
    if not isinstance(parsed, pendulum.Duration):
        raise ValueError(f"not a duration: {text!r}")
    return parsed


@dataclass(frozen=True, slots=True)
class PropertyFile:
    name: str
    output_name: str
    file_path: str


@dataclass(frozen=True, slots=True)
class OutputParameter:
    name: str
    type: str


#: ``DependsOn`` run conditions. A plain step name means ``Completed`` (the upstream succeeded).
TRIGGERS: tuple[str, ...] = ("Completed", "Failed", "Stopped", "Any")
COMPLETED, FAILED, STOPPED, ANY = TRIGGERS


@dataclass(frozen=True, slots=True)
class Dependency:
    """One ``DependsOn`` entry as written.

    :param form: ``"name"`` (a plain step name) or ``"object"`` (``{"Step", "Trigger"}``).
    """

    step: str
    trigger: str = COMPLETED
    form: str = "name"
    location: str = ""


@dataclass(frozen=True, slots=True)
class Requirement:
    """What must hold of one upstream step before a step may start (see ``runstate``).

    :param declared: ``True`` for a ``DependsOn`` entry; ``False`` when implied by a property
        reference (the value only exists once that step succeeded) or a Condition branch.
    """

    upstream: str
    trigger: str
    declared: bool


@dataclass(frozen=True, slots=True)
class Selector:
    """A ForEach ``Selector``: pick the iteration whose ``body_step`` property at ``path`` is the
    largest (``MaxBy``) or smallest (``MinBy``)."""

    pick: str
    body_step: str
    path: tuple[Any, ...]
    text: str


@dataclass(frozen=True, slots=True)
class ForEachSpec:
    """A ForEach step's fan-out.

    :param items: ``IterableItems`` as written: a list (each element a scalar or an expression) or
        one expression that resolves to a JSON list string.
    :param body: the body step names, in document order.
    """

    items: Any
    max_concurrency: int
    body: tuple[str, ...]
    selector: Selector | None = None


@dataclass(frozen=True, slots=True)
class CleanupSource:
    """One ``Resources.S3`` entry of a Cleanup step: the source step and the exact objects to
    delete (``None``: the service locates the step's outputs itself)."""

    step: str
    s3_uris: tuple[Any, ...] | None
    location: str


@dataclass(slots=True)
class Step:
    """One step, with branch steps of a Condition flattened into the pipeline's step table.

    :param location: JSONPath of the step object in the definition.
    :param arguments: ``Arguments`` as written (expressions unresolved). For a Condition the nested
        ``IfSteps`` / ``ElseSteps`` objects are replaced by :attr:`if_steps` / :attr:`else_steps`.
    :param fields: the type-specific top-level keys (``FunctionArn``, ``SqsQueueUrl``, ``CheckType``,
        ``SkipCheck``, ...), unresolved.
    :param parent_condition: the Condition whose branch holds this step, if any.
    :param parent_for_each: the ForEach whose body holds this step, if any. Body steps are in the
        step table and the graph (as in the SDK's ``PipelineGraph``) but never run as themselves:
        each item of the ForEach runs one child ``<name>-<index>`` of them.
    :param dependencies: the ``DependsOn`` entries with their triggers (``depends_on`` keeps the names).
    :param requirements: every condition that must hold before the step starts, in its scope (the
        top level, or its ForEach body): ``DependsOn`` entries, one implied ``Completed`` per step
        whose properties it reads, its Condition; for a ForEach also its body's outside requirements.
    """

    name: str
    type: str
    location: str
    arguments: dict[str, Any]
    display_name: str | None = None
    description: str | None = None
    depends_on: tuple[str, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    requirements: tuple[Requirement, ...] = ()
    retry_policies: tuple[RetryPolicy, ...] = ()
    cache_config: CacheConfig | None = None
    property_files: tuple[PropertyFile, ...] = ()
    output_parameters: tuple[OutputParameter, ...] = ()
    fields: dict[str, Any] = field(default_factory=dict)
    parent_condition: str | None = None
    branch: str | None = None
    conditions: list[Any] = field(default_factory=list)
    if_steps: tuple[str, ...] = ()
    else_steps: tuple[str, ...] = ()
    parent_for_each: str | None = None
    for_each: ForEachSpec | None = None
    cleanup_sources: tuple[CleanupSource, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def info(self) -> StepTypeInfo:
        return STEP_TYPES[self.type]

    @property
    def is_function_step(self) -> bool:
        entry = self._entrypoint()
        return bool(entry) and str(entry[-1]).endswith(FUNCTION_STEP_ENTRYPOINT_SUFFIX)

    @property
    def is_notebook_step(self) -> bool:
        return self._entrypoint() == NOTEBOOK_STEP_ENTRYPOINT

    def _entrypoint(self) -> list[Any] | None:
        if self.type != "Training":
            return None
        spec = self.arguments.get("AlgorithmSpecification")
        entry = spec.get("ContainerEntrypoint") if isinstance(spec, Mapping) else None
        return entry if isinstance(entry, list) else None

    @property
    def is_body_step(self) -> bool:
        return self.parent_for_each is not None

    def trigger_on(self, upstream: str) -> str | None:
        """The trigger of this step's ``DependsOn`` entry for ``upstream`` (``None``: no entry)."""
        return next((d.trigger for d in self.dependencies if d.step == upstream), None)

    def property_file(self, name: str) -> PropertyFile | None:
        return next((p for p in self.property_files if p.name == name), None)

    def output_parameter(self, name: str) -> OutputParameter | None:
        return next((p for p in self.output_parameters if p.name == name), None)


@dataclass(slots=True)
class PipelineDefinition:
    """A loaded and validated definition.

    :param steps: every step by name, branch steps included, in document order (not topological).
    :param graph: the dependency graph; see :class:`~airflow_provider_smpipe.definition.graph.StepGraph`.
    :param source: where it was loaded from (a path or ``"<dict>"``), for messages.
    :param mlflow_config: ``MlflowConfig`` as written (``None`` when absent or ``null``).
    """

    version: str
    metadata: dict[str, Any]
    parameters: dict[str, Parameter]
    experiment_config: dict[str, Any] | None
    steps: dict[str, Step]
    graph: StepGraph
    raw: dict[str, Any] = field(repr=False)
    source: str | None = None
    mlflow_config: dict[str, Any] | None = None
    _hash: str | None = field(default=None, repr=False, compare=False)
    _scopes: dict[str | None, RunScope] = field(default_factory=dict, repr=False, compare=False)

    def step(self, name: str) -> Step:
        try:
            return self.steps[name]
        except KeyError:
            raise DefinitionError(
                f"unknown step '{name}'{did_you_mean(name, self.steps)}",
                expected=f"one of the {len(self.steps)} steps of the pipeline",
            ) from None

    def scope(self, for_each: str | None = None) -> RunScope:
        """The steps scheduled together: the top level (``None``), or one ForEach's body."""
        if for_each not in self._scopes:
            from airflow_provider_smpipe.definition.runstate import RunScope

            self._scopes[for_each] = RunScope.of(self, for_each)
        return self._scopes[for_each]

    @property
    def run_graph(self) -> StepGraph:
        """The graph the top level runs by: every step but ForEach body steps, each ForEach
        carrying its body's requirements on outside steps. Equal to :attr:`graph` without ForEach."""
        return self.scope(None).graph

    def for_each_of(self, step_name: str) -> Step | None:
        """The ForEach holding body step ``step_name`` (``None`` for any other step)."""
        parent = self.steps[step_name].parent_for_each if step_name in self.steps else None
        return self.steps[parent] if parent else None

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON (sorted keys, no whitespace): equal for equal definitions."""
        if self._hash is None:
            self._hash = canonical_hash(self.raw)
        return self._hash


def canonical_json(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_hash(document: Any) -> str:
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()
