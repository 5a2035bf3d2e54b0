"""email.send against a real SMTP server (aiosmtpd, started by the test on 127.0.0.1): delivery, once per step
when re-executed or interrupted, the egress policy, TLS modes that never downgrade, limits and clear errors."""

from __future__ import annotations

import asyncio
import email
import email.policy
import signal
import socket
import ssl
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from studio_gql.state import AppState
from studio_shared.credentials import check
from studio_worker.nodes.base import NodeError
from studio_worker.nodes.mail import email_send
from tests.conftest import SERVICES, TenantFixture, Workers
from tests.tls_certs import ThrowawayCA
from tests.worker.engine_harness import StepMaker, chain, direct_steps, load, publish, run_once, wait_for
from tests.worker.test_nodes_io import add_credential, node, recorded_text
from tests.worker.test_recovery import replace_workers, stop_worker

pytestmark = pytest.mark.usefixtures("workers")
__all__ = ["replace_workers"]  # the fixture, shared with the recovery tests
PASSWORD = "smtp-pw-8c1e5a2f7d"  # must never show up in anything a run records
USER = "mailer"


@dataclass
class Mailbox:
    """The handler of a local SMTP server: what it received, and switches for the failure paths."""

    messages: list[Envelope] = field(default_factory=list)
    hold_rcpt: asyncio.Event | None = None  # when set: RCPT waits here (the client is stopped before DATA)
    hold_data: asyncio.Event | None = None  # when set: DATA stores the message, then waits before answering
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    refuse: set[str] = field(default_factory=set)
    held: int = 0  # sessions that waited at RCPT
    port: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self.hold_rcpt is not None:
            self.held += 1
            self.reached.set()
            await self.hold_rcpt.wait()
        if address in self.refuse:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.messages.append(envelope)
        if self.hold_data is not None:
            self.reached.set()
            await self.hold_data.wait()
        return "250 2.0.0 queued"


def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == USER.encode() and data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: the server sends the 235 or 535 itself


@pytest.fixture(scope="module")
async def mailbox() -> AsyncIterator[Mailbox]:
    box = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(box, hostname="mail.test", authenticator=authenticate, auth_require_tls=False),
        "127.0.0.1",
        0,
    )
    box.port = server.sockets[0].getsockname()[1]
    yield box
    server.close()
    await server.wait_closed()


@pytest.fixture(autouse=True)
def empty(mailbox: Mailbox) -> None:
    mailbox.messages.clear()
    mailbox.hold_rcpt = mailbox.hold_data = None
    mailbox.reached = asyncio.Event()
    mailbox.refuse = set()
    mailbox.held = 0


async def smtp_credential(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, name: str = "mail", **changes: Any
) -> None:
    value = {
        "host": "127.0.0.1",
        "port": mailbox.port,
        "security": "none",
        "username": USER,
        "password": PASSWORD,
        "from": "studio@example.org",
        "from_name": "Studio",
        **changes,
    }
    await add_credential(state, tenant, name, "smtp", {k: v for k, v in value.items() if v is not None})


def parsed(envelope: Envelope) -> email.message.EmailMessage:
    message = email.message_from_bytes(envelope.original_content or b"", policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


async def test_email_is_sent_with_the_step_key_as_message_id(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox
) -> None:
    await smtp_credential(state, tenant, mailbox)
    send = node(
        "send",
        "email.send",
        credential="mail",
        to="{{ input.to }}",
        cc="Ops <ops@example.org>",
        bcc="{{ input.audit }}",
        subject="Order {{ input.order }} shipped",
        text="Hello {{ input.name }}",
        html="<p>Hello <b>{{ input.name }}</b></p>",
    )
    payload = {"to": "ada@example.org, bob@example.org", "audit": ["audit@example.org"], "order": 7, "name": "Ada"}
    finished = await run_once(state, tenant, chain(send), input=payload)
    assert finished.run.status.value == "SUCCEEDED", finished.steps["send"].error
    [envelope] = mailbox.messages
    assert envelope.mail_from == "studio@example.org"
    recipients = ["ada@example.org", "bob@example.org", "ops@example.org", "audit@example.org"]
    assert envelope.rcpt_tos == recipients
    message = parsed(envelope)
    assert message["Subject"] == "Order 7 shipped"
    assert message["From"] == "Studio <studio@example.org>"
    assert message["To"] == "ada@example.org, bob@example.org"
    assert message["Bcc"] is None  # blind copies are in the envelope only
    body = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert body is not None and body.get_content().strip() == "Hello Ada"
    assert html is not None and "<b>Ada</b>" in html.get_content()
    output = finished.steps["send"].output
    expected_id = f"<{uuid.uuid5(uuid.UUID('5b1f6c1e-8a52-4a53-9d0e-3c1d1f0a7e21'), f'{finished.run.id}:send:0:email')}@example.org>"
    assert output == {"message_id": expected_id, "accepted": recipients, "refused": []}
    assert message["Message-ID"] == expected_id
    assert PASSWORD not in recorded_text(finished)


@pytest.fixture
async def step(state: AppState, tenant: TenantFixture) -> AsyncIterator[StepMaker]:
    """Build the context of one step of a real run (the send's record refers to it), for direct executions."""
    async with direct_steps(state, tenant, "email.send", "send") as make:
        yield make


CONFIG = {"credential": "mail", "to": "ada@example.org", "subject": "Hi", "text": "Hello"}


async def test_a_re_executed_step_does_not_send_twice(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any
) -> None:
    await smtp_credential(state, tenant, mailbox)
    ctx = await step()
    first = await email_send(ctx, dict(CONFIG))
    again = await email_send(ctx, dict(CONFIG))  # the same step executed again (a worker died after the send)
    assert again.output == first.output
    assert len(mailbox.messages) == 1
    assert ctx.logs[-1].startswith("already sent as <")


async def test_a_step_stopped_while_handing_the_message_over_is_not_sent_again(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any
) -> None:
    """The worker dies during DATA: the server may have the message; the re-executed step must not send it again."""
    await smtp_credential(state, tenant, mailbox)
    ctx = await step()
    mailbox.hold_data = asyncio.Event()
    sending = asyncio.create_task(email_send(ctx, dict(CONFIG)))
    await mailbox.reached.wait()
    sending.cancel()  # as a killed worker: the step never learns the server's answer
    with pytest.raises(asyncio.CancelledError):
        await sending
    mailbox.hold_data.set()
    with pytest.raises(NodeError) as failed:
        await email_send(ctx, dict(CONFIG))
    assert failed.value.type == "EmailDeliveryUnknown"
    assert failed.value.retryable is False
    assert len(mailbox.messages) == 1
    # A retry of the run from the step is a new generation: a new key, a new Message-ID, sent.
    retried = await step(key=f"{ctx.run_id}:send:1")
    retried.run_id = ctx.run_id
    mailbox.hold_data = None
    output = (await email_send(retried, dict(CONFIG))).output
    assert len(mailbox.messages) == 2
    assert (
        parsed(mailbox.messages[1])["Message-ID"] == output["message_id"] != parsed(mailbox.messages[0])["Message-ID"]
    )


async def test_a_step_stopped_before_handing_the_message_over_sends_it_once(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any
) -> None:
    await smtp_credential(state, tenant, mailbox)
    ctx = await step()
    mailbox.hold_rcpt = asyncio.Event()
    sending = asyncio.create_task(email_send(ctx, dict(CONFIG)))
    await mailbox.reached.wait()
    sending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await sending
    mailbox.hold_rcpt.set()
    mailbox.hold_rcpt = None
    await email_send(ctx, dict(CONFIG))
    assert len(mailbox.messages) == 1


async def test_two_executions_at_once_send_once(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any
) -> None:
    """A worker presumed dead (its lease expired) still sending while another executes the step: one of them hands
    the message over, the other stops before DATA."""
    await smtp_credential(state, tenant, mailbox)
    ctx = await step()
    mailbox.hold_rcpt = asyncio.Event()
    both = [asyncio.create_task(email_send(ctx, dict(CONFIG))) for _ in range(2)]
    for _ in range(600):
        if mailbox.held == 2:
            break
        await asyncio.sleep(0.05)
    assert mailbox.held == 2, "both executions reached the server"
    mailbox.hold_rcpt.set()
    outcomes = await asyncio.gather(*both, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, NodeError)]
    assert [e.type for e in errors] == ["EmailDeliveryUnknown"], outcomes
    assert len(mailbox.messages) == 1


async def test_wrong_password_is_a_clear_error_that_is_not_retried(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox
) -> None:
    await smtp_credential(state, tenant, mailbox, password=PASSWORD + "-wrong")
    send = {**node("send", "email.send", **CONFIG), "retry": {"max_attempts": 3, "initial_interval_s": 0.05}}
    finished = await run_once(state, tenant, chain(send))
    error = finished.steps["send"].error
    assert error["type"] == "SmtpAuthFailed", error
    assert "refused the username and password of credential 'mail'" in error["message"]
    assert error["retryable"] is False
    assert finished.steps["send"].attempt == 1
    assert mailbox.messages == []
    assert PASSWORD not in recorded_text(finished)


async def test_a_closed_port_is_retryable(state: AppState, tenant: TenantFixture, mailbox: Mailbox) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    await smtp_credential(state, tenant, mailbox, port=port)
    send = {**node("send", "email.send", **CONFIG), "retry": {"max_attempts": 2, "initial_interval_s": 0.05}}
    finished = await run_once(state, tenant, chain(send))
    error = finished.steps["send"].error
    assert error["type"] == "ConnectionError", error
    assert error["retryable"] is True
    assert finished.steps["send"].attempt == 2


async def test_the_smtp_host_passes_the_egress_policy(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any
) -> None:
    """The tests' settings opt 127.0.0.1 in; without that opt-in loopback is refused, and nothing is sent."""
    await smtp_credential(state, tenant, mailbox)
    ctx = await step({"http_allowed_hosts": "", "http_allow_private": False})
    with pytest.raises(NodeError) as refused:
        await email_send(ctx, dict(CONFIG))
    assert refused.value.type == "EgressDenied"
    assert "127.0.0.1" in refused.value.message and "loopback" in refused.value.message
    await smtp_credential(state, tenant, mailbox, name="meta", host="169.254.169.254")
    with pytest.raises(NodeError) as metadata:
        await email_send(await step(), {**CONFIG, "credential": "meta"})
    assert metadata.value.type == "EgressDenied"
    await smtp_credential(state, tenant, mailbox, name="local", host="localhost")
    with pytest.raises(NodeError) as local:
        await email_send(await step(), {**CONFIG, "credential": "local"})
    assert local.value.type == "EgressDenied"
    assert mailbox.messages == []


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_is_never_skipped(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any, security: str
) -> None:
    """The local server speaks plain SMTP without STARTTLS: a credential asking for TLS fails rather than send."""
    await smtp_credential(state, tenant, mailbox, security=security)
    with pytest.raises(NodeError) as failed:
        await email_send(await step(), {**CONFIG, "timeout_s": 3})
    assert failed.value.type in {"SmtpError", "ConnectionError", "Timeout"}, failed.value.as_dict()
    if security == "starttls":
        assert failed.value.type == "SmtpError"
        assert "STARTTLS" in failed.value.message
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("changes", "limits", "error"),
    [
        ({"to": "not-an-address"}, {}, "InvalidAddress"),
        ({"to": "a@example.org\r\nBcc: victim@example.org"}, {}, "InvalidAddress"),
        ({"subject": "Hi\r\nBcc: victim@example.org"}, {}, "InvalidConfig"),
        ({"to": "", "cc": ""}, {}, "InvalidConfig"),
        ({"text": "", "html": ""}, {}, "InvalidConfig"),
        (
            {"to": "a@example.org, b@example.org", "cc": "c@example.org"},
            {"email_max_recipients": 2},
            "TooManyRecipients",
        ),
        ({"text": "x" * 5000}, {"email_max_message_bytes": 2048}, "EmailTooLarge"),
    ],
)
async def test_bad_messages_are_refused_before_anything_is_sent(
    state: AppState,
    tenant: TenantFixture,
    mailbox: Mailbox,
    step: Any,
    changes: dict[str, Any],
    limits: dict[str, Any],
    error: str,
) -> None:
    await smtp_credential(state, tenant, mailbox)
    with pytest.raises(NodeError) as refused:
        await email_send(await step(limits), {**CONFIG, **changes})
    assert refused.value.type == error, refused.value.as_dict()
    assert refused.value.retryable is False
    assert mailbox.messages == []


async def test_refused_recipients_are_reported(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, step: Any
) -> None:
    await smtp_credential(state, tenant, mailbox)
    mailbox.refuse = {"gone@example.org"}
    output = (await email_send(await step(), {**CONFIG, "to": "ada@example.org, gone@example.org"})).output
    assert output["accepted"] == ["ada@example.org"]
    assert output["refused"] == [{"address": "gone@example.org", "code": 550, "message": "5.1.1 no such user"}]
    mailbox.refuse = {"ada@example.org"}
    with pytest.raises(NodeError) as none:
        await email_send(await step(), dict(CONFIG))
    assert none.value.type == "RecipientsRefused"
    assert len(mailbox.messages) == 1


async def test_the_credential_kind_must_be_smtp(state: AppState, tenant: TenantFixture, step: Any) -> None:
    await add_credential(state, tenant, "token", "bearer", {"token": PASSWORD})
    with pytest.raises(NodeError) as wrong:
        await email_send(await step(), {**CONFIG, "credential": "token"})
    assert wrong.value.type == "CredentialKind"


def test_smtp_credentials_are_checked_field_by_field() -> None:
    good = {"host": "smtp.example.org", "port": 465, "security": "tls", "from": "a@example.org"}
    assert check("m", "smtp", good, None) == []
    assert check("m", "smtp", {**good, "username": "u", "password": "p"}, None) == []
    problems = {
        p.dotted: p.message
        for p in check("m", "smtp", {**good, "security": "ssl", "port": 0, "host": "a b", "from": "nobody"}, None)
    }
    assert set(problems) == {"value.security", "value.port", "value.host", "value.from"}
    assert problems["value.from"] == "from must be an email address like studio@example.org"
    assert [p.dotted for p in check("m", "smtp", {**good, "from_name": "Ops\r\nBcc: x@example.org"}, None)] == [
        "value.from_name"
    ]
    assert check("m", "smtp", {**good, "from_name": 'Ops, "Team" é'}, None) == []
    [half] = check("m", "smtp", {**good, "username": "u"}, None)
    assert half.message == "smtp credentials take a username and a password together, or neither"


# -- kill -9 of the worker sending (services mode: real worker processes) -----------------------------------


@pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass (make test)")
@pytest.mark.slow
@pytest.mark.parametrize("stage", ["rcpt", "data"])
async def test_kill_9_of_the_worker_sending_never_sends_twice(
    state: AppState, tenant: TenantFixture, mailbox: Mailbox, replace_workers: Workers, stage: str
) -> None:
    """Killed before the message is handed over, the run's next worker sends it; killed while it is handed over,
    the next worker does not send it again and says the delivery is unknown. Either way: one message."""
    await smtp_credential(state, tenant, mailbox)
    hold = asyncio.Event()
    if stage == "rcpt":
        mailbox.hold_rcpt = hold
    else:
        mailbox.hold_data = hold
    workflow_id = await publish(state, tenant, chain(node("send", "email.send", **CONFIG)))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    await asyncio.wait_for(mailbox.reached.wait(), 30)
    owner = (await load(state, tenant.id, run.id)).run.lease_owner
    assert owner is not None
    victim = next(p for p in replace_workers.procs if p.pid == int(owner.split(":")[1]))
    await stop_worker(replace_workers, victim, signal.SIGKILL)
    mailbox.hold_rcpt = mailbox.hold_data = None
    hold.set()
    done = await wait_for(state, tenant.id, run.id, timeout=60)
    assert len(mailbox.messages) == 1
    step = done.steps["send"]
    assert step.interruptions == 1
    if stage == "rcpt":
        assert done.run.status.value == "SUCCEEDED", step.error
        assert step.output["message_id"] == parsed(mailbox.messages[0])["Message-ID"]
    else:
        assert done.run.status.value == "FAILED"
        assert step.error["type"] == "EmailDeliveryUnknown", step.error


# -- TLS: STARTTLS and implicit TLS against servers with certificates of a test CA --------------------------------


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayCA:
    return ThrowawayCA.create(tmp_path_factory.mktemp("ca"))


async def tls_server(box: Mailbox, context: ssl.SSLContext, implicit: bool) -> asyncio.Server:
    def protocol() -> SMTP:
        if implicit:  # the whole connection is TLS (aiosmtpd cannot tell, so it is told AUTH needs no STARTTLS)
            return SMTP(box, hostname="mail.test", authenticator=authenticate, auth_require_tls=False)
        return SMTP(box, hostname="mail.test", authenticator=authenticate, tls_context=context, require_starttls=True)

    server = await asyncio.get_running_loop().create_server(protocol, "127.0.0.1", 0, ssl=context if implicit else None)
    box.port = server.sockets[0].getsockname()[1]
    return server


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_tls_sends_with_a_verified_certificate_and_refuses_any_other(
    state: AppState,
    tenant: TenantFixture,
    step: Any,
    test_ca: ThrowawayCA,
    monkeypatch: pytest.MonkeyPatch,
    security: str,
) -> None:
    """AUTH happens inside TLS (the server requires it); an untrusted CA or another name fails before any mail."""
    box = Mailbox()
    good = await tls_server(box, test_ca.server_context("127.0.0.1"), implicit=security == "tls")
    try:
        await smtp_credential(state, tenant, box, name=f"tls-{security}", security=security)
        config = {**CONFIG, "credential": f"tls-{security}", "timeout_s": 5}
        with pytest.raises(NodeError) as untrusted:  # the system's CAs do not know the test CA
            await email_send(await step(), config)
        assert untrusted.value.type == "TlsCertificateInvalid", untrusted.value.as_dict()
        assert untrusted.value.retryable is False
        assert box.messages == []
        monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_file))
        output = (await email_send(await step(), config)).output
        assert output["accepted"] == ["ada@example.org"]
        assert len(box.messages) == 1
    finally:
        good.close()
        await good.wait_closed()
    other = await tls_server(box, test_ca.server_context("other.test"), implicit=security == "tls")
    try:
        await smtp_credential(state, tenant, box, name=f"tls-{security}-other", security=security)
        with pytest.raises(NodeError) as mismatch:
            await email_send(await step(), {**config, "credential": f"tls-{security}-other"})
        assert mismatch.value.type == "TlsCertificateInvalid", mismatch.value.as_dict()
        assert "127.0.0.1" in mismatch.value.message
        assert len(box.messages) == 1
    finally:
        other.close()
        await other.wait_closed()
