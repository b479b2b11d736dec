"""The hostile-definition corpus (``hostile_corpus.py``) against the validator and ``smpipe``.

Rule: no input ever produces a traceback; every problem is a located error; nothing the service
would reject is accepted silently; a dry-run's output is strict JSON. Each hostile definition is run
through ``load_definition`` (file, text, bytes and dict forms), ``smpipe validate`` (also ``--json``)
and ``smpipe dry-run`` in-process with strict UTF-8 streams (a lone surrogate written to them raises,
as on a real terminal), and the cases tagged ``cli`` as the console script too. Each hostile dry-run
input file is given to every option. Translation's DAG build runs the same corpus in
``tests/translation/test_hostile_definitions.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hostile_corpus import (
    ANY,
    BASE_PROPERTY_FILES,
    DEFINITION_CASES,
    EDGE_CASES,
    EDGE_RAW,
    INPUT_CASES,
    INPUT_OPTIONS,
    RUN_CASES,
    Hostile,
    HostileInput,
    RAW,
    base,
    put,
    case_ids,
    with_raw,
    write_case,
)

from airflow_provider_smpipe import cli
from airflow_provider_smpipe.definition import constraints, jsondoc
from airflow_provider_smpipe.definition.dryrun import DryRunInputs, dry_run
from airflow_provider_smpipe.definition.errors import DefinitionError, InvalidDefinitionError
from airflow_provider_smpipe.definition.loader import load_definition

REPO = Path(__file__).resolve().parents[2]
SMPIPE = REPO / ".venv" / "bin" / "smpipe"
if not SMPIPE.is_file():
    SMPIPE = Path(sys.executable).parent / "smpipe"
CLI_CASES = [case for case in DEFINITION_CASES if "cli" in case.tags]



# -- writing the corpus --------------------------------------------------------------------------------




@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile")


@pytest.fixture(scope="module")
def good_property_files(corpus: Path) -> Path:
    path = corpus / "good-property-files.json"
    path.write_text(json.dumps(BASE_PROPERTY_FILES))
    return path


# -- assertions ------------------------------------------------------------------------------------------


def matching_problem(error: BaseException, contains: tuple[str, ...], step: Any = ANY, location: Any = ANY) -> DefinitionError:
    """The problem of ``error`` that mentions all of ``contains`` (with that step and location);
    every problem of the error is a located, printable ``DefinitionError``."""
    assert isinstance(error, InvalidDefinitionError), f"{type(error).__name__}: {error}"
    assert error.problems
    for problem in error.problems:
        assert isinstance(problem, DefinitionError)
        assert problem.location, f"not located: {problem}"
        str(problem).encode("utf-8")  # printable whatever the input held
    str(error).encode("utf-8")
    candidates = [p for p in error.problems if all(text in str(p) for text in contains)]
    assert candidates, f"no problem mentions all of {contains}:\n{error}"
    if step is not ANY:
        candidates = [p for p in candidates if p.step == step] or pytest.fail(f"no such problem of step {step!r}:\n{error}")
    if location is not ANY:
        candidates = [p for p in candidates if p.location == location] or pytest.fail(f"no such problem at {location!r}:\n{error}")
    return candidates[0]


def refusal(source: Any) -> InvalidDefinitionError:
    try:
        load_definition(source)
    except InvalidDefinitionError as exc:
        return exc
    except BaseException as exc:  # noqa: BLE001 - the point: nothing else escapes
        pytest.fail(f"{type(exc).__name__} escaped instead of a located error: {exc!r}"[:2000])
    pytest.fail("the hostile definition was accepted")


def run_cli(*args: Any) -> tuple[int, str, str]:
    """``smpipe`` in-process with strict UTF-8 streams, like a terminal."""
    out_bytes, err_bytes = io.BytesIO(), io.BytesIO()
    out = io.TextIOWrapper(out_bytes, encoding="utf-8", errors="strict", write_through=True)
    err = io.TextIOWrapper(err_bytes, encoding="utf-8", errors="strict", write_through=True)
    try:
        code = cli.main([str(a) for a in args], stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    except BaseException as exc:  # noqa: BLE001
        pytest.fail(f"{type(exc).__name__} escaped from smpipe: {exc!r}"[:2000])
    return code, out_bytes.getvalue().decode("utf-8"), err_bytes.getvalue().decode("utf-8")


def run_console_script(*args: Any) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([str(SMPIPE), *map(os.fsencode, map(str, args))], capture_output=True, timeout=120, cwd=REPO)


def assert_invalid_output(code: int, out: str, err: str, case: Hostile | HostileInput, location: str | None) -> None:
    assert code == cli.EXIT_INVALID, f"exit {code}\nstdout: {out[:500]}\nstderr: {err[:2000]}"
    assert "Traceback" not in out + err and "internal error" not in err
    assert out == ""
    assert case.contains[0] in err, err[:2000]
    if location is not None:
        assert f"at {location}: " in err, err[:2000]


def strict_json(text: str) -> Any:
    def refuse(token: str) -> Any:
        raise ValueError(f"{token} in the output")

    return json.loads(text, parse_constant=refuse)


# -- the corpus itself -------------------------------------------------------------------------------------


def test_corpus_covers_every_class() -> None:
    assert len(DEFINITION_CASES) >= 80 and len(INPUT_CASES) >= 15 and len(RUN_CASES) >= 10
    assert len({c.id for c in DEFINITION_CASES}) == len(DEFINITION_CASES)
    ids = " ".join(case_ids(DEFINITION_CASES))
    for word in ("deep-array", "deep-object", "10000", "5000-digits", "nan", "infinity", "surrogate", "utf-8", "utf-16", "json-array",
                 "json-number", "empty-file", "directory", "60-MB", "step-name-trailing-newline", "parameter-name", "property-file",
                 "lambda-output-name-empty", "float-parameter-default"):
        assert word in ids, word
    for case in DEFINITION_CASES:  # every case says where its problem is
        assert case.location is not ANY and case.location.startswith("$"), case.id


# -- the validator -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", DEFINITION_CASES, ids=case_ids(DEFINITION_CASES))
def test_the_validator_refuses_a_hostile_file_with_a_located_error(case: Hostile, corpus: Path) -> None:
    error = refusal(write_case(case, corpus))
    matching_problem(error, case.contains, case.step, case.location)


TEXT_CASES = [c for c in DEFINITION_CASES if c.kind == "file" and "MB" not in c.id and "over-the-limit" not in c.id]


@pytest.mark.parametrize("case", TEXT_CASES, ids=case_ids(TEXT_CASES))
def test_the_same_bytes_and_text_are_refused_alike(case: Hostile) -> None:
    assert case.content is not None
    data = case.content()
    matching_problem(refusal(data), case.contains, case.step, case.location)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if text.lstrip().startswith(("{", "[")):  # other strings are taken as paths
        matching_problem(refusal(text), case.contains, case.step, case.location)


OBJECT_CASES = [c for c in DEFINITION_CASES if c.as_object is not None]


@pytest.mark.parametrize("case", OBJECT_CASES, ids=case_ids(OBJECT_CASES))
def test_the_same_hostility_in_a_dict_is_refused_alike(case: Hostile) -> None:
    assert case.as_object is not None
    matching_problem(refusal(case.as_object()), case.object_contains or case.contains, case.step, case.location)


def test_a_dict_with_values_json_cannot_hold_is_refused_with_their_locations() -> None:
    document = base()
    document["Steps"][1]["Arguments"]["tags"] = {"a", "b"}
    document["Steps"][1]["Arguments"]["blob"] = b"\x00"
    document["Steps"][1]["Arguments"][("tuple", "key")] = 1
    error = refusal(document)
    matching_problem(error, ("a set is not JSON",), "Notify", "$.Steps[1].Arguments.tags")
    matching_problem(error, ("a bytes is not JSON",), "Notify", "$.Steps[1].Arguments.blob")
    matching_problem(error, ("a key of type tuple is not JSON",), "Notify", "$.Steps[1].Arguments")


def test_more_than_twenty_problems_of_one_kind_are_listed_as_twenty_and_a_count(corpus: Path) -> None:
    [case] = [c for c in DEFINITION_CASES if c.id == "thirty-nans-are-listed-up-to-twenty"]
    error = refusal(write_case(case, corpus))
    assert len(error.problems) == 21
    assert error.problems[-1].problem == "and 10 more problems of the same kind"
    assert [p.location for p in error.problems[:3]] == ["$.Steps[1].Arguments.values[0]", "$.Steps[1].Arguments.values[1]", "$.Steps[1].Arguments.values[2]"]


def test_a_device_that_never_ends_is_refused_after_the_limit() -> None:
    error = refusal("/dev/zero")
    matching_problem(error, ("/dev/zero is larger than 16777216 bytes",), None, "$")


def test_a_path_with_a_nul_byte_is_a_located_error() -> None:
    matching_problem(refusal("bad\x00name.json"), ("cannot read",), None, "$")


@pytest.mark.parametrize("name", sorted(EDGE_CASES) + sorted(EDGE_RAW))
def test_valid_definitions_at_the_limits_still_load_and_dry_run(name: str, corpus: Path) -> None:
    data = EDGE_RAW[name]() if name in EDGE_RAW else json.dumps(EDGE_CASES[name]()).encode()
    path = corpus / f"edge-{name}.json"
    path.write_bytes(data)
    definition = load_definition(path)
    files = {p.name: {"score": 0.9} for p in definition.steps["Prep"].property_files}
    report = dry_run(definition, DryRunInputs(property_files={"Prep": files}))
    assert report["steps"]["Check"]["status"] == "Executed"
    code, out, err = run_cli("validate", path)
    assert code == 0, err
    assert out.startswith("OK ")


def test_the_deepest_accepted_definition_dry_runs_and_prints_strict_json(corpus: Path, good_property_files: Path) -> None:
    path = corpus / "edge-deepest.json"
    path.write_text(json.dumps(EDGE_CASES["arguments-nested-exactly-100-levels"]()))
    assert jsondoc.depth_exceeds(json.loads(path.read_text()), 100) is False
    assert jsondoc.depth_exceeds(json.loads(path.read_text()), 99) is True
    code, out, err = run_cli("dry-run", path, "--property-files", good_property_files)
    assert code == 0, err
    report = strict_json(out)
    assert report["steps"]["Notify"]["status"] == "Executed"


def test_depth_is_measured_for_objects_and_arrays_alike() -> None:
    for depth in (1, 2, 50, 99, 100, 101, 150):
        nested: Any = 1
        for level in range(depth):
            nested = [nested] if level % 2 else {"k": nested}
        assert jsondoc.depth_exceeds(nested, 100) is (depth > 100), depth
    assert jsondoc.depth_exceeds(1, 100) is False and jsondoc.depth_exceeds("x", 0) is False


def test_constraints_match_botocore() -> None:
    """Every limit the validator copies from botocore is botocore's (minimums may be stricter,
    where a value botocore allows cannot work; those say so)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    for constraint in constraints.BOTOCORE_CONSTRAINTS:
        structure, member = constraint.source
        shape = model.shape_for(structure).members[member]
        assert shape.name == constraint.shape, constraint
        metadata = shape.metadata
        assert metadata.get("max") == constraint.maximum, constraint
        expected_min = constraint.botocore_min if constraint.botocore_min is not None else constraint.minimum
        assert metadata.get("min", 0) == expected_min, constraint
        if constraint.pattern is None:  # ".*" is not checked: Java's "." excludes line breaks, and a
            assert metadata.get("pattern") in (None, ".*"), constraint  # multi-line description is plausible
        else:
            assert metadata.get("pattern") == constraint.pattern, constraint
    assert model.shape_for("OutputParameterList").metadata["max"] == constraints.MAX_OUTPUT_PARAMETERS
    assert model.operation_model("CreatePipeline").input_shape.members["PipelineDefinition"].metadata["max"] == jsondoc.SERVICE_INLINE_LIMIT
    assert jsondoc.MAX_BYTES == 16 * jsondoc.SERVICE_INLINE_LIMIT
    # names are matched in full: the end anchor problem of re.match("...$") cannot come back
    assert constraints.STEP_NAME.problem("Train\n") is not None and constraints.STEP_NAME.problem("Train") is None
    assert constraints.PARAMETER_NAME.problem("a\n") is not None


# -- smpipe validate / dry-run -----------------------------------------------------------------------------


@pytest.mark.parametrize("case", DEFINITION_CASES, ids=case_ids(DEFINITION_CASES))
def test_smpipe_validate_reports_the_located_error(case: Hostile, corpus: Path) -> None:
    path = write_case(case, corpus)
    code, out, err = run_cli("validate", path)
    assert_invalid_output(code, out, err, case, case.location)
    code, out, err = run_cli("validate", path, "--json")
    assert code == cli.EXIT_INVALID and "Traceback" not in err
    result = strict_json(out)
    assert result["valid"] is False
    assert any(p["location"] == case.location and case.contains[0] in p["message"] for p in result["problems"]), out[:2000]


@pytest.mark.parametrize("case", DEFINITION_CASES, ids=case_ids(DEFINITION_CASES))
def test_smpipe_dry_run_reports_the_located_error(case: Hostile, corpus: Path, good_property_files: Path) -> None:
    code, out, err = run_cli("dry-run", write_case(case, corpus), "--property-files", good_property_files)
    assert_invalid_output(code, out, err, case, case.location)


@pytest.mark.parametrize("case", CLI_CASES, ids=case_ids(CLI_CASES))
def test_the_console_script_exits_invalid_without_a_traceback(case: Hostile, corpus: Path, good_property_files: Path) -> None:
    path = write_case(case, corpus)
    for args in (("validate", path), ("dry-run", path, "--property-files", good_property_files), ("graph", path)):
        result = run_console_script(*args)
        err = result.stderr.decode("utf-8")  # strict: what is printed is UTF-8
        assert result.returncode == cli.EXIT_INVALID, err
        assert "Traceback" not in err and result.stdout == b""
        assert f"at {case.location}: " in err and case.contains[0] in err


def test_a_file_name_that_is_not_utf8_is_printed_escaped(tmp_path: Path) -> None:
    name = os.fsencode(tmp_path) + b"/def-\xff.json"
    with open(name, "wb") as handle:
        handle.write(with_raw("NaN", put("Steps.1.Arguments.input", RAW))())
    result = subprocess.run([str(SMPIPE), b"validate", name], capture_output=True, timeout=120, cwd=REPO)
    err = result.stderr.decode("utf-8")
    assert result.returncode == cli.EXIT_INVALID and "Traceback" not in err
    assert "def-\\udcff.json" in err and "NaN is not JSON" in err
    with open(name, "wb") as handle:
        handle.write(json.dumps(base()).encode())
    result = subprocess.run([str(SMPIPE), b"validate", name], capture_output=True, timeout=120, cwd=REPO)
    assert result.returncode == 0 and b"def-\\udcff.json" in result.stdout


def test_the_dry_run_of_the_base_definition_prints_strict_json(corpus: Path, good_property_files: Path) -> None:
    path = corpus / "base.json"
    path.write_text(json.dumps(base()))
    code, out, err = run_cli("dry-run", path, "--property-files", good_property_files)
    assert code == 0, err
    assert strict_json(out)["steps"]["Check"]["outcome"] is True


def test_an_internal_error_is_not_the_invalid_exit_code(monkeypatch: pytest.MonkeyPatch, corpus: Path) -> None:
    path = corpus / "base-internal.json"
    path.write_text(json.dumps(base()))

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(cli, "render_graph", broken)
    code, out, err = run_cli("graph", path)
    assert code == cli.EXIT_INTERNAL_ERROR != cli.EXIT_INVALID
    assert "internal error (a bug in smpipe" in err and "RuntimeError: simulated bug" in err


def test_a_report_that_would_not_be_json_is_refused(monkeypatch: pytest.MonkeyPatch, corpus: Path, good_property_files: Path) -> None:
    """The last line of defence: should a non-finite number ever reach the report, the dry-run
    refuses it with its location instead of printing NaN."""
    path = corpus / "base-report.json"
    path.write_text(json.dumps(base()))
    real = cli.dry_run

    def poisoned(*args: Any, **kwargs: Any) -> Any:
        report = real(*args, **kwargs)
        report["steps"]["Notify"]["arguments"]["count"] = float("nan")
        return report

    monkeypatch.setattr(cli, "dry_run", poisoned)
    code, out, err = run_cli("dry-run", path, "--property-files", good_property_files)
    assert code == cli.EXIT_INVALID and out == ""
    assert "at report.steps.Notify.arguments.count: the report would hold nan" in err


# -- dry-run input files ----------------------------------------------------------------------------------


@pytest.mark.parametrize("option", INPUT_OPTIONS)
@pytest.mark.parametrize("case", INPUT_CASES, ids=case_ids(INPUT_CASES))
def test_a_hostile_dry_run_input_file_is_a_located_error(case: HostileInput, option: str, corpus: Path) -> None:
    definition = corpus / "base-for-inputs.json"
    if not definition.exists():
        definition.write_text(json.dumps(base()))
    path = write_case(case, _mkdir(corpus / "inputs"))
    code, out, err = run_cli("dry-run", definition, option, path)
    location = case.location.format(option=option, path=path)
    assert_invalid_output(code, out, err, case, location)
    assert f"invalid {option} input" in err


def _mkdir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    return path


CONSOLE_INPUT_CASES = [c for c in INPUT_CASES if c.id in ("deep-array-10000", "nan", "lone-surrogate-key", "non-utf-8", "directory", "file-of-60-MB")]


@pytest.mark.parametrize("case", CONSOLE_INPUT_CASES, ids=case_ids(CONSOLE_INPUT_CASES))
def test_hostile_input_files_with_the_console_script(case: HostileInput, corpus: Path) -> None:
    definition = corpus / "base-for-console-inputs.json"
    definition.write_text(json.dumps(base()))
    path = write_case(case, _mkdir(corpus / "inputs"))
    result = run_console_script("dry-run", definition, "--step-outputs", path)
    err = result.stderr.decode("utf-8")
    assert result.returncode == cli.EXIT_INVALID and "Traceback" not in err and result.stdout == b""
    assert f"at {case.location.format(option='--step-outputs', path=path)}: " in err and case.contains[0] in err


@pytest.mark.parametrize("case", RUN_CASES, ids=case_ids(RUN_CASES))
def test_values_the_run_refuses_are_located_errors_never_nan_in_the_output(case: Any, tmp_path: Path) -> None:
    definition = tmp_path / "definition.json"
    definition.write_text(json.dumps(case.definition()))
    args: list[Any] = ["dry-run", definition]
    inputs = dict(case.inputs)
    if "--property-files" not in inputs:
        inputs["--property-files"] = BASE_PROPERTY_FILES
    for option, value in inputs.items():
        path = tmp_path / f"{option.strip('-')}.json"
        path.write_text(json.dumps(value))
        args += [option, path]
    code, out, err = run_cli(*args)
    assert code == cli.EXIT_INVALID, f"{code}\n{out[:1000]}\n{err}"
    assert out == "" and "Traceback" not in err
    for text in case.contains:
        assert text in err, err
    if case.location is not ANY:
        assert f"at {case.location}: " in err, err
