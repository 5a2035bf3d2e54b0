// Trusted documents (README: "Trusted documents"): every document of the app is in the manifest the server ships
// (frontend/codegen.ts writes it; studio_gql/trusted/web.json), so the app sends the document's sha256 instead of its
// text, as Apollo's persisted queries do (`extensions.persistedQuery.sha256Hash`): the server runs its own copy, and an
// API key or deployment restricted to trusted documents works with the app. In development (`vite`, whose server
// may run a manifest older than the documents being edited) the text is sent.
import { type Exchange, makeOperation, mapExchange, type Operation } from "urql";

interface HashedDocument {
  __meta__?: { hash?: unknown };
}

/** The hex sha256 codegen gave the operation's document, or null (a document written outside codegen). */
export function documentHash(operation: Operation): string | null {
  const hash = (operation.query as HashedDocument).__meta__?.hash;
  return typeof hash === "string" && hash.startsWith("sha256:") ? hash.slice("sha256:".length) : null;
}

/** The operation with its document's hash in `extensions.persistedQuery`: urql then sends no text. */
export function byHash(operation: Operation): Operation {
  const hash = documentHash(operation);
  if (hash === null) return operation;
  const extensions = { ...operation.extensions, persistedQuery: { version: 1 as const, sha256Hash: hash } };
  return makeOperation(operation.kind, { ...operation, extensions }, operation.context);
}

/** Before the cache exchange (which rewrites the document and drops the hash codegen put on it). */
export const trustedDocumentsExchange = (enabled: boolean): Exchange =>
  mapExchange({ onOperation: (operation) => (enabled && operation.kind !== "teardown" ? byHash(operation) : operation) });
