"""Job names and ARNs."""

from __future__ import annotations

import random
import re
import string

import pytest

from airflow_provider_smpipe.definition.naming import (
    MAX_JOB_NAME,
    execution_arn,
    execution_id_from_arn,
    job_name,
    pipeline_arn,
    sanitize_name_part,
)

JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
LONG_STEP = "preprocess_the_abalone_data_with_a_very_long_step_name_x_64_char"


def test_long_step_names_with_underscores_give_valid_names() -> None:
    assert len(LONG_STEP) == 64  # the longest step name the service allows
    name = job_name(LONG_STEP, "abc123def456")
    assert JOB_NAME.match(name), name
    assert len(name) <= MAX_JOB_NAME == 63
    assert "_" not in name
    assert name.startswith("pipelines-abc123def456-preprocess-the-abalone-data")


def test_short_names_keep_the_service_shape() -> None:
    name = job_name("TrainAbaloneModel", "abc123def456")
    assert re.fullmatch(r"pipelines-abc123def456-TrainAbaloneModel-[0-9a-f]{10}", name), name


def test_deterministic_and_salted() -> None:
    first = job_name("make_numbers", "abc123def456")
    assert first == job_name("make_numbers", "abc123def456")
    assert first != job_name("make_numbers", "abc123def456", salt="attempt-2")
    assert job_name("make_numbers", "abc123def456", salt="attempt-2") == job_name("make_numbers", "abc123def456", salt="attempt-2")
    assert first != job_name("make_numbers", "fff123def456")
    assert first != job_name("summarize", "abc123def456")


def test_prefix_replaces_the_default_base() -> None:
    name = job_name("TuneXGB", "abc123def456", prefix="xgbtune")
    assert re.fullmatch(r"xgbtune-[0-9a-f]{10}", name), name
    notebook = job_name("RunNotebook", "abc123def456", prefix="analysis-ipynb-2026-11-21-02-29-58-775")
    assert notebook.startswith("analysis-ipynb-2026-11-21-02-29-58-775-")
    assert JOB_NAME.match(notebook) and len(notebook) <= 63
    # the same prefix in another execution gives another name
    assert notebook != job_name("RunNotebook", "zzz123def456", prefix="analysis-ipynb-2026-11-21-02-29-58-775")


@pytest.mark.parametrize("prefix", ["my_prefix", "__x__", "a" * 80, "---", "ünïcode name", "a--b"])
def test_odd_prefixes_are_sanitised(prefix: str) -> None:
    name = job_name("Step", "abc123def456", prefix=prefix)
    assert JOB_NAME.match(name), name
    assert len(name) <= 63


def test_random_step_names_always_give_valid_names() -> None:
    rng = random.Random(1234)
    alphabet = string.ascii_letters + string.digits + "-_"
    seen = set()
    for _ in range(500):
        step = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 64)))
        execution = "".join(rng.choice(string.ascii_lowercase + string.digits) for _ in range(12))
        name = job_name(step, execution, salt=str(rng.randint(0, 3)))
        assert JOB_NAME.match(name), (step, name)
        assert len(name) <= 63
        seen.add(name)
    assert len(seen) == 500


@pytest.mark.parametrize(
    ("text", "clean"),
    [("make_numbers", "make-numbers"), ("__a__b__", "a-b"), ("a b.c", "a-b-c"), ("ok-Name1", "ok-Name1"), ("___", "")],
)
def test_sanitize_name_part(text: str, clean: str) -> None:
    assert sanitize_name_part(text) == clean


def test_arns() -> None:
    assert pipeline_arn("AbalonePipeline") == "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalonepipeline"
    arn = execution_arn("AbalonePipeline", "5a36d6d2dc72")
    assert arn == "arn:aws:sagemaker:us-east-1:123456789012:pipeline/abalonepipeline/execution/5a36d6d2dc72"
    assert execution_id_from_arn(arn) == "5a36d6d2dc72"
    assert pipeline_arn("P", region="eu-west-1", account="111122223333") == "arn:aws:sagemaker:eu-west-1:111122223333:pipeline/p"


@pytest.mark.parametrize("step_type", ["Tuning", "AutoML"])
def test_tuning_and_automl_names_fit_in_32_characters(step_type: str) -> None:
    long_step = "Tune_" + "x" * 59
    names = {job_name(long_step, "abcdef123456", step_type=step_type, salt=str(n)) for n in range(50)}
    assert len(names) == 50  # still unique per salt
    for name in names:
        assert len(name) <= 32 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}", name)
        assert name.startswith("Tune-xxxx")  # the step stays readable
    # The execution id is in the hash: another execution gets another name.
    assert job_name("TuneXGB", "aaaaaaaaaaaa", step_type="Tuning") != job_name("TuneXGB", "bbbbbbbbbbbb", step_type="Tuning")
    assert len(job_name("TuneXGB", "x", prefix="xgbtune", step_type="Tuning")) <= 32
