#!/usr/bin/env python
"""Benchmark of the definition core: load + validate + graph + dry-run on synthetic layered pipelines.

Run from the repository root::

    .venv/bin/python benchmarks/bench_definition.py                 # N = 10, 100, 1000
    .venv/bin/python benchmarks/bench_definition.py --sizes 10 100 1000 5000
    .venv/bin/python benchmarks/bench_definition.py --json          # machine-readable results

For every N it generates a realistic definition of exactly N steps (branch steps included), then
times, separately and as the median of several repetitions (``time.perf_counter``):

* ``json.loads`` of the definition text (the baseline: the cost of just parsing the JSON);
* ``load_definition(text)``: parse + validate + build the step graph;
* ``definition.graph.topological_order()``;
* ``dry_run(definition, inputs)``: the full walk, every expression resolved.

Peak memory is measured with ``tracemalloc`` over one full ``load_definition`` + ``dry_run``.

A second table measures a ForEach pipeline (``foreach_definition.py``): a fan-out over K items
with a three-step body, a Selector, run conditions and a Cleanup; K = 10 and 100 given as a
literal list (the service's maximum for one), K = 1000 as a JSON list from an upstream step. Its
cost is per *executed* step (children included), so it shows whether a fan-out stays linear.

This script prints figures; it asserts nothing about time (it is not a test). It does check that
the synthetic definition validates and that the dry-run executes every step except the Fail steps
in the (not taken) ElseSteps, because a benchmark of a walk that stopped early would be meaningless.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import platform
import pstats
import random
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from airflow_provider_smpipe.definition.dryrun import EXECUTED, DryRunInputs, dry_run  # noqa: E402
from airflow_provider_smpipe.definition.loader import load_definition  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from foreach_definition import executed_steps, generate_for_each_definition  # noqa: E402

#: (items, literal list?) for the ForEach table
FOR_EACH_SIZES = ((10, True), (100, True), (1000, False))

DEFAULT_SIZES = (10, 100, 1000)
LAYER_WIDTH = 10
#: Every CONDITION_EVERY-th layer (from layer 2 on) starts with a Condition (If: 1 Training, Else: 1 Fail).
CONDITION_EVERY = 3
BUCKET = "smpipe-bench-bucket"
PIPELINE = "bench"
ROLE = "arn:aws:iam::123456789012:role/SageMakerPipelineRole"
PROCESSING_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
TRAINING_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
PROPERTY_FILE = "EvaluationReport"
#: What every Processing step's evaluation.json contains in the dry-run: mse 3.2 <= threshold 6.0,
#: so every Condition takes its IfSteps and no Fail step runs.
EVALUATION = {"regression_metrics": {"mse": {"value": 3.2, "standard_deviation": 0.4}}}


# -- synthetic definition --------------------------------------------------------------------------


def _execution_path(step: str, *tail: str) -> dict[str, Any]:
    """The SDK's default output location: s3://bucket/pipeline/<execution id>/<step>/..."""
    return {"Std:Join": {"On": "/", "Values": ["s3:/", BUCKET, PIPELINE, {"Get": "Execution.PipelineExecutionId"}, step, *tail]}}


def _get(path: str) -> dict[str, str]:
    return {"Get": path}


def _output_uri(producer: dict[str, Any], output: str) -> dict[str, str]:
    """A reference to what an upstream step produced (a Processing output or a model artifact)."""
    if producer["Type"] == "Processing":
        return _get(f"Steps.{producer['Name']}.ProcessingOutputConfig.Outputs['{output}'].S3Output.S3Uri")
    return _get(f"Steps.{producer['Name']}.ModelArtifacts.S3ModelArtifacts")


def _processing(name: str, upstream: list[dict[str, Any]], depends_on: list[str], seq: int) -> dict[str, Any]:
    inputs: list[dict[str, Any]] = []
    sources: list[Any] = [_output_uri(p, ("train", "validation", "test")[i % 3]) for i, p in enumerate(upstream)]
    if not sources:
        sources = [_get("Parameters.InputData")]
    for index, source in enumerate(sources, start=1):
        inputs.append(
            {
                "InputName": f"input-{index}",
                "AppManaged": False,
                "S3Input": {
                    "S3Uri": source,
                    "LocalPath": f"/opt/ml/processing/input/{index}",
                    "S3DataType": "S3Prefix",
                    "S3InputMode": "File",
                    "S3DataDistributionType": "FullyReplicated",
                    "S3CompressionType": "None",
                },
            }
        )
    inputs.append(
        {
            "InputName": "code",
            "AppManaged": False,
            "S3Input": {
                "S3Uri": f"s3://{BUCKET}/{PIPELINE}/code/{seq:064x}/preprocess.py",
                "LocalPath": "/opt/ml/processing/input/code",
                "S3DataType": "S3Prefix",
                "S3InputMode": "File",
                "S3DataDistributionType": "FullyReplicated",
                "S3CompressionType": "None",
            },
        }
    )
    outputs = [
        {
            "OutputName": output,
            "AppManaged": False,
            "S3Output": {"S3Uri": _execution_path(name, "output", output), "LocalPath": f"/opt/ml/processing/{output}", "S3UploadMode": "EndOfJob"},
        }
        for output in ("train", "validation", "test", "evaluation")
    ]
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Processing",
        "Arguments": {
            "ProcessingResources": {
                "ClusterConfig": {
                    "InstanceType": _get("Parameters.ProcessingInstanceType"),
                    "InstanceCount": _get("Parameters.ProcessingInstanceCount"),
                    "VolumeSizeInGB": 30,
                }
            },
            "AppSpecification": {
                "ImageUri": PROCESSING_IMAGE,
                "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"],
                "ContainerArguments": ["--run-id", _get("Execution.PipelineExecutionId"), "--split", "0.2"],
            },
            "RoleArn": ROLE,
            "ProcessingInputs": inputs,
            "ProcessingOutputConfig": {"Outputs": outputs},
            "Environment": {"STAGE": "bench", "STEP": name},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        "PropertyFiles": [{"PropertyFileName": PROPERTY_FILE, "OutputName": "evaluation", "FilePath": "evaluation.json"}],
    }
    if depends_on:
        step["DependsOn"] = depends_on
    if seq % 4 == 0:
        step["CacheConfig"] = {"Enabled": True, "ExpireAfter": "P30D"}
    if seq % 5 == 0:
        step["RetryPolicies"] = [
            {"BackoffRate": 2.0, "IntervalSeconds": 10, "MaxAttempts": 5, "ExceptionType": ["Step.SERVICE_FAULT", "Step.THROTTLING"]},
            {"BackoffRate": 1.5, "IntervalSeconds": 60, "ExpireAfterMin": 120, "ExceptionType": ["SageMaker.CAPACITY_ERROR"]},
        ]
    return step


def _training(name: str, processing: list[dict[str, Any]], depends_on: list[str], seq: int) -> dict[str, Any]:
    channels = [
        {
            "ChannelName": channel,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": _output_uri(producer, channel),
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        }
        for channel, producer in zip(("train", "validation", "test"), processing)
    ]
    step: dict[str, Any] = {
        "Name": name,
        "Type": "Training",
        "Arguments": {
            "AlgorithmSpecification": {"TrainingImage": TRAINING_IMAGE, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": _execution_path(name, "model")},
            "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
            "ResourceConfig": {"VolumeSizeInGB": 30, "InstanceCount": 1, "InstanceType": _get("Parameters.TrainingInstanceType")},
            "RoleArn": ROLE,
            "InputDataConfig": channels,
            "HyperParameters": {
                "objective": "reg:linear",
                "num_round": {"Std:Join": {"On": "", "Values": [_get("Parameters.NumRound")]}},
                "max_depth": "5",
                "eta": "0.2",
                "run": {"Std:Join": {"On": "-", "Values": [name, _get("Execution.PipelineExecutionId")]}},
            },
            "EnableNetworkIsolation": _get("Parameters.EnableNetworkIsolation"),
            "DebugHookConfig": {"S3OutputPath": _execution_path(name, "debug"), "CollectionConfigurations": []},
        },
    }
    if depends_on:
        step["DependsOn"] = depends_on
    if seq % 3 == 0:
        step["CacheConfig"] = {"Enabled": True, "ExpireAfter": "PT12H"}
    return step


def _condition(name: str, evaluator: dict[str, Any], data: list[dict[str, Any]], seq: int) -> dict[str, Any]:
    mse = {"Std:JsonGet": {"PropertyFile": _get(f"Steps.{evaluator['Name']}.PropertyFiles.{PROPERTY_FILE}"), "Path": "regression_metrics.mse.value"}}
    conditions: list[dict[str, Any]] = [
        {"Type": "LessThanOrEqualTo", "LeftValue": mse, "RightValue": _get("Parameters.MseThreshold")},
        {"Type": "In", "QueryValue": _get("Parameters.ProcessingInstanceType"), "Values": ["ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge"]},
    ]
    if seq % 2:
        conditions.append({"Type": "Not", "Condition": {"Type": "Equals", "LeftValue": _get("Parameters.EnableNetworkIsolation"), "RightValue": True}})
    else:
        conditions.append(
            {
                "Type": "Or",
                "Conditions": [
                    {"Type": "GreaterThan", "LeftValue": _get("Parameters.ProcessingInstanceCount"), "RightValue": 0},
                    {"Type": "LessThan", "LeftValue": mse, "RightValue": 0.0},
                ],
            }
        )
    fail_message = {
        "Std:Join": {"On": " ", "Values": ["Execution", _get("Execution.PipelineExecutionId"), "stopped: MSE", mse, "is above", _get("Parameters.MseThreshold")]}
    }
    return {
        "Name": name,
        "Type": "Condition",
        "Arguments": {
            "Conditions": conditions,
            "IfSteps": [_training(f"{name}-Retrain", data, [], seq)],
            "ElseSteps": [{"Name": f"{name}-Fail", "Type": "Fail", "Arguments": {"ErrorMessage": fail_message}}],
        },
    }


def generate_definition(n_steps: int, *, width: int | None = None, seed: int = 1234) -> tuple[dict[str, Any], DryRunInputs]:
    """A layered definition of exactly ``n_steps`` steps (branch steps included) and the dry-run
    inputs that make every Condition take its IfSteps (so no Fail step runs).

    Layer 0 is Processing only; later layers mix Processing (even slots) and Training (odd slots),
    and every third layer starts with a Condition on an upstream property file. Each step references
    1-3 steps of the previous layer (data references; a Condition upstream is a DependsOn).
    """
    if n_steps < 1:
        raise ValueError("n_steps must be >= 1")
    width = width or min(LAYER_WIDTH, max(3, n_steps // 3))
    rng = random.Random(seed + n_steps)
    steps: list[dict[str, Any]] = []
    processing_names: list[str] = []
    count = 0
    previous: list[dict[str, Any]] = []  # producers of the previous layer (Processing/Training, branch Training too)
    previous_processing: list[dict[str, Any]] = []
    previous_conditions: list[str] = []
    layer = 0
    while count < n_steps:
        current: list[dict[str, Any]] = []
        current_processing: list[dict[str, Any]] = []
        current_conditions: list[str] = []
        for slot in range(width):
            remaining = n_steps - count
            if remaining <= 0:
                break
            seq = count
            depends = [rng.choice(previous_conditions)] if previous_conditions and rng.random() < 0.5 else []
            wants_condition = layer >= 2 and layer % CONDITION_EVERY == 2 and slot == 0
            if wants_condition and remaining >= 3 and previous_processing:
                data = rng.sample(previous_processing, k=min(len(previous_processing), rng.randint(1, 2)))
                step = _condition(f"L{layer:04d}-S{slot:02d}-Check", previous_processing[0], data, seq)
                steps.append(step)
                current_conditions.append(step["Name"])
                current.append(step["Arguments"]["IfSteps"][0])
                count += 3
                continue
            if layer == 0 or slot % 2 == 0 or not previous_processing:
                upstream = rng.sample(previous, k=min(len(previous), rng.randint(1, 3))) if previous else []
                step = _processing(f"L{layer:04d}-S{slot:02d}-Prep", upstream, depends, seq)
                current_processing.append(step)
                processing_names.append(step["Name"])
            else:
                upstream = rng.sample(previous_processing, k=min(len(previous_processing), rng.randint(1, 3)))
                step = _training(f"L{layer:04d}-S{slot:02d}-Train", upstream, depends, seq)
            steps.append(step)
            current.append(step)
            count += 1
        previous, previous_processing, previous_conditions = current, current_processing, current_conditions
        layer += 1
    definition = {
        "Version": "2020-12-01",
        "Metadata": {},
        "Parameters": [
            {"Name": "InputData", "Type": "String", "DefaultValue": f"s3://{BUCKET}/{PIPELINE}/input/data.csv"},
            {"Name": "ProcessingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge", "EnumValues": ["ml.m5.xlarge", "ml.m5.2xlarge", "ml.c5.xlarge"]},
            {"Name": "TrainingInstanceType", "Type": "String", "DefaultValue": "ml.m5.xlarge"},
            {"Name": "ProcessingInstanceCount", "Type": "Integer", "DefaultValue": 1},
            {"Name": "NumRound", "Type": "Integer", "DefaultValue": 50},
            {"Name": "MseThreshold", "Type": "Float", "DefaultValue": 6.0},
            {"Name": "EnableNetworkIsolation", "Type": "Boolean", "DefaultValue": False},
        ],
        "PipelineExperimentConfig": {"ExperimentName": _get("Execution.PipelineName"), "TrialName": _get("Execution.PipelineExecutionId")},
        "Steps": steps,
    }
    inputs = DryRunInputs(
        parameters={"ProcessingInstanceCount": "2", "MseThreshold": 6.0},
        property_files={name: {PROPERTY_FILE: EVALUATION} for name in processing_names},
        execution={"PipelineName": PIPELINE, "StartDateTime": "2026-01-01T00:00:00+00:00"},
    )
    return definition, inputs


# -- measurement -----------------------------------------------------------------------------------


def _median_ms(fn: Callable[[], Any], repeats: int, *, no_gc: bool = False) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` in ms. ``no_gc`` switches CPython's cyclic GC off while timing
    (as ``timeit`` does), which removes the GC's heap-size-dependent share from the figures."""
    samples = []
    for _ in range(repeats):
        gc.collect()
        if no_gc:
            gc.disable()
        try:
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000.0)
        finally:
            gc.enable()
    return statistics.median(samples), samples


def _repeats_for(n: int, override: int | None) -> int:
    if override:
        return override
    if n <= 100:
        return 15
    if n <= 1000:
        return 7
    return 3


def check_dry_run(report: dict[str, Any], n_steps: int) -> dict[str, int]:
    """The walk must have run every step except the Fail steps of the not-taken ElseSteps."""
    statuses = report["steps"]
    fail_steps = [n for n, s in statuses.items() if s["type"] == "Fail"]
    executed = [n for n, s in statuses.items() if s["status"] == EXECUTED]
    not_run = sorted(set(statuses) - set(executed))
    if report["failed"] or len(statuses) != n_steps or sorted(fail_steps) != not_run:
        raise SystemExit(
            f"synthetic definition of {n_steps} steps did not dry-run as intended: failed={report['failed']}, "
            f"{len(executed)} executed, not executed: {not_run[:5]}..."
        )
    return {"executed": len(executed), "fail_steps_skipped": len(fail_steps)}


def count_calls(text: str, inputs: DryRunInputs) -> int:
    """Python function calls (including C builtins) made by one load + graph + dry-run, counted with
    cProfile. Unlike wall time this is deterministic, so it shows the growth on a noisy machine."""
    profile = cProfile.Profile()
    profile.enable()
    try:
        definition = load_definition(text)
        definition.graph.topological_order()
        dry_run(definition, inputs)
    finally:
        profile.disable()
    return sum(entry[1] for entry in pstats.Stats(profile).stats.values())  # type: ignore[attr-defined]


def bench_one(n: int, repeats: int | None, *, no_gc: bool = False, calls: bool = True) -> dict[str, Any]:
    document, inputs = generate_definition(n)
    text = json.dumps(document)
    reps = _repeats_for(n, repeats)

    definition = load_definition(text)  # warm-up (imports, lru caches of unrelated sizes) and sanity
    report = dry_run(definition, inputs)
    sanity = check_dry_run(report, n)
    steps, edges = len(definition.steps), len(definition.graph.edges())

    json_ms, _ = _median_ms(lambda: json.loads(text), reps, no_gc=no_gc)
    load_ms, _ = _median_ms(lambda: load_definition(text), reps, no_gc=no_gc)
    graph_ms, _ = _median_ms(definition.graph.topological_order, reps, no_gc=no_gc)
    dry_ms, _ = _median_ms(lambda: dry_run(definition, inputs), reps, no_gc=no_gc)

    gc.collect()
    tracemalloc.start()
    try:
        dry_run(load_definition(text), inputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    total_ms = load_ms + graph_ms + dry_ms
    n_calls = count_calls(text, inputs) if calls else None
    return {
        "n": n,
        "steps": steps,
        "edges": edges,
        "definition_bytes": len(text.encode()),
        "repeats": reps,
        "json_loads_ms": json_ms,
        "load_validate_ms": load_ms,
        "graph_ms": graph_ms,
        "dry_run_ms": dry_ms,
        "total_ms": total_ms,
        "total_us_per_step": total_ms * 1000.0 / steps,
        "load_vs_json_loads": load_ms / json_ms if json_ms else None,
        "total_vs_json_loads": total_ms / json_ms if json_ms else None,
        "peak_mib": peak / (1024 * 1024),
        "peak_kib_per_step": peak / 1024 / steps,
        "function_calls": n_calls,
        "function_calls_per_step": n_calls / steps if n_calls is not None else None,
        **sanity,
    }


def linearity(results: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Per-step cost at the largest N against the smallest N >= 100 (below that, fixed costs dominate)."""
    base = [r for r in results if r["n"] >= 100]
    if len(base) < 2:
        return {"checked": False, "reason": "needs two sizes >= 100"}
    small, large = min(base, key=lambda r: r["n"]), max(base, key=lambda r: r["n"])
    ratio = large["total_us_per_step"] / small["total_us_per_step"]
    parts = {
        key: (large[key] / large["steps"]) / (small[key] / small["steps"]) if small[key] else None
        for key in ("load_validate_ms", "graph_ms", "dry_run_ms", "json_loads_ms")
    }
    calls_ratio = None
    if small["function_calls_per_step"] and large["function_calls_per_step"]:
        calls_ratio = large["function_calls_per_step"] / small["function_calls_per_step"]
    return {
        "checked": True,
        "small_n": small["n"],
        "function_calls_per_step_ratio": calls_ratio,
        "peak_memory_per_step_ratio": large["peak_kib_per_step"] / small["peak_kib_per_step"],
        "large_n": large["n"],
        "per_step_ratio": ratio,
        "per_step_ratio_by_phase": parts,
        "threshold": threshold,
        "linear": ratio <= threshold,
    }


def print_table(results: list[dict[str, Any]], verdict: dict[str, Any]) -> None:
    header = ("N", "steps", "edges", "load+validate ms", "graph ms", "dry-run ms", "total ms", "total µs/step", "peak MiB")
    rows = [
        (
            f"{r['n']}",
            f"{r['steps']}",
            f"{r['edges']}",
            f"{r['load_validate_ms']:.2f}",
            f"{r['graph_ms']:.3f}",
            f"{r['dry_run_ms']:.2f}",
            f"{r['total_ms']:.2f}",
            f"{r['total_us_per_step']:.1f}",
            f"{r['peak_mib']:.2f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths)))
    print()
    print("baseline (json.loads of the same text, same run):")
    for r in results:
        print(
            f"  N={r['n']:>5}: json.loads {r['json_loads_ms']:.2f} ms ({r['definition_bytes'] / 1024:.0f} KiB); "
            f"load+validate = {r['load_vs_json_loads']:.1f}x json.loads, total = {r['total_vs_json_loads']:.1f}x json.loads"
        )
    print()
    if not verdict["checked"]:
        print(f"linearity: not checked ({verdict['reason']})")
        return
    parts = ", ".join(f"{k.removesuffix('_ms')} {v:.2f}" for k, v in verdict["per_step_ratio_by_phase"].items() if v is not None)
    print(
        f"linearity: per-step cost at N={verdict['large_n']} / N={verdict['small_n']} = {verdict['per_step_ratio']:.2f} "
        f"(by phase: {parts})"
    )
    print(f"peak memory per step: N={verdict['large_n']} / N={verdict['small_n']} = {verdict['peak_memory_per_step_ratio']:.2f}")
    if verdict["function_calls_per_step_ratio"] is not None:
        counts = ", ".join(f"N={r['n']}: {r['function_calls_per_step']:.0f}" for r in results)
        print(f"function calls per step (deterministic, cProfile): {counts}; ratio {verdict['function_calls_per_step_ratio']:.2f}")
    print(f"linear: {'yes' if verdict['linear'] else 'no'} (threshold: per-step time ratio <= {verdict['threshold']:g})")


def bench_for_each(items: int, literal: bool, repeats: int | None, *, no_gc: bool = False) -> dict[str, Any]:
    """Load + validate + dry-run of the ForEach pipeline with ``items`` items."""
    document, inputs = generate_for_each_definition(items, literal=literal)
    text = json.dumps(document)
    definition = load_definition(text)
    executed = executed_steps(dry_run(definition, inputs), items, literal=literal)
    reps = _repeats_for(executed, repeats)
    json_ms, _ = _median_ms(lambda: json.loads(text), reps, no_gc=no_gc)
    load_ms, _ = _median_ms(lambda: load_definition(text), reps, no_gc=no_gc)
    dry_ms, _ = _median_ms(lambda: dry_run(definition, inputs), reps, no_gc=no_gc)
    gc.collect()
    tracemalloc.start()
    try:
        dry_run(load_definition(text), inputs)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    total_ms = load_ms + dry_ms
    return {
        "items": items,
        "literal": literal,
        "executed_steps": executed,
        "definition_bytes": len(text.encode()),
        "json_loads_ms": json_ms,
        "load_validate_ms": load_ms,
        "dry_run_ms": dry_ms,
        "total_ms": total_ms,
        "total_us_per_executed_step": total_ms * 1000.0 / executed,
        "peak_mib": peak / (1024 * 1024),
        "peak_kib_per_executed_step": peak / 1024 / executed,
    }


def for_each_linearity(results: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Per executed step, the largest fan-out against the one of 100 items (10: fixed costs dominate)."""
    base = next((r for r in results if r["items"] == 100), results[0])
    large = max(results, key=lambda r: r["items"])
    ratio = large["total_us_per_executed_step"] / base["total_us_per_executed_step"]
    return {"small_items": base["items"], "large_items": large["items"], "per_step_ratio": ratio,
            "memory_per_step_ratio": large["peak_kib_per_executed_step"] / base["peak_kib_per_executed_step"],
            "threshold": threshold, "linear": ratio <= threshold}


def print_for_each(results: list[dict[str, Any]], verdict: dict[str, Any], classic: list[dict[str, Any]]) -> None:
    print("\nForEach fan-out (3-step body, MaxBy Selector, run conditions, Cleanup):\n")
    header = ("items", "given as", "executed steps", "load+validate ms", "dry-run ms", "total ms", "µs/executed step", "peak MiB")
    rows = [
        (f"{r['items']}", "literal list" if r["literal"] else "JSON list output", f"{r['executed_steps']}", f"{r['load_validate_ms']:.2f}",
         f"{r['dry_run_ms']:.2f}", f"{r['total_ms']:.2f}", f"{r['total_us_per_executed_step']:.1f}", f"{r['peak_mib']:.2f}")
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    print(" | ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.rjust(w) for c, w in zip(row, widths)))
    print(
        f"\nlinearity: per executed step, {verdict['large_items']} items / {verdict['small_items']} items = {verdict['per_step_ratio']:.2f}; "
        f"peak memory per executed step {verdict['memory_per_step_ratio']:.2f}; linear: {'yes' if verdict['linear'] else 'no'} "
        f"(threshold {verdict['threshold']:g})"
    )
    if classic:
        reference = max(classic, key=lambda r: r["n"])
        base = next(r for r in results if r["items"] == 100)
        print(
            f"against the classic pipeline of this run (N={reference['n']}, {reference['total_us_per_step']:.1f} µs/step): "
            f"a ForEach child costs {base['total_us_per_executed_step'] / reference['total_us_per_step']:.2f}x a classic step"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES), help="step counts N (default: 10 100 1000)")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions per measurement (default: 15 / 7 / 3 by size)")
    parser.add_argument("--threshold", type=float, default=2.0, help="max per-step cost ratio still called linear (default 2)")
    parser.add_argument("--no-gc", action="store_true", help="switch the cyclic GC off while timing (isolates the core's own growth)")
    parser.add_argument("--no-call-count", action="store_true", help="skip the (deterministic) cProfile count of function calls per step")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.add_argument("--no-for-each", action="store_true", help="skip the ForEach fan-out table")
    args = parser.parse_args(argv)

    results = [bench_one(n, args.repeats, no_gc=args.no_gc, calls=not args.no_call_count) for n in sorted(set(args.sizes))]
    verdict = linearity(results, args.threshold)
    fan_out = [] if args.no_for_each else [bench_for_each(k, literal, args.repeats, no_gc=args.no_gc) for k, literal in FOR_EACH_SIZES]
    fan_verdict = for_each_linearity(fan_out, args.threshold) if fan_out else None
    if args.json:
        env = {"python": platform.python_version(), "platform": platform.platform(), "machine": platform.machine(), "gc_during_timing": not args.no_gc}
        print(json.dumps({"environment": env, "results": results, "linearity": verdict, "for_each": fan_out, "for_each_linearity": fan_verdict}, indent=2))
    else:
        gc_note = "cyclic GC off while timing" if args.no_gc else "cyclic GC on"
        print(f"definition core benchmark (Python {platform.python_version()}, {platform.machine()}; {gc_note}); medians of repeated runs\n")
        print_table(results, verdict)
        if fan_out and fan_verdict:
            print_for_each(fan_out, fan_verdict, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
