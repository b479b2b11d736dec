"""A real Airflow 3 deployment, started by a test: separate processes on one SQLite metadata DB.

``dag.test()`` runs a DAG's tasks one after another in the test's own process, so it can say
nothing about what happens when tasks really run at the same time (concurrency caps, the
triggerer, the Execution API between workers and the API server). :class:`AirflowDeployment`
starts what a small production installation runs::

    airflow api-server      # REST API, UI, and the Execution API the task workers talk to
    airflow scheduler       # with the LocalExecutor: task processes are its children
    airflow dag-processor   # parses the DAGs folder into the metadata DB
    airflow triggerer       # runs the deferred tasks' triggers

each in its own session (and process group), in a fresh ``AIRFLOW_HOME`` under a temporary directory, and talks
to it only through the public REST API (``/api/v2``), the way a user or a CI system would.

Usage::

    with AirflowDeployment(tmp_path, env={"AIRFLOW_CONN_AWS_DEFAULT": ...}) as airflow:
        (airflow.dags_folder / "my_dag.py").write_text(...)
        airflow.wait_for_dag("my_dag")
        run_id = airflow.trigger("my_dag")
        run = airflow.wait_for_run("my_dag", run_id)
        airflow.task_instances("my_dag", run_id)

The processes are always stopped (each component's whole session: executor workers and task
processes included) when the ``with`` block ends, whatever happened inside it.
:meth:`AirflowDeployment.diagnostics` gives the tail of every component's log and of the task logs,
for failure reports.

The Airflow settings this deployment shares with ``docker-compose.yaml`` and
``bash scripts/airflow.sh up`` come from ``deploy/airflow.env`` (each with its reason); the
process management (spawning, ``db migrate``, health, stopping) is ``scripts/local_airflow.py``'s,
the code behind ``scripts/airflow.sh``. Only what is specific to a test deployment is set here.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType, TracebackType
from typing import Any
from urllib.parse import quote

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]


def _shared_module() -> ModuleType:
    """``scripts/local_airflow.py``, imported once per process under the name ``local_airflow``
    (scripts/ is not a package, and not on the test path)."""
    name = "local_airflow"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / "local_airflow.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: its dataclasses look their module up there
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return sys.modules[name]


local_airflow = _shared_module()

#: Re-exported: tests import these from here.
DeploymentError = local_airflow.DeploymentError
free_port = local_airflow.free_port
tail = local_airflow.tail
poll = local_airflow.poll
#: What Airflow's scheduler logs when its scheduling loop raised; it then shuts down (and may hang).
SCHEDULER_LOOP_DIED = "Exception when executing SchedulerJob._run_scheduler_loop"
_lines = local_airflow._lines
#: The long-running components, in the order they are started.
COMPONENTS: tuple[str, ...] = local_airflow.COMPONENTS
#: Health report key of each component in ``GET /api/v2/monitor/health``.
HEALTH_KEYS: dict[str, str] = local_airflow.HEALTH_KEYS
#: Dag run states after which nothing changes any more.
FINISHED_RUN_STATES = frozenset({"success", "failed"})
#: A log line worth showing on its own in a failure report (Airflow's console format and its JSON
#: task logs; tracebacks of components that crashed).
NOTABLE = re.compile(r"\[(error|warning|critical)\s*\]|\"level\":\s*\"(error|warning|critical)\"|^Traceback|^\w*(Error|Exception):", re.IGNORECASE)


class AirflowDeployment:
    """A running Airflow deployment (api-server, scheduler + LocalExecutor, dag-processor,
    triggerer) in ``<root>/airflow-home``, on SQLite, reachable on ``base_url`` (127.0.0.1).

    :param root: an empty directory this deployment may fill (home, DAGs folder, logs).
    :param env: extra environment for every component (connections, AWS settings...); it wins
        over the deployment's own settings, so a test can change any of them.
    :param parallelism: ``[core] parallelism``: how many task instances the LocalExecutor runs at
        once (it is also the number of worker processes it starts). Deferred tasks do not count
        against it; keep it above any per-task cap a test measures, so the cap is what binds.
    :param startup_timeout: seconds for ``airflow db migrate`` plus the components to be healthy.
    """

    def __init__(self, root: Path, *, env: Mapping[str, str] | None = None, parallelism: int = 4, startup_timeout: float = 150.0) -> None:
        self.root = Path(root)
        self.home = self.root / "airflow-home"
        self.dags_folder = self.root / "dags"
        self.component_logs = self.root / "component-logs"
        self.task_logs = self.home / "logs"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.parallelism = parallelism
        self.startup_timeout = startup_timeout
        self.env = self._environment(env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        # What stop() needs to find each component's whole session again (see local_airflow); every
        # start of a component, a restarted one's earlier sessions included (what a killed leader
        # left behind, such as task processes in their own process groups, is stopped too).
        self._records: list[Any] = []
        self._token: str | None = None
        #: Components restarted after their loop died (see :meth:`_restart_a_dead_scheduler`).
        self.restarts: list[str] = []
        #: Seconds taken by ``db migrate`` and by the whole start-up (for reports).
        self.timings: dict[str, float] = {}
        # trust_env=False: a proxy from the CI environment (HTTP_PROXY) must never see loopback calls.
        self.http = httpx.Client(base_url=self.base_url, timeout=30.0, trust_env=False)

    # -- configuration ---------------------------------------------------------------------------

    def _environment(self, extra: Mapping[str, str]) -> dict[str, str]:
        """The environment of every Airflow process: this process's environment without any Airflow
        or pytest variable (the test session's Airflow configuration must not leak in), the shared
        settings of ``deploy/airflow.env``, what ties this deployment's processes together, the
        settings below that only a test deployment wants, then ``extra``."""
        env = local_airflow.without_airflow_settings(os.environ)
        env.update(local_airflow.shared_settings())
        env.update(local_airflow.new_secrets())
        env.update(local_airflow.process_settings(home=self.home, port=self.port, base_url=self.base_url))
        env.update(
            {
                "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": local_airflow.sqlite_url(self.home / "airflow.db"),
                "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
                # SimpleAuthManager (deploy/airflow.env) with everyone admin: the test gets a token
                # from GET /auth/token without credentials.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            }
        )
        env.update(extra)
        return env

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> AirflowDeployment:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> None:
        """Create the home and DB, start the four components, wait until they are healthy."""
        for folder in (self.home, self.dags_folder, self.component_logs):
            folder.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        deadline = began + self.startup_timeout
        local_airflow.migrate(self.env, cwd=self.root, log=self.component_logs / "db-migrate.log", timeout=max(10.0, deadline - time.monotonic()))
        self.timings["db migrate"] = time.monotonic() - began
        for name in COMPONENTS:
            self._spawn(name)
        self._wait_healthy(timeout=max(10.0, deadline - time.monotonic()))
        self.timings["start-up"] = time.monotonic() - began

    def _spawn(self, name: str) -> None:
        process, record = local_airflow.spawn(name, local_airflow.component_args(name), env=self.env, cwd=self.root, log=self.component_logs / f"{name}.log")
        self.processes[name] = process
        self._records.append(record)

    def check_alive(self) -> None:
        """Restart a scheduler whose loop died (see :data:`SCHEDULER_LOOP_DIED`); raise
        :class:`DeploymentError` (with its log) when a component has exited otherwise."""
        self._restart_a_dead_scheduler()
        for name, process in self.processes.items():
            code = process.poll()
            if code is not None:
                raise DeploymentError(f"airflow {name} exited with code {code}\n--- {name}.log (tail) ---\n{tail(self.component_logs / f'{name}.log')}")

    def _restart_a_dead_scheduler(self) -> None:
        """What a production supervisor does (systemd ``Restart=``, a Kubernetes liveness probe on
        the scheduler's heartbeat): Airflow's scheduler loop can die on a known race of its own
        (``StaleDataError`` on ``dag_run`` after a backfill, apache/airflow#63926, seen here on
        SQLite), after which the process hangs waiting for its executor instead of exiting. Such a
        scheduler is killed and started again; its log is kept as ``scheduler.crashed-<n>.log`` and
        the restart is listed in :attr:`restarts` (and in the diagnostics)."""
        log = self.component_logs / "scheduler.log"
        process = self.processes.get("scheduler")
        if process is None or not log.exists() or SCHEDULER_LOOP_DIED not in log.read_text(errors="replace"):
            return
        self.restarts.append(f"scheduler at {time.strftime('%H:%M:%S')}: its loop died ({SCHEDULER_LOOP_DIED!r}); restarted")
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=30)
        shutil.copy(log, self.component_logs / f"scheduler.crashed-{len(self.restarts)}.log")
        self._spawn("scheduler")

    def _wait_healthy(self, timeout: float) -> None:
        def healthy() -> dict[str, Any] | None:
            report: dict[str, Any] | None = local_airflow.health_report(self.http)
            return report if not local_airflow.unhealthy(report) else None

        try:
            poll(healthy, timeout=timeout, interval=0.5, what="all components to report healthy", check=self.check_alive)
        except DeploymentError as exc:
            raise DeploymentError(f"{exc}\n{self.diagnostics(task_logs=False)}") from None

    def stop(self, grace: float = 15.0) -> None:
        """Stop every component and everything it started (executor workers, task processes in
        their own process groups): SIGTERM, SIGKILL after ``grace`` seconds.

        Safe to call more than once and after a partial start."""

        def reap() -> None:
            for process in self.processes.values():
                process.poll()

        local_airflow.stop_processes(self._records, grace=grace, reap=reap)
        for process in self.processes.values():
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self.processes.clear()
        self._records.clear()
        self.http.close()

    # -- REST API --------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT for the REST API. With ``simple_auth_manager_all_admins`` the auth manager hands
        one out without credentials on ``GET /auth/token`` (``POST`` wants a username/password)."""
        if self._token is None:
            response = self.http.get("/auth/token")
            response.raise_for_status()
            self._token = str(response.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, *, expect: int | tuple[int, ...] = (200,), **kwargs: Any) -> Any:
        """Call ``/api/v2<path>`` with the bearer token; the decoded JSON body. An unexpected
        status is a :class:`DeploymentError` that quotes the response."""
        response = self.http.request(method, f"/api/v2{path}", headers={"Authorization": f"Bearer {self.token()}"}, **kwargs)
        expected = (expect,) if isinstance(expect, int) else expect
        if response.status_code not in expected:
            raise DeploymentError(f"{method} /api/v2{path} -> HTTP {response.status_code}: {response.text[:2000]}")
        return response.json() if response.content else None

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self.api("GET", "/importErrors", params={"limit": 100})["import_errors"])

    def wait_for_dag(self, dag_id: str, filename: str | None = None, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id`` into the DB; its ``GET /dags/{id}``.

        Fails at once (not at the deadline) when the DAG's file has an import error: the message
        is the traceback the dag-processor recorded."""

        def parsed() -> dict[str, Any] | None:
            if filename is not None:
                for error in self.import_errors():
                    if str(error.get("filename", "")).endswith(filename):
                        raise DeploymentError(f"{filename} failed to import:\n{error.get('stack_trace')}")
            response = self.http.get(f"/api/v2/dags/{quote(dag_id)}", headers={"Authorization": f"Bearer {self.token()}"})
            if response.status_code == 404:
                return None
            response.raise_for_status()
            return dict(response.json())

        return poll(parsed, timeout=timeout, interval=0.5, what=f"DAG {dag_id} to be parsed", check=self.check_alive)

    def trigger(self, dag_id: str, conf: Mapping[str, Any] | None = None) -> str:
        """Unpause ``dag_id`` and start a manual run (no logical date, like the UI's trigger
        button in Airflow 3); the run id."""
        self.api("PATCH", f"/dags/{quote(dag_id)}", json={"is_paused": False})
        run = self.api("POST", f"/dags/{quote(dag_id)}/dagRuns", json={"logical_date": None, "conf": dict(conf or {})})
        return str(run["dag_run_id"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return dict(self.api("GET", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}"))

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 120.0) -> dict[str, Any]:
        """Wait until the run is ``success`` or ``failed``; its ``GET .../dagRuns/{run_id}``."""

        def finished() -> dict[str, Any] | None:
            run = self.dag_run(dag_id, run_id)
            return run if run.get("state") in FINISHED_RUN_STATES else None

        try:
            return poll(finished, timeout=timeout, interval=1.0, what=f"run {run_id} of {dag_id} to finish", check=self.check_alive)
        except DeploymentError as exc:
            try:
                states: Any = sorted((ti["task_id"], ti["map_index"], ti["state"]) for ti in self.task_instances(dag_id, run_id))
            except (DeploymentError, httpx.HTTPError) as unavailable:  # keep the timeout as the error
                states = f"unavailable ({unavailable})"
            raise DeploymentError(f"{exc}\ntask instances: {states}") from None

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, each map index of a mapped task included."""
        found: list[dict[str, Any]] = []
        while True:
            page = self.api("GET", f"/dags/{quote(dag_id)}/dagRuns/{quote(run_id)}/taskInstances", params={"limit": 100, "offset": len(found)})
            found.extend(page["task_instances"])
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    # -- diagnostics -----------------------------------------------------------------------------

    def diagnostics(self, *, lines: int = 40, task_logs: bool = True) -> str:
        """For a failure report: each component's errors and warnings (the scheduler's verdicts,
        such as a task instance it marked failed, drown in its info lines), the tail of each
        component's log, and the tail of every task log."""
        parts = [f"Airflow deployment at {self.base_url}, home {self.home}"]
        parts.extend(f"restart: {restart}" for restart in self.restarts)
        for log in sorted(self.component_logs.glob("*.log")):
            notable = [line for line in _lines(log) if NOTABLE.search(line)]
            if notable:
                parts.append(f"--- {log.name}: errors and warnings (last {lines}) ---\n" + "\n".join(notable[-lines:]))
        for log in sorted(self.component_logs.glob("*.log")):
            parts.append(f"--- {log.name} (last {lines} lines) ---\n{tail(log, lines)}")
        if task_logs:
            for log in sorted(self.task_logs.glob("dag_id=*/**/*.log")):
                parts.append(f"--- task log {log.relative_to(self.task_logs)} (last {lines} lines) ---\n{tail(log, lines)}")
        return "\n".join(parts)

