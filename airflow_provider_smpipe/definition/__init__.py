"""The pipeline-definition core: load, validate, graph, expressions, dry-run. No Airflow imports."""
