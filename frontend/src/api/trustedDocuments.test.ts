// The app names its documents by hash (the server ships them): the hash codegen put on a document goes out in
// Apollo's `extensions.persistedQuery`, and urql then sends no text; that hash is the text the server runs.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequest, makeOperation } from "urql";
import { describe, expect, it } from "vitest";
import { ME } from "./operations";
import { byHash, documentHash } from "./trustedDocuments";

const operation = () => makeOperation("query", createRequest(ME, {}), { url: "/graphql", requestPolicy: "network-only" });

describe("trusted documents", () => {
  it("sends the document's hash in extensions.persistedQuery", () => {
    const hash = documentHash(operation());
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(byHash(operation()).extensions).toEqual({ persistedQuery: { version: 1, sha256Hash: hash } });
  });

  it("leaves a document without a hash as it is", () => {
    const plain = makeOperation("query", createRequest("{ me { role } }", {}), operation().context);
    expect(byHash(plain)).toBe(plain);
  });

  it("hashes the text the server ships, with __typename as urql sends it", () => {
    const trusted: Record<string, string> = JSON.parse(readFileSync("src/gql/trusted-documents.json", "utf8"));
    const text = trusted[`sha256:${documentHash(operation())}`];
    expect(text).toContain("__typename");
    expect(createHash("sha256").update(text ?? "").digest("hex")).toBe(documentHash(operation()));
  });
});
