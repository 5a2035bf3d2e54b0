"""The workflow file: its canonical form (keys in a fixed order, defaults written out, layout apart from the logic),
its JSON Schema, and the places in a definition that name another workflow. Pure: no database here."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from studio_shared.errors import Problem
from studio_shared.schemas import NodeRegistry, workflow_schema
from studio_shared.store.schedules import CATCH_UP_POLICIES, MAX_SCHEDULES_PER_WORKFLOW, OVERLAP_POLICIES
from studio_shared.store.workflows import MAX_DESCRIPTION, MAX_NAME, MAX_NOTE
from studio_shared.types import WebhookAuth
from studio_shared.workflow_files.yamlio import Inline

FORMAT = "studio-workflow/1"
SCHEMA_ID = "https://workflow-agent-studio.dev/schemas/workflow-file.schema.json"
SCHEMA_PATH = "/schemas/workflow-file.schema.json"  # where `studio serve` serves file_schema()
MAX_WEBHOOKS = 50

TOP_KEYS = ("format", "name", "description", "note", "settings", "triggers", "definition", "layout")
NODE_KEYS = ("id", "type", "label", "notes", "config", "retry", "timeout_s", "on_error")
EDGE_KEYS = ("source", "target", "branch")
WEBHOOK_DEFAULTS: dict[str, Any] = {
    "auth": WebhookAuth.STANDARD.value,
    "enabled": True,
    "rate_limit_per_minute": None,
    "replay_window_s": None,
}
SCHEDULE_DEFAULTS: dict[str, Any] = {
    "cron": None,
    "timezone": "UTC",
    "input": None,
    "overlap": "skip",
    "catch_up": "skip",
    "catch_up_window_s": None,
    "jitter_s": 0,
    "enabled": True,
}


def _sorted(value: Any) -> Any:
    """``value`` with every mapping's keys sorted, at every depth."""
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _ordered(mapping: Mapping[str, Any], first: tuple[str, ...]) -> dict[str, Any]:
    """``first`` keys in that order, then the rest sorted; values sorted all the way down."""
    out = {key: _sorted(mapping[key]) for key in first if key in mapping}
    out.update({key: _sorted(mapping[key]) for key in sorted(mapping) if key not in first})
    return out


def split_layout(definition: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the definition without node positions and viewport, the layout: ``{viewport, nodes: {id: {x, y}}}``)."""
    nodes: list[Any] = []
    positions: dict[str, Any] = {}
    for node in definition.get("nodes") or []:
        if isinstance(node, dict) and "position" in node:
            position = node["position"]
            positions[str(node.get("id"))] = Inline(_sorted(position)) if isinstance(position, dict) else position
            node = {key: value for key, value in node.items() if key != "position"}
        nodes.append(node)
    body = {key: value for key, value in definition.items() if key != "viewport"}
    body["nodes"] = nodes
    layout: dict[str, Any] = {}
    if "viewport" in definition:
        viewport = definition["viewport"]
        layout["viewport"] = Inline(_sorted(viewport)) if isinstance(viewport, dict) else viewport
    if positions:
        layout["nodes"] = positions
    return body, layout


def merge_layout(body: Mapping[str, Any], layout: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[Problem]]:
    """The stored definition: ``body`` with the layout's positions and viewport put back; a layout entry for a node
    the definition lacks is a problem."""
    layout = layout or {}
    positions: Mapping[str, Any] = layout.get("nodes") or {}
    definition = dict(body)
    ids = set()
    nodes = []
    for node in body.get("nodes") or []:
        if isinstance(node, dict) and node.get("id") in positions:
            node = {**node, "position": positions[node["id"]]}
        if isinstance(node, dict):
            ids.add(node.get("id"))
        nodes.append(node)
    definition["nodes"] = nodes
    if "viewport" in layout:
        definition["viewport"] = layout["viewport"]
    problems = [
        Problem(("layout", "nodes", node_id), f"the definition has no node {node_id!r}", "UNKNOWN_NODE")
        for node_id in positions
        if node_id not in ids
    ]
    return definition, problems


def canonical_definition(body: Mapping[str, Any]) -> dict[str, Any]:
    out = _ordered(body, ("nodes", "edges"))
    if isinstance(body.get("nodes"), list):
        out["nodes"] = [_ordered(n, NODE_KEYS) if isinstance(n, dict) else n for n in body["nodes"]]
    if isinstance(body.get("edges"), list):
        out["edges"] = [_ordered(e, EDGE_KEYS) if isinstance(e, dict) else e for e in body["edges"]]
    return out


def _json_key(entry: Mapping[str, Any]) -> str:
    """Triggers have no name: files list them in this order, so that the order they were made in does not show."""
    return json.dumps(entry, sort_keys=True)


def _with_defaults(entry: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    return {key: _sorted(entry.get(key, default)) for key, default in defaults.items()}


def canonical_webhook(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = _with_defaults(entry, WEBHOOK_DEFAULTS)
    out["replay_window_s"] = out["replay_window_s"] or None  # 0 turns the window off, as null does
    return out


def canonical_schedule(entry: Mapping[str, Any]) -> dict[str, Any]:
    out = _with_defaults(entry, SCHEDULE_DEFAULTS)
    out["cron"] = " ".join(str(out["cron"]).split())
    return out


def document(
    *,
    name: str,
    description: str | None,
    note: str | None,
    error_workflow: str | None,
    webhooks: list[Mapping[str, Any]],
    schedules: list[Mapping[str, Any]],
    definition: Mapping[str, Any],
) -> dict[str, Any]:
    """A workflow file in canonical form, from the stored definition (positions and viewport included)."""
    body, layout = split_layout(definition)
    doc: dict[str, Any] = {"format": FORMAT, "name": name}
    if description:
        doc["description"] = description
    if note:
        doc["note"] = note
    if error_workflow is not None:
        doc["settings"] = {"error_workflow": error_workflow}
    triggers: dict[str, Any] = {}
    if webhooks:
        triggers["webhooks"] = sorted((canonical_webhook(w) for w in webhooks), key=_json_key)
    if schedules:
        triggers["schedules"] = sorted((canonical_schedule(x) for x in schedules), key=_json_key)
    if triggers:
        doc["triggers"] = triggers
    doc["definition"] = canonical_definition(body)
    if layout:
        doc["layout"] = layout
    return doc


def canonical(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A file that passed ``file_schema`` in canonical form: what exporting it after importing it writes."""
    definition, _ = merge_layout(doc["definition"], doc.get("layout"))
    triggers = doc.get("triggers") or {}
    return document(
        name=doc["name"].strip(),
        description=doc.get("description"),
        note=doc.get("note"),
        error_workflow=(doc.get("settings") or {}).get("error_workflow"),
        webhooks=triggers.get("webhooks") or [],
        schedules=triggers.get("schedules") or [],
        definition=definition,
    )


def file_slug(name: str) -> str:
    """A file name stem for a workflow name: lower case, runs of other characters as ``_``."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:80] or "workflow"


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def _resolve_ref(root: Mapping[str, Any], ref: str) -> Any:
    target: Any = root
    for part in ref.removeprefix("#/").split("/"):
        if not isinstance(target, dict) or part not in target:
            return None
        target = target[part]
    return target


def _refs(
    schema: Any, value: Any, root: Mapping[str, Any], path: tuple[str, ...], depth: int, widget: str
) -> Iterator[tuple[str, ...]]:
    if depth > 32 or not isinstance(schema, dict):
        return
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        yield from _refs(_resolve_ref(root, ref), value, root, path, depth + 1, widget)
    if schema.get("x-ui-widget") == widget and isinstance(value, str) and not is_template(value):
        yield path
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            yield from _refs(sub, value, root, path, depth + 1, widget)
    for keyword in ("then", "else"):
        yield from _refs(schema.get(keyword), value, root, path, depth + 1, widget)
    if isinstance(value, dict) and isinstance(schema.get("properties"), dict):
        for key, item in value.items():
            yield from _refs(schema["properties"].get(key), item, root, (*path, key), depth + 1, widget)
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            yield from _refs(schema["items"], item, root, (*path, str(i)), depth + 1, widget)


def workflow_refs(
    definition: Mapping[str, Any], registry: NodeRegistry, widget: str = "workflow"
) -> list[tuple[str, ...]]:
    """The paths of every config value that names another workflow (the registry marks those fields with
    ``x-ui-widget: workflow``; ``widget="credential"``: a credential), in definition order; templates are left
    alone."""
    found: list[tuple[str, ...]] = []
    for i, node in enumerate(definition.get("nodes") or []):
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            continue
        node_type = registry.get(node["type"])
        if node_type is None or not isinstance(node.get("config"), dict):
            continue
        schema = node_type.config_schema
        for path in _refs(schema, node["config"], schema, ("nodes", str(i), "config"), 0, widget):
            if path not in found:
                found.append(path)
    return found


def get_at(doc: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def replaced(doc: Any, path: tuple[str, ...], value: Any) -> Any:
    """A deep copy of ``doc`` with the value at ``path`` replaced."""
    out = copy.deepcopy(doc)
    parent = get_at(out, path[:-1])
    if isinstance(parent, list):
        parent[int(path[-1])] = value
    else:
        parent[path[-1]] = value
    return out


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _rebased(schema: Any, base: str) -> Any:
    """``schema`` with its document-local references (``#/…``) pointing under ``base`` instead of ``#``."""
    if isinstance(schema, dict):
        out = {key: _rebased(value, base) for key, value in schema.items() if key != "$schema"}
        ref = schema.get("$ref")
        if isinstance(ref, str) and (ref == "#" or ref.startswith("#/")):
            out["$ref"] = base + ref[1:]
        return out
    if isinstance(schema, list):
        return [_rebased(item, base) for item in schema]
    return schema


def _config_rules(registry: NodeRegistry, defs: dict[str, Any]) -> list[dict[str, Any]]:
    """One ``if type is T then config matches T's config_schema`` rule per node type; the config schemas go into
    ``defs`` as ``config.T``."""
    rules = []
    for node_type in registry.all():
        key = f"config.{node_type.type}"
        defs[key] = _rebased(node_type.config_schema, f"#/$defs/{key}")
        rules.append(
            {
                "if": {"properties": {"type": {"const": node_type.type}}, "required": ["type"]},
                "then": {"properties": {"config": {"$ref": f"#/$defs/{key}"}}},
            }
        )
    return rules


def file_schema(registry: NodeRegistry | None = None) -> dict[str, Any]:
    """The JSON Schema (2020-12) of a workflow file. With ``registry`` (the served schema), node types are an enum
    of the registered ones and each node's config is checked against its type's config schema, so an editor
    completes and checks them as they are typed; without (what an import checks first), configs are left to the
    definition's own validation, which reports them once."""
    workflow = workflow_schema()
    defs: dict[str, Any] = workflow.pop("$defs")
    position = defs["node"]["properties"].pop("position")
    viewport = workflow["properties"].pop("viewport")
    if registry is not None:
        defs["node"]["properties"]["type"]["enum"] = registry.types()
        defs["node"]["allOf"] = _config_rules(registry, defs)
    definition = {key: value for key, value in workflow.items() if key not in ("$schema", "$id", "title")}
    definition["description"] = (
        "The workflow's logic: nodes and edges (workflow.schema.json without positions and viewport, which live "
        "in layout). A sub-workflow is named by its workflow name; a credential by its credential name."
    )
    defs["file_webhook"] = {
        "type": "object",
        "additionalProperties": False,
        "description": "A webhook that starts the workflow. Its secret is never in a file: a new webhook gets a new "
        "secret (reveal it with rotateWebhookSecret).",
        "properties": {
            "auth": {"enum": [auth.value for auth in WebhookAuth], "default": WEBHOOK_DEFAULTS["auth"]},
            "enabled": {"type": "boolean", "default": True},
            "rate_limit_per_minute": _nullable({"type": "integer", "minimum": 1}),
            "replay_window_s": _nullable({"type": "integer", "minimum": 0}),
        },
    }
    defs["file_schedule"] = {
        "type": "object",
        "additionalProperties": False,
        "required": ["cron"],
        "description": "A cron schedule that starts the workflow.",
        "properties": {
            "cron": {"type": "string", "minLength": 1, "maxLength": 120},
            "timezone": {"type": "string", "minLength": 1, "maxLength": 64, "default": "UTC"},
            "input": {"description": "The run's input; null: the trigger's defaults."},
            "overlap": {"enum": list(OVERLAP_POLICIES), "default": "skip"},
            "catch_up": {"enum": list(CATCH_UP_POLICIES), "default": "skip"},
            "catch_up_window_s": _nullable({"type": "integer", "minimum": 1}),
            "jitter_s": {"type": "integer", "minimum": 0, "default": 0},
            "enabled": {"type": "boolean", "default": True},
        },
    }
    name = {"type": "string", "minLength": 1, "maxLength": MAX_NAME}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "Workflow file",
        "description": "One workflow as `studio workflows export` writes it and `studio workflows import` reads it.",
        "type": "object",
        "additionalProperties": False,
        "required": ["format", "name", "definition"],
        "properties": {
            "format": {"const": FORMAT, "description": "The file format and its version."},
            "name": {**name, "description": "The workflow's name: it identifies the workflow in its tenant."},
            "description": _nullable({"type": "string", "maxLength": MAX_DESCRIPTION}),
            "note": {
                **_nullable({"type": "string", "maxLength": MAX_NOTE}),
                "description": "The published version's note; `import --publish` publishes with it (or --note).",
            },
            "settings": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "error_workflow": {
                        **_nullable(name),
                        "description": "The name of the workflow started when a run of this one fails.",
                    }
                },
            },
            "triggers": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "webhooks": {"type": "array", "maxItems": MAX_WEBHOOKS, "items": {"$ref": "#/$defs/file_webhook"}},
                    "schedules": {
                        "type": "array",
                        "maxItems": MAX_SCHEDULES_PER_WORKFLOW,
                        "items": {"$ref": "#/$defs/file_schedule"},
                    },
                },
            },
            "definition": definition,
            "layout": {
                "type": "object",
                "additionalProperties": False,
                "description": "Where the builder draws things: kept apart so that a diff of the logic stays small.",
                "properties": {
                    "viewport": viewport,
                    "nodes": {
                        "type": "object",
                        "propertyNames": {"$ref": "#/$defs/node_id"},
                        "additionalProperties": position,
                    },
                },
            },
        },
        "$defs": defs,
    }
