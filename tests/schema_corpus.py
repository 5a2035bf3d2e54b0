"""``tests/corpora/schemas.json``: hostile JSON Schemas and patterns (remote ``$ref``s, ReDoS, patterns RE2 refuses,
schemas whose work multiplies), read by ``tests/gql/test_schema_attacks.py`` and the ``hostile-schemas``
reliability scenario alike.

An entry is either an ``input_schema`` (of a webhook trigger) with an ``input``, or a message trigger's ``pattern``
with a message ``text``. ``save`` lists the problems validateDefinition answers (paths inside the trigger's config,
dotted, and codes); ``use`` is what a version stored before those checks answers to startRun and to an unsigned
webhook delivery (a problem code, or ``accepted``); ``runs`` is how many runs a message starts. In strings,
``{internal}`` is a recording HTTP service on the API's network and ``{file}`` a local file holding a secret;
``{"$text": spec}`` is a long string (``spec``: a string, a list of parts, or ``{"repeat", "times", "join"}``
with ``{i}`` replaced by the repetition's index); ``input_text`` gives the input as such a spec of JSON text, in
which ``{"$json": spec}`` is a JSON string.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORPUS_FILE = Path(__file__).parent / "corpora" / "schemas.json"


def load() -> list[dict[str, Any]]:
    corpus: list[dict[str, Any]] = json.loads(CORPUS_FILE.read_text(encoding="utf-8"))
    return corpus


def text(spec: Any) -> str:
    if isinstance(spec, str):
        return spec
    if isinstance(spec, list):
        return "".join(text(part) for part in spec)
    if "$json" in spec:  # inside input_text: the text of a JSON string
        return json.dumps(text(spec["$json"]))
    part, join, times = text(spec["repeat"]), str(spec.get("join", "")), int(spec["times"])
    return join.join(part.replace("{i}", str(i)) for i in range(times)) if "{i}" in part else join.join([part] * times)


def realise(value: Any, internal: str, file: str) -> Any:
    """The corpus value with its placeholders and long strings filled in."""
    if isinstance(value, dict):
        if set(value) == {"$text"}:
            return text(value["$text"])
        return {realise(k, internal, file): realise(v, internal, file) for k, v in value.items()}
    if isinstance(value, list):
        return [realise(v, internal, file) for v in value]
    if isinstance(value, str):
        return value.replace("{internal}", internal).replace("{file}", file)
    return value


def input_json(entry: dict[str, Any], internal: str = "", file: str = "") -> str:
    """The entry's run input as JSON text (a webhook body)."""
    if "input_text" in entry:
        return text(entry["input_text"])
    return json.dumps(realise(entry["input"], internal, file))


def definition(entry: dict[str, Any], internal: str, file: str, channel: str = "hostile") -> dict[str, Any]:
    """A workflow whose trigger carries the entry's schema or pattern, then one step that echoes the input."""
    if entry["trigger"] == "message":
        trigger = {
            "id": "start",
            "type": "trigger.message",
            "config": {"channel": channel, "pattern": entry["pattern"]},
        }
    else:
        schema = realise(entry["schema"], internal, file)
        trigger = {"id": "start", "type": "trigger.webhook", "config": {"input_schema": schema}}
    echo = {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}}
    return {"nodes": [trigger, echo], "edges": [{"source": "start", "target": "echo"}]}


def save_problems(entry: dict[str, Any]) -> list[tuple[list[str], str]]:
    """The (path, code) of each problem validateDefinition must answer, paths as the API gives them."""
    return [(["nodes", "0", "config", *path.split(".")], code) for path, code in entry["save"]]
