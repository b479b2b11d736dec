"""Example 9 — run when a new model package is registered in the abalone group.

The abalone pipeline's RegisterModel step registers its model into the model package group
``AbaloneModelPackageGroupName``. This DAG is scheduled on that group's asset
(``model_package_group_asset``), which two sources feed:

* SageMaker itself: with the events queue (``SMPIPE_EVENTS_QUEUE_URL``; ``smpipe events setup
  --queue smpipe-pipeline-events`` creates it and its EventBridge rule, docker compose runs it for
  you), the asset's ``AssetWatcher`` turns every package registered in the group — by a pipeline
  started anywhere, the SDK or the console — into an asset event (Airflow < 3.3: each watcher reads
  its queue alone, so give it a queue of its own);
* Airflow tasks that registered a package: a translated RegisterModel step with a literal group
  (example 4) or a ``SageMakerPipelineStartOperator(model_package_groups=[...])`` whose execution
  registered one.

The task reports each package (ARN, approval status, the execution that registered it); a real DAG
would evaluate or deploy it. Triggered by hand (no asset event), it says there is nothing new and
succeeds.
"""

from __future__ import annotations

import os
from typing import Any

import pendulum

from airflow.sdk import DAG, task

from airflow_provider_smpipe.assets import model_package_events, model_package_group_asset

MODEL_PACKAGE_GROUP = "AbaloneModelPackageGroupName"  # the group definitions/abalone.json registers into
#: The queue `smpipe events setup` made (docker compose's default: the emulator's).
EVENTS_QUEUE_URL = os.environ.get("SMPIPE_EVENTS_QUEUE_URL", "http://emulator:5055/123456789012/smpipe-pipeline-events")

abalone_models = model_package_group_asset(MODEL_PACKAGE_GROUP, events_queue_url=EVENTS_QUEUE_URL)

with DAG(
    dag_id="smpipe_on_model_registered",
    schedule=[abalone_models],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["smpipe", "events", "assets", "example"],
    doc_md=__doc__,
):

    @task
    def report_new_models(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        # This asset's events (an event emitted through an alias is also listed under the alias).
        # Looked up by name: Airflow 3.0's accessor cannot be indexed with an Asset (unhashable there).
        mine = [event for asset, events in (triggering_asset_events or {}).items() if getattr(asset, "name", None) == abalone_models.name for event in events]
        packages = model_package_events(mine)
        if not packages:
            print(f"No model package event: nothing new in {MODEL_PACKAGE_GROUP} (this run was triggered by hand)")
            return []
        for package in packages:
            by = f"execution {package['execution_arn']}" if package["execution_arn"] else "outside a pipeline"
            print(f"{package['model_package_arn']} is {package['approval_status']} (registered by {by}, seen by the {package['source']})")
        return packages

    report_new_models()
