"""Credential kinds: the shape of each value, the headers it adds, the hosts it may be sent to.

Pure logic; storage is ``studio_shared.store.credentials``. A resolved credential is the only object that
holds a secret in clear, and it knows every string that must never appear in a log, an output or an event.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from studio_shared.errors import Problem
from studio_shared.schemas.validators import CompiledSchema

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
HOST = re.compile(r"^(\*\.)?[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?)*(:\d{1,5})?$")
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

# Every kind's value is a JSON Schema complete enough for a generic form: each property has a title and a
# description, secrets are marked ``writeOnly`` (never shown again), and defaults are the node's defaults.
_SECRET = {"type": "string", "minLength": 1, "maxLength": 8192, "writeOnly": True}
# A DNS name or an IP address (IPv6 without brackets); the egress policy checks what it resolves to.
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
SERVER_HOST = rf"^({_LABEL}(\.{_LABEL})*|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$"
EMAIL_ADDRESS = rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]{{1,64}}@{_LABEL}(\.{_LABEL})+$"
_HOST = {"type": "string", "minLength": 1, "maxLength": 253, "pattern": SERVER_HOST}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
KINDS: dict[str, dict[str, Any]] = {
    "bearer": {
        "title": "Bearer token",
        "required": ["token"],
        "properties": {"token": {**_SECRET, "title": "Token", "description": "Sent as Authorization: Bearer."}},
    },
    "basic": {
        "title": "HTTP basic auth",
        "required": ["username", "password"],
        "properties": {
            "username": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                "title": "Username",
                "description": "User name.",
            },
            "password": {**_SECRET, "title": "Password", "description": "Password."},
        },
    },
    "header": {
        "title": "Custom header",
        "required": ["name", "value"],
        "properties": {
            "name": {
                "type": "string",
                "pattern": HEADER_NAME.pattern,
                "title": "Header name",
                "description": "e.g. X-Api-Key.",
            },
            "value": {**_SECRET, "title": "Header value", "description": "The header's value."},
        },
    },
    "openai": {
        "title": "OpenAI-compatible API",
        "required": ["api_key"],
        "properties": {
            "api_key": {**_SECRET, "title": "API key", "description": "Sent as Authorization: Bearer."},
            "base_url": {
                "type": "string",
                "pattern": "^https?://",
                "maxLength": 2000,
                "title": "Base URL",
                "description": f"The API's base URL; default {DEFAULT_OPENAI_BASE_URL}.",
            },
            "organization": {
                "type": "string",
                "maxLength": 200,
                "title": "Organization",
                "description": "OpenAI-Organization header.",
            },
        },
    },
    "smtp": {
        "title": "SMTP server (email.send)",
        "required": ["host", "from"],
        "properties": {
            "host": {**_HOST, "title": "Host", "description": "SMTP server name or address, e.g. smtp.example.org."},
            "port": {
                **_PORT,
                "default": 587,
                "title": "Port",
                "description": "587 for STARTTLS, 465 for TLS, 25 plain.",
            },
            "security": {
                "type": "string",
                "enum": ["starttls", "tls", "none"],
                "default": "starttls",
                "title": "Security",
                "description": "starttls upgrades the connection (and fails if the server cannot); tls connects over "
                "TLS from the start; none sends in clear (only on a trusted network). Certificates are verified.",
            },
            "username": {
                "type": "string",
                "minLength": 1,
                "maxLength": 500,
                "title": "Username",
                "description": "SMTP AUTH user; leave empty for a relay without authentication.",
            },
            "password": {**_SECRET, "title": "Password", "description": "SMTP AUTH password (with username)."},
            "from": {
                "type": "string",
                "maxLength": 254,
                "pattern": EMAIL_ADDRESS,
                "title": "From address",
                "description": "Sender address, e.g. studio@example.org.",
            },
            "from_name": {
                "type": "string",
                "minLength": 1,
                "maxLength": 200,
                "title": "From name",
                "description": "Display name of the sender (optional).",
            },
        },
        "dependentRequired": {"username": ["password"], "password": ["username"]},
    },
    "postgres": {
        "title": "PostgreSQL database (sql.query)",
        "required": ["host", "database", "user"],
        "properties": {
            "host": {**_HOST, "title": "Host", "description": "Database server name or address (no Unix sockets)."},
            "port": {**_PORT, "default": 5432, "title": "Port", "description": "Database server port."},
            "database": {
                "type": "string",
                "minLength": 1,
                "maxLength": 63,
                "title": "Database",
                "description": "Database name.",
            },
            "user": {
                "type": "string",
                "minLength": 1,
                "maxLength": 63,
                "title": "User",
                "description": "Role to connect as; grant it only what the workflows need.",
            },
            "password": {
                **_SECRET,
                "title": "Password",
                "description": "The role's password (optional for trust authentication).",
            },
            "sslmode": {
                "type": "string",
                "enum": ["require", "verify-full", "disable"],
                "default": "require",
                "title": "TLS",
                "description": "require encrypts without checking the certificate; verify-full checks it against the "
                "system's CAs and the host name; disable sends in clear (only on a trusted network).",
            },
        },
    },
}
_VALIDATORS = {
    kind: CompiledSchema(
        {"type": "object", "additionalProperties": False, **{k: v for k, v in schema.items() if k != "title"}},
        limits=False,
    ).validator
    for kind, schema in KINDS.items()
}


def kind_schema(kind: str) -> dict[str, Any]:
    """The JSON Schema of a kind's value (for forms): an object with titled, described properties."""
    return {"type": "object", "additionalProperties": False, **KINDS[kind]}


SECRET_FIELDS = ("token", "password", "value", "api_key")


def check(name: str, kind: str, value: Any, allowed_hosts: list[str] | None) -> list[Problem]:
    """Everything wrong with a new credential; messages name fields, never echo a value."""
    problems: list[Problem] = []
    if not NAME.match(name):
        problems.append(
            Problem(("name",), "use 1 to 100 letters, digits, '_', '.' or '-', starting with a letter or digit")
        )
    validator = _VALIDATORS.get(kind)
    if validator is None:
        problems.append(Problem(("kind",), f"unknown kind {kind[:40]!r}; use one of: {', '.join(KINDS)}"))
    else:
        for error in validator.iter_errors(value):
            field = ".".join(str(p) for p in error.absolute_path)
            path = ("value", *(str(p) for p in error.absolute_path))
            if error.validator == "required":
                message = f"{kind} credentials need {', '.join(KINDS[kind]['required'])}"
            elif error.validator == "dependentRequired":
                message = f"{kind} credentials take a username and a password together, or neither"
            elif error.validator == "pattern" and field in ("host", "from"):
                what = "a host name or IP address" if field == "host" else "an email address like studio@example.org"
                message = f"{field} must be {what}"
            elif error.validator == "additionalProperties":
                path = ("value",)  # the factory points at each unknown key; one problem for the object reads better
                message = f"{kind} credentials take only: {', '.join(KINDS[kind]['properties'])}"
            else:  # never error.message: it quotes the value
                message = f"{field or 'value'} is not valid for a {kind} credential ({error.validator})"
            problems.append(Problem(path, message))
    for i, host in enumerate(allowed_hosts or []):
        if not HOST.match(host.lower()):
            problems.append(Problem(("allowedHosts", str(i)), "give a host name like api.example.org or *.example.org"))
    return list(dict.fromkeys(problems))  # two missing or unknown keys make one problem, not two alike


def normalize_hosts(hosts: list[str] | None) -> list[str] | None:
    return sorted({h.strip().lower().rstrip(".") for h in hosts}) if hosts else None


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """A decrypted credential, handed to a node for one step."""

    name: str
    kind: str
    value: dict[str, Any]
    allowed_hosts: tuple[str, ...] | None

    def headers(self) -> dict[str, str]:
        """The headers that authenticate a request with this credential."""
        if self.kind == "bearer":
            return {"Authorization": f"Bearer {self.value['token']}"}
        if self.kind == "openai":
            headers = {"Authorization": f"Bearer {self.value['api_key']}"}
            if self.value.get("organization"):
                headers["OpenAI-Organization"] = self.value["organization"]
            return headers
        if self.kind == "basic":
            pair = f"{self.value['username']}:{self.value['password']}".encode()
            return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
        if self.kind == "header":
            return {self.value["name"]: self.value["value"]}
        raise ValueError(f"credential kind {self.kind!r} adds no headers")

    @property
    def base_url(self) -> str:
        return str(self.value.get("base_url") or DEFAULT_OPENAI_BASE_URL).rstrip("/")

    def secrets(self) -> list[str]:
        """Every string that reveals the secret: raw values and their encoded forms (headers, SMTP AUTH)."""
        raw = [str(self.value[f]) for f in SECRET_FIELDS if self.value.get(f)]
        if self.kind in ("smtp", "postgres"):
            encoded: list[str] = []
            if self.kind == "smtp" and self.value.get("password"):
                user, password = str(self.value.get("username", "")), str(self.value["password"])
                encoded = [  # AUTH PLAIN and AUTH LOGIN put these on the wire
                    base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
                    base64.b64encode(password.encode()).decode(),
                ]
            return [*raw, *encoded]
        return [*raw, *(v for v in self.headers().values() if v not in raw)]

    def host_allowed(self, host: str, port: int | None = None) -> bool:
        """May this credential be sent to ``host``? An openai credential always to its base URL's host."""
        host = host.lower().rstrip(".")
        allowed = list(self.allowed_hosts or ())
        if self.kind == "openai":
            allowed.append((urlsplit(self.base_url).hostname or "").lower())
        elif not allowed:
            return True  # no allowlist: any host the egress policy admits
        for entry in allowed:
            entry_host, _, entry_port = entry.partition(":")
            if entry_port and port is not None and int(entry_port) != port:
                continue
            if entry_host.startswith("*."):
                if host.endswith(entry_host[1:]) and host != entry_host[2:]:
                    return True
            elif host == entry_host:
                return True
        return False
