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

_SECRET = {"type": "string", "minLength": 1, "maxLength": 8192}
KINDS: dict[str, dict[str, Any]] = {
    "bearer": {"required": ["token"], "properties": {"token": _SECRET}},
    "basic": {
        "required": ["username", "password"],
        "properties": {"username": {"type": "string", "minLength": 1, "maxLength": 500}, "password": _SECRET},
    },
    "header": {
        "required": ["name", "value"],
        "properties": {"name": {"type": "string", "pattern": HEADER_NAME.pattern}, "value": _SECRET},
    },
    "openai": {
        "required": ["api_key"],
        "properties": {
            "api_key": _SECRET,
            "base_url": {"type": "string", "pattern": "^https?://", "maxLength": 2000},
            "organization": {"type": "string", "maxLength": 200},
        },
    },
}
_VALIDATORS = {
    kind: CompiledSchema({"type": "object", "additionalProperties": False, **schema}, limits=False).validator
    for kind, schema in KINDS.items()
}
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
        """Every string that reveals the secret: raw values and the encoded header values."""
        raw = [str(self.value[f]) for f in SECRET_FIELDS if self.value.get(f)]
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
