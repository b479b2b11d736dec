#!/usr/bin/env bash
# The "run it" command: validates, graphs and dry-runs the bundled abalone definition with the
# scenario inputs shipped beside it (no AWS account needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
DEF=dags_examples/definitions/abalone.json
IN=dags_examples/definitions/abalone_inputs
SMPIPE=.venv/bin/smpipe
echo "== smpipe validate $DEF"
"$SMPIPE" validate "$DEF"
echo
echo "== smpipe graph $DEF --format mermaid"
"$SMPIPE" graph "$DEF" --format mermaid
echo
echo "== smpipe dry-run $DEF (summary)"
"$SMPIPE" dry-run "$DEF" --parameters "$IN/parameters.json" --step-outputs "$IN/step_outputs.json" \
  --property-files "$IN/property_files.json" --summary
