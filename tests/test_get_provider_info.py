"""The provider registers with Airflow and its metadata passes Airflow's own schema."""

from __future__ import annotations

import json
from importlib import resources
from importlib.metadata import distribution

import jsonschema

from airflow_provider_smpipe.get_provider_info import PACKAGE_NAME, get_provider_info


def test_package_name_equals_distribution_name() -> None:
    # A mismatch makes ProvidersManager raise for every provider in the installation.
    assert get_provider_info()["package-name"] == distribution(PACKAGE_NAME).metadata["Name"]


def test_provider_info_validates_against_airflow_schema() -> None:
    schema = json.loads(resources.files("airflow").joinpath("provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_providers_manager_lists_the_provider() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    assert PACKAGE_NAME in manager.providers
    provider = manager.providers[PACKAGE_NAME]
    assert provider.version == distribution(PACKAGE_NAME).version
    # The amazon provider we build on is discovered next to us, so we did not break discovery.
    assert "apache-airflow-providers-amazon" in manager.providers
