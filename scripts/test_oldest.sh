#!/usr/bin/env bash
# The test suite on the oldest Airflow pyproject.toml claims (requirements/lock-airflow-3.0.6.txt,
# made by scripts/lock.sh), in its own ./.venv-oldest, minus tests/deployment: real multi-process
# Airflow deployments run on the main lock only (scripts/test.sh). Arguments go to pytest.
# Needs only python3 (>= 3.11) and access to PyPI. Safe to run again: it re-syncs the environment.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv-oldest
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "uv>=0.4"
# sync, not install: a venv left from an earlier lock must not keep what this lock no longer has.
"$VENV/bin/python" -m uv pip sync --quiet --python "$VENV/bin/python" requirements/lock-airflow-3.0.6.txt
"$VENV/bin/python" -m uv pip install --quiet --python "$VENV/bin/python" --no-deps -e .
"$VENV/bin/python" -c 'import airflow; print(f"Airflow {airflow.__version__}: the oldest release pyproject.toml claims")'
# Shared trigger streams (event triggers sharing one SQS poll) are Airflow >= 3.3; their tests are
# deselected here, and the tests of the fallback (each trigger reads alone / waits poll) run instead.
exec "$VENV/bin/python" -m pytest --ignore=tests/deployment -m "not shared_streams" "$@"
