"""Workflows as files: export → import → export is byte-identical, imports apply everything or nothing, hostile
files are refused with their file and path, and a file moves between tenants by names only."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.examples import examples
from studio_shared.rbac import Role
from studio_shared.schemas import CompiledSchema
from studio_shared.store import credentials, schedules, webhooks, workflows
from studio_shared.store.schedules import ScheduleSpec
from studio_shared.types import WebhookAuth
from studio_shared.workflow_files import (
    MAX_FILE_BYTES,
    OperatorPrincipal,
    export_workflows,
    file_schema,
    import_files,
    read_capped,
)
from studio_shared.workflow_files.sync import ImportReport
from tests.conftest import REPO, TenantFixture

CHILD = {
    "nodes": [
        {"id": "start", "type": "trigger.manual", "config": {"input_schema": {"type": "object"}}},
        {"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}, "position": {"x": 250, "y": 10}},
    ],
    "edges": [{"source": "start", "target": "echo"}],
}


def parent(child_ref: str) -> dict[str, Any]:
    """A workflow that runs a sub-workflow and calls an API with a stored credential (both named, not copied)."""
    return {
        "nodes": [
            {
                "id": "start",
                "type": "trigger.manual",
                "config": {"input_schema": {"type": "object", "properties": {"n": {"type": "integer", "default": 1}}}},
                "position": {"x": 0, "y": 0},
            },
            {"id": "child", "type": "subworkflow", "config": {"workflow": child_ref, "input": {"n": "{{ input.n }}"}}},
            {
                "id": "call",
                "type": "http.request",
                "label": "Tell the API",
                "config": {
                    "method": "POST",
                    "url": "https://api.example.org/hook",
                    "credential": "api-token",
                    "body": {"text": "line one\nline two\n"},
                },
                "retry": {"max_attempts": 3, "initial_interval_s": 1, "backoff": 2.0},
                "timeout_s": 30,
                "position": {"x": 600.5, "y": -20},
            },
        ],
        "edges": [{"source": "start", "target": "child"}, {"source": "child", "target": "call"}],
        "viewport": {"x": 10, "y": 20, "zoom": 0.75},
    }


async def _actor(tenant: TenantFixture) -> OperatorPrincipal:
    return OperatorPrincipal(tenant_id=tenant.id, role=Role.ADMIN)


async def _seed_examples(state: AppState, tenant: TenantFixture) -> None:
    """What `studio demo` makes (each example, published with the note "example"), plus a parent with a sub-workflow,
    an error workflow, webhooks and schedules."""
    actor = await _actor(tenant)
    async with state.sessions.begin() as s:
        for example in examples():
            row = await workflows.create(s, tenant.id, actor, state.registry, **example)
            await workflows.publish(s, tenant.id, actor, state.registry, row.id, "example")
        child = await workflows.create(
            s, tenant.id, actor, state.registry, name="Child: echo", description=None, definition=CHILD
        )
        await workflows.publish(s, tenant.id, actor, state.registry, child.id, None)
        top = await workflows.create(
            s,
            tenant.id,
            actor,
            state.registry,
            name="Parent",
            description="Runs the child",
            definition=parent(str(child.id)),
        )
        await workflows.publish(s, tenant.id, actor, state.registry, top.id, "first\nsecond line")
        await workflows.set_error_workflow(s, tenant.id, actor, top.id, child.id)
        await webhooks.create(s, state.box, tenant.id, actor, top.id, WebhookAuth.GITHUB, True, 60, 3600)
        await webhooks.create(s, state.box, tenant.id, actor, top.id, WebhookAuth.STANDARD, False, None)
        spec = ScheduleSpec(cron="0 9 * * 1-5", timezone="Europe/Paris", input={"n": 2}, overlap="allow", jitter_s=5)
        await schedules.create(s, tenant.id, actor, state.registry, top.id, spec)
        await schedules.create(s, tenant.id, actor, state.registry, top.id, ScheduleSpec(cron="*/15 * * * *"))


async def _export(state: AppState, tenant: TenantFixture) -> dict[str, str]:
    async with state.sessions() as s:
        return {f.file_name: f.text for f in await export_workflows(s, tenant.id, state.registry)}


async def _import(
    state: AppState, tenant: TenantFixture, files: Mapping[str, str | bytes], **options: Any
) -> ImportReport:
    data = {name: text.encode() if isinstance(text, str) else text for name, text in files.items()}
    return await import_files(
        state.sessions, state.box, tenant.id, await _actor(tenant), state.registry, data, **options
    )


async def _workflow_count(state: AppState, tenant: TenantFixture) -> int:
    async with state.sessions() as s:
        count = await s.scalar(sa.select(sa.func.count()).where(models.Workflow.tenant_id == tenant.id))
    return int(count or 0)


def _problems(report: ImportReport) -> list[tuple[str, str, str]]:
    return [(r.file, p.dotted, p.code) for r in report.files for p in r.problems]


async def test_export_import_export_is_byte_identical_for_every_example(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    await _seed_examples(state, tenant)
    first = await _export(state, tenant)
    assert sorted(first) == [
        "approve_large_orders.yaml",
        "child_echo.yaml",
        "hello_transform.yaml",
        "parent.yaml",
        "summarize_orders_with_code.yaml",
    ]
    report = await _import(state, other_tenant, first, publish=True)
    assert report.ok and report.applied, _problems(report)
    assert {r.file: r.action for r in report.files} == dict.fromkeys(first, "created")
    assert all(r.published == 1 for r in report.files)
    assert await _export(state, other_tenant) == first, "the other tenant exports the same bytes"
    again = await _import(state, tenant, first, publish=True)
    assert {r.action for r in again.files} == {"unchanged"} and again.applied
    assert all(r.published is None for r in again.files), "nothing changed, nothing published"
    assert await _export(state, tenant) == first


async def test_the_file_keeps_logic_and_layout_apart_and_names_what_it_references(
    state: AppState, tenant: TenantFixture
) -> None:
    await _seed_examples(state, tenant)
    text = (await _export(state, tenant))["parent.yaml"]
    doc = yaml.safe_load(text)
    assert list(doc) == ["format", "name", "description", "note", "settings", "triggers", "definition", "layout"]
    assert doc["note"] == "first\nsecond line" and "note: |-\n  first\n  second line\n" in text
    assert doc["settings"] == {"error_workflow": "Child: echo"}
    assert doc["definition"]["nodes"][1]["config"]["workflow"] == "Child: echo", "a sub-workflow by name, not id"
    assert doc["definition"]["nodes"][2]["config"]["credential"] == "api-token"
    assert "position" not in text.split("layout:")[0] and "viewport" not in text.split("layout:")[0]
    assert doc["layout"] == {
        "viewport": {"x": 10, "y": 20, "zoom": 0.75},
        "nodes": {"start": {"x": 0, "y": 0}, "call": {"x": 600.5, "y": -20}},
    }
    assert list(doc["definition"]["nodes"][2]) == ["id", "type", "label", "config", "retry", "timeout_s"]
    hooks = doc["triggers"]["webhooks"]
    assert {h["auth"] for h in hooks} == {"GITHUB", "STANDARD"}
    assert all(set(h) == {"auth", "enabled", "rate_limit_per_minute", "replay_window_s"} for h in hooks)
    assert "secret" not in text.lower()
    assert {x["cron"] for x in doc["triggers"]["schedules"]} == {"0 9 * * 1-5", "*/15 * * * *"}
    assert "&" not in text and "*id" not in text, "no anchors or aliases"


async def test_credentials_travel_by_name_only(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    actor = await _actor(tenant)
    async with state.sessions.begin() as s:
        await credentials.create(s, state.box, tenant.id, actor, "api-token", "bearer", {"token": "s3cr3t-value"}, None)
    await _seed_examples(state, tenant)
    files = await _export(state, tenant)
    assert not any("s3cr3t" in text for text in files.values())
    report = await _import(state, other_tenant, files)
    assert report.applied
    warned = [(r.file, p.dotted, p.code) for r in report.files for p in r.warnings if p.severity == "warning"]
    assert ("parent.yaml", "definition.nodes[2].config.credential", "UNKNOWN_CREDENTIAL") in warned
    assert not any(p.code == "UNKNOWN_CREDENTIAL" for r in report.files for p in r.warnings if r.file != "parent.yaml")
    async with state.sessions() as s:
        copied = await s.scalar(sa.select(sa.func.count()).where(models.Credential.tenant_id == other_tenant.id))
    assert copied == 0


async def test_a_sub_workflow_the_target_tenant_lacks_is_an_error_and_nothing_applies(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    await _seed_examples(state, tenant)
    files = await _export(state, tenant)
    del files["child_echo.yaml"]  # the parent names "Child: echo", which the other tenant does not have
    report = await _import(state, other_tenant, files, publish=True)
    assert not report.applied
    assert ("parent.yaml", "definition.nodes[1].config.workflow", "UNKNOWN_WORKFLOW") in _problems(report)
    assert ("parent.yaml", "settings.error_workflow", "UNKNOWN_WORKFLOW") in _problems(report)
    message = next(p.message for r in report.files for p in r.problems)
    assert "'Child: echo'" in message
    assert await _workflow_count(state, other_tenant) == 0, "the valid files were not applied either"


async def test_another_tenant_s_workflow_by_id_or_name_reads_as_missing(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    actor = await _actor(other_tenant)
    async with state.sessions.begin() as s:
        theirs = await workflows.create(
            s, other_tenant.id, actor, state.registry, name="Their child", description=None, definition=CHILD
        )
    for ref in (str(theirs.id), "Their child"):
        definition = parent(ref)
        del definition["viewport"]
        for node in definition["nodes"]:
            node.pop("position", None)
        doc = {"format": "studio-workflow/1", "name": "Mine", "definition": definition}
        report = await _import(state, tenant, {"mine.yaml": yaml.safe_dump(doc)})
        assert _problems(report) == [("mine.yaml", "definition.nodes[1].config.workflow", "UNKNOWN_WORKFLOW")], ref
        assert await _workflow_count(state, tenant) == 0


def _hello(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": "studio-workflow/1",
        "name": "Hello",
        "definition": {
            "nodes": [
                {"id": "start", "type": "trigger.manual", "config": {}},
                {"id": "greet", "type": "transform", "config": {"value": "hi"}},
            ],
            "edges": [{"source": "start", "target": "greet"}],
        },
    }
    doc.update(changes)
    return doc


HOSTILE: list[tuple[str, bytes, str, str]] = [
    ("unknown top-level key", yaml.safe_dump(_hello(owner="me")).encode(), "owner", "INVALID"),
    (
        "unknown node key",
        yaml.safe_dump(_hello(definition={"nodes": [{"id": "a", "type": "trigger.manual", "colour": 1}]})).encode(),
        "definition.nodes[0].colour",
        "INVALID",
    ),
    ("wrong type", yaml.safe_dump(_hello(name=["not", "a", "string"])).encode(), "name", "INVALID"),
    ("wrong format", yaml.safe_dump(_hello(format="studio-workflow/9")).encode(), "format", "INVALID"),
    (
        "a node type that does not exist",
        yaml.safe_dump(
            _hello(definition={"nodes": [{"id": "a", "type": "trigger.manual"}, {"id": "b", "type": "rm.rf"}]})
        ).encode(),
        "definition.nodes[1].type",
        "UNKNOWN_NODE_TYPE",
    ),
    (
        "a config its node type refuses",
        yaml.safe_dump(
            _hello(
                definition={
                    "nodes": [
                        {"id": "a", "type": "trigger.manual"},
                        {"id": "b", "type": "http.request", "config": {"url": 5}},
                    ]
                }
            )
        ).encode(),
        "definition.nodes[1].config.url",
        "INVALID_CONFIG",
    ),
    (
        "a YAML bomb",
        b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
        b"d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
        "",
        "YAML_REFUSED",
    ),
    ("a lone anchor", b"format: &f studio-workflow/1\nname: x\n", "", "YAML_REFUSED"),
    ("a duplicate key", b"format: studio-workflow/1\nname: a\nname: b\ndefinition: {nodes: []}\n", "", "YAML_REFUSED"),
    ("a non-JSON value", b"format: studio-workflow/1\nname: !!binary aGVsbG8=\n", "name", "INVALID_TYPE"),
    ("not YAML", b"format: [unclosed\n", "", "INVALID_YAML"),
    ("not a mapping", b"- just\n- a list\n", "", "INVALID_TYPE"),
    ("nesting past the parser", b"name: " + b"[" * 100_000, "", "TOO_DEEP"),
    ("a 50 MB file", b"# " + b"x" * (50 * 1024 * 1024) + b"\n", "", "TOO_LARGE"),
    (
        "a layout for a node that is not there",
        yaml.safe_dump(_hello(layout={"nodes": {"ghost": {"x": 1, "y": 2}}})).encode(),
        "layout.nodes.ghost",
        "UNKNOWN_NODE",
    ),
]


@pytest.mark.parametrize(("data", "path", "code"), [h[1:] for h in HOSTILE], ids=[h[0] for h in HOSTILE])
async def test_a_hostile_file_is_a_clear_error_and_nothing_applies(
    state: AppState, tenant: TenantFixture, data: bytes, path: str, code: str
) -> None:
    good = yaml.safe_dump(_hello(name="Fine"))
    report = await _import(state, tenant, {"fine.yaml": good, "hostile.yaml": data}, publish=True)
    assert not report.ok and not report.applied
    found = [(p.dotted, p.code) for r in report.files if r.file == "hostile.yaml" for p in r.problems]
    assert (path, code) in found, found
    assert [r.action for r in report.files] == ["created", "invalid"]
    assert all(len(p.message) < 400 for r in report.files for p in r.problems), "errors stay readable"
    assert await _workflow_count(state, tenant) == 0


def test_a_large_file_is_read_only_up_to_the_cap(tmp_path: Any) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    assert len(read_capped(big)) == MAX_FILE_BYTES + 1


async def test_dry_run_plans_and_writes_nothing(state: AppState, tenant: TenantFixture) -> None:
    report = await _import(state, tenant, {"hello.yaml": yaml.safe_dump(_hello())}, publish=True, dry_run=True)
    assert report.ok and not report.applied
    assert [(r.action, r.published) for r in report.files] == [("created", 1)]
    assert await _workflow_count(state, tenant) == 0


async def test_publish_publishes_what_changed_with_the_note(state: AppState, tenant: TenantFixture) -> None:
    files = {"hello.yaml": yaml.safe_dump(_hello()), "other.yaml": yaml.safe_dump(_hello(name="Other"))}
    first = await _import(state, tenant, files, publish=True, note="from git")
    assert [r.published for r in first.files] == [1, 1]
    changed = _hello()
    changed["definition"]["nodes"][1]["config"]["value"] = "hello"
    files["hello.yaml"] = yaml.safe_dump(changed)
    second = await _import(state, tenant, files, publish=True, note="greet properly")
    assert [(r.file, r.action, r.changes, r.published) for r in second.files] == [
        ("hello.yaml", "updated", ["definition", "published version 2"], 2),
        ("other.yaml", "unchanged", [], None),
    ]
    exported = await _export(state, tenant)
    assert yaml.safe_load(exported["hello.yaml"])["note"] == "greet properly"
    assert yaml.safe_load(exported["other.yaml"])["note"] == "from git"


async def test_a_file_that_fails_publishing_publishes_nothing_and_applies_nothing(
    state: AppState, tenant: TenantFixture
) -> None:
    await _import(state, tenant, {"hello.yaml": yaml.safe_dump(_hello())}, publish=True)
    broken = _hello(name="Broken")
    broken["definition"]["nodes"][1]["config"]["value"] = "{{ input.name | no_such_filter }}"  # a draft may hold it
    changed = _hello()
    changed["definition"]["nodes"][1]["config"]["value"] = "changed"
    files = {"broken.yaml": yaml.safe_dump(broken), "hello.yaml": yaml.safe_dump(changed)}
    assert (await _import(state, tenant, files)).applied, "without --publish the draft may keep the error"
    report = await _import(state, tenant, files, publish=True)
    assert not report.applied
    assert [(f, c) for f, _, c in _problems(report)] == [("broken.yaml", "UNKNOWN_FILTER")]
    assert _problems(report)[0][1].startswith("definition.nodes[1].config.value")
    async with state.sessions() as s:
        versions = await s.scalar(sa.select(sa.func.count()).where(models.WorkflowVersion.tenant_id == tenant.id))
    assert versions == 1, "hello.yaml's change was not published either"


async def test_webhooks_keep_their_urls_and_are_matched_by_settings(state: AppState, tenant: TenantFixture) -> None:
    doc = _hello(triggers={"webhooks": [{"auth": "STANDARD"}, {"auth": "NONE", "enabled": False}]})
    first = await _import(state, tenant, {"hello.yaml": yaml.safe_dump(doc)})
    assert len(first.files[0].notices) == 2 and "rotateWebhookSecret" in " ".join(first.files[0].notices)
    async with state.sessions() as s:
        before = {
            h.id: h.auth
            for h in await s.scalars(sa.select(models.Webhook).where(models.Webhook.tenant_id == tenant.id))
        }
    doc["triggers"]["webhooks"] = [{"auth": "NONE", "enabled": True}, {"auth": "STANDARD", "rate_limit_per_minute": 10}]
    second = await _import(state, tenant, {"hello.yaml": yaml.safe_dump(doc)})
    assert second.files[0].changes == ["triggers"] and not second.files[0].notices
    async with state.sessions() as s:
        after = {
            h.id: (h.auth, h.enabled, h.rate_limit_per_minute)
            for h in await s.scalars(sa.select(models.Webhook).where(models.Webhook.tenant_id == tenant.id))
        }
    assert set(after) == set(before), "updated in place: same ids, same URLs"
    assert sorted(after.values()) == [(WebhookAuth.NONE, True, None), (WebhookAuth.STANDARD, True, 10)]
    doc["triggers"] = {"schedules": [{"cron": "0 0 * * *"}]}
    third = await _import(state, tenant, {"hello.yaml": yaml.safe_dump(doc)})
    assert sum("removed" in n for n in third.files[0].notices) == 2
    exported = yaml.safe_load((await _export(state, tenant))["hello.yaml"])
    assert exported["triggers"] == {
        "schedules": [
            {
                "cron": "0 0 * * *",
                "timezone": "UTC",
                "input": None,
                "overlap": "skip",
                "catch_up": "skip",
                "catch_up_window_s": None,
                "jitter_s": 0,
                "enabled": True,
            }
        ]
    }


async def test_a_bad_schedule_is_reported_at_its_path(state: AppState, tenant: TenantFixture) -> None:
    doc = _hello(triggers={"schedules": [{"cron": "0 0 * * *"}, {"cron": "61 * * * *", "jitter_s": 99999}]})
    report = await _import(state, tenant, {"hello.yaml": yaml.safe_dump(doc)})
    paths = {p for _, p, _ in _problems(report)}
    assert {"triggers.schedules[1].cron", "triggers.schedules[1].jitter_s"} <= paths, paths
    assert await _workflow_count(state, tenant) == 0


async def test_two_files_for_one_workflow_are_refused(state: AppState, tenant: TenantFixture) -> None:
    text = yaml.safe_dump(_hello())
    report = await _import(state, tenant, {"a.yaml": text, "b.yml": text})
    assert {(f, c) for f, _, c in _problems(report)} == {("a.yaml", "DUPLICATE_NAME"), ("b.yml", "DUPLICATE_NAME")}


async def test_workflows_that_share_a_name_cannot_be_exported(state: AppState, tenant: TenantFixture) -> None:
    actor = await _actor(tenant)
    async with state.sessions.begin() as s:
        for _ in range(2):
            await workflows.create(s, tenant.id, actor, state.registry, name="Twin", description=None, definition=CHILD)
    async with state.sessions() as s:
        with pytest.raises(Exception, match="'Twin'"):
            await export_workflows(s, tenant.id, state.registry)
    report = await _import(state, tenant, {"twin.yaml": yaml.safe_dump(_hello(name="Twin"))})
    assert _problems(report) == [("twin.yaml", "name", "AMBIGUOUS_NAME")]


async def test_new_workflows_may_name_each_other_in_one_import(state: AppState, tenant: TenantFixture) -> None:
    top = _hello(name="Top", settings={"error_workflow": "Bottom"})
    top["definition"]["nodes"][1] = {"id": "greet", "type": "subworkflow", "config": {"workflow": "Bottom"}}
    report = await _import(
        state, tenant, {"top.yaml": yaml.safe_dump(top), "bottom.yaml": yaml.safe_dump(_hello(name="Bottom"))}
    )
    assert report.applied, _problems(report)
    async with state.sessions() as s:
        rows = {
            w.name: w for w in await s.scalars(sa.select(models.Workflow).where(models.Workflow.tenant_id == tenant.id))
        }
    assert rows["Top"].draft["nodes"][1]["config"]["workflow"] == str(rows["Bottom"].id)
    assert rows["Top"].error_workflow_id == rows["Bottom"].id


async def test_the_served_file_schema_checks_configs_and_accepts_every_export(
    state: AppState, tenant: TenantFixture, http: Any
) -> None:
    response = await http.get("/schemas/workflow-file.schema.json")
    assert response.status_code == 200 and response.headers["etag"]
    schema = response.json()
    assert schema == file_schema(state.registry)
    compiled = CompiledSchema(schema, "served")
    await _seed_examples(state, tenant)
    for name, text in (await _export(state, tenant)).items():
        assert compiled.problems(yaml.safe_load(text)) == [], name
    bad = _hello()
    bad["definition"]["nodes"][1]["config"] = {"value": 1, "bogus": True}
    assert [p.dotted for p in compiled.problems(bad)] == ["definition.nodes[1].config.bogus"]


async def test_the_readme_s_complete_example_is_what_export_writes(state: AppState, tenant: TenantFixture) -> None:
    readme = (REPO / "README.md").read_text().split("## Workflows as files", 1)[1]
    example = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    notify = _hello(name="Notify on-call")
    files = {"large_orders.yaml": example, "notify.yaml": yaml.safe_dump(notify)}
    report = await _import(state, tenant, files, publish=True)
    assert report.applied, _problems(report)
    without_comments = "".join(re.sub(r"\s+#.*$", "", line) + "\n" for line in example.splitlines())
    assert (await _export(state, tenant))["large_orders.yaml"] == without_comments


async def test_a_reference_to_an_archived_workflow_round_trips_in_its_tenant(
    state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    actor = await _actor(tenant)
    async with state.sessions.begin() as s:
        old = await workflows.create(
            s, tenant.id, actor, state.registry, name="Old", description=None, definition=CHILD
        )
        await workflows.create(
            s, tenant.id, actor, state.registry, name="Uses old", description=None, definition=parent(str(old.id))
        )
        await workflows.archive(s, tenant.id, actor, old.id)
    files = await _export(state, tenant)
    assert list(files) == ["uses_old.yaml"], "archived workflows are not exported"
    again = await _import(state, tenant, files)
    assert [r.action for r in again.files] == ["unchanged"], _problems(again)
    elsewhere = await _import(state, other_tenant, files)
    assert _problems(elsewhere) == [("uses_old.yaml", "definition.nodes[1].config.workflow", "UNKNOWN_WORKFLOW")]


async def test_an_unchanged_file_writes_nothing(state: AppState, tenant: TenantFixture) -> None:
    files = {"hello.yaml": yaml.safe_dump(_hello(triggers={"webhooks": [{}], "schedules": [{"cron": "5 4 * * *"}]}))}
    await _import(state, tenant, files, publish=True)

    async def snapshot() -> tuple[Any, ...]:
        async with state.sessions() as s:
            row = await s.scalar(sa.select(models.Workflow).where(models.Workflow.tenant_id == tenant.id))
            audits = await s.scalar(sa.select(sa.func.count()).where(models.AuditEntry.tenant_id == tenant.id))
            assert row is not None
            return row.revision, row.updated_at, audits

    before = await snapshot()
    report = await _import(state, tenant, files, publish=True)
    assert [r.action for r in report.files] == ["unchanged"] and report.applied
    assert await snapshot() == before
