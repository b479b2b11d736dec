"""Translation, step 1 of load -> plan -> render: read and validate the definition, cached.

Airflow parses a DAG file over and over (the DAG processor every ``min_file_process_interval``,
each worker before every task), usually in a fresh process. Validating a 1000-step definition
takes a few hundred milliseconds, so the validated definition is cached twice:

* in memory, by file identity (path, size, modification time) or content hash;
* on disk, by the SHA-256 of the definition text and the provider version, in
  ``$SMPIPE_CACHE_DIR`` (default ``$AIRFLOW_HOME/smpipe_cache``; set it to an empty string to turn
  the disk cache off). Only files this provider wrote are read back, and a changed definition has a
  new key, so a stale entry is never used.

The definition is never fetched from AWS here (use ``smpipe export`` to snapshot a deployed
pipeline into a file).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_provider_smpipe import __version__
from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.plan import check_supported

_MEMORY: dict[tuple[Any, ...], PipelineDefinition] = {}
_MEMORY_LIMIT = 64

DefinitionSource = str | os.PathLike[str] | Mapping[str, Any]


def cache_dir() -> Path | None:
    configured = os.environ.get("SMPIPE_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    home = os.environ.get("AIRFLOW_HOME") or str(Path.home() / "airflow")
    return Path(home) / "smpipe_cache"


def _memory_key(source: DefinitionSource) -> tuple[Any, ...]:
    if isinstance(source, Mapping):
        # Unsorted keys: a different key order only costs a cache miss, and sorting is the slow part.
        return ("dict", hashlib.sha1(json.dumps(source, default=str).encode()).hexdigest())
    text = str(source)
    if isinstance(source, str) and text.lstrip().startswith("{"):
        return ("json", hashlib.sha1(text.encode()).hexdigest())
    path = Path(source).resolve()
    stat = path.stat()
    return ("file", str(path), stat.st_size, stat.st_mtime_ns)


def _text_of(source: DefinitionSource) -> tuple[str, str | None]:
    """The definition text and, for files, the path (so messages name the file)."""
    if isinstance(source, Mapping):
        return json.dumps(source, default=str), None
    if isinstance(source, str) and source.lstrip().startswith("{"):
        return source, None
    return Path(source).read_text(encoding="utf-8"), str(source)


def _disk_path(text: str) -> Path | None:
    directory = cache_dir()
    if directory is None:
        return None
    digest = hashlib.sha256(f"{__version__}\0{text}".encode()).hexdigest()
    return directory / f"{digest}.pickle"


def _read_disk(path: Path | None) -> PipelineDefinition | None:
    if path is None or not path.is_file():
        return None
    try:
        with path.open("rb") as handle:
            cached = pickle.load(handle)  # noqa: S301 - a file this module wrote, named by content hash
    except Exception:  # noqa: BLE001 - a corrupt or foreign entry is a cache miss, never an error
        return None
    return cached if isinstance(cached, PipelineDefinition) else None


def _write_disk(path: Path | None, definition: PipelineDefinition) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as handle:
            pickle.dump(definition, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(handle.name, path)  # atomic: concurrent parsers never read half a file
    except OSError:
        pass  # a read-only or full disk only costs speed


def load_for_translation(source: DefinitionSource) -> PipelineDefinition:
    """The validated definition, refusing step types translation cannot run.

    :raises InvalidDefinitionError: located problems (shown by Airflow as the DAG's import error).
    """
    try:
        key = _memory_key(source)
    except FileNotFoundError:
        return load_definition(source)  # raises the located "no such file" error
    definition = _MEMORY.get(key)
    if definition is None:
        text, path = _text_of(source)
        disk = _disk_path(text)
        definition = _read_disk(disk)
        if definition is None:
            definition = load_definition(path if path is not None else text)
            check_supported(definition)
            definition.content_hash()  # computed once, stored with the entry
            _write_disk(disk, definition)
        if len(_MEMORY) >= _MEMORY_LIMIT:
            _MEMORY.pop(next(iter(_MEMORY)))
        _MEMORY[key] = definition
    return definition
