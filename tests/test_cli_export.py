"""``smpipe export`` against the emulator: the deployed definition, validated, as stable JSON."""

from __future__ import annotations

import io
import json
from typing import Any

from airflow_provider_smpipe.cli import main
from native_helpers import ROLE, chain_definition, unique


def test_export_prints_the_deployed_definition(emulator: Any) -> None:
    name = unique("export")
    definition = chain_definition(["A", "B"])
    emulator.client("sagemaker").create_pipeline(PipelineName=name, PipelineDefinition=json.dumps(definition), RoleArn=ROLE)
    out, err = io.StringIO(), io.StringIO()
    code = main(["export", name, "--endpoint-url", emulator.endpoint_url, "--region", "us-east-1"], stdout=out, stderr=err)
    assert code == 0, err.getvalue()
    assert json.loads(out.getvalue()) == definition
    assert out.getvalue() == json.dumps(definition, indent=2, sort_keys=True) + "\n"


def test_export_of_an_unknown_pipeline_is_a_clear_error(emulator: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["export", "no-such-pipeline", "--endpoint-url", emulator.endpoint_url, "--region", "us-east-1"], stdout=out, stderr=err)
    assert code == 1 and "cannot read pipeline 'no-such-pipeline'" in err.getvalue()
