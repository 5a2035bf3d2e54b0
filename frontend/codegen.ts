// GraphQL Code Generator: typed documents and result types for every `graphql()` call in src/, from the SDL
// at the repository root (`make schema` regenerates it from the server). `npm run codegen` writes src/gql/
// (gitignored); build, typecheck and test run it first, so a schema change that breaks the UI fails them.
// CODEGEN_SCHEMA points it at another SDL (e.g. a modified copy) for a one-off check.
// Trusted documents (README: "Trusted documents"): `persistedDocuments` puts a hash on each document (`__meta__.hash`),
// which the app sends instead of the text (src/api/trustedDocuments.ts): the sha256 of the text urql would send (with
// `__typename`, see trusted-documents.mjs, which writes those texts to src/gql/trusted-documents.json). The server
// ships them as studio_gql/trusted/web.json (`make trusted-documents`; a stale copy fails the check).
import type { CodegenConfig } from "@graphql-codegen/cli";
// @ts-expect-error: a plain ES module (also run by node on its own), without types
import { trustedHash } from "./trusted-documents.mjs";

const config: CodegenConfig = {
  schema: process.env.CODEGEN_SCHEMA ?? "../schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  generates: {
    "./src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false, persistedDocuments: { hashAlgorithm: trustedHash } },
      config: {
        useTypeImports: true, // tsconfig has verbatimModuleSyntax
        enumType: "string-literal",
        strictScalars: true,
        scalars: {
          ID: "string",
          DateTime: "string", // ISO 8601 on the wire
          JSON: "unknown",
        },
      },
    },
  },
};

export default config;
