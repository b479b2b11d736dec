"""Fixtures for operators tests: the emulator-backed Airflow environment, and the scripted endpoint for
what the emulator does not produce yet (utils/synthetic_sagemaker.py)."""

from native_helpers import airflow_env, aws_connection  # noqa: F401  (pytest fixtures)
from utils.synthetic_sagemaker import synthetic, synthetic_service  # noqa: F401  (pytest fixtures)
