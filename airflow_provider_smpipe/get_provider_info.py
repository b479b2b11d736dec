"""Provider metadata read by Airflow's ProvidersManager through the ``apache_airflow_provider`` entry point."""

from __future__ import annotations

from typing import Any

from airflow_provider_smpipe import __version__

#: Must equal the canonical distribution name, or Airflow's ProvidersManager aborts for every provider.
PACKAGE_NAME = "airflow-provider-smpipe"

_INTEGRATION = "Amazon SageMaker Pipelines"


def get_provider_info() -> dict[str, Any]:
    """Return the provider description validated by Airflow against ``provider_info.schema.json``."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "SageMaker Pipelines (smpipe)",
        "description": "Run Amazon SageMaker Model Building Pipelines from Apache Airflow: "
        "native executions, DAG translation and a local emulator.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": _INTEGRATION,
                "external-doc-url": "https://docs.aws.amazon.com/sagemaker/latest/dg/pipelines.html",
                "tags": ["aws"],
            }
        ],
        "hooks": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_smpipe.hooks.pipeline"]}],
        "operators": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": ["airflow_provider_smpipe.operators.pipeline", "airflow_provider_smpipe.operators.callback"],
            }
        ],
        "sensors": [{"integration-name": _INTEGRATION, "python-modules": ["airflow_provider_smpipe.sensors.pipeline"]}],
        "triggers": [
            {
                "integration-name": _INTEGRATION,
                "python-modules": [
                    "airflow_provider_smpipe.triggers.pipeline_execution",
                    "airflow_provider_smpipe.triggers.execution_events",
                    "airflow_provider_smpipe.triggers.pipeline_event",
                ],
            }
        ],
        "extra-links": ["airflow_provider_smpipe.links.pipeline.SageMakerPipelineExecutionLink"],
    }
