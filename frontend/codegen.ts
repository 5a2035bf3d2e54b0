// GraphQL Code Generator: typed documents and result types for every `graphql()` call in src/, from the SDL
// at the repository root (`make schema` regenerates it from the server). `npm run codegen` writes src/gql/
// (gitignored); build, typecheck and test run it first, so a schema change that breaks the UI fails them.
// CODEGEN_SCHEMA points it at another SDL (e.g. a modified copy) for a one-off check.
import type { CodegenConfig } from "@graphql-codegen/cli";

const config: CodegenConfig = {
  schema: process.env.CODEGEN_SCHEMA ?? "../schema.graphql",
  documents: ["src/**/*.{ts,tsx}", "!src/gql/**/*"],
  ignoreNoDocuments: false,
  generates: {
    "./src/gql/": {
      preset: "client",
      presetConfig: { fragmentMasking: false },
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
