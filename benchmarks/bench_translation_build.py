"""DAG build time of the translation mode against the floor (issue: <= 1.3x the floor at N = 1000).

The floor is a DAG with the same N tasks as ``EmptyOperator`` and the same edges, built in the same
process from an already-loaded graph. ``SageMakerPipelineDag`` is measured from the definition *file*
(what a DAG file does) in two situations:

* ``fresh process`` -- read, validate, graph, render: the first parse of a definition, and also every
                       re-parse of an unchanged file, because Airflow 3's DAG processor and workers
                       parse in fresh processes and there is no disk cache (it held pickles, which
                       could run code; see ``translation/load.py``);
* ``same process``  -- the in-memory cache (several DAGs from one definition, a long-lived parser).

A second table does the same for a definition made of today's constructs: U units, each a
Processing step, a ForEach with a three-step body (Processing -> Training -> Lambda) and a Selector,
a Lambda reading its results, a ``Failed`` handler and a ``Cleanup`` on ``Any`` (8 steps, 9 tasks:
the ForEach's ``items``/``results`` tasks and its mapped body). Its floor is the same tasks as
``EmptyOperator``s in the same task groups — the body in a mapped task group expanded over an
upstream task's output, as translation renders it — with the same edges and trigger rules.

Each figure is the best of ``--repeats`` runs, interleaved with the floor so machine load hits both.
It prints figures; it asserts nothing. Run: ``.venv/bin/python benchmarks/bench_translation_build.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="smpipe-bench-home-"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pendulum  # noqa: E402

from airflow.providers.standard.operators.empty import EmptyOperator  # noqa: E402
from airflow.sdk import DAG, TaskGroup, task_group  # noqa: E402

import bench_definition  # noqa: E402
import foreach_definition  # noqa: E402
from airflow_provider_smpipe.definition.loader import load_definition  # noqa: E402
from airflow_provider_smpipe.translation import SageMakerPipelineDag  # noqa: E402
from airflow_provider_smpipe.translation import load as translation_load  # noqa: E402

START = pendulum.datetime(2026, 1, 1, tz="UTC")
GOAL = 1.3


def build_floor(dag_id: str, order: list[str], edges: list[tuple[str, str]]) -> DAG:
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        tasks = {name: EmptyOperator(task_id=name) for name in order}
        for up, down in edges:
            tasks[up] >> tasks[down]
    return dag


def build_ours(dag_id: str, path: str, mode: str) -> DAG:
    if mode != "same process":
        translation_load._MEMORY.clear()
    return SageMakerPipelineDag(definition=path, dag_id=dag_id, schedule=None, start_date=START)


def best_of(floor: Any, dag_id: str, path: str, repeats: int, tasks: int) -> dict[str, float]:
    """Best build time of the floor and of ours in each mode, runs interleaved."""
    runs: dict[str, list[float]] = {}
    cases = [("floor", floor)]
    cases += [(mode, lambda mode=mode: build_ours(dag_id, path, mode)) for mode in ("fresh process", "same process")]
    for _ in range(repeats):
        for label, build in cases:
            gc.collect()
            began = time.perf_counter()
            dag = build()
            runs.setdefault(label, []).append(time.perf_counter() - began)
            assert len(dag.task_dict) == tasks, (label, len(dag.task_dict), tasks)
    return {label: min(times) for label, times in runs.items()}


def measure(n: int, repeats: int) -> dict[str, Any]:
    document, _ = bench_definition.generate_definition(n)
    folder = Path(tempfile.mkdtemp(prefix="smpipe-bench-def-"))
    path = folder / "definition.json"
    path.write_text(json.dumps(document))
    loaded = load_definition(document)
    order, edges = loaded.graph.topological_order(), loaded.graph.edges()
    best = best_of(lambda: build_floor(f"floor_{n}", order, edges), f"ours_{n}", str(path), repeats, n)
    shutil.rmtree(folder, ignore_errors=True)
    return {"n": n, "edges": len(edges), "seconds": best, "ratio": {k: v / best["floor"] for k, v in best.items()}}


# -- today's constructs ---------------------------------------------------------------------------

UNIT_NAMES = ("PrepareCandidate", "TrainCandidate", "RecordCandidate", "Prepare", "Sweep", "PublishBest", "NotifySweepFailed", "CleanupPrepared")


def for_each_definition(units: int) -> dict[str, Any]:
    """``units`` copies of foreach_definition's literal pipeline (8 steps each), names suffixed."""
    import re

    unit, _ = foreach_definition.generate_for_each_definition(5)
    text = json.dumps(unit["Steps"])
    pattern = re.compile(r"\b(" + "|".join(sorted(UNIT_NAMES, key=len, reverse=True)) + r")\b")
    steps = []
    for u in range(units):
        steps.extend(json.loads(pattern.sub(lambda m, u=u: f"{m.group(1)}U{u}", text)))
    return {**unit, "Steps": steps}


def build_for_each_floor(dag_id: str, units: int) -> DAG:
    """What translation renders for ``for_each_definition(units)``, made of EmptyOperators."""
    with DAG(dag_id, schedule=None, start_date=START) as dag:
        leaves = []
        for u in range(units):
            prepare = EmptyOperator(task_id=f"PrepareU{u}")
            with TaskGroup(group_id=f"SweepU{u}"):
                items = EmptyOperator(task_id="items")
                body: list[Any] = []

                def iterations(item: Any, body: list[Any] = body) -> None:
                    tasks = [EmptyOperator(task_id=f"{name}U{u}", max_active_tis_per_dagrun=10) for name in UNIT_NAMES[:3]]
                    tasks[0] >> tasks[1] >> tasks[2]
                    body.extend(tasks)

                task_group(group_id="iterations")(iterations).expand(item=items.output)
                results = EmptyOperator(task_id="results", trigger_rule="all_done")
                [items, *body] >> results
            prepare >> items
            publish = EmptyOperator(task_id=f"PublishBestU{u}")
            notify = EmptyOperator(task_id=f"NotifySweepFailedU{u}", trigger_rule="all_done")
            clean = EmptyOperator(task_id=f"CleanupPreparedU{u}", trigger_rule="all_done")
            results >> [publish, notify, clean]
            prepare >> clean
            leaves += [publish, notify, clean]
        status = EmptyOperator(task_id="execution_status", trigger_rule="all_done")
        leaves >> status
    return dag


def measure_for_each(units: int, repeats: int) -> dict[str, Any]:
    document = for_each_definition(units)
    folder = Path(tempfile.mkdtemp(prefix="smpipe-bench-def-"))
    path = folder / "definition.json"
    path.write_text(json.dumps(document))
    tasks = len(build_for_each_floor("probe", units).task_dict)
    best = best_of(lambda: build_for_each_floor(f"floor_fe_{units}", units), f"ours_fe_{units}", str(path), repeats, tasks)
    shutil.rmtree(folder, ignore_errors=True)
    return {"units": units, "steps": len(document["Steps"]) + 3 * units, "tasks": tasks, "seconds": best, "ratio": {k: v / best["floor"] for k, v in best.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--units", type=int, nargs="+", default=[1, 10, 100], help="ForEach units for the second table")
    parser.add_argument("--json", action="store_true", help="print machine-readable results")
    args = parser.parse_args()
    results = [measure(n, args.repeats) for n in args.sizes]
    for_each = [measure_for_each(u, args.repeats) for u in args.units]
    if args.json:
        print(json.dumps({"classic": results, "for_each": for_each}, indent=2))
        return
    modes = ("floor", "fresh process", "same process")
    print(f"translation DAG build vs the EmptyOperator floor (Python {sys.version.split()[0]}; best of {args.repeats})\n")
    print(f"{'N':>5} | {'edges':>5} | " + " | ".join(f"{m:>21}" for m in modes))
    print("-" * 6 + "+" + "-" * 7 + ("+" + "-" * 23) * len(modes))
    for r in results:
        cells = [f"{r['seconds'][m] * 1000:9.1f} ms ({r['ratio'][m]:4.2f}x)" for m in modes]
        print(f"{r['n']:>5} | {r['edges']:>5} | " + " | ".join(f"{c:>21}" for c in cells))
    largest = results[-1]
    print()
    for mode in ("fresh process", "same process"):
        ratio = largest["ratio"][mode]
        print(f"N={largest['n']} {mode}: {ratio:.2f}x the floor (goal <= {GOAL}x): {'met' if ratio <= GOAL else 'not met'}")
    if len(results) >= 2:
        small = next((r for r in results if r["n"] >= 100), results[0])
        per_step = {m: (largest["seconds"][m] / largest["n"]) / (small["seconds"][m] / small["n"]) for m in modes}
        print(f"per-step cost N={largest['n']} / N={small['n']}: " + ", ".join(f"{m} {v:.2f}" for m, v in per_step.items()))
    print("\nwith ForEach, run conditions and Cleanup (units of 8 steps / 9 tasks) vs the same EmptyOperator structure\n")
    print(f"{'units':>5} | {'steps':>5} | {'tasks':>5} | " + " | ".join(f"{m:>21}" for m in modes))
    print("-" * 6 + "+" + "-" * 7 + "+" + "-" * 7 + ("+" + "-" * 23) * len(modes))
    for r in for_each:
        cells = [f"{r['seconds'][m] * 1000:9.1f} ms ({r['ratio'][m]:4.2f}x)" for m in modes]
        print(f"{r['units']:>5} | {r['steps']:>5} | {r['tasks']:>5} | " + " | ".join(f"{c:>21}" for c in cells))
    biggest = for_each[-1]
    for mode in ("fresh process", "same process"):
        print(f"{biggest['steps']} steps with ForEach, {mode}: {biggest['ratio'][mode]:.2f}x the floor (goal <= {GOAL}x)")


if __name__ == "__main__":
    main()
