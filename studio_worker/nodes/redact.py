"""Removing secrets from what a step records: output, error, logs and events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

MASK = "[REDACTED]"
MIN_SECRET = 4  # shorter values would mask ordinary text; credential checks ask for real secrets anyway


class Redactor:
    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= MIN_SECRET}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def __call__(self, value: Any) -> Any:
        """A copy of a JSON value with every secret masked, in keys and strings alike."""
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(v) for v in value]
        return value
