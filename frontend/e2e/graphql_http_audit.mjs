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
import { readFileSync } from "node:fs";
import { serverAudits } from "graphql-http";
import { startStudio } from "./studio.mjs";

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
    studio = await startStudio({ label: "graphql-http", tenant: "audit", role: "VIEWER", user: "auditor@audit.local" });
    url = `${studio.base}/graphql`;
    token = studio.token;
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
