"""Trusted documents: the client sends each operation's ``documentId`` (the sha256 of the exact text it would send)
instead of the text. The server ships these documents (``studio_gql/trusted/python-client.json``), so a key created
with ``trustedDocumentsOnly`` works with this client, and the server skips parsing and validating the text.

``documents`` (a client argument) says what to send:

- ``"id-or-text"`` (default): the id; when the server answers ``PERSISTED_QUERY_NOT_FOUND`` (a server of another
  version), the text, and the text for that document from then on (as Apollo's automatic persisted queries do).
- ``"id"``: the id only; a server without the document answers ``PERSISTED_QUERY_NOT_FOUND`` (raised).
- ``"text"``: the text, as before trusted documents (a server older than them ignores nothing: it needs the text).
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

DocumentMode = Literal["id-or-text", "id", "text"]
DOCUMENT_MODES: tuple[DocumentMode, ...] = ("id-or-text", "id", "text")
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"


def document_id(text: str) -> str:
    """``sha256:<hex>`` of the document's UTF-8 text, as the server keys its trusted documents."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def names_unknown_document(errors: object) -> bool:
    """Whether a response's ``errors`` say the server has no document by the id sent."""
    return isinstance(errors, list) and any(
        isinstance(e, dict) and isinstance(e.get("extensions"), dict) and e["extensions"].get("code") == NOT_FOUND
        for e in errors
    )


class TrustedDocuments:
    """What one client sends for a document: its id, or its text (by mode, and the ids a server did not know)."""

    def __init__(self, mode: DocumentMode = "id-or-text") -> None:
        if mode not in DOCUMENT_MODES:
            raise ValueError(f"documents must be one of {', '.join(DOCUMENT_MODES)}, not {mode!r}")
        self.mode = mode
        self._unknown: set[str] = set()  # texts whose ids this client's server did not know

    def sends_id(self, query: str) -> bool:
        return self.mode == "id" or (self.mode == "id-or-text" and query not in self._unknown)

    def document(self, query: str) -> dict[str, Any]:
        """The part of a request that names the document: ``documentId`` or ``query``."""
        return {"documentId": document_id(query)} if self.sends_id(query) else {"query": query}

    def falls_back(self, query: str, errors: object) -> bool:
        """After an answer to an id: whether to send the text instead (and from now on), the server lacking it."""
        if self.mode != "id-or-text" or not names_unknown_document(errors):
            return False
        self._unknown.add(query)
        return True


def response_errors(response: Any) -> object:
    """The ``errors`` of an HTTP response's JSON body, or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("errors") if isinstance(body, dict) else None
