"""studio_client's webhook signing: what Standard Webhooks senders compute, accepted by a real server's webhook."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import httpx
from studio_client import AsyncStudioClient, RunStatus, sign, signed_headers, signed_request

from studio_shared.webhooks import sign_standard
from tests.client.conftest import Server, graphql, publish
from tests.worker.engine_harness import chain

CREATE_HOOK = (
    """mutation($w: ID!) { createWebhook(workflowId: $w) { webhook { id } secret errors { code message } } }"""
)
ECHO = chain({"id": "echo", "type": "transform", "config": {"value": "{{ input }}"}})


def test_signature_is_the_standard_webhooks_one() -> None:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    body = b'{"amount": 7}'
    assert sign(secret, "msg_1", 1_700_000_000, body) == sign_standard(secret, "msg_1", 1_700_000_000, body)
    assert sign("plain-secret", "msg_1", 1, body) == sign_standard("plain-secret", "msg_1", 1, body)
    headers = signed_headers(secret, body, message_id="msg_2", timestamp=5)
    assert headers == {
        "webhook-id": "msg_2",
        "webhook-timestamp": "5",
        "webhook-signature": sign_standard(secret, "msg_2", 5, body),
    }
    assert sign(secret, "msg_1", 1, body) != sign(secret, "msg_1", 1, body + b" ")


async def test_a_signed_delivery_starts_a_run_and_a_tampered_one_is_refused(studio_server: Server) -> None:
    token = studio_server.token(f"hooks-{secrets.token_hex(4)}")
    workflow_id = await publish(studio_server, token, ECHO)
    made: dict[str, Any] = (await graphql(studio_server, token, CREATE_HOOK, {"w": workflow_id}))["createWebhook"]
    assert made["errors"] == [], made
    url = f"{studio_server.url}/hooks/{made['webhook']['id']}"
    body, headers = signed_request(made["secret"], {"amount": 7})
    async with httpx.AsyncClient(timeout=30) as http:
        forged = await http.post(url, content=body, headers={**headers, "webhook-signature": "v1,AAAA"})
        assert forged.status_code == 401, forged.text
        delivered = await http.post(url, content=body, headers=headers)
        assert delivered.status_code < 300, delivered.text
    async with AsyncStudioClient(studio_server.url, token) as studio:
        [run] = await studio.list_runs(workflow_id=workflow_id)
        finished = await studio.wait_for_run(run.id, timeout=60)
    assert finished.status is RunStatus.SUCCEEDED
    assert finished.input == {"amount": 7}
    assert finished.trigger == "webhook"
