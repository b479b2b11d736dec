"""Example 7's sweep window for the runs Airflow 3 really makes: ``@weekly`` is a
``CronTriggerTimetable``, so scheduled and backfilled runs have an *empty* data interval (start ==
end == the logical date). ``dag.test()`` runs get a week-long inferred interval instead, which hid
that every scheduled or backfilled run swept no day at all (found by the real-deployment backfill
test, ``tests/deployment/test_examples_e2e.py``)."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType, SimpleNamespace
from typing import Any

import pendulum
from native_helpers import REPO_ROOT


def example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hp_sweep_native_example", REPO_ROOT / "dags_examples" / "hp_sweep_native.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def days(items: str) -> list[str]:
    return [item["day"] for item in json.loads(items)]


def run(start: Any, end: Any, logical_date: Any, run_after: Any) -> SimpleNamespace:
    return SimpleNamespace(data_interval_start=start, data_interval_end=end, logical_date=logical_date, run_after=run_after)


def test_a_scheduled_or_backfilled_run_sweeps_the_week_before_its_date() -> None:
    sunday = pendulum.datetime(2026, 11, 15, tz="UTC")
    items = example().sweep_items(run(sunday, sunday, sunday, sunday))  # what the scheduler and a backfill make
    assert days(items) == [f"2026-11-{d:02d}" for d in range(8, 15)]


def test_a_real_data_interval_is_swept_as_is() -> None:
    start, end = pendulum.datetime(2026, 11, 1, tz="UTC"), pendulum.datetime(2026, 11, 4, tz="UTC")
    assert days(example().sweep_items(run(start, end, start, end))) == ["2026-11-01", "2026-11-02", "2026-11-03"]


def test_a_run_without_a_logical_date_sweeps_the_week_before_it_was_triggered() -> None:
    triggered = pendulum.datetime(2026, 12, 2, 13, 30, tz="UTC")
    assert days(example().sweep_items(run(None, None, None, triggered))) == [f"2026-11-{d:02d}" for d in range(25, 31)] + ["2026-12-01"]
