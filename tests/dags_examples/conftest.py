"""Fixtures for the example-DAG tests: the emulator-backed Airflow environment."""

from native_helpers import airflow_env, aws_connection  # noqa: F401  (pytest fixtures)
