"""SageMaker's EventBridge events for pipelines: their shapes, how an SQS message carrying one is
read, and which events a consumer wants. Pure Python (no Airflow import): the emulator builds the
events with :mod:`.shapes`, the triggers read them with :mod:`.shapes` and :mod:`.filters`."""
