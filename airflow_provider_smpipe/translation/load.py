"""Translation, step 1 of load -> plan -> render: read and validate the definition, cached in memory.

Airflow parses a DAG file over and over (the DAG processor every ``min_file_process_interval``,
each worker before every task). Within a process the validated definition is cached in memory, by
file identity (path, device, inode, size, modification and change times) or by the SHA-256 of JSON
text or of a dict's JSON; an entry is only stored when the file did not change while it was read.

There is **no disk cache**. Earlier versions kept validated definitions as pickles in
``$SMPIPE_CACHE_DIR`` (default ``$AIRFLOW_HOME/smpipe_cache``) and unpickled whatever file had the
expected name, so anyone who could write to that directory ran code in every DAG processor and
worker. Keeping the cache as data was considered: a JSON entry keyed by the SHA-256 of the
definition text and the provider version, marking the text as validated so that a hit skips the
expensive checks. It is not safe either: whoever can write the directory can mark *any* text as
validated, and a definition that skipped validation is exactly what the validator protects the
DAG processor from (tracebacks instead of located errors, or tasks built from a broken step).
Making entries unforgeable needs a secret every Airflow process shares and the cache's writers do
not, which this provider does not have. And the gain is small: what a fresh process re-parsing an
unchanged file saves is the validation (about 0.1 ms a step; 10 ms for a 100-step definition,
70-80 ms for 1000 steps, see ``benchmarks/bench_translation_build.py``). So the directory is never
read nor written; files left in it by earlier versions are ignored and can be deleted.

The definition is never fetched from AWS here (use ``smpipe export`` to snapshot a deployed
pipeline into a file).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Mapping
from typing import Any

from airflow_provider_smpipe.definition.loader import load_definition
from airflow_provider_smpipe.definition.model import PipelineDefinition
from airflow_provider_smpipe.translation.plan import check_supported

_MEMORY: dict[tuple[Any, ...], PipelineDefinition] = {}
_MEMORY_LIMIT = 64

DefinitionSource = str | os.PathLike[str] | Mapping[str, Any]


def _memory_key(source: DefinitionSource) -> tuple[Any, ...] | None:
    """The in-memory cache key of ``source``, or ``None`` when it cannot be cached (the loader then
    reports what is wrong with it: a missing file, a directory, a dict that is not JSON, ...)."""
    try:
        if isinstance(source, Mapping):
            # Unsorted keys: a different key order only costs a cache miss, and sorting is the slow part.
            text = json.dumps(source, ensure_ascii=False, allow_nan=False)
            return ("dict", hashlib.sha256(text.encode("utf-8")).hexdigest())
        if isinstance(source, str) and source.lstrip().startswith(("{", "[")):
            return ("json", hashlib.sha256(source.encode("utf-8")).hexdigest())
        if isinstance(source, (str, os.PathLike)):
            path = os.path.realpath(os.fsdecode(source))
            info = os.stat(path)
            if not stat.S_ISREG(info.st_mode):
                return None
            return ("file", path, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
    except (TypeError, ValueError, RecursionError, OSError, UnicodeError):
        return None
    return None


def load_for_translation(source: DefinitionSource) -> PipelineDefinition:
    """The validated definition, refusing step types translation cannot run.

    :raises InvalidDefinitionError: located problems (shown by Airflow as the DAG's import error).
    """
    key = _memory_key(source)
    definition = _MEMORY.get(key) if key is not None else None
    if definition is None:
        definition = load_definition(source)
        check_supported(definition)
        definition.content_hash()  # computed once, kept with the entry
        if key is not None and (key[0] != "file" or _memory_key(source) == key):  # unchanged while read
            if len(_MEMORY) >= _MEMORY_LIMIT:
                _MEMORY.pop(next(iter(_MEMORY)))
            _MEMORY[key] = definition
    return definition
