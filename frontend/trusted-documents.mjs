// Trusted documents (README: "Trusted documents"). urql's document cache adds `__typename` to every selection before
// sending (formatDocument), and relies on it in answers; the app sends a document's hash instead of its text, so the
// server must run that formatted text. `trustedText` is it, for the codegen's normalized document; codegen.ts hashes
// it (the hash put on each document, `__meta__.hash`), and `node trusted-documents.mjs` (run by `npm run codegen`)
// writes src/gql/trusted-documents.json, {"sha256:<hex>": text}, which `make trusted-documents` ships to the server as
// studio_gql/trusted/web.json.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { formatDocument } from "@urql/core";
import { parse, print } from "graphql";

/** The text urql's cache exchange makes of a document: `__typename` in every selection set. */
export const trustedText = (operation) => print(formatDocument(parse(operation)));

/** "sha256:<hex>" of the text the server runs for `operation`. */
export const trustedHash = (operation) =>
  `sha256:${createHash("sha256").update(trustedText(operation), "utf8").digest("hex")}`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = new URL("./src/gql/", import.meta.url);
  const persisted = JSON.parse(readFileSync(new URL("persisted-documents.json", here), "utf8"));
  const trusted = {};
  for (const [hash, operation] of Object.entries(persisted)) {
    if (trustedHash(operation) !== hash) throw new Error(`${hash}: codegen.ts must hash with trustedHash`);
    trusted[hash] = trustedText(operation);
  }
  writeFileSync(new URL("trusted-documents.json", here), `${JSON.stringify(trusted, null, 1)}\n`);
}
