#!/usr/bin/env bash
# The "run it" command: builds ./.venv, checks the bundled definition with the smpipe CLI, then runs
# the example DAGs (native mode, a selective re-run, translation mode) with Airflow against the
# local emulator. No AWS account needed; nothing is left running; non-zero exit if a run failed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
DEF=dags_examples/definitions/abalone.json
echo "== smpipe validate $DEF"
.venv/bin/smpipe validate "$DEF"
echo "== smpipe dry-run $DEF (what every step would receive; summary)"
.venv/bin/smpipe dry-run "$DEF" --parameters dags_examples/definitions/abalone_inputs/parameters.json \
  --step-outputs dags_examples/definitions/abalone_inputs/step_outputs.json \
  --property-files dags_examples/definitions/abalone_inputs/property_files.json --summary
echo
echo "== Airflow runs against the local emulator"
exec .venv/bin/python scripts/demo.py
