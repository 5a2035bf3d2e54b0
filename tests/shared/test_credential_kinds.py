"""Credential kinds as JSON Schemas a generic form can draw: every field titled and described, secrets write-only,
and the schema the form shows is the one the server checks."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from studio_shared.credentials import KINDS, SECRET_FIELDS, ResolvedCredential, check, kind_schema


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_a_complete_form(kind: str) -> None:
    schema = kind_schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["title"] and schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(schema["required"]) <= set(schema["properties"])
    for name, field in schema["properties"].items():
        assert field.get("title") and field.get("description"), f"{kind}.{name}"
        assert field.get("writeOnly", False) is (name in SECRET_FIELDS), f"{kind}.{name}"
        if "default" in field:  # a form that fills in the default submits something the server accepts
            filled = dict.fromkeys(schema["required"], "x")
            problems = [p for p in check("n", kind, {**filled, name: field["default"]}, None) if p.path[-1] == name]
            assert problems == [], (kind, name)


def test_smtp_and_postgres_secrets_include_what_goes_on_the_wire() -> None:
    smtp = ResolvedCredential(
        "m", "smtp", {"host": "h", "from": "a@b.org", "username": "u", "password": "pw-1234"}, None
    )
    # AUTH PLAIN's base64 of "\0u\0pw-1234" and AUTH LOGIN's of the password
    assert smtp.secrets() == ["pw-1234", "AHUAcHctMTIzNA==", "cHctMTIzNA=="]
    pg = ResolvedCredential("d", "postgres", {"host": "h", "database": "d", "user": "u", "password": "pw-5678"}, None)
    assert pg.secrets() == ["pw-5678"]
    assert ResolvedCredential("d", "postgres", {"host": "h", "database": "d", "user": "u"}, None).secrets() == []
