"""``smpipe validate / graph / dry-run`` on SDK v3 definitions, through the real console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
V3 = TESTS / "fixtures" / "definitions_v3"
VALID = ("foreach_literal_regions", "run_conditions_training", "emr_serverless_features", "job_step_agent_rft", "classic_churn_v3")
SMPIPE = REPO / ".venv" / "bin" / "smpipe"
if not SMPIPE.is_file():
    SMPIPE = Path(sys.executable).parent / "smpipe"


def smpipe(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SMPIPE), *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=60)


def expected(name: str) -> dict[str, Any]:
    return json.loads((V3 / "expected" / f"{name}.graph.json").read_text())


@pytest.mark.parametrize("name", VALID)
def test_validate_accepts_every_sdk_v3_definition(name: str) -> None:
    result = smpipe("validate", V3 / f"{name}.json", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["valid"] is True and summary["steps"] == len(expected(name)["steps"])


def test_validate_refuses_the_invalid_fixture_naming_the_step() -> None:
    result = smpipe("validate", V3 / "invalid_condition_in_foreach_body.json")
    assert result.returncode == 1
    assert "step 'CheckItemScore' at $.Steps[0].Arguments.ForEachBody[1].Type" in result.stderr
    assert "ForEach step 'ScoreItemsLoop'" in result.stderr


@pytest.mark.parametrize("name", VALID)
def test_graph_json_keeps_the_old_keys_and_adds_triggers_and_for_each(name: str) -> None:
    result = smpipe("graph", V3 / f"{name}.json", "--format", "json")
    assert result.returncode == 0, result.stderr
    graph = json.loads(result.stdout)
    want = expected(name)
    assert graph["steps"] == sorted(want["steps"])
    assert graph["edges"] == sorted(want["edges"])
    assert graph["types"] == want["step_types"]
    key = lambda t: (t["from"], t["to"], t["trigger"], t["form"])  # noqa: E731
    assert sorted(map(key, graph["depends_on_triggers"])) == sorted(map(key, want["depends_on_triggers"]))
    assert graph["for_each"] == want["for_each"]


def test_mermaid_draws_the_body_as_a_subgraph_and_labels_run_conditions() -> None:
    loop = smpipe("graph", V3 / "foreach_literal_regions.json", "--format", "mermaid").stdout
    assert 'subgraph s1_body["for each of 3 items of RegionalReports, at most 2 at once"]' in loop
    body_line = next(line for line in loop.splitlines() if "BuildRegionReport" in line)
    assert body_line.startswith("        ")  # declared inside the subgraph
    assert "s1 -->|for each| s2" in loop
    conditions = smpipe("graph", V3 / "run_conditions_training.json", "--format", "mermaid").stdout
    assert conditions.count(".-> ") == 6 and "-. on Failed .->" in conditions and "-. on Stopped .->" in conditions


def test_dot_draws_a_cluster_and_dotted_trigger_edges() -> None:
    dot = smpipe("graph", V3 / "foreach_literal_regions.json", "--format", "dot").stdout
    assert 'subgraph "cluster_RegionalReports" {' in dot and '"RegionalReports" -> "BuildRegionReport" [label="for each", style=bold];' in dot
    conditions = smpipe("graph", V3 / "run_conditions_training.json", "--format", "dot").stdout
    assert '"TrainEventsModel" -> "NotifyTrainingFailed" [label="on Failed", style=dotted];' in conditions
    assert '"PreprocessEvents" -> "ReportRunOutcome";' in conditions  # a plain name stays unlabelled


def test_dry_run_step_status_and_summary(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"TrainEventsModel": {"status": "Failed", "reason": "AlgorithmError: loss is NaN"}}))
    result = smpipe("dry-run", V3 / "run_conditions_training.json", "--step-status", status)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["execution_status"] == "CompletedWithFailures" and report["failed"] is False
    assert report["steps"]["TrainEventsModel"]["failure_reason"] == "AlgorithmError: loss is NaN"
    summary = smpipe("dry-run", V3 / "run_conditions_training.json", "--step-status", status, "--summary").stdout
    assert "TrainEventsModel         Training    Failed       AlgorithmError: loss is NaN" in summary
    assert "execution would end CompletedWithFailures" in summary
    assert "deletes PreprocessEvents: 1, TrainEventsModel: 1" in summary


def test_dry_run_summary_indents_children() -> None:
    summary = smpipe("dry-run", V3 / "foreach_literal_regions.json", "--summary").stdout
    assert "RegionalReports        ForEach     Executed  3 items, 3/3 children succeeded" in summary
    assert "\n  BuildRegionReport-0  " in summary


def test_bad_step_status_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    status = tmp_path / "status.json"
    status.write_text(json.dumps({"TrainEventsModl": "Failed", "PreprocessEvents": "Crashed"}))
    result = smpipe("dry-run", V3 / "run_conditions_training.json", "--step-status", status)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "unknown step 'TrainEventsModl' (did you mean 'TrainEventsModel'?)" in result.stderr
    assert "status of 'PreprocessEvents' is 'Crashed'" in result.stderr
