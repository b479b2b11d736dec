"""Every code snippet in README.md is exercised, so the README cannot drift from the code.

* ``python`` blocks are executed (from the repository root, as a reader would);
* ``json`` blocks must parse;
* ``text`` blocks that show a ``$ smpipe ...`` transcript are run and their output compared;
* ``bash`` blocks may only call scripts that exist or ``smpipe`` subcommands that exist.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
SMPIPE = str(REPO / ".venv" / "bin" / "smpipe")


def blocks(language: str) -> list[str]:
    return [body for lang, body in BLOCK.findall(README) if lang == language]


def test_the_readme_has_snippets_of_each_kind() -> None:
    assert len(blocks("python")) >= 3 and len(blocks("json")) >= 2 and blocks("bash") and blocks("text")


@pytest.mark.parametrize("index", range(len(blocks("python"))))
def test_python_snippet_runs(index: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    exec(compile(blocks("python")[index], f"README.md python block {index}", "exec"), {"__name__": "readme_snippet"})  # noqa: S102


@pytest.mark.parametrize("index", range(len(blocks("json"))))
def test_json_snippet_parses(index: int) -> None:
    json.loads(blocks("json")[index])


def _transcripts() -> list[tuple[str, list[str]]]:
    found = []
    for body in blocks("text"):
        lines = body.splitlines()
        for number, line in enumerate(lines):
            if line.startswith("$ smpipe "):
                output = []
                for following in lines[number + 1 :]:
                    if following.startswith("$ "):
                        break
                    output.append(following)
                found.append((line[2:], output))
    return found


@pytest.mark.parametrize(("command", "expected"), _transcripts(), ids=[c for c, _ in _transcripts()])
def test_smpipe_transcript_matches(command: str, expected: list[str], tmp_path: Path) -> None:
    words = shlex.split(command.split("  #")[0])
    if "broken.json" in words:  # the README's broken file: abalone.json with the two typos it describes
        text = (REPO / "dags_examples" / "definitions" / "abalone.json").read_text()
        text = text.replace("Steps.PreprocessAbaloneData.ProcessingOutputConfig.Outputs['train']", "Steps.PreprocessAbalone.ProcessingOutputConfig.Outputs['train']", 1)
        text = text.replace("Steps.EvaluateAbaloneModel.PropertyFiles.EvaluationReport", "Steps.EvaluateAbaloneModel.PropertyFiles.EvalReport", 1)
        (tmp_path / "broken.json").write_text(text)
    result = subprocess.run([SMPIPE, *words[1:]], cwd=tmp_path if "broken.json" in words else REPO, capture_output=True, text=True, env=os.environ)
    shown = [line for line in expected if line.strip()]
    actual = [line for line in (result.stdout + result.stderr).strip().splitlines() if line.strip()]
    assert actual == shown


def test_bash_snippets_call_things_that_exist() -> None:
    subcommands = {"validate", "graph", "dry-run", "export", "emulator", "events"}
    for body in blocks("bash"):
        for line in body.splitlines():
            line = line.split("#")[0].strip()
            if not line:
                continue
            words = shlex.split(line.replace("[", "").replace("]", ""))
            if words[0] == "bash":
                assert (REPO / words[1]).is_file(), line
            elif words[0].endswith("smpipe"):
                assert words[1] in subcommands, line
                # `smpipe events setup`: the subcommand's own subcommand must exist too.
                command = words[1:3] if words[1] == "events" else words[1:2]
                help_run = subprocess.run([SMPIPE, *command, "--help"], capture_output=True, text=True)
                assert help_run.returncode == 0, help_run.stderr
            elif words[0] == "pip":
                assert "airflow-provider-smpipe" in line
            else:
                raise AssertionError(f"README bash line not checked by this test: {line}")


def test_the_translation_table_lists_every_step_type_as_the_code_handles_it() -> None:
    from airflow_provider_smpipe.definition.model import OPAQUE_STEP_TYPES, STEP_TYPES
    from airflow_provider_smpipe.translation.plan import REFUSED, SUPPORT

    table = README[README.index("| step type | in translation mode |") :]
    table = table[: table.index("\n\n")]
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ", 1)[1].rstrip(" |") for line in table.splitlines()[2:]}
    for step_type, how in SUPPORT.items():
        assert rows[step_type] == how
    for step_type in ("QualityCheck", "ClarifyCheck", "Lineage", "InferenceComponent"):
        assert rows[step_type] == f"**refused at DAG-build time**: {REFUSED[step_type]}"
    assert rows[", ".join(OPAQUE_STEP_TYPES)] == f"**refused at DAG-build time**: {REFUSED[OPAQUE_STEP_TYPES[0]]}"
    assert set(SUPPORT) | set(REFUSED) == set(STEP_TYPES)  # every type the core knows is in the table
