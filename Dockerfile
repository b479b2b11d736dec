# Airflow 3 image with this provider (and its local emulator) installed, for docker-compose.yaml.
#
#   docker compose build        # or: docker build -t airflow-provider-smpipe:airflow-3.3.2 .
#
# Every Airflow service (api-server, scheduler, dag-processor, triggerer, init) and the `emulator`
# service run this one image. The triggerer needs the provider installed because it imports the
# provider's trigger classes; an installed distribution (not just PYTHONPATH) is also what makes the
# `apache_airflow_provider` entry point, and so `airflow providers list`, see it.
#
# The Airflow version lives in this one ARG. It is declared before FROM (to pick the base image) and
# again after it (an ARG declared before FROM is not visible to RUN otherwise).
ARG AIRFLOW_VERSION=3.3.2
FROM apache/airflow:${AIRFLOW_VERSION}
ARG AIRFLOW_VERSION

# Only what building the wheel needs (pyproject.toml reads README.md and the package's __version__).
COPY --chown=airflow:0 pyproject.toml README.md /opt/provider/
COPY --chown=airflow:0 airflow_provider_smpipe /opt/provider/airflow_provider_smpipe

# One pip call, with apache-airflow pinned to the base image's version, so resolving the provider's
# dependencies (amazon provider with aiobotocore, moto[server] for the emulator) can never up- or
# downgrade Airflow itself (the advice of Airflow's docker-compose guide).
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "/opt/provider[emulator]"
