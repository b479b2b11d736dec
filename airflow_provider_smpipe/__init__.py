"""Apache Airflow provider for Amazon SageMaker Model Building Pipelines.

The package has three layers:

* :mod:`airflow_provider_smpipe.definition` -- the pipeline-definition core (load, validate, graph,
  expressions, dry-run). Pure Python; it never imports Airflow.
* Airflow adapters (hooks, operators, sensors, triggers, links, translation) built on the core.
* :mod:`airflow_provider_smpipe.emulator` -- a local SageMaker Pipelines emulator on top of moto,
  imported by nothing in the product path.
"""

__version__ = "0.1.0"
