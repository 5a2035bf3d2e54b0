// The GraphQL-over-HTTP audit suite (graphql-http's serverAudits) against a real `studio serve` on fresh state, at
// its real endpoint /graphql with a real token: every audit must pass, a warning (a SHOULD not met) fails as an error
// does. First a check that the token is what the audits send and that it is needed (a query without it is refused),
// so that the audits cannot pass against an endpoint that ignores authentication.
//
//   STUDIO_BIN=.venv/bin/studio node frontend/e2e/graphql_http_audit.mjs     (make test-graphql-http)
//   GRAPHQL_URL=http://127.0.0.1:8000/graphql STUDIO_TOKEN=… node frontend/e2e/graphql_http_audit.mjs   (a running server)
//
// Prints one line per audit and the counts; exits 1 on any audit that is not ok: an error (a MUST), a warning (a
// SHOULD) or a notice (a MAY the endpoint does offer: GET, 400s for malformed parameters).
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { serverAudits } from "graphql-http";

const here = dirname(fileURLToPath(import.meta.url));
const repo = resolve(here, "..", "..");
const studioBin = process.env.STUDIO_BIN ?? join(repo, ".venv", "bin", "studio");

async function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** A fresh `studio serve` (its own state dir, SQLite database and storage; no Redis) and a VIEWER's token. */
async function startStudio() {
  const tmp = mkdtempSync(join(tmpdir(), "studio-graphql-http-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("STUDIO_")));
  Object.assign(env, {
    STUDIO_STATE_DIR: join(tmp, "state"),
    STUDIO_DATABASE_URL: `sqlite+aiosqlite:///${join(tmp, "studio.db")}`,
    STUDIO_STORAGE_URL: `file://${join(tmp, "storage")}`,
    STUDIO_REDIS_URL: "",
  });
  const studio = (...args) => {
    const out = spawnSync(studioBin, args, { env, cwd: tmp, encoding: "utf8" });
    if (out.status !== 0) throw new Error(`studio ${args.join(" ")} failed:\n${out.stdout}\n${out.stderr}`);
    return out.stdout.trim();
  };
  studio("migrate");
  const token = studio("token", "--tenant", "audit", "--create-tenant", "--role", "VIEWER", "--user", "auditor@audit.local")
    .split("\n")
    .pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = join(tmp, "serve.log");
  const out = openSync(logPath, "w");
  const server = spawn(studioBin, ["serve", "--host", "127.0.0.1", "--port", String(port)], {
    env,
    cwd: tmp,
    stdio: ["ignore", out, out],
  });
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 300 || server.exitCode !== null) {
      throw new Error(`studio serve did not start:\n${readFileSync(logPath, "utf8").slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  return { url: `${base}/graphql`, token, stop, logPath };
}

/** The token works (a query answers as its user's role) and is needed (without it, UNAUTHENTICATED). */
async function checkAuth(url, token) {
  const ask = (headers) =>
    fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body: JSON.stringify({ query: "{ me { role } }" }),
    }).then((r) => r.json());
  const authed = await ask({ authorization: `Bearer ${token}` });
  if (authed.data?.me?.role === undefined || authed.errors) {
    throw new Error(`the token is not accepted at ${url}: ${JSON.stringify(authed)}`);
  }
  const anonymous = await ask({});
  if (anonymous.errors?.[0]?.extensions?.code !== "UNAUTHENTICATED") {
    throw new Error(`a query without a token is not refused at ${url}: ${JSON.stringify(anonymous)}`);
  }
  return authed.data.me.role;
}

let studio;
let failed = false;
try {
  let url = process.env.GRAPHQL_URL;
  let token = process.env.STUDIO_TOKEN;
  if (!url) {
    studio = await startStudio();
    ({ url, token } = studio);
  } else if (!token) {
    throw new Error("GRAPHQL_URL needs STUDIO_TOKEN (a token for that server: `studio token --tenant … --role VIEWER`)");
  }
  if (new URL(url).pathname !== "/graphql") throw new Error(`audit the real endpoint, /graphql, not ${url}`);
  const role = await checkAuth(url, token);
  console.log(`graphql-http audit of ${url} as a ${role} (the token is accepted, and needed)`);

  // Every audit's request carries the token, as a client's would.
  const fetchFn = (input, init = {}) =>
    fetch(input, { ...init, headers: { ...(init.headers ?? {}), authorization: `Bearer ${token}` } });
  const results = await Promise.all(serverAudits({ url, fetchFn }).map(({ fn }) => fn()));
  const counts = { ok: 0, notice: 0, warn: 0, error: 0 };
  for (const result of results) {
    counts[result.status] = (counts[result.status] ?? 0) + 1;
    const mark = { ok: "ok    ", notice: "NOTICE", warn: "WARN  ", error: "ERROR " }[result.status] ?? result.status;
    const reason = result.status === "ok" ? "" : ` (${result.reason})`;
    console.log(`${mark} ${result.id} ${result.name}${reason}`);
  }
  console.log(
    `graphql-http audits: ${counts.ok} ok, ${counts.notice} notices, ${counts.warn} warnings, ${counts.error} errors (${results.length} in all)`,
  );
  failed = counts.ok !== results.length || results.length === 0;
} catch (error) {
  console.error(`graphql-http audit: ${error.stack ?? error}`);
  if (studio) console.error(`(the server's log: ${studio.logPath})`);
  failed = true;
} finally {
  if (studio && !failed) await studio.stop();
  else if (studio) {
    console.error(readFileSync(studio.logPath, "utf8").slice(-3000));
    await studio.stop();
  }
}
process.exit(failed ? 1 : 0);
