"""The hostile-definition corpus (``tests/definition/hostile_corpus.py``) against translation.

Every hostile definition must make ``SageMakerPipelineDag`` raise the core's located error — in
process (from the file and, where the hostility has one, from a dict) and when Airflow's ``DagBag``
imports a DAG file that builds it: the import error is the located error, never a
``RecursionError``/``UnicodeEncodeError``/... at DAG import. Valid definitions at the limits still
build, serialise and give finite parameter defaults. And the validated definition is never kept as a
pickle: nothing planted in the old cache directory is executed or trusted.
"""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path
from typing import Any

import pendulum
import pytest

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
from airflow_provider_smpipe.translation import SageMakerPipelineDag
from airflow_provider_smpipe.translation import load as translation_load
from definition.hostile_corpus import ANY, DEFINITION_CASES, EDGE_CASES, FORBIDDEN_EXCEPTIONS, Hostile, base, case_ids, write_case
from native_helpers import unique

START = pendulum.datetime(2026, 1, 1, tz="UTC")
OBJECT_CASES = [c for c in DEFINITION_CASES if c.as_object is not None]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile-translation")


def build(definition: Any) -> SageMakerPipelineDag:
    return SageMakerPipelineDag(definition=definition, dag_id=unique("hostile"), schedule=None, start_date=START)


def refused_build(definition: Any) -> InvalidDefinitionError:
    translation_load._MEMORY.clear()
    try:
        build(definition)
    except InvalidDefinitionError as exc:
        return exc
    except BaseException as exc:  # noqa: BLE001 - the point: nothing else escapes
        pytest.fail(f"{type(exc).__name__} escaped from the DAG build: {exc!r}"[:2000])
    pytest.fail("the hostile definition was translated")


def assert_located(error: InvalidDefinitionError, case: Hostile, contains: tuple[str, ...] | None = None) -> None:
    contains = contains or case.contains
    matches = [p for p in error.problems if all(text in str(p) for text in contains) and p.location == case.location]
    assert matches, f"{case.location}: {contains} not in\n{error}"
    if case.step is not ANY:
        assert any(p.step == case.step for p in matches), str(error)
    str(error).encode("utf-8")


@pytest.mark.parametrize("case", DEFINITION_CASES, ids=case_ids(DEFINITION_CASES))
def test_the_dag_build_refuses_a_hostile_file_with_the_located_error(case: Hostile, corpus: Path) -> None:
    assert_located(refused_build(write_case(case, corpus)), case)


@pytest.mark.parametrize("case", OBJECT_CASES, ids=case_ids(OBJECT_CASES))
def test_the_dag_build_refuses_the_hostile_dict_with_the_located_error(case: Hostile) -> None:
    assert case.as_object is not None
    assert_located(refused_build(case.as_object()), case, case.object_contains)


def test_dagbag_import_errors_are_the_located_errors(corpus: Path) -> None:
    """One DAG file per case, imported by Airflow itself: each fails with its located error."""
    from airflow_compat import dag_bag_class

    DagBag = dag_bag_class()

    folder = corpus / "dags"
    folder.mkdir()
    expected: dict[str, Hostile] = {}
    for case in DEFINITION_CASES:
        definition = write_case(case, corpus)
        dag_file = folder / f"dag_{case.id.replace('-', '_')}.py"
        dag_file.write_text(
            "import pendulum\n"
            "from airflow_provider_smpipe.translation import SageMakerPipelineDag\n"
            f"dag = SageMakerPipelineDag(definition={str(definition)!r}, dag_id={('hostile_' + case.id.replace('-', '_'))!r},\n"
            "                           schedule=None, start_date=pendulum.datetime(2026, 1, 1))\n"
        )
        expected[str(dag_file)] = case
    translation_load._MEMORY.clear()
    bag = DagBag(dag_folder=str(folder))
    assert not bag.dags
    assert sorted(bag.import_errors) == sorted(expected)
    for path, error in bag.import_errors.items():
        case = expected[path]
        assert "InvalidDefinitionError" in error, error[-2000:]
        assert f"at {case.location}: " in error and case.contains[0] in error, error[-2000:]
        for name in FORBIDDEN_EXCEPTIONS:
            assert name not in error, f"{case.id}: {name} in\n{error[-3000:]}"


# -- valid definitions at the limits ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_definitions_at_the_limits_build_and_serialise(name: str, tmp_path: Path) -> None:
    from airflow_compat import dag_serialization

    DagSerialization = dag_serialization()

    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(EDGE_CASES[name]()))
    translation_load._MEMORY.clear()
    dag = build(path)
    serialised = DagSerialization.serialize_dag(dag)  # what the DAG processor does: recursive
    json.dumps(serialised, allow_nan=False)  # and what it stores is strict JSON
    assert DagSerialization.deserialize_dag(serialised).dag_id == dag.dag_id
    assert {"Prep", "Check", "Approve", "Stop"} <= set(dag.task_dict)


def test_float_defaults_become_finite_params_and_a_nan_default_never_gets_there(corpus: Path) -> None:
    dag = build(base())
    assert dag.params["Threshold"] == 0.5
    [nan_case] = [c for c in DEFINITION_CASES if c.id == "nan-float-parameter-default"]
    assert_located(refused_build(write_case(nan_case, corpus)), nan_case)
    assert nan_case.as_object is not None
    assert_located(refused_build(nan_case.as_object()), nan_case)


# -- no pickles: the old cache directory is never read -----------------------------------------------------


class _Plant:
    """Unpickling this creates ``marker``: proof that a planted file was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


def _legacy_cache_names(text: str) -> list[str]:
    """The names the pickle cache used (and plausible variants), all of them planted."""
    import hashlib

    from airflow_provider_smpipe import __version__

    digest = hashlib.sha256(f"{__version__}\0{text}".encode()).hexdigest()
    return [f"{digest}.pickle", f"{digest}.json", f"{digest}.pkl", digest]


def test_a_planted_pickle_in_the_cache_directory_is_never_executed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, cache = tmp_path / "home", tmp_path / "cache"
    (home / "smpipe_cache").mkdir(parents=True)
    cache.mkdir()
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    monkeypatch.setenv("SMPIPE_CACHE_DIR", str(cache))
    marker = tmp_path / "pwned"
    definition = tmp_path / "definition.json"
    text = json.dumps(base())
    definition.write_text(text)
    payload = pickle.dumps(_Plant(marker))
    for directory in (home / "smpipe_cache", cache):
        for name in _legacy_cache_names(text):
            (directory / name).write_bytes(payload)
    pickle.loads(payload)  # the payload works: unpickling it creates the marker ...
    assert marker.exists()
    marker.unlink()
    translation_load._MEMORY.clear()
    dag = build(definition)  # ... and building the DAG never unpickles it
    build(json.loads(text))
    build(text)
    assert not marker.exists()
    assert sorted(dag.task_dict) == ["Approve", "Check", "Notify", "Prep", "Stop"]
    # nothing is written there either
    assert sorted(p.name for p in cache.iterdir()) == sorted(_legacy_cache_names(text))


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x04N.", json.dumps({"validated": True, "definition": {"Steps": []}}).encode()], ids=["empty", "garbage", "pickled-none", "forged-json"])
def test_a_corrupted_or_forged_cache_entry_is_a_miss(content: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("SMPIPE_CACHE_DIR", str(cache))
    broken = base()
    broken["Steps"][1]["Arguments"]["input"] = {"Get": "Parameters.Nope"}
    text = json.dumps(broken)
    for name in _legacy_cache_names(text):
        (cache / name).write_bytes(content)
    path = tmp_path / "broken.json"
    path.write_text(text)
    error = refused_build(path)  # a forged "validated" entry does not make an invalid definition pass
    assert "references unknown parameter 'Nope'" in str(error)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(base()))
    for name in _legacy_cache_names(good.read_text()):
        (cache / name).write_bytes(content)
    translation_load._MEMORY.clear()
    assert sorted(build(good).task_dict) == ["Approve", "Check", "Notify", "Prep", "Stop"]


def test_the_translation_loader_has_no_pickle() -> None:
    source = Path(translation_load.__file__).read_text()
    assert "import pickle" not in source and "pickle.load" not in source


def test_the_in_memory_cache_sees_a_rewritten_file(tmp_path: Path) -> None:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(base()))
    translation_load._MEMORY.clear()
    assert "Notify" in build(path).task_dict
    changed = base()
    changed["Steps"][1]["Name"] = "Notify\n"
    changed["Steps"][1]["Arguments"] = {}
    path.write_text(json.dumps(changed))
    os.utime(path, ns=(0, 0))  # even with an old modification time, the inode change time moves
    with pytest.raises(InvalidDefinitionError, match="invalid step Name 'Notify\\\\n'"):
        build(path)
