"""Translation, step 1 of load -> plan -> render: read and validate the definition, cached per process.

Airflow 3 workers parse the DAG file again before every task, so the validated definition is cached
by file identity (path, size, modification time) or by content hash; the definition is never fetched
from AWS here (use ``smpipe export`` to snapshot a deployed pipeline into a file).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.plan import check_supported

_CACHE: dict[tuple[Any, ...], PipelineDefinition] = {}
_CACHE_LIMIT = 64

DefinitionSource = str | os.PathLike[str] | Mapping[str, Any]


def _key(source: DefinitionSource) -> tuple[Any, ...]:
    if isinstance(source, Mapping):
        return ("dict", hashlib.sha256(json.dumps(source, sort_keys=True, default=str).encode()).hexdigest())
    text = str(source)
    if isinstance(source, str) and text.lstrip().startswith("{"):
        return ("json", hashlib.sha256(text.encode()).hexdigest())
    path = Path(source).resolve()
    stat = path.stat()
    return ("file", str(path), stat.st_size, stat.st_mtime_ns)


def load_for_translation(source: DefinitionSource) -> PipelineDefinition:
    """The validated definition, refusing step types translation cannot run.

    :raises InvalidDefinitionError: located problems (shown by Airflow as the DAG's import error).
    """
    try:
        key = _key(source)
    except FileNotFoundError:
        return load_definition(source)  # raises the located "no such file" error
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    definition = load_definition(source)
    check_supported(definition)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[key] = definition
    return definition
