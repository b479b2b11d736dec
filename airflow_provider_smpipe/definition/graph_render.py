"""Text renderings of the step graph: JSON, Mermaid and Graphviz dot.

A ForEach's body is drawn as a subgraph (cluster) labelled with its fan-out; an edge from a
run-condition ``DependsOn`` entry is dotted and labelled with its trigger ("on Failed"); a
Condition's branch edges are labelled true/false.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_smpipe.definition.model import COMPLETED, PipelineDefinition

_MERMAID_SHAPES = {"Condition": ("{", "}"), "Fail": ("[[", "]]"), "ForEach": ("[/", "/]"), "Cleanup": ("[(", ")]")}
_DOT_SHAPES = {"Condition": "diamond", "Fail": "octagon", "ForEach": "parallelogram", "Cleanup": "cylinder"}


def graph_document(definition: PipelineDefinition) -> dict[str, object]:
    """``{"steps", "edges", "types"}`` (sorted), plus ``depends_on_triggers`` (every ``DependsOn``
    entry with its trigger, ``Completed`` for a plain name) and ``for_each`` (each ForEach's body,
    items, concurrency and selector), in the SDK v3 fixtures' ``expected`` format."""
    triggers = [
        {"from": dep.step, "to": name, "trigger": dep.trigger, "form": dep.form}
        for name, step in definition.steps.items()
        for dep in step.dependencies
        if dep.step in definition.graph.upstream.get(name, ())
    ]
    for_each: dict[str, Any] = {}
    for name, step in definition.steps.items():
        if step.for_each is None:
            continue
        selector = step.arguments.get("Selector")
        for_each[name] = {
            "body": list(step.for_each.body),
            "iterable_items": step.for_each.items,
            "max_concurrency": step.for_each.max_concurrency,
            "selector": selector,
        }
    return {
        "steps": sorted(definition.steps),
        "edges": [list(edge) for edge in definition.graph.edges()],
        "types": {name: definition.steps[name].type for name in sorted(definition.steps)},
        "depends_on_triggers": sorted(triggers, key=lambda t: (t["to"], t["from"])),
        "for_each": dict(sorted(for_each.items())),
    }


def render_graph(definition: PipelineDefinition, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(graph_document(definition), indent=2)
    if fmt == "mermaid":
        return _mermaid(definition)
    if fmt == "dot":
        return _dot(definition)
    raise ValueError(f"unknown graph format {fmt!r}")


def _edge_label(definition: PipelineDefinition, up: str, down: str) -> tuple[str, str]:
    """``(kind, text)``: kind ``branch-true``/``branch-false``, ``body``, ``trigger`` or ``plain``."""
    step = definition.steps[down]
    if step.parent_condition == up:
        return ("branch-true", "if true") if step.branch == "IfSteps" else ("branch-false", "if false")
    if step.parent_for_each == up:
        return "body", "for each"
    trigger = definition.graph.triggers.get((up, down))
    if trigger is not None and trigger != COMPLETED:
        return "trigger", f"on {trigger}"
    return "plain", ""


def _fan_out_label(definition: PipelineDefinition, name: str) -> str:
    spec = definition.steps[name].for_each
    assert spec is not None
    items = f"{len(spec.items)} items" if isinstance(spec.items, list) else "items from an expression"
    return f"for each of {items} of {name}, at most {spec.max_concurrency} at once"


def _mermaid(definition: PipelineDefinition) -> str:
    ids = {name: f"s{i}" for i, name in enumerate(definition.graph.topological_order())}
    lines = ["flowchart TD"]

    def node(name: str, indent: str) -> str:
        step = definition.steps[name]
        left, right = _MERMAID_SHAPES.get(step.type, ("[", "]"))
        return f'{indent}{ids[name]}{left}"{name}<br/><i>{step.type}</i>"{right}'

    for name in ids:
        if definition.steps[name].parent_for_each is None:
            lines.append(node(name, "    "))
    for name, step in definition.steps.items():
        if step.for_each is not None:
            lines.append(f'    subgraph {ids[name]}_body["{_fan_out_label(definition, name)}"]')
            lines.extend(node(body, "        ") for body in step.for_each.body if body in ids)
            lines.append("    end")
    for up, down in definition.graph.edges():
        kind, text = _edge_label(definition, up, down)
        if kind == "trigger":
            lines.append(f"    {ids[up]} -. {text} .-> {ids[down]}")
        elif text:
            lines.append(f"    {ids[up]} -->|{text}| {ids[down]}")
        else:
            lines.append(f"    {ids[up]} --> {ids[down]}")
    return "\n".join(lines)


def _dot(definition: PipelineDefinition) -> str:
    lines = ["digraph pipeline {", "  rankdir=TB;", "  node [shape=box, fontname=Helvetica];"]

    def node(name: str, indent: str) -> str:
        step = definition.steps[name]
        return f'{indent}"{name}" [label="{name}\\n{step.type}", shape={_DOT_SHAPES.get(step.type, "box")}];'

    for name in definition.graph.topological_order():
        if definition.steps[name].parent_for_each is None:
            lines.append(node(name, "  "))
    for name, step in definition.steps.items():
        if step.for_each is not None:
            lines.append(f'  subgraph "cluster_{name}" {{')
            lines.append(f'    label="{_fan_out_label(definition, name)}"; style=dashed;')
            lines.extend(node(body, "    ") for body in step.for_each.body if body in definition.steps)
            lines.append("  }")
    attributes = {
        "branch-true": ' [label="true"]',
        "branch-false": ' [label="false", style=dashed]',
        "body": ' [label="for each", style=bold]',
        "plain": "",
    }
    for up, down in definition.graph.edges():
        kind, text = _edge_label(definition, up, down)
        attrs = f' [label="{text}", style=dotted]' if kind == "trigger" else attributes[kind]
        lines.append(f'  "{up}" -> "{down}"{attrs};')
    lines.append("}")
    return "\n".join(lines)
