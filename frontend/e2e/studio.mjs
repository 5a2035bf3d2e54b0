// A fresh `studio serve` for the scripts beside the end-to-end test (the graphql-http audit, the streaming latency
// measurement): its own state folder, SQLite database and storage, no Redis (embedded: in-process workers), a
// token for one user of a new tenant, and a stop that ends the server and removes the folder.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const studioBin = resolve(process.env.STUDIO_BIN ?? join(repo, ".venv", "bin", "studio"));

export async function freePort() {
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

/**
 * @param {object} o
 * @param {string} o.label names the temporary folder
 * @param {string} o.tenant the new tenant's slug
 * @param {string} o.role the token's role (VIEWER … ADMIN)
 * @param {string} o.user the token's user (an email)
 * @param {Record<string, string>} [o.env] more settings (STUDIO_…)
 * @returns {Promise<{base: string, token: string, logPath: string, stop: () => Promise<void>}>}
 */
export async function startStudio({ label, tenant, role, user, env: extra = {} }) {
  const tmp = mkdtempSync(join(tmpdir(), `studio-${label}-`));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("STUDIO_")));
  Object.assign(env, {
    STUDIO_STATE_DIR: join(tmp, "state"),
    STUDIO_DATABASE_URL: `sqlite+aiosqlite:///${join(tmp, "studio.db")}`,
    STUDIO_STORAGE_URL: `file://${join(tmp, "storage")}`,
    STUDIO_REDIS_URL: "",
    ...extra,
  });
  const studio = (...args) => {
    const out = spawnSync(studioBin, args, { env, cwd: tmp, encoding: "utf8" });
    if (out.status !== 0) throw new Error(`studio ${args.join(" ")} failed:\n${out.stdout}\n${out.stderr}`);
    return out.stdout.trim();
  };
  studio("migrate");
  const token = studio("token", "--tenant", tenant, "--create-tenant", "--role", role, "--user", user).split("\n").pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const logPath = join(tmp, "serve.log");
  const out = openSync(logPath, "w");
  const server = spawn(studioBin, ["serve", "--host", "127.0.0.1", "--port", String(port)], { env, cwd: tmp, stdio: ["ignore", out, out] });
  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
      if (server.exitCode === null) server.kill("SIGKILL");
    }
    rmSync(tmp, { recursive: true, force: true });
  };
  // Up to a minute: a start takes a few seconds, far longer on a loaded machine.
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/healthz`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (i > 600 || server.exitCode !== null) {
      const log = readFileSync(logPath, "utf8").slice(-3000);
      await stop();
      throw new Error(`studio serve did not start:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { base, token, logPath, stop };
}
