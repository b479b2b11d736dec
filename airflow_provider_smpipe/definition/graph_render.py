"""Text renderings of the step graph: JSON, Mermaid and Graphviz dot."""

from __future__ import annotations

import json

from airflow_provider_smpipe.definition.model import PipelineDefinition

_MERMAID_SHAPES = {"Condition": ("{", "}"), "Fail": ("[[", "]]")}


def graph_document(definition: PipelineDefinition) -> dict[str, object]:
    """``{"steps": [...], "edges": [[up, down], ...]}``, both sorted, plus each step's type."""
    return {
        "steps": sorted(definition.steps),
        "edges": [list(edge) for edge in definition.graph.edges()],
        "types": {name: definition.steps[name].type for name in sorted(definition.steps)},
    }


def render_graph(definition: PipelineDefinition, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(graph_document(definition), indent=2)
    ids = {name: f"s{i}" for i, name in enumerate(definition.graph.topological_order())}
    if fmt == "mermaid":
        lines = ["flowchart TD"]
        for name, node in ids.items():
            step = definition.steps[name]
            left, right = _MERMAID_SHAPES.get(step.type, ("[", "]"))
            lines.append(f'    {node}{left}"{name}<br/><i>{step.type}</i>"{right}')
        for up, down in definition.graph.edges():
            step = definition.steps[down]
            label = ""
            if step.parent_condition == up:
                label = "|if true|" if step.branch == "IfSteps" else "|if false|"
            lines.append(f"    {ids[up]} -->{label} {ids[down]}")
        return "\n".join(lines)
    if fmt == "dot":
        lines = ["digraph pipeline {", "  rankdir=TB;", "  node [shape=box, fontname=Helvetica];"]
        for name in ids:
            step = definition.steps[name]
            shape = {"Condition": "diamond", "Fail": "octagon"}.get(step.type, "box")
            lines.append(f'  "{name}" [label="{name}\\n{step.type}", shape={shape}];')
        for up, down in definition.graph.edges():
            step = definition.steps[down]
            attrs = ""
            if step.parent_condition == up:
                attrs = ' [label="true"]' if step.branch == "IfSteps" else ' [label="false", style=dashed]'
            lines.append(f'  "{up}" -> "{down}"{attrs};')
        lines.append("}")
        return "\n".join(lines)
    raise ValueError(f"unknown graph format {fmt!r}")
