/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The studio serves the build from the same origin as the API (no CORS, no websocket origin list).
// `npm run dev` proxies the API to a `studio serve` on :8000.
const api = "http://127.0.0.1:8000";

export default defineConfig({
  plugins: [react(), tailwindcss()],
  build: {
    outDir: "dist",
    sourcemap: false,
    // GraphiQL's editor (Monaco) is one large chunk of its own page, never loaded by the app.
    chunkSizeWarningLimit: 4000,
    rollupOptions: {
      // The app, and GraphiQL (served by `studio serve` at /graphql outside production), built from npm.
      input: {
        app: fileURLToPath(new URL("index.html", import.meta.url)),
        graphiql: fileURLToPath(new URL("graphiql/index.html", import.meta.url)),
      },
      onwarn(warning, warn) {
        // GraphiQL's packages carry React Compiler's "use no memo" directives, meaningless in a bundle.
        if (warning.code === "MODULE_LEVEL_DIRECTIVE") return;
        warn(warning);
      },
    },
  },
  server: {
    proxy: {
      "/graphql": { target: api, ws: true },
      "/schemas": api,
      "/artifacts": api,
      "/audit/export": api,
    },
  },
  test: {
    environment: "jsdom",
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    testTimeout: 30_000, // see test-setup.ts: a busy machine is slow, not wrong
  },
});
