"""auditLog(filter:), its keyset pages, tenancy and RBAC, and GET /audit/export (CSV and JSON Lines)."""

from __future__ import annotations

import csv
import io
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.rbac import Role
from tests.conftest import GraphQLClient, TenantFixture

LOG = """query($f: AuditLogFilter, $first: Int, $after: String) {
  auditLog(filter: $f, first: $first, after: $after) {
    edges { cursor node { id actor action targetKind targetId at } }
    pageInfo { hasNextPage endCursor } } }"""

BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def seed(state: AppState, tenant: TenantFixture, rows: list[dict[str, Any]]) -> list[int]:
    """Entries with the given fields (``minutes`` after BASE); their ids in the order given."""
    made = []
    async with state.sessions.begin() as s:
        for row in rows:
            entry = models.AuditEntry(
                tenant_id=tenant.id,
                actor=row.get("actor", "user:a"),
                action=row.get("action", "workflow.update"),
                target_kind=row.get("kind", "workflow"),
                target_id=row.get("target", "w1"),
                data=row.get("data"),
                at=BASE + timedelta(minutes=row.get("minutes", 0)),
            )
            s.add(entry)
            made.append(entry)
        await s.flush()
        return [entry.id for entry in made]


async def listed(gql: GraphQLClient, token: str, where: dict[str, Any] | None, first: int = 100) -> list[int]:
    data = await gql.data(LOG, {"f": where, "first": first}, token)
    return [int(e["node"]["id"]) for e in data["auditLog"]["edges"]]


async def all_pages(gql: GraphQLClient, token: str, where: dict[str, Any] | None, first: int) -> list[int]:
    out: list[int] = []
    after = None
    while True:
        data = (await gql.data(LOG, {"f": where, "first": first, "after": after}, token))["auditLog"]
        out += [int(e["node"]["id"]) for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            return out
        after = data["pageInfo"]["endCursor"]


@pytest.fixture
async def history(state: AppState, tenant: TenantFixture, other_tenant: TenantFixture) -> dict[str, int]:
    """Six entries of the tenant, and look-alikes in another tenant that must never show."""
    names = ["publish_w1", "update_w1", "update_w2_bob", "key_create", "login_bob", "later_publish_w2"]
    ids = await seed(
        state,
        tenant,
        [
            {"action": "workflow.publish", "target": "w1", "minutes": 0},
            {"action": "workflow.update", "target": "w1", "minutes": 10},
            {"actor": "user:bob", "action": "workflow.update", "target": "w2", "minutes": 20},
            {"action": "apikey.create", "kind": "api_key", "target": "k1", "minutes": 30},
            {"actor": "user:bob", "action": "user.login", "kind": "user", "target": "bob", "minutes": 40},
            {"action": "workflow.publish", "target": "w2", "minutes": 24 * 60},
        ],
    )
    await seed(
        state,
        other_tenant,
        [
            {"action": "workflow.publish", "target": "w1", "minutes": 5},
            {"actor": "user:bob", "action": "user.login", "kind": "user", "target": "bob", "minutes": 41},
        ],
    )
    return dict(zip(names, ids, strict=True))


async def test_each_filter_narrows_the_log_newest_first(
    gql: GraphQLClient, tenant: TenantFixture, history: dict[str, int]
) -> None:
    h, token = history, tenant.token(Role.ADMIN)
    newest_first = [h[n] for n in reversed(list(h))]
    assert (await listed(gql, token, None))[-6:] == newest_first  # after the fixture's own (user.create, now)
    assert await listed(gql, token, {"until": (BASE + timedelta(days=2)).isoformat()}) == newest_first
    assert await listed(gql, token, {"actor": "user:bob"}) == [h["login_bob"], h["update_w2_bob"]]
    assert await listed(gql, token, {"action": "workflow.publish"}) == [h["later_publish_w2"], h["publish_w1"]]
    assert await listed(gql, token, {"resourceType": "api_key"}) == [h["key_create"]]
    assert await listed(gql, token, {"resourceType": "workflow", "resourceId": "w1"}) == [
        h["update_w1"],
        h["publish_w1"],
    ]
    # since inclusive, until exclusive
    window = {"since": (BASE + timedelta(minutes=10)).isoformat(), "until": (BASE + timedelta(minutes=40)).isoformat()}
    assert await listed(gql, token, window) == [h["key_create"], h["update_w2_bob"], h["update_w1"]]
    both = {"actor": "user:bob", "action": "workflow.update", "since": BASE.isoformat()}
    assert await listed(gql, token, both) == [h["update_w2_bob"]]
    assert await listed(gql, token, {"actor": "user:nobody"}) == []


async def test_another_tenants_entries_never_appear(
    gql: GraphQLClient, tenant: TenantFixture, other_tenant: TenantFixture, history: dict[str, int]
) -> None:
    ours = set(history.values())
    theirs = set(await listed(gql, other_tenant.token(Role.ADMIN), {"until": (BASE + timedelta(days=2)).isoformat()}))
    assert len(theirs) == 2
    assert not set(await listed(gql, other_tenant.token(Role.ADMIN), None)) & ours
    assert not theirs & ours
    token = tenant.token(Role.ADMIN)
    assert set(await listed(gql, token, {"actor": "user:bob", "action": "user.login"})) == {history["login_bob"]}
    # A cursor taken from the other tenant's log pages our log, never theirs.
    data = await gql.data(LOG, {"first": 1}, other_tenant.token(Role.ADMIN))
    cursor = data["auditLog"]["pageInfo"]["endCursor"]
    after = await gql.data(LOG, {"first": 100, "after": cursor}, token)
    all_theirs = set(await listed(gql, other_tenant.token(Role.ADMIN), None))
    paged = {int(e["node"]["id"]) for e in after["auditLog"]["edges"]}
    assert ours <= paged
    assert not paged & all_theirs


async def test_filtered_keyset_pages_cover_every_entry_once_in_order(
    gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    """Entries in the same instant page by id: none skipped or repeated at a page boundary, with a filter on."""
    rows = [{"action": "credential.create", "minutes": i // 4} for i in range(23)]
    rows += [{"action": "credential.delete", "minutes": i // 4} for i in range(9)]
    ids = await seed(state, tenant, rows)
    created = ids[:23]
    expected = sorted(created, key=lambda i: (rows[ids.index(i)]["minutes"], i), reverse=True)
    token = tenant.token(Role.ADMIN)
    for size in (1, 4, 7, 23, 100):
        assert await all_pages(gql, token, {"action": "credential.create"}, size) == expected, size


async def test_a_bad_filter_says_what_to_fix(gql: GraphQLClient, tenant: TenantFixture) -> None:
    token = tenant.token(Role.ADMIN)
    cases: list[tuple[dict[str, Any], list[str], str]] = [
        (
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"},
            ["filter", "since"],
            "since is after until",
        ),
        ({"resourceType": "Work Flow"}, ["filter", "resourceType"], "a resource type is one lower-case word"),
        ({"resourceType": "w" * 33}, ["filter", "resourceType"], "resourceType is 1 to 32 characters"),
        ({"actor": "a" * 81}, ["filter", "actor"], "actor is 1 to 80 characters"),
        ({"actor": ""}, ["filter", "actor"], "actor is 1 to 80 characters"),
        ({"action": "DROP TABLE"}, ["filter", "action"], "an action is lower-case words joined by dots"),
        ({"resourceId": "w1"}, ["filter", "resourceId"], "name the resourceType"),
        ({"since": "2026-03-01T00:00:00"}, ["filter", "since"], "needs a time zone"),
    ]
    for where, path, message in cases:
        body = await gql.raw(LOG, {"f": where, "first": 5}, token)
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", (where, error)
        assert error["extensions"]["problems"][0]["path"] == path, (where, error)
        assert message in error["message"], (where, error["message"])
    body = await gql.raw(LOG, {"first": 5, "after": "not-a-cursor"}, token)
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
async def test_only_admins_read_the_log(gql: GraphQLClient, tenant: TenantFixture, role: Role) -> None:
    codes = await gql.error_codes(LOG, {"f": {"actor": "user:bob"}}, tenant.token(role))
    assert codes == ["FORBIDDEN"]
    assert await gql.error_codes(LOG, {"f": {"actor": "user:bob"}}) == ["UNAUTHENTICATED"]


# ------------------------------------------------------------------------------------------------ export


def export_params(**extra: str) -> dict[str, str]:
    return {"since": BASE.isoformat(), "until": (BASE + timedelta(days=2)).isoformat(), **extra}


async def export(http: httpx.AsyncClient, token: str | None, params: dict[str, str]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await http.get("/audit/export", params=params, headers=headers)


async def test_csv_export_holds_the_range_oldest_first_with_safe_cells(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    ids = await seed(
        state,
        tenant,
        [
            {"minutes": -1},  # before the range
            {"actor": '=HYPERLINK("http://evil")', "target": "+1", "minutes": 1},
            {"action": "workflow.create", "data": {"name": "@SUM(A1)"}, "target": "-2", "minutes": 2},
            {"target": "@w", "minutes": 3},
            {"minutes": 2 * 24 * 60},  # at until: excluded
        ],
    )
    await seed(state, other_tenant, [{"minutes": 2}])
    response = await export(http, tenant.token(Role.ADMIN), export_params(format="csv"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", "at", "actor", "action", "resource_type", "resource_id", "data"]
    assert [int(r[0]) for r in rows[1:]] == ids[1:4]
    assert rows[1][2] == '\'=HYPERLINK("http://evil")'
    assert rows[1][5] == "'+1"
    assert rows[2][5] == "'-2"
    assert json.loads(rows[2][6]) == {"name": "@SUM(A1)"}  # a JSON object starts with "{": left as it is
    assert rows[3][5] == "'@w"
    for row in rows[1:]:
        assert row[1].startswith("2026-03-01T12:0"), row
        assert not row[2].startswith(("=", "+", "-", "@")), row


async def test_jsonl_export_filters_and_stays_in_the_tenant(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, other_tenant: TenantFixture
) -> None:
    ids = await seed(
        state,
        tenant,
        [{"action": "workflow.publish", "minutes": m, "data": {"v": m}} for m in range(3)] + [{"minutes": 4}],
    )
    await seed(state, other_tenant, [{"action": "workflow.publish", "minutes": 1}])
    response = await export(http, tenant.token(Role.ADMIN), export_params(format="jsonl", action="workflow.publish"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [int(line["id"]) for line in lines] == ids[:3]
    assert lines[1] == {
        "id": str(ids[1]),
        "at": lines[1]["at"],
        "actor": "user:a",
        "action": "workflow.publish",
        "resource_type": "workflow",
        "resource_id": "w1",
        "data": {"v": 1},
    }
    assert datetime.fromisoformat(lines[1]["at"]) == BASE + timedelta(minutes=1)


async def test_export_spans_many_batches(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from studio_gql.routes import audit_export

    monkeypatch.setattr(audit_export, "BATCH", 3)
    ids = await seed(state, tenant, [{"minutes": i // 2} for i in range(10)])
    response = await export(http, tenant.token(Role.ADMIN), export_params(format="jsonl"))
    assert [int(json.loads(line)["id"]) for line in response.text.splitlines()] == ids


async def test_export_refuses_what_it_cannot_serve_whole(
    http: httpx.AsyncClient, state: AppState, tenant: TenantFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tenant.token(Role.ADMIN)
    await seed(state, tenant, [{"minutes": i} for i in range(4)])
    monkeypatch.setattr(state.settings, "audit_export_max_rows", 3)
    response = await export(http, token, export_params())
    assert response.status_code == 400
    assert response.json()["error"] == "too_many_rows"
    assert "more than 3 entries match: export a shorter range" in response.json()["message"]
    # The same range narrowed below the limit is served whole.
    narrowed = export_params(until=(BASE + timedelta(minutes=3)).isoformat(), format="jsonl")
    assert len((await export(http, token, narrowed)).text.splitlines()) == 3

    for params, path, message in (
        ({"until": BASE.isoformat()}, ["since"], "since is required"),
        ({"since": BASE.isoformat()}, ["until"], "until is required"),
        (export_params(since="yesterday"), ["since"], "not an ISO 8601 time"),
        (export_params(format="xlsx"), ["format"], "format is csv or jsonl"),
        (export_params(until=(BASE + timedelta(days=367)).isoformat()), ["until"], "at most 366 days"),
        (export_params(since=(BASE + timedelta(days=3)).isoformat()), ["since"], "since is after until"),
        (export_params(resourceType="a/b"), ["resourceType"], "a resource type is one lower-case word"),
        (export_params(actor="x" * 81), ["actor"], "actor is 1 to 80 characters"),
    ):
        response = await export(http, token, params)
        assert response.status_code == 400, (params, response.text)
        body = response.json()
        assert body["problems"][0]["path"] == path, (params, body)
        assert message in body["message"], (params, body)


async def test_export_is_for_admins_only(http: httpx.AsyncClient, state: AppState, tenant: TenantFixture) -> None:
    await seed(state, tenant, [{"minutes": 1}])
    response = await export(http, None, export_params())
    assert response.status_code == 401
    assert response.json()["error"] == "unauthenticated"
    response = await export(http, "not-a-token-" + secrets.token_hex(8), export_params())
    assert response.status_code == 401
    for role in Role:
        response = await export(http, tenant.token(role), export_params())
        if role is Role.ADMIN:
            assert response.status_code == 200
        else:
            assert response.status_code == 403, role
            assert "audit:read" in response.json()["message"]
            assert "user:a" not in response.text


async def test_an_export_is_on_record_and_an_admin_api_key_may_export(
    http: httpx.AsyncClient, gql: GraphQLClient, state: AppState, tenant: TenantFixture
) -> None:
    await seed(state, tenant, [{"minutes": 1}])
    key = await gql.data(
        'mutation($r: Role!) { createApiKey(name: "exports", role: $r) { key apiKey { id } errors { code } } }',
        {"r": "ADMIN"},
        tenant.token(Role.ADMIN),
    )
    response = await export(http, key["createApiKey"]["key"], export_params(format="jsonl"))
    assert response.status_code == 200, response.text
    assert len(response.text.splitlines()) == 1
    recorded = await gql.data(LOG, {"f": {"action": "audit.export"}, "first": 5}, tenant.token(Role.ADMIN))
    [entry] = recorded["auditLog"]["edges"]
    assert entry["node"]["actor"] == f"apikey:{key['createApiKey']['apiKey']['id']}"
    viewer_key = await gql.data(
        'mutation { createApiKey(name: "peek", role: VIEWER) { key errors { code } } }', token=tenant.token(Role.ADMIN)
    )
    assert (await export(http, viewer_key["createApiKey"]["key"], export_params())).status_code == 403
    # A refused export is not an export: nothing more on record.
    again = await gql.data(LOG, {"f": {"action": "audit.export"}, "first": 5}, tenant.token(Role.ADMIN))
    assert len(again["auditLog"]["edges"]) == 1
