"""Templates and references over GraphQL: validateDefinition and the mutation payloads carry a severity; a draft
saves with template errors (listed in `problems`), publishing refuses them with every error, warnings never block."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import sqlalchemy as sa

from studio_shared.db import models
from studio_shared.examples import APPROVE_LARGE_ORDERS, example
from studio_shared.rbac import Role

EXAMPLE: dict[str, Any] = example(APPROVE_LARGE_ORDERS)["definition"]
ERRORS = "errors { path message code severity } problems { path message code severity }"
CREATE = f"""mutation($input: CreateWorkflowInput!) {{ createWorkflow(input: $input) {{
    workflow {{ id draft revision }} {ERRORS} }} }}"""
UPDATE = f"""mutation($id: ID!, $input: UpdateWorkflowInput!) {{ updateWorkflow(id: $id, input: $input) {{
    workflow {{ id draft revision }} {ERRORS} }} }}"""
PUBLISH = f"""mutation($id: ID!) {{ publishWorkflow(id: $id) {{ version {{ version definition }} {ERRORS} }} }}"""
VALIDATE = "query($d: JSON!) { validateDefinition(definition: $d) { path message code severity } }"


def with_template(template: str, schema: Any = None) -> dict[str, Any]:
    """start → t (a transform whose value is ``template``)."""
    config = {} if schema is None else {"input_schema": schema}
    return {
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": config},
            {"id": "t", "type": "transform", "config": {"value": template}},
        ],
        "edges": [{"source": "start", "target": "t"}],
    }


OPEN = {"type": "object", "properties": {"amount": {"type": "number"}}}
BROKEN = with_template("{{ input.amount | nosuchfilter }} {{ steps.nope.output }}")
WARNED = with_template("{{ input.amont }}", OPEN)
FILTER_ERROR = {
    "path": ["nodes", "1", "config", "value"],
    "message": "unknown filter 'nosuchfilter' at 18",
    "code": "UNKNOWN_FILTER",
    "severity": "ERROR",
}
STEP_ERROR = {
    "path": ["nodes", "1", "config", "value"],
    "message": "unknown step 'nope' at 43: no node has this id; the nodes are start",
    "code": "UNKNOWN_STEP",
    "severity": "ERROR",
}
WARNING = {
    "path": ["nodes", "1", "config", "value"],
    "message": "field 'amont' is not declared at 9: input lists amount (and may have others)",
    "code": "UNDECLARED_FIELD",
    "severity": "WARNING",
}


async def versions(state: Any, tenant_id: uuid.UUID) -> int:
    async with state.sessions() as s:
        query = sa.select(sa.func.count()).select_from(models.WorkflowVersion)
        return int(await s.scalar(query.where(models.WorkflowVersion.tenant_id == tenant_id)))


async def test_validate_definition_gives_template_errors_and_warnings_with_severity(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.VIEWER]
    assert (await gql.data(VALIDATE, {"d": EXAMPLE}, token))["validateDefinition"] == []
    assert (await gql.data(VALIDATE, {"d": BROKEN}, token))["validateDefinition"] == [FILTER_ERROR, STEP_ERROR]
    assert (await gql.data(VALIDATE, {"d": WARNED}, token))["validateDefinition"] == [WARNING]
    structural = copy.deepcopy(EXAMPLE)
    structural["edges"][1]["branch"] = "maybe"
    [problem] = (await gql.data(VALIDATE, {"d": structural}, token))["validateDefinition"]
    assert (problem["code"], problem["severity"]) == ("UNKNOWN_BRANCH", "ERROR")


async def test_a_draft_saves_with_template_errors_and_publishing_refuses_them(
    gql: Any, tenant: Any, state: Any
) -> None:
    token = tenant.tokens[Role.EDITOR]
    created = (await gql.data(CREATE, {"input": {"name": "Broken draft", "definition": BROKEN}}, token))[
        "createWorkflow"
    ]
    assert created["errors"] == []
    assert created["problems"] == [FILTER_ERROR, STEP_ERROR]
    assert created["workflow"]["draft"] == BROKEN
    wid = created["workflow"]["id"]

    refused = (await gql.data(PUBLISH, {"id": wid}, token))["publishWorkflow"]
    assert refused["version"] is None
    assert refused["errors"] == [FILTER_ERROR, STEP_ERROR]
    assert refused["problems"] == []
    assert await versions(state, tenant.id) == 0

    # Fixed so that only a warning is left: saved with the warning, published with it.
    updated = (await gql.data(UPDATE, {"id": wid, "input": {"definition": WARNED}}, token))["updateWorkflow"]
    assert (updated["errors"], updated["problems"], updated["workflow"]["revision"]) == ([], [WARNING], 2)
    published = (await gql.data(PUBLISH, {"id": wid}, token))["publishWorkflow"]
    assert published["errors"] == []
    assert published["problems"] == [WARNING]
    assert published["version"] == {"version": 1, "definition": WARNED}
    assert await versions(state, tenant.id) == 1


async def test_structural_errors_still_refuse_a_save_and_list_only_errors(gql: Any, tenant: Any, state: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    broken = copy.deepcopy(BROKEN)
    broken["nodes"][1]["type"] = "gone.type"
    broken["nodes"][0]["config"] = {"input_schema": OPEN}
    broken["nodes"].append({"id": "u", "type": "transform", "config": {"value": "{{ input.amont }}"}})
    result = (await gql.data(CREATE, {"input": {"name": "Structurally broken", "definition": broken}}, token))[
        "createWorkflow"
    ]
    assert result["workflow"] is None
    assert [(e["code"], e["severity"]) for e in result["errors"]] == [("UNKNOWN_NODE_TYPE", "ERROR")]
    assert result["problems"] == []
    async with state.sessions() as s:
        count = sa.select(sa.func.count()).select_from(models.Workflow).where(models.Workflow.tenant_id == tenant.id)
        assert await s.scalar(count) == 0


async def test_a_clean_draft_has_no_problems_in_its_payloads(gql: Any, tenant: Any) -> None:
    token = tenant.tokens[Role.EDITOR]
    created = (await gql.data(CREATE, {"input": {"name": "Clean", "definition": EXAMPLE}}, token))["createWorkflow"]
    assert (created["errors"], created["problems"]) == ([], [])
    published = (await gql.data(PUBLISH, {"id": created["workflow"]["id"]}, token))["publishWorkflow"]
    assert (published["errors"], published["problems"], published["version"]["version"]) == ([], [], 1)
