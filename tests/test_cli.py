"""The ``smpipe`` command line: the real console script (subprocess) and ``cli.main`` in-process."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_smpipe import cli

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
DEFINITIONS = TESTS / "fixtures" / "definitions"
ORACLES = TESTS / "fixtures" / "oracles"
FIXTURE_NAMES = ("abalone", "integrations", "function_step", "misc_steps")
# the project's venv console script; falls back to the one beside the running interpreter
SMPIPE = REPO / ".venv" / "bin" / "smpipe"
if not SMPIPE.is_file():
    SMPIPE = Path(sys.executable).parent / "smpipe"


def _fixture(name: str) -> Path:
    return DEFINITIONS / f"{name}.json"


def _expected_graph(name: str) -> dict[str, Any]:
    return json.loads((DEFINITIONS / "expected" / f"{name}.graph.json").read_text())


def _smpipe(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SMPIPE), *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=60)


def _main(*args: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        code = cli.main([str(a) for a in args], stdout=out, stderr=err)
    except SystemExit as exc:  # argparse usage errors
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def _types(name: str) -> Counter[str]:
    types: Counter[str] = Counter()

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            types[step["Type"]] += 1
            if step["Type"] == "Condition":
                walk(step["Arguments"].get("IfSteps", []))
                walk(step["Arguments"].get("ElseSteps", []))

    doc = json.loads(_fixture(name).read_text())
    walk(doc["Steps"])
    return types


def test_console_script_is_installed() -> None:
    assert SMPIPE.is_file(), f"{SMPIPE} missing: run scripts/bootstrap.sh"


# -- validate --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_validate_fixture_with_the_console_script(name: str) -> None:
    result = _smpipe("validate", _fixture(name).relative_to(REPO))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    expected = _expected_graph(name)
    doc = json.loads(_fixture(name).read_text())
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(_types(name).items()))
    assert lines[0] == (
        f"OK {_fixture(name).relative_to(REPO)}: {len(expected['steps'])} steps ({kinds}), "
        f"{len(doc['Parameters'])} parameters, {len(expected['edges'])} edges"
    )


def test_validate_json_summary() -> None:
    code, out, err = _main("validate", _fixture("integrations"), "--json")
    assert code == 0 and err == ""
    summary = json.loads(out)
    assert summary["valid"] is True
    assert summary["steps"] == 8 and summary["edges"] == len(_expected_graph("integrations")["edges"])
    assert summary["step_types"] == dict(sorted(_types("integrations").items()))
    assert summary["parameters"] == 4
    assert re.fullmatch(r"[0-9a-f]{64}", summary["sha256"])


def _broken_definition(tmp_path: Path) -> Path:
    doc = json.loads(_fixture("abalone").read_text())
    doc["Version"] = "2019-01-01"
    doc["Steps"][1]["Type"] = "Trainer"
    doc["Steps"][3]["Arguments"]["Conditions"][0]["RightValue"] = {"Get": "Parameters.MseTreshold"}
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    return path


BROKEN_PROBLEMS = [
    ("$.Version", "unsupported Version '2019-01-01'"),
    ("$.Steps[1].Type", "unknown step type 'Trainer'"),
    ("$.Steps[3].Arguments.Conditions[0].RightValue", "references unknown parameter 'MseTreshold' (did you mean 'MseThreshold'?)"),
]


def test_validate_broken_file_with_the_console_script(tmp_path: Path) -> None:
    path = _broken_definition(tmp_path)
    result = _smpipe("validate", path)
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"{path}: invalid pipeline definition (")
    problem_lines = [line for line in lines if line.startswith("  - ")]
    assert len(problem_lines) == int(re.search(r"\((\d+) problems?\)", lines[0]).group(1))
    for location, text in BROKEN_PROBLEMS:
        assert any(f"at {location}: " in line and text in line for line in problem_lines), (location, result.stderr)
    assert any("step 'TrainAbaloneModel' at $.Steps[1].Type" in line for line in problem_lines)


def test_validate_broken_file_json(tmp_path: Path) -> None:
    code, out, err = _main("validate", _broken_definition(tmp_path), "--json")
    assert code == 1 and err == ""
    result = json.loads(out)
    assert result["valid"] is False
    by_location = {p["location"]: p for p in result["problems"]}
    for location, text in BROKEN_PROBLEMS:
        assert text in by_location[location]["message"]
    assert by_location["$.Steps[1].Type"]["step"] == "TrainAbaloneModel"
    assert set(by_location["$.Version"]) == {"step", "location", "problem", "expected", "message"}


def test_validate_invalid_json_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"Version": ')
    code, out, err = _main("validate", bad)
    assert code == 1 and out == ""
    assert "not valid JSON" in err and "at $:" in err and str(bad) in err
    code, _, err = _main("validate", tmp_path / "missing.json")
    assert code == 1
    assert "no such file" in err and "missing.json" in err


# -- graph -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_graph_json_equals_the_sdk_graph(name: str) -> None:
    code, out, err = _main("graph", _fixture(name), "--format", "json")
    assert code == 0 and err == ""
    document = json.loads(out)
    expected = _expected_graph(name)
    assert document["steps"] == sorted(expected["steps"])
    assert sorted(map(tuple, document["edges"])) == sorted(map(tuple, expected["edges"]))
    assert Counter(document["types"].values()) == _types(name)


def test_graph_json_with_the_console_script_is_the_default_format() -> None:
    result = _smpipe("graph", _fixture("abalone"))
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert sorted(map(tuple, document["edges"])) == sorted(map(tuple, _expected_graph("abalone")["edges"]))


MERMAID_NODE = re.compile(r'^    (s\d+)(\[\[|\{|\[)"(.+?)<br/><i>(\w+)</i>"(\]\]|\}|\])$')
MERMAID_EDGE = re.compile(r"^    (s\d+) -->(\|if (?:true|false)\|)? (s\d+)$")


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_graph_mermaid_has_every_step_and_edge(name: str) -> None:
    code, out, _ = _main("graph", _fixture(name), "--format", "mermaid")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "flowchart TD"
    ids: dict[str, str] = {}
    shapes: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    labels: dict[tuple[str, str], str] = {}
    for line in lines[1:]:
        node, edge = MERMAID_NODE.match(line), MERMAID_EDGE.match(line)
        assert node or edge, f"unexpected mermaid line {line!r}"
        if node:
            ids[node.group(1)] = node.group(3)
            shapes[node.group(3)] = node.group(4)
            assert (node.group(4) == "Condition") == (node.group(2) == "{")
            assert (node.group(4) == "Fail") == (node.group(2) == "[[")
        else:
            pair = (ids[edge.group(1)], ids[edge.group(3)])
            edges.add(pair)
            labels[pair] = edge.group(2) or ""
    expected = _expected_graph(name)
    assert sorted(ids.values()) == sorted(expected["steps"])
    assert edges == {tuple(e) for e in expected["edges"]}
    if name == "abalone":
        assert labels[("CheckMSEAbaloneEvaluation", "AbaloneMSEFail")] == "|if false|"
        assert labels[("CheckMSEAbaloneEvaluation", "AbaloneTransform")] == "|if true|"
        assert labels[("CreateAbaloneModel-CreateModel", "AbaloneTransform")] == ""


DOT_NODE = re.compile(r'^  "(.+?)" \[label="(.+?)\\n(\w+)", shape=(\w+)\];$')
DOT_EDGE = re.compile(r'^  "(.+?)" -> "(.+?)"( \[label="(true|false)"(, style=dashed)?\])?;$')


@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_graph_dot_has_every_step_and_edge(name: str) -> None:
    code, out, _ = _main("graph", _fixture(name), "--format", "dot")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "digraph pipeline {" and lines[-1] == "}"
    nodes, edges = {}, set()
    for line in lines[3:-1]:
        node, edge = DOT_NODE.match(line), DOT_EDGE.match(line)
        assert node or edge, f"unexpected dot line {line!r}"
        if node:
            assert node.group(1) == node.group(2)
            nodes[node.group(1)] = (node.group(3), node.group(4))
        else:
            edges.add((edge.group(1), edge.group(2)))
    expected = _expected_graph(name)
    assert sorted(nodes) == sorted(expected["steps"])
    assert edges == {tuple(e) for e in expected["edges"]}
    for step_type, shape in nodes.values():
        assert shape == {"Condition": "diamond", "Fail": "octagon"}.get(step_type, "box")


def test_graph_of_a_broken_definition(tmp_path: Path) -> None:
    code, out, err = _main("graph", _broken_definition(tmp_path), "--format", "dot")
    assert code == 1 and out == ""
    assert "invalid pipeline definition" in err


# -- dry-run -----------------------------------------------------------------------------------------


def _oracle(oracle_id: str) -> dict[str, Any]:
    return json.loads((ORACLES / f"{oracle_id}.oracle.json").read_text())


def _write_inputs(oracle_id: str, tmp_path: Path, form: str = "typed") -> list[str]:
    """The option list for a scenario, built exactly as tests/fixtures/oracles/README.md says."""
    inputs = _oracle(oracle_id)["inputs"]
    if form == "typed":
        parameters = inputs["parameter_overrides"]
    else:
        parameters = {p["Name"]: p["Value"] for p in inputs["start_pipeline_execution_parameters"]}
    property_files: dict[str, dict[str, Any]] = {}
    for entry in inputs["property_files"]:
        property_files.setdefault(entry["step"], {})[entry["PropertyFileName"]] = entry["contents"]
    files = {
        "--parameters": parameters,
        "--step-outputs": json.loads((ORACLES / inputs["step_outputs_file"]).read_text()),
        "--property-files": property_files,
        "--s3-objects": json.loads((ORACLES / inputs["s3_objects_file"]).read_text()),
        "--execution": {k: v for k, v in inputs["execution_variables"].items() if " " not in k},
    }
    options: list[str] = []
    for option, content in files.items():
        path = tmp_path / f"{option.strip('-')}.json"
        path.write_text(json.dumps(content))
        options += [option, str(path)]
    return options


def _check_report(report: dict[str, Any], expected: dict[str, Any]) -> None:
    executed = {name for name, step in report["steps"].items() if step["status"] == "Executed"}
    assert executed == set(expected["executed_steps"])
    for name in expected["skipped_steps"]:
        assert report["steps"][name]["status"] == "NotExecuted"
    for name, step in expected["steps"].items():
        ours = report["steps"][name]
        if "request" in step:
            assert ours["arguments"] == step["request"], name
        if step["type"] == "Condition":
            assert ours["outcome"] is step["outcome"]
            assert ours["arguments"]["Conditions"] == step["resolved_conditions"]
        if step["type"] == "Fail":
            assert ours["error_message"] == step["error_message"]
    assert report["failed"] is (expected["execution_status"] == "Failed")
    assert report["failure_reason"] == expected["failure_reason"]


def test_dry_run_oracle_with_the_console_script(tmp_path: Path) -> None:
    doc = _oracle("abalone.mse_above_threshold")
    result = _smpipe("dry-run", (ORACLES / doc["definition"]).resolve(), *_write_inputs("abalone.mse_above_threshold", tmp_path, "wire"))
    assert result.returncode == 0, result.stderr  # a pipeline ending in a Fail step is still a successful dry-run
    _check_report(json.loads(result.stdout), doc["expected"])


@pytest.mark.parametrize("form", ["typed", "wire"])
@pytest.mark.parametrize("oracle_id", ["abalone.default", "abalone.mse_above_threshold", "function_step.default", "function_step.small_n"])
def test_dry_run_oracles(oracle_id: str, form: str, tmp_path: Path) -> None:
    doc = _oracle(oracle_id)
    code, out, err = _main("dry-run", (ORACLES / doc["definition"]).resolve(), *_write_inputs(oracle_id, tmp_path, form))
    assert code == 0, err
    report = json.loads(out)
    _check_report(report, doc["expected"])
    assert report["parameters"] == doc["inputs"]["resolved_parameters"]


def test_dry_run_summary_table(tmp_path: Path) -> None:
    doc = _oracle("function_step.default")
    code, out, _ = _main("dry-run", (ORACLES / doc["definition"]).resolve(), *_write_inputs("function_step.default", tmp_path), "--summary")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["STEP", "TYPE", "STATUS", "DETAIL"]
    rows = {line.split()[0]: line for line in lines[1:] if line.strip() and not line.startswith("execution")}
    assert set(rows) == {"make_numbers", "summarize", "TotalBig", "TooBig"}
    assert "outcome true" in rows["TotalBig"]
    assert "fails: total too big: 20" in rows["TooBig"]
    assert lines[-1] == "execution FAILED: Step 'TooBig' failed with message: total too big: 20"


def test_dry_run_summary_of_a_successful_run(tmp_path: Path) -> None:
    doc = _oracle("function_step.small_n")
    code, out, _ = _main("dry-run", (ORACLES / doc["definition"]).resolve(), *_write_inputs("function_step.small_n", tmp_path), "--summary")
    assert code == 0
    assert out.splitlines()[-1] == "execution would SUCCEED"
    assert any(line.startswith("TooBig") and "NotExecuted" in line for line in out.splitlines())


@pytest.mark.parametrize("option", ["--parameters", "--step-outputs", "--property-files", "--s3-objects", "--execution"])
def test_dry_run_missing_input_file(option: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    code, out, err = _main("dry-run", _fixture("abalone"), option, missing)
    assert code == 1 and out == ""
    assert option in err
    assert f"no such file: {missing}" in err


@pytest.mark.parametrize("option", ["--parameters", "--step-outputs", "--property-files", "--s3-objects", "--execution"])
def test_dry_run_invalid_json_input_file(option: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{'single': 'quotes'}")
    code, out, err = _main("dry-run", _fixture("abalone"), option, broken)
    assert code == 1 and out == ""
    assert f"at {option} {broken}: not valid JSON" in err


def test_dry_run_input_file_that_is_not_an_object(tmp_path: Path) -> None:
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    code, _, err = _main("dry-run", _fixture("abalone"), "--execution", listing)
    assert code == 1
    assert f"--execution {listing} holds a JSON list" in err
    assert "a JSON object" in err


def test_dry_run_missing_input_file_with_the_console_script(tmp_path: Path) -> None:
    result = _smpipe("dry-run", _fixture("abalone"), "--property-files", tmp_path / "absent.json")
    assert result.returncode == 1
    assert "--property-files" in result.stderr and "no such file" in result.stderr
    assert "Traceback" not in result.stderr


def test_dry_run_bad_parameter_value(tmp_path: Path) -> None:
    parameters = tmp_path / "p.json"
    parameters.write_text(json.dumps({"ProcessingInstanceCount": "two", "Nope": 1}))
    code, _, err = _main("dry-run", _fixture("abalone"), "--parameters", parameters)
    assert code == 1
    assert "Integer parameter 'ProcessingInstanceCount' got 'two': not an integer" in err
    assert "unknown parameter 'Nope'" in err


def test_dry_run_resolution_error_names_step_and_location() -> None:
    # abalone's condition needs the EvaluationReport property file, which is not given
    code, out, err = _main("dry-run", _fixture("abalone"))
    assert code == 1 and out == ""
    assert err.startswith("error: step 'CheckMSEAbaloneEvaluation' at $.Steps[3].Arguments.Conditions[0].LeftValue['Std:JsonGet'].PropertyFile:")
    assert "property file 'EvaluationReport' of step 'EvaluateAbaloneModel' was not found" in err


# -- usage errors --------------------------------------------------------------------------------------


def test_usage_error_with_the_console_script() -> None:
    result = _smpipe()
    assert result.returncode == 2
    assert "usage: smpipe" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["frobnicate"],
        ["validate"],
        ["graph", "x.json", "--format", "png"],
        ["dry-run"],
        ["dry-run", "x.json", "--no-such-option"],
        ["validate", "x.json", "--parameters", "p.json"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(args, stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.code == 2
    assert "usage: smpipe" in capsys.readouterr().err


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    for command in ("validate", "graph", "dry-run"):
        assert command in out
