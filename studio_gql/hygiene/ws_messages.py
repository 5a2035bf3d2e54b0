"""The shapes of graphql-transport-ws messages, checked before Strawberry's handler reads them (it assumes them)."""

from __future__ import annotations

from typing import Any


def ws_message_problem(message: Any) -> str | None:
    """What is wrong with the shape of a graphql-transport-ws message (Strawberry's handler assumes it)."""
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return "a graphql-transport-ws message is a JSON object with a string 'type'"
    if message["type"] != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(message.get("id"), str) or not isinstance(payload, dict):
        return "subscribe needs a string 'id' and an object 'payload'"
    extensions = payload.get("extensions")
    named = payload.get("documentId") is not None or (isinstance(extensions, dict) and "persistedQuery" in extensions)
    if not isinstance(payload.get("query"), str) and not (named and payload.get("query") is None):
        return "subscribe's payload needs a string 'query' (or a trusted document's 'documentId')"
    for key, kind in (("variables", dict), ("operationName", str), ("extensions", dict), ("documentId", str)):
        if payload.get(key) is not None and not isinstance(payload[key], kind):
            return f"subscribe's payload.{key} must be {'an object' if kind is dict else 'a string'} or null"
    return None
