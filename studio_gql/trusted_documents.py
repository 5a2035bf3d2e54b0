"""Trusted documents (persisted queries): the GraphQL documents the web app and the Python client send, known to the
server by the sha256 of their text (README: "Trusted documents").

The manifests ship with the server in ``studio_gql/trusted/`` (``{"<sha256 hex>": "<document text>"}``, the shape of
graphql-codegen's ``persisted-documents.json``): ``web.json`` from the web app's build, ``python-client.json`` from the
generated Python client (``python -m studio_gql.trusted_manifest`` writes both; a test fails when one is stale).

A request names a trusted document by ``documentId: "sha256:<hex>"`` (GraphQL over HTTP, persisted documents) or by
Apollo's ``extensions.persistedQuery.sha256Hash``, over POST, GET and the websocket's ``subscribe``; ``request_text``
turns either into the document's text, which then runs as if it had been sent, so every check applies the same way.
A text sent beside an id must be the id's text. A document sent as its exact text is trusted too (as Apollo's
safelisting does), which is what lets the Python client fall back to the text when a server lacks its manifest.

``TrustedDocumentChecks`` (a schema extension) refuses an untrusted text where ``STUDIO_TRUSTED_DOCUMENTS`` says so,
and keeps each trusted document's parsed form and validation verdict for the life of the process, out of the
bounded caches that arbitrary documents compete for.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension

from studio_shared.auth import Principal
from studio_shared.rbac import Role
from studio_shared.settings import TrustedDocuments as Mode

MANIFEST_DIR = Path(__file__).resolve().parent / "trusted"
MANIFESTS = ("web.json", "python-client.json")
_HEX = re.compile(r"[0-9a-f]{64}")
NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
REFUSED = "TRUSTED_DOCUMENTS_ONLY"


def document_hash(text: str) -> str:
    """The hex sha256 of a document's text (UTF-8), as the manifests key it."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class DocumentIdProblem(Exception):
    """A request's document id that cannot be answered: unknown, malformed, or not its text's. ``code`` says which."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class _Entry:
    """A trusted document: its text, and (once seen) its parsed form and validation verdict."""

    text: str
    document: DocumentNode | None = None
    verdict: tuple[GraphQLError, ...] | None = None


class TrustedDocumentStore:
    """The trusted documents by hash and by text."""

    def __init__(self, documents: Mapping[str, str]) -> None:
        self._by_hash: dict[str, _Entry] = {}
        self._by_text: dict[str, _Entry] = {}
        for key, text in documents.items():
            if document_hash(text) != key:
                raise ValueError(f"trusted document {key[:12]}… is not the sha256 of its text: regenerate the manifest")
            entry = self._by_text.setdefault(text, _Entry(text))
            self._by_hash[key] = entry

    @classmethod
    def shipped(cls, directory: Path = MANIFEST_DIR) -> TrustedDocumentStore:
        """The manifests in ``directory`` (a missing one is skipped: a server built without the web app)."""
        documents: dict[str, str] = {}
        for name in MANIFESTS:
            path = directory / name
            if path.exists():
                documents.update(json.loads(path.read_text(encoding="utf-8")))
        return cls(documents)

    def __len__(self) -> int:
        return len(self._by_hash)

    def text(self, key: str) -> str | None:
        entry = self._by_hash.get(key)
        return entry.text if entry is not None else None

    def entry(self, text: str | None) -> _Entry | None:
        return self._by_text.get(text) if text else None

    def request_text(self, query: object, document_id: object, extensions: object) -> str | None:
        """The text a request runs: its ``query``, or the trusted document its ``documentId`` or
        ``extensions.persistedQuery.sha256Hash`` names (the text, when both are sent, must be the named one's).
        None when it names no document either way (the view then answers "no query", as without this).
        DocumentIdProblem for an unknown, malformed or mismatched id."""
        key = requested_hash(document_id, extensions)
        text = query if isinstance(query, str) and query != "" else None
        if key is None:
            return text
        if text is not None:
            if document_hash(text) != key:
                raise DocumentIdProblem(MISMATCH, "the query sent is not the document its id names: send one of them")
            return self.text(key) or text
        found = self.text(key)
        if found is None:
            raise DocumentIdProblem(
                NOT_FOUND,
                f"no trusted document sha256:{key} on this server: send the document's text in `query` "
                "(or update the client to this server's version)",
            )
        return found


def requested_hash(document_id: object, extensions: object) -> str | None:
    """The hex hash a request names, from ``documentId`` ("sha256:<hex>") or Apollo's
    ``extensions.persistedQuery.sha256Hash`` ("<hex>"); None when it names none."""
    if document_id is not None:
        if not isinstance(document_id, str) or not document_id.startswith("sha256:"):
            raise DocumentIdProblem(NOT_FOUND, 'a documentId is "sha256:" and the hex sha256 of the document')
        key = document_id.removeprefix("sha256:")
    else:
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        if persisted is None:
            return None
        found = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(found, str):
            raise DocumentIdProblem(NOT_FOUND, "extensions.persistedQuery needs a string sha256Hash")
        key = found
    if not _HEX.fullmatch(key):
        raise DocumentIdProblem(NOT_FOUND, "a document's sha256 is 64 lowercase hex digits")
    return key


def must_be_trusted(mode: Mode, principal: Principal | None) -> bool:
    """Whether this caller may send trusted documents only. ``require`` spares an ADMIN user's session (GraphiQL,
    support), never an API key: a key for ad-hoc documents is what ``flagged-keys`` leaves unflagged."""
    if mode is Mode.ALLOW:
        return False
    if principal is not None and principal.trusted_documents_only:
        return True
    if mode is Mode.REQUIRE:
        return principal is None or principal.api_key_id is not None or principal.role is not Role.ADMIN
    return False


def refusal(principal: Principal | None) -> GraphQLError:
    who = "this API key" if principal is not None and principal.api_key_id is not None else "this caller"
    return GraphQLError(
        f"{who} may send trusted documents only: send the documentId (sha256:<hex>) of a document the web app or "
        "the Python client ships (README: Trusted documents), or use a key created without trustedDocumentsOnly",
        extensions={"code": REFUSED},
    )


class TrustedDocumentChecks(SchemaExtension):
    """Before the parser cache and validation: an untrusted text is refused where the setting says so; a trusted one
    reuses its parsed document and its validation verdict (taken the first time it runs, with the same rules)."""

    def __init__(self, store: TrustedDocumentStore, mode: Mode) -> None:
        self.store = store
        self.mode = mode
        self._entry: _Entry | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        self._entry = entry = self.store.entry(context.query)
        if entry is not None and entry.document is not None and context.graphql_document is None:
            context.graphql_document = entry.document
        yield
        if entry is not None and entry.document is None and context.graphql_document is not None:
            entry.document = context.graphql_document

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self._entry
        principal = getattr(context.context, "principal", None)
        if entry is None and must_be_trusted(self.mode, principal):
            context.pre_execution_errors = [refusal(principal)]
            yield
            return
        known = entry is not None and entry.verdict is not None and context.pre_execution_errors is None
        if known and entry is not None and entry.verdict is not None:
            context.pre_execution_errors = list(entry.verdict)
        yield
        if entry is not None and entry.verdict is None and context.pre_execution_errors is not None:
            entry.verdict = tuple(context.pre_execution_errors)
