from __future__ import annotations

from studio_shared.rbac import Role


async def test_login_me_and_create_workflow(gql, tenant) -> None:
    login = await gql.data(
        "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }",
        {"e": tenant.emails[Role.EDITOR], "p": "correct horse battery staple"},
    )
    token = login["login"]["token"]
    me = await gql.data("{ me { role permissions tenant { slug } user { email } } }", token=token)
    assert me["me"]["role"] == "EDITOR"
    created = await gql.data(
        """mutation($d: JSON!) { createWorkflow(input: {name: "W", definition: $d}) {
             workflow { id revision latestVersion { version } } errors { path message code } } }""",
        {"d": {"nodes": [{"id": "start", "type": "trigger.manual", "config": {}}], "edges": []}},
        token,
    )
    assert created["createWorkflow"]["errors"] == []
