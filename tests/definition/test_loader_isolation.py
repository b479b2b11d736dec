"""A rejected step is reported once; a loaded definition does not follow later edits of its source dict."""

from __future__ import annotations

import copy

import pytest

from airflow_provider_smpipe.definition.errors import InvalidDefinitionError
from airflow_provider_smpipe.definition.loader import load_definition
from definition_helpers import fixture_doc as fixture_dict


def test_unknown_type_is_reported_once_not_again_by_every_reference() -> None:
    document = fixture_dict("abalone")
    document["Steps"][0]["Type"] = "Preprocessing"  # PreprocessAbaloneData is referenced 6 times
    with pytest.raises(InvalidDefinitionError) as caught:
        load_definition(document)
    problems = caught.value.problems
    assert len(problems) == 1, [str(p) for p in problems]
    assert problems[0].step == "PreprocessAbaloneData"
    assert "unknown step type 'Preprocessing'" in problems[0].problem
    assert problems[0].location == "$.Steps[0].Type"


def test_loaded_definition_is_independent_of_the_source_dict() -> None:
    document = fixture_dict("abalone")
    definition = load_definition(document)
    before = definition.content_hash()
    pristine = copy.deepcopy(definition.steps["TrainAbaloneModel"].arguments)
    document["Steps"][1]["Arguments"]["HyperParameters"]["eta"] = "0.9"
    document["Parameters"].clear()
    assert definition.content_hash() == before
    assert definition.steps["TrainAbaloneModel"].arguments == pristine
