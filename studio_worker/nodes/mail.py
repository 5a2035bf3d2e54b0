"""``email.send``: one message through the SMTP server of an ``smtp`` credential, sent once per step.

The server's host passes the egress policy like an HTTP URL (one checked lookup; the socket goes to the checked
address, TLS keeps the name). The step's idempotency key becomes the ``Message-ID``, and the send is recorded in
``email_sends`` before the message is handed over:

* ``pending``: nothing handed over yet; a re-executed step sends normally.
* ``data``: the message was being handed over when the step stopped (a worker killed mid-``DATA``): it may or may
  not have been delivered, so the step fails with ``EmailDeliveryUnknown`` instead of sending it a second time;
  ``retryRun`` from the step is the human's "send it again" (a new generation, a new Message-ID).
* ``sent``: the server accepted it; a re-executed step returns the recorded output and sends nothing.
"""

from __future__ import annotations

import contextlib
import re
import ssl
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, getaddresses
from typing import Any

import aiosmtplib
from sqlalchemy.exc import IntegrityError

from studio_shared.credentials import EMAIL_ADDRESS, ResolvedCredential
from studio_shared.schemas.regex import compile_regex
from studio_shared.store import email_sends
from studio_worker.egress import CannotConnect, EgressDenied, checked_addresses, connect_socket
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.outputs import derived_id

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}
MAX_ERROR_CHARS = 300


def _recipients(value: Any, field: str) -> list[tuple[str, str]]:
    """(display name, address) pairs from a rendered to/cc/bcc: a comma-separated string or a list of them."""
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    found: list[tuple[str, str]] = []
    for item in items:
        if not isinstance(item, str):
            raise NodeError("InvalidConfig", f"config.{field} must render to addresses (text or a list of text)")
        if _CONTROL.search(item):
            raise NodeError("InvalidAddress", f"config.{field} holds a line break or control character")
        for name, address in getaddresses([item]):
            if not name and not address:
                continue
            if not compile_regex(EMAIL_ADDRESS).search(address) or len(address) > 254:
                shown = (address or item)[:100]
                raise NodeError(
                    "InvalidAddress", f"config.{field}: {shown!r} is not an email address like a@example.org"
                )
            found.append((name, address))
    return found


def _header_address(name: str, address: str) -> Address:
    local, _, domain = address.rpartition("@")
    return Address(display_name=name, username=local, domain=domain)


def _message(
    ctx: NodeContext, config: dict[str, Any], credential: ResolvedCredential
) -> tuple[EmailMessage, list[str]]:
    """The message and its envelope recipients, or a NodeError saying which field to fix."""
    settings = ctx.need_services().settings
    to, cc, bcc = (_recipients(config.get(f), f) for f in ("to", "cc", "bcc"))
    spellings: dict[str, str] = {}  # one envelope recipient per address (domains are case-blind), as first written
    for _, address in (*to, *cc, *bcc):
        spellings.setdefault(address.lower(), address)
    envelope = list(spellings.values())
    if not envelope:
        raise NodeError("InvalidConfig", "no recipients: config.to, cc or bcc must render to at least one address")
    if len(envelope) > settings.email_max_recipients:
        raise NodeError(
            "TooManyRecipients",
            f"{len(envelope)} recipients; a step may send to {settings.email_max_recipients} "
            "(STUDIO_EMAIL_MAX_RECIPIENTS)",
        )
    subject = str(config.get("subject") or "")
    if _CONTROL.search(subject.replace("\t", " ")):
        raise NodeError("InvalidConfig", "config.subject holds a line break or control character")
    text, html = config.get("text"), config.get("html")
    if not text and not html:
        raise NodeError("InvalidConfig", "config.text and config.html rendered empty: give at least one")
    sender = str(credential.value["from"])
    domain = sender.rpartition("@")[2]
    message = EmailMessage(policy=SMTP_POLICY)
    message["From"] = _header_address(str(credential.value.get("from_name") or ""), sender)
    if to:
        message["To"] = [_header_address(n, a) for n, a in to]
    if cc:
        message["Cc"] = [_header_address(n, a) for n, a in cc]
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = f"<{derived_id(ctx, 'email')}@{domain}>"
    if text:
        message.set_content(str(text))
    if html:
        if text:
            message.add_alternative(str(html), subtype="html")
        else:
            message.set_content(str(html), subtype="html")
    size = len(message.as_bytes())
    if size > settings.email_max_message_bytes:
        raise NodeError(
            "EmailTooLarge",
            f"the message is {size} bytes; a step may send {settings.email_max_message_bytes} "
            "(STUDIO_EMAIL_MAX_MESSAGE_BYTES)",
        )
    return message, envelope


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate failure behind ``exc`` (aiosmtplib wraps the implicit-TLS handshake's), if any."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None or isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _server_said(exc: aiosmtplib.SMTPResponseException) -> str:
    return f"{exc.code} {exc.message}"[:MAX_ERROR_CHARS]


async def email_send(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    services = ctx.need_services()
    credential = await ctx.credential(str(config["credential"]))
    if credential.kind != "smtp":
        raise NodeError(
            "CredentialKind", f"credential {credential.name!r} is a {credential.kind} credential; use an smtp one"
        )
    message, envelope = _message(ctx, config, credential)
    message_id = str(message["Message-ID"])
    send_id = derived_id(ctx, "email")
    row = {
        "id": send_id,
        "tenant_id": ctx.tenant_id,
        "run_id": ctx.run_id,
        "step_id": ctx.step_id,
        "message_id": message_id,
        "recipients": len(envelope),
    }
    try:
        async with services.db.begin() as conn:
            state, recorded = await email_sends.claim(conn, row)
    except IntegrityError:  # another execution of the step claimed it between our read and our insert
        async with services.db.begin() as conn:
            state, recorded = await email_sends.claim(conn, row)
    if state == email_sends.SENT:
        ctx.log(f"already sent as {message_id}: not sent again")
        return NodeResult(output=recorded)
    if state == email_sends.DATA:
        raise NodeError(
            "EmailDeliveryUnknown",
            f"an earlier execution of this step stopped while handing message {message_id} to the server: it may "
            "have been delivered, so it is not sent again; check the mailbox, and retry the run from this step to "
            "send it anew",
        )
    output = await _send(ctx, config, credential, message, envelope, send_id)
    return NodeResult(output=output)


async def _send(
    ctx: NodeContext,
    config: dict[str, Any],
    credential: ResolvedCredential,
    message: EmailMessage,
    envelope: list[str],
    send_id: Any,
) -> dict[str, Any]:
    services = ctx.need_services()
    value = credential.value
    host, security = str(value["host"]), str(value.get("security") or "starttls")
    port = int(value.get("port") or DEFAULT_PORTS[security])
    timeout_s = float(config.get("timeout_s") or 30)
    try:
        addresses = await checked_addresses(services.policy, host, port, resolver=services.resolver)
        sock = await connect_socket(addresses, port, timeout_s, host)
    except EgressDenied as exc:
        raise NodeError("EgressDenied", f"{exc}: check the host of credential {credential.name!r}") from None
    except (CannotConnect, TimeoutError) as exc:
        detail = str(exc) if isinstance(exc, CannotConnect) else f"no answer within {timeout_s:g} s"
        raise NodeError("ConnectionError", f"SMTP server {host}: {detail}", retryable=True) from None
    smtp = aiosmtplib.SMTP(
        hostname=host,  # TLS checks the certificate against the name; the socket is already at the checked address
        sock=sock,
        use_tls=security == "tls",
        start_tls=security == "starttls",  # starttls is required, never skipped; none never upgrades
        tls_context=ssl.create_default_context(),
        local_hostname=str(value["from"]).rpartition("@")[2],
        username=value.get("username"),
        password=value.get("password"),
        timeout=timeout_s,
    )
    sender = str(value["from"])
    handed_over = False
    try:
        try:
            await smtp.connect()
            await smtp.mail(sender)
            accepted, refused = [], []
            for address in envelope:
                try:
                    await smtp.rcpt(address)
                    accepted.append(address)
                except aiosmtplib.SMTPRecipientRefused as exc:
                    refused.append({"address": address, "code": exc.code, "message": exc.message[:MAX_ERROR_CHARS]})
            if not accepted:
                first = refused[0]
                raise NodeError(
                    "RecipientsRefused", f"the server refused every recipient: {first['code']} {first['message']}"
                )
            async with services.db.begin() as conn:
                mine = await email_sends.advance(conn, ctx.tenant_id, send_id, email_sends.PENDING, email_sends.DATA)
            if not mine:  # another execution of this step (a worker presumed dead) is handing it over
                raise NodeError(
                    "EmailDeliveryUnknown",
                    f"another execution of this step is sending {message['Message-ID']}; it is not sent twice",
                )
            handed_over = True
            await smtp.data(message.as_bytes())
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await smtp.quit()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise NodeError(
                "SmtpAuthFailed",
                f"{host} refused the username and password of credential {credential.name!r}: {_server_said(exc)}",
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            if handed_over:  # the server answered DATA with a refusal: nothing was delivered, a retry may send
                async with services.db.begin() as conn:
                    await email_sends.advance(conn, ctx.tenant_id, send_id, email_sends.DATA, email_sends.PENDING)
            raise NodeError(
                "SmtpRefused", f"{host} answered {_server_said(exc)}", retryable=400 <= exc.code < 500
            ) from None
        except (aiosmtplib.SMTPConnectTimeoutError, aiosmtplib.SMTPReadTimeoutError, TimeoutError):
            raise NodeError("Timeout", f"SMTP server {host} took longer than {timeout_s:g} s", retryable=True) from None
        except aiosmtplib.SMTPServerDisconnected:
            raise NodeError("ConnectionError", f"SMTP server {host} closed the connection", retryable=True) from None
        except (aiosmtplib.SMTPException, ssl.SSLCertVerificationError) as exc:
            certificate = _certificate_error(exc)
            if certificate is not None:
                raise NodeError(
                    "TlsCertificateInvalid",
                    f"SMTP server {host}: {certificate.verify_message or 'certificate verify failed'}; its "
                    f"certificate must name {host} and chain to a certificate authority the worker trusts",
                ) from None
            # no STARTTLS offered, no AUTH method in common, other TLS failures
            raise NodeError("SmtpError", f"SMTP server {host}: {str(exc)[:MAX_ERROR_CHARS]}") from None
        except (ssl.SSLError, OSError) as exc:
            raise NodeError("ConnectionError", f"SMTP server {host}: {exc}"[:MAX_ERROR_CHARS], retryable=True) from None
    finally:
        smtp.close()
        sock.close()
    output = {"message_id": str(message["Message-ID"]), "accepted": accepted, "refused": refused}
    async with services.db.begin() as conn:
        await email_sends.advance(conn, ctx.tenant_id, send_id, email_sends.DATA, email_sends.SENT, output)
    ctx.log(f"sent {output['message_id']} through {host} to {len(accepted)} recipient(s), {len(refused)} refused")
    return output


SPECS = [NodeSpec("email.send", email_send)]
