"""Helpers shared by the definition-core tests (imported by name; not a test module).

Paths are computed from this file rather than imported from ``tests/conftest.py`` so the module works
whichever ``conftest`` pytest imported last.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from airflow_provider_smpipe.definition.dryrun import DryRunInputs

TESTS = Path(__file__).resolve().parents[1]
REPO_ROOT = TESTS.parent
FIXTURES = TESTS / "fixtures"
DEFINITIONS = FIXTURES / "definitions"
DEFINITIONS_V3 = FIXTURES / "definitions_v3"
ORACLES = FIXTURES / "oracles"
FIXTURE_NAMES = ("abalone", "integrations", "function_step", "misc_steps")
#: SDK v3 fixtures that are valid (``invalid_condition_in_foreach_body`` must be refused).
V3_FIXTURE_NAMES = ("foreach_literal_regions", "run_conditions_training", "emr_serverless_features", "job_step_agent_rft", "classic_churn_v3")
V3_INVALID = "invalid_condition_in_foreach_body"
ORACLE_FILES = sorted(ORACLES.glob("*.oracle.json"))
ORACLE_IDS = [p.name[: -len(".oracle.json")] for p in ORACLE_FILES]
EXPRESSION_KEYS = ("Get", "Std:Join", "Std:JsonGet")

_CACHE: dict[Path, Any] = {}


def read_json(path: Path) -> Any:
    """Parsed JSON, cached; always hand out a deep copy so tests may mutate it."""
    if path not in _CACHE:
        _CACHE[path] = json.loads(path.read_text(encoding="utf-8"))
    return copy.deepcopy(_CACHE[path])


def fixture_path(name: str) -> Path:
    return DEFINITIONS / f"{name}.json"


def fixture_doc(name: str) -> dict[str, Any]:
    return read_json(fixture_path(name))


def expected_graph(name: str) -> dict[str, Any]:
    return read_json(DEFINITIONS / "expected" / f"{name}.graph.json")


def v3_path(name: str) -> Path:
    return DEFINITIONS_V3 / f"{name}.json"


def v3_doc(name: str) -> dict[str, Any]:
    return read_json(v3_path(name))


def v3_expected(name: str) -> dict[str, Any]:
    suffix = "invalid" if name == V3_INVALID else "graph"
    return read_json(DEFINITIONS_V3 / "expected" / f"{name}.{suffix}.json")


def oracle(oracle_id: str) -> dict[str, Any]:
    return read_json(ORACLES / f"{oracle_id}.oracle.json")


def oracle_definition_path(doc: dict[str, Any]) -> Path:
    return (ORACLES / doc["definition"]).resolve()


def oracle_parameters(doc: dict[str, Any], form: str) -> dict[str, Any]:
    """``typed``: ``parameter_overrides`` as is; ``wire``: ``{Name: Value}`` from the start parameters."""
    inputs = doc["inputs"]
    if form == "typed":
        return dict(inputs["parameter_overrides"])
    return {p["Name"]: p["Value"] for p in inputs["start_pipeline_execution_parameters"]}


def oracle_inputs(doc: dict[str, Any], form: str = "typed") -> DryRunInputs:
    """The dry-run inputs exactly as tests/fixtures/oracles/README.md describes them."""
    inputs = doc["inputs"]
    property_files: dict[str, dict[str, Any]] = {}
    for entry in inputs["property_files"]:
        property_files.setdefault(entry["step"], {})[entry["PropertyFileName"]] = entry["contents"]
    return DryRunInputs(
        parameters=oracle_parameters(doc, form),
        step_outputs=read_json(ORACLES / inputs["step_outputs_file"]),
        property_files=property_files,
        s3_objects=read_json(ORACLES / inputs["s3_objects_file"]),
        execution={k: v for k, v in inputs["execution_variables"].items() if " " not in k},
    )


def iter_raw_steps(steps: list[Any]):
    """Every raw step object, branch steps of Conditions and ForEach body steps included (depth
    first, document order)."""
    for step in steps:
        yield step
        if isinstance(step, dict) and step.get("Type") == "Condition":
            args = step.get("Arguments") or {}
            for branch in ("IfSteps", "ElseSteps"):
                yield from iter_raw_steps(args.get(branch) or [])
        if isinstance(step, dict) and step.get("Type") == "ForEach":
            yield from iter_raw_steps((step.get("Arguments") or {}).get("ForEachBody") or [])


def raw_step(doc: dict[str, Any], name: str) -> dict[str, Any]:
    for step in iter_raw_steps(doc["Steps"]):
        if step.get("Name") == name:
            return step
    raise LookupError(name)


def find_expressions(value: Any, path: str = "$") -> list[str]:
    """Locations of every expression object left in ``value`` (empty when fully resolved)."""
    found: list[str] = []
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in EXPRESSION_KEYS:
            return [path]
        for key, item in value.items():
            found += find_expressions(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += find_expressions(item, f"{path}[{index}]")
    return found


# -- reasonable inputs for the fixtures without oracle scenarios ---------------------------------

INTEGRATIONS_EXECUTION = {
    "PipelineName": "IntegrationsPipeline",
    "PipelineExecutionId": "abc123def456",
    "StartDateTime": "2025-01-01T00:00:00+00:00",
    "CurrentDateTime": "2025-01-01T00:05:00+00:00",
    # NotifyLambda is a Lambda step: these two have no value of their own there.
    "TrainingJobName": "train-job-x",
    "ProcessingJobName": "proc-job-y",
}


def integrations_step_outputs(*, decision: str = "approve", count: Any = "3", score: Any = "0.9",
                              state: str = "COMPLETED", metric: float = 1.25) -> dict[str, Any]:
    return {
        "TuneXGB": {
            "BestTrainingJob": {
                "TrainingJobName": "xgbtune-001-best",
                "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:rmse", "Value": metric},
            },
            "TrainingJobSummaries": [
                {"TrainingJobName": "xgbtune-001-best"},
                {"TrainingJobName": "xgbtune-002"},
            ],
        },
        # Lambda outputs as a {name: value} map (typed by OutputType: score is Float).
        "NotifyLambda": {"OutputParameters": {"status": "ok", "score": score}},
        # Callback outputs in the SendPipelineExecutionStepSuccess list form (strings).
        "ManualApproval": {"OutputParameters": [{"Name": "decision", "Value": decision}, {"Name": "count", "Value": count}]},
        "EMRExistingCluster": {"Status": {"State": state}},
    }


def integrations_inputs(**kwargs: Any) -> DryRunInputs:
    parameters = kwargs.pop("parameters", None)
    return DryRunInputs(
        parameters=parameters,
        step_outputs=integrations_step_outputs(**kwargs),
        execution=dict(INTEGRATIONS_EXECUTION),
    )


# -- small hand-written definitions ----------------------------------------------------------------


def definition(steps: list[dict[str, Any]], parameters: list[dict[str, Any]] | None = None,
               experiment_config: Any = None) -> dict[str, Any]:
    return {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": parameters or [],
        "PipelineExperimentConfig": experiment_config,
        "Steps": steps,
    }


def processing(name: str, *, outputs: tuple[str, ...] = ("out",), property_files: list[dict[str, Any]] | None = None,
               **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30}},
            "AppSpecification": {"ImageUri": "img"},
            "RoleArn": "arn:aws:iam::123456789012:role/R",
            "ProcessingOutputConfig": {
                "Outputs": [
                    {"OutputName": o, "AppManaged": False,
                     "S3Output": {"S3Uri": f"s3://bucket/{name}/{o}", "LocalPath": f"/opt/ml/processing/{o}", "S3UploadMode": "EndOfJob"}}
                    for o in outputs
                ]
            },
        },
    }
    if property_files is not None:
        step["PropertyFiles"] = property_files
    step.update(extra)
    return step


def training(name: str, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://bucket/train"},
            "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 30},
            "RoleArn": "arn:aws:iam::123456789012:role/R",
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
    }
    step.update(extra)
    return step


def fail(name: str, message: Any = "boom", **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"Name": name, "Type": "Fail", "Arguments": {"ErrorMessage": message}}
    step.update(extra)
    return step


def condition(name: str, conditions: list[Any], if_steps: list[Any] | None = None,
              else_steps: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Condition",
        "Arguments": {"Conditions": conditions, "IfSteps": if_steps or [], "ElseSteps": else_steps or []},
    }
    step.update(extra)
    return step


def lambda_step(name: str, arguments: dict[str, Any] | None = None, outputs: tuple[tuple[str, str], ...] = (("status", "String"),),
                **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Lambda",
        "Arguments": arguments or {},
        "FunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:f",
        "OutputParameters": [{"OutputName": n, "OutputType": t} for n, t in outputs],
    }
    step.update(extra)
    return step


def get(text: str) -> dict[str, str]:
    return {"Get": text}


def join(values: list[Any], on: str = "") -> dict[str, Any]:
    return {"Std:Join": {"On": on, "Values": values}}


def for_each(name: str, items: Any, body: list[dict[str, Any]], *, max_concurrency: Any = 2, selector: Any = None,
             **extra: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {"IterableItems": items, "MaxConcurrency": max_concurrency, "ForEachBody": body}
    if selector is not None:
        arguments["Selector"] = selector
    step: dict[str, Any] = {"Name": name, "Type": "ForEach", "Arguments": arguments}
    step.update(extra)
    return step


def cleanup(name: str, sources: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    step: dict[str, Any] = {"Name": name, "Type": "Cleanup", "Arguments": {"Resources": {"S3": sources}}}
    step.update(extra)
    return step


def on(step: str, trigger: str) -> dict[str, str]:
    """A run-condition DependsOn entry."""
    return {"Step": step, "Trigger": trigger}


def refused(source: Any) -> Any:
    """The ``InvalidDefinitionError`` loading ``source`` raises; fails the test if it loads or if
    anything else escapes."""
    import pytest

    from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
    from airflow_provider_smpipe.definition.loader import load_definition

    try:
        load_definition(source)
    except InvalidDefinitionError as exc:
        return exc
    except Exception as exc:  # noqa: BLE001 - the point is that nothing else escapes
        pytest.fail(f"{type(exc).__name__} escaped instead of InvalidDefinitionError: {exc!r}")
    pytest.fail("the malformed definition was accepted")


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path in a JSON document (for the mutation fuzzers)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(prefix + (key,))
            found += json_paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append(prefix + (index,))
            found += json_paths(item, prefix + (index,))
    return found


def random_mutant(doc: dict[str, Any], rng: Any, replacements: list[Any]) -> tuple[dict[str, Any], str]:
    """``doc`` with 1-3 random edits (delete, replace with one of ``replacements``, rename a key,
    duplicate), and a description of them; ``rng`` is a seeded ``random.Random``."""
    applied = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        paths = json_paths(doc)
        if not paths:
            break
        path = rng.choice(paths)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        action = rng.choice(("delete", "replace", "replace", "rename", "duplicate"))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = copy.deepcopy(rng.choice(replacements))
        elif action == "rename" and isinstance(parent, dict):
            parent[str(last) + rng.choice(("x", "_", " ", "["))] = parent.pop(last)
        elif isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        else:
            parent[last] = [copy.deepcopy(parent[last]), copy.deepcopy(parent[last])]
        applied.append(f"{action} {'/'.join(map(str, path))}")
    return doc, "; ".join(applied)


#: "do not check this attribute" in :func:`assert_refusal`
ANY = object()


def assert_refusal(error: Any, contains: tuple[str, ...], step: Any = ANY, location: Any = ANY) -> Any:
    """``error`` (an InvalidDefinitionError) has one problem mentioning all of ``contains``, with
    that step and location, whose message names them; returns that problem."""
    from airflow_provider_smpipe.definition.errors import DefinitionError

    assert isinstance(error, DefinitionError) and isinstance(error, ValueError)
    assert error.problems, "an InvalidDefinitionError always lists its problems"
    assert all(isinstance(p, DefinitionError) for p in error.problems)
    for text in contains:
        assert text in str(error), f"{text!r} not in:\n{error}"
    matches = [p for p in error.problems if all(text in str(p) for text in contains)]
    assert matches, f"no single problem mentions all of {contains}:\n{error}"
    problem = matches[0]
    if step is not ANY:
        assert problem.step == step, str(problem)
    if location is not ANY:
        assert problem.location == location, str(problem)
    # the rendered message names the step and the location
    if problem.step is not None:
        assert f"step '{problem.step}'" in str(problem)
    if problem.location:
        assert problem.location in str(problem)
    assert problem.as_dict()["message"] == str(problem)
    return problem
