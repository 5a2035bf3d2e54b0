// End-to-end: a real `studio serve` on fresh state, driven in Debian's Chromium through playwright-core.
//
//   log in → a demo workflow's first run succeeds with nothing typed → a new draft tested (nodes green, outputs
//   inline; time to the first green node measured), one node pinned and the next step run alone, published
//   (authoring_loop.mjs) → create a workflow → build trigger → condition → (true) approval / (false) transform by drag
//   and drop and clicks → see and fix a validation error on a node → save → publish → start a run with the
//   trigger's input form → watch the nodes turn SUCCEEDED live → approve in the inbox (second tab) → see the
//   run succeed live → the admin screens: a credential (its value never comes back), a user disabled behind a
//   confirmation (then refused at login), a webhook (its secret shown once), a schedule (its next fires
//   previewed) → a viewer sees no edit controls and no admin links → the code node's editor (CodeMirror: highlighting,
//   an upstream path completed, the language followed, the draft saved) → a wait.event step signalled from the run
//   monitor; a failed run's error run, linked both ways → the builder by keyboard alone (add, select,
//   connect, disconnect, delete) → a run monitor whose network drops mid-run (every connection cut for 1.5 s)
//   converges on the server's final state → open a 1,000-node workflow (timed) and pan it (frame rate measured) →
//   unsaved work is not lost (a link asks first; selecting a node is no change) → a password changed, then a login
//   with the new one; an admin's reset, then the temporary password sets a new one → GraphiQL with the network
//   blocked → every page audited (axe) and captured in both themes at 1,280 × 800 (pages_audit.mjs).
// Screenshots and metrics.json go to frontend/test-results/. Exits 0 without Chromium unless
// STUDIO_REQUIRE_SERVICES=1. E2E_DEBUG=1 prints the reconnect step's timeline (sockets, subscriptions, statuses).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { authoringLoop } from "./authoring_loop.mjs";
import { auditPages } from "./pages_audit.mjs";
import { runsAndInbox } from "./runs_inbox.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const frontend = resolve(here, "..");
const repo = resolve(frontend, "..");
const results = join(frontend, "test-results");
const chromiumPath = process.env.STUDIO_CHROMIUM ?? "/usr/bin/chromium";
const studioBin = process.env.STUDIO_BIN ?? join(repo, ".venv", "bin", "studio");
const required = process.env.STUDIO_REQUIRE_SERVICES === "1";
const started = Date.now();

if (!existsSync(chromiumPath)) {
  const how = `Chromium is not installed at ${chromiumPath}: run 'apt-get install -y chromium' (or set STUDIO_CHROMIUM) to enable the end-to-end test`;
  if (required) {
    console.error(`e2e: ${how} (STUDIO_REQUIRE_SERVICES=1 forbids skipping)`);
    process.exit(1);
  }
  console.log(`e2e: skipped. ${how}.`);
  process.exit(0);
}
if (!existsSync(join(frontend, "dist", "index.html"))) {
  console.error("e2e: frontend/dist is missing: run 'make frontend' first");
  process.exit(1);
}

const { chromium } = await import("playwright-core");

function log(message) {
  console.log(`e2e [${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
}

/** The element has the focus, or gets it within a moment: Radix moves the focus in an effect or a task after the
 * DOM changes (into a dialog on open, back to its trigger on close), so an immediate check races it. */
async function expectFocused(locator, message) {
  const handle = await locator.elementHandle();
  await locator
    .page()
    .waitForFunction((el) => el === document.activeElement, handle, { timeout: 3000 })
    .catch(() => {
      throw new Error(message);
    });
}

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

/**
 * A TCP proxy in front of the server whose `cut()` drops the network: every open connection (the graphql-ws socket
 * too) is reset, and new ones are refused until `restore()`. Browser-side offline emulation does not close an
 * open websocket, so this is what really drops it.
 */
async function flakyProxy(targetPort) {
  const open = new Set();
  let down = false;
  const server = createServer((client) => {
    if (down) return client.on("error", () => {}).resetAndDestroy();
    const upstream = tcpConnect(targetPort, "127.0.0.1");
    const pair = [client, upstream];
    pair.forEach((s) => open.add(s));
    const end = () =>
      pair.forEach((s) => {
        open.delete(s);
        s.destroy();
      });
    for (const s of pair) s.on("error", end).on("close", end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  return {
    port: server.address().port,
    cut() {
      down = true;
      for (const s of [...open]) {
        try {
          s.resetAndDestroy();
        } catch {
          s.destroy();
        }
      }
      open.clear();
    },
    restore() {
      down = false;
    },
    close: () => new Promise((ok) => server.close(ok)),
  };
}

// Fresh state: its own state dir, SQLite database and storage; no Redis (the embedded mode).
const tmp = mkdtempSync(join(tmpdir(), "studio-e2e-"));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("STUDIO_")));
Object.assign(env, {
  STUDIO_STATE_DIR: join(tmp, "state"),
  STUDIO_DATABASE_URL: `sqlite+aiosqlite:///${join(tmp, "studio.db")}`,
  STUDIO_STORAGE_URL: `file://${join(tmp, "storage")}`,
  STUDIO_REDIS_URL: "",
  STUDIO_FRONTEND_DIR: join(frontend, "dist"),
});

function studio(...args) {
  const out = spawnSync(studioBin, args, { env, cwd: tmp, encoding: "utf8" });
  if (out.status !== 0) throw new Error(`studio ${args.join(" ")} failed:\n${out.stdout}\n${out.stderr}`);
  return out.stdout.trim();
}

let server;
let browser;
let proxy;
const serverLog = join(tmp, "serve.log");
let failed = false;
try {
  rmSync(results, { recursive: true, force: true }); // no stale screenshots from an earlier run
  mkdirSync(results, { recursive: true });
  studio("demo");
  const password = readFileSync(join(tmp, "state", "demo_admin_password"), "utf8").trim();
  const viewerToken = studio("token", "--tenant", "demo", "--role", "VIEWER", "--user", "viewer@demo.local").split("\n").pop();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const { openSync } = await import("node:fs");
  const out = openSync(serverLog, "w");
  server = spawn(studioBin, ["serve", "--host", "127.0.0.1", "--port", String(port)], {
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
    if (i > 300 || server.exitCode !== null) throw new Error("studio serve did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  log(`studio serve is up on ${base}`);

  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
  });
  // The app runs under its Content-Security-Policy: first a probe that the policy is there and enforced (an
  // injected inline script is refused), then every page of every context is watched for violations to the end.
  const probe = await browser.newContext();
  const probePage = await probe.newPage();
  const served = await probePage.goto(`${base}/`);
  const policy = served?.headers()["content-security-policy"] ?? "";
  if (!policy.includes("script-src 'self'") || !policy.includes("frame-ancestors 'none'")) {
    throw new Error(`the app is served without its Content-Security-Policy: '${policy}'`);
  }
  const inlineRefusal = await probePage.evaluate(
    () =>
      new Promise((resolve) => {
        document.addEventListener("securitypolicyviolation", (e) => resolve(e.effectiveDirective), { once: true });
        const script = document.createElement("script");
        script.textContent = "window.__inlineRan = true";
        document.body.append(script);
        setTimeout(() => resolve(window.__inlineRan ? "the inline script ran" : "no violation reported"), 3000);
      }),
  );
  if (!String(inlineRefusal).startsWith("script-src")) throw new Error(`an injected inline script was not refused: ${inlineRefusal}`);
  await probe.close();
  log("the CSP is served and refuses an injected inline script");
  const cspViolations = [];
  const watchCsp = (ctx, name) =>
    ctx.on("console", (message) => {
      if (/Content[- ]Security[- ]Policy/i.test(message.text())) cspViolations.push(`${name}: ${message.text()}`);
    });

  const context = await browser.newContext({ viewport: { width: 1500, height: 900 } });
  watchCsp(context, "admin");
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error:", err.message));

  // Log in.
  await page.goto(`${base}/`);
  await page.getByLabel("Email").fill("admin@demo.local");
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Workflows" }).waitFor();
  log("logged in");

  // The authoring loop: a demo's first run, a draft tested, a node pinned and the next step run alone, published.
  const loop = await authoringLoop({ page, results, log, join });
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Workflows", exact: true }).click();

  // Create a workflow: the builder opens with a manual trigger.
  await page.getByLabel("New workflow").fill("E2E approval flow");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByTestId("node-start").waitFor();
  await page.getByText("✓ valid").waitFor();
  const workflowId = page.url().split("/workflows/")[1];

  // The trigger's input schema drives the start-run form.
  await page.getByTestId("node-start").click();
  await page.getByLabel("Input schema (JSON)").fill(
    JSON.stringify({ type: "object", properties: { amount: { type: "number", title: "Amount" } }, required: ["amount"] }),
  );

  // Condition by drag and drop; approval and transform by pressing their palette entries.
  const canvas = page.getByTestId("canvas");
  const box = await canvas.boundingBox();
  await page.getByTestId("palette-condition").dragTo(canvas, { targetPosition: { x: box.width / 2 - 150, y: box.height / 2 } });
  await page.getByTestId("node-condition_1").waitFor();
  await page.getByTestId("palette-human.approval").click();
  await page.getByTestId("palette-transform").click();
  await page.getByRole("button", { name: "Auto-layout" }).click(); // spread the new nodes out to connect them
  await page.waitForTimeout(300);

  async function connect(source, handle, target) {
    const from = page.locator(`[data-testid="node-${source}"] .react-flow__handle.source${handle ? `[data-handleid="${handle}"]` : ""}`);
    const to = page.locator(`[data-testid="node-${target}"] .react-flow__handle.target`);
    const a = await from.boundingBox();
    const b = await to.boundingBox();
    await page.mouse.move(a.x + a.width / 2, a.y + a.height / 2);
    await page.mouse.down();
    await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 5 });
    await page.mouse.move(b.x + b.width / 2, b.y + b.height / 2, { steps: 5 });
    await page.mouse.up();
  }
  await connect("start", null, "condition_1");
  await connect("condition_1", "true", "human_approval_1");
  await connect("condition_1", "false", "transform_1");
  const edgeCount = await page.locator(".react-flow__edge").count();
  if (edgeCount !== 3) throw new Error(`expected 3 edges, found ${edgeCount}`);
  await page.getByRole("button", { name: "Auto-layout" }).click(); // now along the edges
  log("built trigger → condition → approval / transform");

  // The new nodes have empty settings: the problems show on the nodes and on their fields.
  await page.getByTestId("node-condition_1").getByText(/problem/).waitFor();
  await page.getByTestId("node-condition_1").click();
  await page.locator(".inspector").getByText(/["']expression["'] is a required property/).waitFor();
  await page.getByLabel(/^Expression/).fill("{{ input.amount > 100 }}");
  await page.getByTestId("node-human_approval_1").click();
  await page.getByLabel(/^Title/).fill("Approve {{ input.amount }}");
  await page.getByTestId("node-transform_1").click();
  await page.getByLabel("Value (JSON)").fill(JSON.stringify({ small: "{{ input.amount }}" }));
  await page.getByText("✓ valid").waitFor();
  await page.getByTestId("node-condition_1").getByText(/problem/).waitFor({ state: "detached" });
  log("fixed the validation errors shown on the nodes");

  await page.getByRole("button", { name: "Save draft" }).click();
  await page.getByText("Draft saved.").waitFor();
  await page.getByRole("button", { name: "Publish", exact: true }).click();
  await page.getByRole("dialog", { name: "Publish a new version" }).getByLabel("Note").fill("first version");
  await page.getByRole("button", { name: "Publish version" }).click();
  await page.getByText("Published version 1.").waitFor();
  // Merely selecting nodes whose forms fill in defaults (an approval, an HTTP request) changes nothing.
  for (const id of ["human_approval_1", "condition_1", "start"]) {
    await page.getByTestId(`node-${id}`).click();
    await page.locator(".inspector .rjsf").waitFor();
  }
  await page.waitForTimeout(300);
  if (!(await page.getByRole("status").filter({ hasText: "revision" }).textContent()).startsWith("Saved")) {
    throw new Error("selecting nodes marked the draft as changed");
  }
  await page.screenshot({ path: join(results, "builder.png") });
  log("saved and published (screenshot test-results/builder.png)");

  // Start a run through the form generated from the trigger's input schema.
  await page.getByRole("button", { name: "Start run" }).click();
  await page.getByRole("dialog").getByLabel(/Amount/).fill("250");
  await page.getByRole("dialog").getByRole("button", { name: "Start" }).click();
  await page.waitForURL(/\/runs\//);
  const runUrl = page.url();
  const status = (id) => page.getByTestId(`node-${id}`);
  await page.waitForSelector('[data-testid="node-condition_1"][data-status="SUCCEEDED"]');
  await page.waitForSelector('[data-testid="node-human_approval_1"][data-status="WAITING"]');
  await page.waitForSelector('[data-testid="node-transform_1"][data-status="SKIPPED"]');
  await status("condition_1").getByText("Succeeded").waitFor();
  log("the run waits for its approval; condition SUCCEEDED, transform SKIPPED, live");

  // Approve in the inbox in a second tab; the first tab (never reloaded) follows the run live.
  const inbox = await context.newPage();
  await inbox.goto(`${base}/inbox`);
  await inbox.getByRole("button", { name: /Approve 250/ }).click();
  await inbox.getByLabel("Comment").fill("fine");
  await inbox.getByRole("button", { name: "Approve", exact: true }).click();
  await inbox.getByText("Nothing waits for a decision.").waitFor();
  await page.waitForSelector('[data-testid="node-human_approval_1"][data-status="SUCCEEDED"]');
  await page.waitForSelector('[data-testid="run-status"][data-status="SUCCEEDED"]');
  if (page.url() !== runUrl) throw new Error("the run page navigated away");
  await page.getByTestId("node-human_approval_1").click();
  await page.getByTestId("step-output").getByText('"decision": "approved"').waitFor();
  await page.screenshot({ path: join(results, "run-finished.png") });
  log("approved in the inbox; the run SUCCEEDED live (screenshot test-results/run-finished.png)");

  // Admin: a credential whose value never comes back to the page; Escape closes the delete confirmation.
  await page.bringToFront(); // the inbox tab opened last: a background tab gets no animation frames, every click waits
  const adminStart = Date.now();
  const credentialValue = `e2e-secret-${Date.now()}`;
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Credentials" }).click();
  const credentialForm = page.getByRole("form", { name: "New credential" });
  await credentialForm.getByLabel("Name").fill("e2e-token");
  await credentialForm.getByLabel("Token").fill(credentialValue);
  await credentialForm.getByLabel(/^Allowed hosts/).fill("api.example.org");
  await credentialForm.getByRole("button", { name: "Save credential" }).click();
  await page.getByRole("table", { name: "Credentials" }).getByRole("rowheader", { name: "e2e-token" }).waitFor();
  const onPage = (text) =>
    page.evaluate((t) => document.documentElement.outerHTML.includes(t) || [...document.querySelectorAll("input")].some((i) => i.value.includes(t)), text);
  if (await onPage(credentialValue)) throw new Error("the credential's value is still on the page after saving");
  const deleteButton = page.getByRole("button", { name: "Delete credential e2e-token" });
  await deleteButton.click();
  const confirm = page.getByRole("alertdialog", { name: "Delete credential e2e-token?" });
  await confirm.waitFor();
  await expectFocused(confirm.getByRole("button", { name: "Cancel" }), "focus did not move into the dialog");
  await page.keyboard.press("Escape");
  await confirm.waitFor({ state: "detached" });
  await expectFocused(deleteButton, "focus did not return after Escape");
  log("admin: saved a credential; its value is not on the page, Escape closes the confirmation");

  // A user added, then disabled behind a confirmation: their login is refused from then on.
  const loginAs = (email, pw) =>
    fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code } } }",
        variables: { e: email, p: pw },
      }),
    }).then(async (r) => (await r.json()).data?.login);
  const userEmail = "e2e-user@demo.local";
  const userPassword = `e2e-pw-${Date.now()}-long-enough`;
  await nav.getByRole("link", { name: "Users" }).click();
  const addUser = page.getByRole("form", { name: "Add a user" });
  await addUser.getByLabel("Email").fill(userEmail);
  await addUser.getByLabel("Password").fill(userPassword);
  await addUser.getByLabel("Role", { exact: true }).selectOption("EDITOR");
  await addUser.getByRole("button", { name: "Add user" }).click();
  const usersTable = page.getByRole("table", { name: "Users" });
  await usersTable.getByRole("rowheader", { name: userEmail }).waitFor();
  if (!(await loginAs(userEmail, userPassword))?.token) throw new Error("the new user cannot log in");
  if (await usersTable.getByRole("button", { name: "Disable user admin@demo.local" }).count()) throw new Error("an admin is offered to disable themselves");
  await usersTable.getByRole("button", { name: `Disable user ${userEmail}` }).click();
  const disableDialog = page.getByRole("alertdialog", { name: `Disable user ${userEmail}?` });
  await disableDialog.getByRole("button", { name: "Disable user" }).click();
  await disableDialog.waitFor({ state: "detached" });
  await usersTable.getByRole("button", { name: `Enable user ${userEmail}` }).waitFor();
  const refused = await loginAs(userEmail, userPassword);
  if (refused?.token || refused?.errors?.[0]?.code !== "INVALID_CREDENTIALS") throw new Error(`a disabled user logged in: ${JSON.stringify(refused)}`);
  log("admin: added a user, disabled them after a confirmation; their login is refused");

  // A webhook on the workflow: the signing secret is shown once.
  await nav.getByRole("link", { name: "Workflows", exact: true }).click();
  await page.getByRole("link", { name: "Triggers of E2E approval flow" }).click();
  await page.getByRole("heading", { name: "Triggers of E2E approval flow" }).waitFor();
  const triggersUrl = page.url();
  await page.getByRole("button", { name: "Create webhook" }).click();
  const shown = page.getByRole("dialog", { name: "Webhook created" });
  const secret = await shown.getByLabel("Signing secret").inputValue();
  if (!secret.startsWith("whsec_")) throw new Error(`unexpected webhook secret ${secret.slice(0, 6)}…`);
  if (!(await shown.getByLabel("URL").inputValue()).includes("/hooks/")) throw new Error("no webhook URL shown");
  await shown.getByRole("button", { name: "Copy the URL" }).waitFor();
  await shown.getByRole("button", { name: "Copy the secret" }).waitFor();
  await shown.getByRole("button", { name: "Done, I stored it" }).click();
  await shown.waitFor({ state: "detached" });
  await page.getByRole("table", { name: "Webhooks" }).getByRole("rowheader", { name: /Webhook 1/ }).waitFor();
  if (await onPage(secret)) throw new Error("the webhook secret is still on the page after the dialog closed");
  log("admin: created a webhook and saw its secret once");

  // A schedule: problems under the field as one types, then the expression in words and the next fires.
  const cronField = page.getByLabel("Cron expression");
  await cronField.fill("61 * * * *");
  await cronField.and(page.locator('[aria-invalid="true"]')).waitFor(); // the server's problem, under the field
  await cronField.fill("0 9 * * 1-5");
  await page.getByLabel("Timezone").fill("Europe/Berlin");
  await page.getByTestId("cron-description").getByText("At 09:00, Monday through Friday").waitFor();
  await page.getByRole("heading", { name: "Next 5 fires (Europe/Berlin)" }).waitFor();
  const fires = page.getByRole("list", { name: "Next fires" }).getByRole("listitem");
  await fires.nth(4).waitFor();
  const firstFire = await fires.first().textContent();
  if (!/09:00:00/.test(firstFire ?? "")) throw new Error(`the next fire is not shown at 09:00 Berlin time: ${firstFire}`);
  await page.getByLabel("Run input (JSON, optional)").fill(JSON.stringify({ amount: 5 }));
  await page.getByRole("button", { name: "Create schedule" }).click();
  await page.getByRole("table", { name: "Schedules" }).getByRole("rowheader", { name: /Schedule 1: 0 9 \* \* 1-5 in Europe\/Berlin/ }).waitFor();
  await page.screenshot({ path: join(results, "triggers.png") });
  log(`admin: created a schedule after previewing its next fires (admin path ${((Date.now() - adminStart) / 1000).toFixed(1)} s, screenshot test-results/triggers.png)`);

  // A viewer sees the graph but no edit, publish or run controls.
  const viewer = await browser.newContext({ viewport: { width: 1500, height: 900 } });
  watchCsp(viewer, "viewer");
  await viewer.addInitScript((token) => localStorage.setItem("studio.token", token), viewerToken);
  const vp = await viewer.newPage();
  await vp.goto(`${base}/`);
  const viewerNav = vp.getByRole("navigation", { name: "Main" });
  await viewerNav.getByRole("link", { name: "Workflows", exact: true }).waitFor();
  for (const name of ["Credentials", "Users"]) {
    if (await viewerNav.getByRole("link", { name }).count()) throw new Error(`a viewer sees the '${name}' link`);
  }
  await vp.getByRole("link", { name: "E2E approval flow", exact: true }).click();
  await vp.getByTestId("node-condition_1").waitFor();
  for (const name of ["Save draft", "Publish", "Start run"]) {
    if (await vp.getByRole("button", { name, exact: true }).count()) throw new Error(`a viewer sees '${name}'`);
  }
  if (await vp.getByRole("navigation", { name: "Node palette" }).count()) throw new Error("a viewer sees the palette");
  if (await vp.getByLabel("New workflow").count()) throw new Error("a viewer may create workflows");
  await vp.goto(triggersUrl);
  await vp.getByRole("table", { name: "Schedules" }).waitFor();
  for (const name of ["Create webhook", "Create schedule", "Delete webhook 1", "Pause schedule 1"]) {
    if (await vp.getByRole("button", { name }).count()) throw new Error(`a viewer sees '${name}'`);
  }
  await viewer.close();
  log("a viewer sees no edit controls, no admin links and no trigger controls");

  const token = await page.evaluate(() => localStorage.getItem("studio.token"));
  async function gql(query, variables = {}) {
    const res = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    }).then((r) => r.json());
    if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
    return res.data;
  }
  async function createWorkflow(name, definition) {
    const { createWorkflow: out } = await gql(
      "mutation($n: String!, $d: JSON!) { createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { message } } }",
      { n: name, d: definition },
    );
    if (!out.workflow) throw new Error(`could not create ${name}: ${JSON.stringify(out.errors)}`);
    return out.workflow.id;
  }

  await runsAndInbox({ browser, base, token, results, log, watchCsp });

  // The code node's editor: CodeMirror loads when its field is first shown, in the language the node names, and
  // completes the node's upstream paths (here the trigger's input field) as the code reads them.
  const codeId = await createWorkflow("Code flow", {
    nodes: [
      {
        id: "start",
        type: "trigger.manual",
        config: { input_schema: { type: "object", properties: { amount: { type: "number" } } } },
        position: { x: 0, y: 0 },
      },
      { id: "calc", type: "code", config: { language: "javascript", source: "function main(input, steps, run) {\n  return 1;\n}" }, position: { x: 260, y: 0 } },
    ],
    edges: [{ source: "start", target: "calc" }],
  });
  await page.goto(`${base}/workflows/${codeId}`);
  await page.getByTestId("node-calc").click();
  const codeBox = page.getByRole("textbox", { name: "Code (JavaScript)" });
  await page.locator(".cm-content").waitFor();
  await codeBox.click();
  await page.keyboard.press("Control+End");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("End");
  await page.keyboard.type("\nconst a = input.am");
  await page.locator(".cm-tooltip-autocomplete").getByText("input.amount").waitFor();
  await page.waitForTimeout(150); // CodeMirror takes Enter as accepting only 75 ms after the list opened (interactionDelay)
  await page.keyboard.press("Enter");
  const typed = (await page.locator(".cm-content").textContent()) ?? "";
  if (!typed.includes("const a = input.amount")) throw new Error(`the completion was not taken: ${JSON.stringify(typed)}`);
  if (!(await page.locator(".cm-content span[class]").count())) throw new Error("the code is not highlighted");
  await page.getByLabel(/^Language/).selectOption("python");
  await page.getByRole("textbox", { name: "Code (Python)" }).waitFor();
  await page.getByLabel(/^Language/).selectOption("javascript");
  await page.keyboard.press("Control+s");
  await page.getByText("Unsaved changes").waitFor({ state: "detached" });
  const codeDraft = await gql("query($id: ID!) { workflow(id: $id) { draft } }", { id: codeId });
  const savedSource = codeDraft.workflow.draft.nodes.find((n) => n.id === "calc").config.source;
  if (!savedSource.includes("const a = input.amount")) throw new Error(`the draft did not keep the code: ${savedSource}`);
  log("the code node's editor: highlighted, completed input.amount, switched to Python and back, saved");

  // The run monitor and the nodes that wait or fail: a wait.event step shows its event and resume URL and takes a
  // signal (a payload its schema refuses is said, then one it accepts resumes the run); a failed run links to the
  // error run its failure started, which links back; with the error workflow archived, the failed run says why none.
  async function publishAndStart(id) {
    const published = await gql("mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { message } } }", { id });
    if (!published.publishWorkflow.version) throw new Error(`publish failed: ${JSON.stringify(published)}`);
    const { startRun: out } = await gql("mutation($w: ID!) { startRun(workflowId: $w, input: {}) { run { id } errors { message } } }", { w: id });
    if (!out.run) throw new Error(`start failed: ${JSON.stringify(out.errors)}`);
    return out.run.id;
  }
  const waitRun = await publishAndStart(
    await createWorkflow("Waits for payment", {
      nodes: [
        { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
        {
          id: "pay",
          type: "wait.event",
          config: { event: "paid", payload_schema: { type: "object", required: ["amount"], properties: { amount: { type: "number" } } } },
          position: { x: 260, y: 0 },
        },
      ],
      edges: [{ source: "start", target: "pay" }],
    }),
  );
  await page.goto(`${base}/runs/${waitRun}`);
  await page.locator('[data-testid="run-status"][data-status="WAITING"]').waitFor();
  await page.getByTestId("run-awaited-events").getByText("paid").waitFor();
  await page.getByTestId("node-pay").click();
  const waitPanel = page.getByTestId("wait-event");
  const resumeUrl = await waitPanel.getByLabel("Resume URL", { exact: true }).inputValue();
  if (!resumeUrl.includes("/hooks/resume/")) throw new Error(`no resume URL shown: ${resumeUrl}`);
  await waitPanel.getByLabel(/^Payload/).fill('{"amount": "five"}');
  await waitPanel.getByRole("button", { name: "Send signal" }).click();
  await waitPanel.getByRole("alert").getByText("INVALID_PAYLOAD").waitFor();
  await waitPanel.getByLabel(/^Payload/).fill('{"amount": 5}');
  await waitPanel.getByRole("button", { name: "Send signal" }).click();
  await page.locator('[data-testid="run-status"][data-status="SUCCEEDED"]').waitFor();
  await page.getByTestId("step-output").getByText(/amount/).waitFor();
  const onFailure = await createWorkflow("On failure", { nodes: [{ id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } }], edges: [] });
  await gql("mutation($id: ID!) { publishWorkflow(id: $id) { version { version } } }", { id: onFailure });
  const failingId = await createWorkflow("Fails", {
    nodes: [
      { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
      { id: "boom", type: "fail", config: { message: "boom" }, position: { x: 260, y: 0 } },
    ],
    edges: [{ source: "start", target: "boom" }],
  });
  await page.goto(`${base}/workflows/${failingId}`);
  await page.getByLabel("Error workflow").selectOption({ label: "On failure" });
  await page.getByText("Saved.").waitFor();
  const failedRun = await publishAndStart(failingId);
  await page.goto(`${base}/runs/${failedRun}`);
  await page.locator('[data-testid="run-status"][data-status="FAILED"]').waitFor();
  await page.getByTestId("run-error-run").getByRole("link", { name: "Error run →" }).click();
  await page.getByTestId("run-failed-run").getByRole("link").waitFor();
  if ((await page.getByTestId("run-trigger").textContent()) !== "Error workflow (a run failed)") throw new Error("the error run's trigger is not named");
  await gql("mutation($id: ID!) { archiveWorkflow(id: $id) { workflow { id } } }", { id: onFailure });
  const { startRun: again } = await gql("mutation($w: ID!) { startRun(workflowId: $w, input: {}) { run { id } } }", { w: failingId });
  await page.goto(`${base}/runs/${again.run.id}`);
  await page.getByTestId("run-error-run-refused").getByText(/archived/).waitFor();
  log("wait.event: the resume URL shown, a refused payload said, a signal resumed the run; a failed run linked to its error run and back, and said why none started once it was archived");

  // The builder by keyboard alone: a palette entry adds on Enter, a focused node is selected with Enter, the
  // inspector's "Connect to…" draws an edge (and removes it), Delete removes the selected node.
  const keyboardId = await createWorkflow("Keyboard flow", {
    nodes: [
      { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
      { id: "check", type: "condition", config: { expression: "{{ true }}" }, position: { x: 260, y: 0 } },
    ],
    edges: [{ source: "start", target: "check" }],
  });
  await page.goto(`${base}/workflows/${keyboardId}`);
  await page.getByText("✓ valid").waitFor();
  const edgesDrawn = () => page.locator(".react-flow__edge").count();
  await page.getByTestId("palette-transform").focus();
  await page.keyboard.press("Enter");
  await page.getByTestId("node-transform_1").waitFor();
  const inspector = page.getByRole("complementary", { name: "Inspector" });
  if ((await inspector.getByLabel("Node id").inputValue()) !== "transform_1") throw new Error("the added node is not the one selected");
  // Select the condition from the keyboard: nodes are in the tab order; Enter selects the focused one.
  const checkNode = page.locator('.react-flow__node[data-id="check"]');
  if ((await checkNode.getAttribute("tabindex")) !== "0") throw new Error("canvas nodes are not focusable");
  await checkNode.focus();
  await page.keyboard.press("Enter");
  await inspector.getByLabel("Node id").and(page.locator('[value="check"]')).waitFor();
  await inspector.getByLabel("Connect to…").focus();
  await inspector.getByLabel("Connect to…").selectOption("transform_1"); // a native <select>: arrow keys pick
  await inspector.getByLabel("Branch").selectOption("false");
  await inspector.getByRole("button", { name: "Connect" }).focus();
  await page.keyboard.press("Enter");
  await inspector.getByRole("list", { name: "Outgoing connections of check" }).getByText("transform_1 (branch false)").waitFor();
  await page.waitForFunction(() => document.querySelectorAll(".react-flow__edge").length === 2);
  await inspector.getByRole("button", { name: "Remove the connection to transform_1 (branch false)" }).focus();
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll(".react-flow__edge").length === 1);
  await expectFocused(inspector.getByLabel("Connect to…"), "focus was lost after removing a connection");
  // Connect again, then delete the target node with the Delete key: its edge goes with it.
  await inspector.getByLabel("Connect to…").selectOption("transform_1");
  await page.keyboard.press("Tab"); // to the branch
  await page.keyboard.press("Tab"); // to Connect
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.querySelectorAll(".react-flow__edge").length === 2);
  await page.locator('.react-flow__node[data-id="transform_1"]').focus();
  await page.keyboard.press("Enter");
  await inspector.getByLabel("Node id").and(page.locator('[value="transform_1"]')).waitFor();
  await page.locator('.react-flow__node[data-id="transform_1"]').focus();
  await page.keyboard.press("Delete");
  await page.getByTestId("node-transform_1").waitFor({ state: "detached" });
  if ((await edgesDrawn()) !== 1) throw new Error(`deleting a node left ${await edgesDrawn()} edges`);
  log("the builder by keyboard alone: added, selected, connected, disconnected and deleted a node");

  // A dropped network mid-run: a delay keeps the run going while every connection of the monitor's page (through
  // a proxy) is cut for 1.5 s. The page must resubscribe after the last seq it applied and end on the server's
  // final state, never going back to an unfinished status once it showed the run finished.
  const delayId = await createWorkflow("Reconnect flow", {
    nodes: [
      { id: "start", type: "trigger.manual", config: {} },
      { id: "wait", type: "delay", config: { seconds: 6 } },
      { id: "after", type: "transform", config: { value: { done: true } } },
    ],
    edges: [
      { source: "start", target: "wait" },
      { source: "wait", target: "after" },
    ],
  });
  const published = await gql("mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { message } } }", { id: delayId });
  if (!published.publishWorkflow.version) throw new Error(`publish failed: ${JSON.stringify(published)}`);
  proxy = await flakyProxy(port);
  const flakyBase = `http://127.0.0.1:${proxy.port}`;
  const flaky = await browser.newContext({ viewport: { width: 1500, height: 900 } });
  await flaky.addInitScript((t) => {
    localStorage.setItem("studio.token", t);
    // Every status the monitor shows, with when: the run's badge (and its "reconnecting…") and each node's.
    const log = (window.__statusLog = []);
    const snapshot = () => {
      const run = document.querySelector('[data-testid="run-status"]');
      if (!run) return;
      const nodes = {};
      for (const el of document.querySelectorAll('.react-flow__node [data-testid^="node-"]')) nodes[el.dataset.testid.slice(5)] = el.dataset.status ?? null;
      const entry = { at: Date.now(), run: run.dataset.status, text: run.textContent, nodes };
      const last = log[log.length - 1];
      if (!last || JSON.stringify([last.run, last.text, last.nodes]) !== JSON.stringify([entry.run, entry.text, entry.nodes])) log.push(entry);
    };
    new MutationObserver(snapshot).observe(document, { subtree: true, childList: true, characterData: true, attributes: true, attributeFilter: ["data-status"] });
    // Every websocket and how it closed.
    const Native = window.WebSocket;
    window.__sockets = [];
    window.WebSocket = class extends Native {
      constructor(...args) {
        super(...args);
        const rec = { openedAt: Date.now(), closedAt: null, code: null, clean: null };
        window.__sockets.push(rec);
        this.addEventListener("close", (e) => Object.assign(rec, { closedAt: Date.now(), code: e.code, clean: e.wasClean }));
        // Frames are recorded here, in the page, as the app sends and receives them: Playwright's frame events reach
        // the test process later, so their times cannot be compared with the cut.
        const socket = window.__sockets.length - 1;
        this.addEventListener("message", (e) => {
          const m = JSON.parse(String(e.data));
          if (m.type === "next" && m.payload.data?.runEvents) window.__received.push({ at: Date.now(), socket, seq: m.payload.data.runEvents.seq });
        });
      }
      send(data) {
        const m = JSON.parse(String(data));
        // The run's own subscriptions (the app also follows the tenant's approval tasks on the same socket).
        if (m.type === "subscribe" && m.payload.query.includes("runEvents")) window.__subscribes.push({ at: Date.now(), afterSeq: m.payload.variables?.afterSeq ?? null });
        super.send(data);
      }
    };
    window.__received = [];
    window.__subscribes = [];
  }, token);
  watchCsp(flaky, "flaky network");
  const fp = await flaky.newPage();
  fp.on("pageerror", (err) => console.error("page error (flaky network):", err.message));
  if (process.env.E2E_DEBUG) fp.on("console", (m) => console.log("console:", m.text()));
  const runState = async (id) =>
    (await gql("query($id: ID!) { run(id: $id) { status finishedAt steps { stepId status } } }", { id })).run;
  const { startRun: startedRun } = await gql("mutation($w: ID!) { startRun(workflowId: $w, input: {}) { run { id } errors { message } } }", { w: delayId });
  const delayRun = startedRun.run.id;
  await fp.goto(`${flakyBase}/runs/${delayRun}`);
  await fp.waitForSelector('[data-testid="node-wait"][data-status="WAITING"]'); // live, through the socket
  const cutAt = Date.now();
  proxy.cut();
  await fp.waitForTimeout(1500);
  proxy.restore();
  const restoredAt = Date.now();
  // The server finishes the run; the monitor catches up.
  let serverRun;
  for (let i = 0; ; i++) {
    serverRun = await runState(delayRun);
    if (["SUCCEEDED", "FAILED", "CANCELLED"].includes(serverRun.status)) break;
    if (i > 300) throw new Error(`the delay run did not finish: ${serverRun.status}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const serverDoneAt = Date.now();
  if (serverRun.status !== "SUCCEEDED") throw new Error(`the delay run ended ${serverRun.status}`);
  await fp.waitForSelector('[data-testid="run-status"][data-status="SUCCEEDED"]', { timeout: 15_000 });
  const pageDoneAt = Date.now();
  await fp.waitForTimeout(1000); // nothing may flap back after it
  for (const step of serverRun.steps) {
    const shown = await fp.getAttribute(`[data-testid="node-${step.stepId}"]`, "data-status");
    if (shown !== step.status) throw new Error(`node ${step.stepId}: the monitor shows ${shown}, the server says ${step.status}`);
  }
  const statusLog = await fp.evaluate(() => window.__statusLog);
  const sockets = await fp.evaluate(() => window.__sockets);
  const subscribes = await fp.evaluate(() => window.__subscribes); // { at, afterSeq }
  const received = await fp.evaluate(() => window.__received); // { at, socket, seq }
  // Everything the first socket delivered before the cut dropped it is what the monitor had applied.
  const seqBeforeCut = Math.max(0, ...received.filter((r) => r.socket === 0).map((r) => r.seq));
  if (process.env.E2E_DEBUG) console.log(JSON.stringify({ cutAt, restoredAt, sockets, subscribes, received, statusLog }));
  // Statuses only move forward: once the run or a node showed a final status, it never shows an unfinished one
  // again (React Flow draws its nodes a frame after the run's badge, so each is checked on its own).
  const FINAL = ["SUCCEEDED", "FAILED", "SKIPPED", "CANCELLED"];
  const finalSeen = new Set();
  for (const entry of statusLog) {
    for (const [what, status] of [["run", entry.run], ...Object.entries(entry.nodes)]) {
      if (FINAL.includes(status)) finalSeen.add(what);
      else if (finalSeen.has(what)) throw new Error(`${what} went back to ${status} after a final status: ${JSON.stringify(entry)}`);
    }
  }
  const lastUnfinished = statusLog.findLast((e) => !FINAL.includes(e.run) || Object.values(e.nodes).some((st) => !FINAL.includes(st)));
  if (lastUnfinished && lastUnfinished.at > serverDoneAt + 5000) throw new Error(`the monitor still showed ${JSON.stringify(lastUnfinished)} 5 s after the server finished the run`);
  if (!statusLog.some((e) => e.text.includes("reconnecting"))) throw new Error("the monitor never showed that it was reconnecting");
  if (!(sockets[0]?.closedAt >= cutAt && sockets[0].clean === false)) throw new Error(`the first socket did not drop: ${JSON.stringify(sockets[0])}`);
  const resubscribe = subscribes.find((sub) => sub.at >= restoredAt);
  if (!resubscribe) throw new Error(`no subscription after the network came back: ${JSON.stringify(subscribes)}`);
  if (resubscribe.afterSeq !== seqBeforeCut) throw new Error(`resubscribed after seq ${resubscribe.afterSeq}, the last applied was ${seqBeforeCut}`);
  if (!received.some((r) => r.socket > 0 && r.seq > seqBeforeCut)) throw new Error("no event arrived over the new socket");
  if (await fp.getByText("Could not reach the server").count()) throw new Error("the monitor still says it cannot reach the server");
  await fp.screenshot({ path: join(results, "reconnected.png") });
  const reconnect = {
    socketsOpened: sockets.length,
    resubscribedAfterSeq: resubscribe.afterSeq,
    resubscribedMsAfterRestore: resubscribe.at - restoredAt,
    convergedMsAfterServer: Math.max(0, pageDoneAt - serverDoneAt),
  };
  await flaky.close();
  proxy.cut();
  await proxy.close();
  proxy = null;
  log(
    `network cut for 1.5 s mid-run: resubscribed after seq ${resubscribe.afterSeq} ${reconnect.resubscribedMsAfterRestore} ms after it came back ` +
      `(${sockets.length} sockets tried), ended SUCCEEDED with every node as the server says, ${reconnect.convergedMsAfterServer} ms after the server ` +
      "(screenshot test-results/reconnected.png)",
  );

  // A 1,000-node workflow (no positions: laid out on open), timed from navigation to drawn and validated.
  const nodes = [{ id: "start", type: "trigger.manual", config: {} }];
  const edges = [];
  for (let i = 1; i < 1000; i++) {
    nodes.push({ id: `t${i}`, type: "transform", config: { value: `{{ input }}` } });
    edges.push({ source: i < 3 ? "start" : `t${Math.floor(i / 2)}`, target: `t${i}` });
  }
  const largeId = await createWorkflow("Large", { nodes, edges });
  // The keyboard flow above was left unsaved: the browser asks before leaving it (beforeunload), and we leave.
  const leaveUnsaved = (d) => void (d.type() === "beforeunload" ? d.accept() : d.dismiss());
  page.on("dialog", leaveUnsaved);
  const t0 = Date.now();
  await page.goto(`${base}/workflows/${largeId}`);
  page.off("dialog", leaveUnsaved);
  await page.locator(".react-flow__node").first().waitFor();
  const drawnMs = Date.now() - t0;
  await page.getByText("✓ valid").waitFor({ timeout: 30_000 });
  const openMs = Date.now() - t0;
  if (process.env.E2E_DEBUG) {
    const timeline = await page.evaluate(() =>
      performance.getEntriesByType("resource").map((e) => `${e.name.split("/").pop()} ${Math.round(e.startTime)}-${Math.round(e.responseEnd)}`),
    );
    console.log("open timeline:", JSON.stringify(timeline));
  }
  await page.screenshot({ path: join(results, "large-workflow.png") });
  const metrics = { testWorkflowFirstGreenMs: loop.firstGreenMs, openThousandNodesMs: openMs, drawThousandNodesMs: drawnMs, reconnect };
  const writeMetrics = () => writeFileSync(join(results, "metrics.json"), JSON.stringify(metrics, null, 2));
  writeMetrics();
  log(`opened a 1,000-node workflow in ${openMs} ms (drawn in ${drawnMs} ms, then validated)`);

  // Panning it: ~2 s of continuous drag on the empty canvas in small steps, frames counted in the page.
  const pane = await page.locator(".react-flow__pane").boundingBox();
  const grab = await page.evaluate(({ x, y, width, height }) => {
    // A point on the pane itself (not on a node, an edge or a control): a drag there pans.
    for (let fy = 0.3; fy <= 0.7; fy += 0.05)
      for (let fx = 0.2; fx <= 0.6; fx += 0.025) {
        const px = x + width * fx;
        const py = y + height * fy;
        if (document.elementFromPoint(px, py)?.classList.contains("react-flow__pane")) return { x: px, y: py };
      }
    return null;
  }, pane);
  if (!grab) throw new Error("no empty spot on the canvas to pan from");
  const transform = () => page.locator(".react-flow__viewport").evaluate((el) => el.style.transform);
  const before = await transform();
  await page.evaluate(() => {
    const f = (window.__frames = { count: 0, longest: 0, last: 0, on: true });
    const tick = (t) => {
      if (f.last) f.longest = Math.max(f.longest, t - f.last);
      f.last = t;
      f.count += 1;
      if (f.on) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  });
  await page.mouse.move(grab.x, grab.y);
  await page.mouse.down();
  const panStart = Date.now();
  let moves = 0;
  for (let elapsed = 0; elapsed < 2000; elapsed = Date.now() - panStart) {
    const p = elapsed / 2000; // a drift of (240, 120) px with a wobble: continuous motion, a net pan
    await page.mouse.move(grab.x + 240 * p + 40 * Math.sin(p * 6 * Math.PI), grab.y + 120 * p);
    moves += 1;
  }
  await page.mouse.up();
  const panMs = Date.now() - panStart;
  const frames = await page.evaluate(() => {
    window.__frames.on = false;
    return window.__frames;
  });
  const after = await transform();
  const panFps = Math.round((frames.count / panMs) * 1000 * 10) / 10;
  const panLongestFrameMs = Math.round(frames.longest);
  if (before === after) throw new Error(`the canvas did not move while dragging (transform ${before})`);
  if (!(panFps > 5)) throw new Error(`panning a 1,000-node workflow runs at ${panFps} frames/s: the UI froze`);
  metrics.panThousandNodes = { fps: panFps, longestFrameMs: panLongestFrameMs, durationMs: panMs, mouseMoves: moves };
  writeMetrics();
  log(`panned the 1,000-node workflow for ${panMs} ms (${moves} mouse moves): ${panFps} frames/s, longest frame ${panLongestFrameMs} ms`);

  // Unsaved work is never lost: a link away asks first (stay keeps the change), and so does closing the tab.
  await page.goto(`${base}/workflows/${keyboardId}`);
  await page.getByText("✓ valid").waitFor();
  await page.getByTestId("palette-delay").click();
  await page.getByTestId("node-delay_1").waitFor();
  await page.getByRole("complementary", { name: "Inspector" }).getByLabel(/^Seconds/).fill("5");
  await page.getByRole("status").filter({ hasText: "Unsaved changes" }).waitFor();
  const inView = await page.evaluate(() => {
    const node = document.querySelector('[data-testid="node-delay_1"]').getBoundingClientRect();
    const canvas = document.querySelector('[data-testid="canvas"]').getBoundingClientRect();
    return node.left >= canvas.left && node.right <= canvas.right && node.top >= canvas.top && node.bottom <= canvas.bottom;
  });
  if (!inView) throw new Error("a node added from the palette landed outside the visible canvas");
  await nav.getByRole("link", { name: "Workflows", exact: true }).click();
  const leave = page.getByRole("alertdialog", { name: "Leave without saving?" });
  await leave.waitFor();
  await leave.getByRole("button", { name: "Stay" }).click();
  await leave.waitFor({ state: "detached" });
  if (!page.url().endsWith(`/workflows/${keyboardId}`)) throw new Error(`"Stay" left the builder: ${page.url()}`);
  await page.getByTestId("node-delay_1").waitFor();
  let unloadAsked = false;
  page.once("dialog", (d) => {
    unloadAsked = d.type() === "beforeunload";
    void d.dismiss(); // "stay on the page"
  });
  await page.close({ runBeforeUnload: true });
  await page.waitForTimeout(500);
  if (!unloadAsked || page.isClosed()) throw new Error("closing the tab with unsaved changes did not ask first");
  await nav.getByRole("link", { name: "Workflows", exact: true }).click();
  await leave.getByRole("button", { name: "Save and leave" }).click();
  await page.getByRole("heading", { name: "Workflows" }).waitFor();
  const saved = await gql("query($id: ID!) { workflow(id: $id) { draft } }", { id: keyboardId });
  if (!saved.workflow.draft.nodes.some((n) => n.id === "delay_1")) throw new Error("'Save and leave' did not save the draft");
  log("unsaved work: a link away asked first (stay kept it, save and leave saved it), closing the tab asked too; the new node landed in view");

  // A password changed from the account menu, then a login with the new one; an admin's reset, then the temporary
  // password only sets a new one.
  const pwEmail = "pw-user@demo.local";
  const pwFirst = `first-pw-${Date.now()}`;
  const pwSecond = `second-pw-${Date.now()}`;
  const made = await gql('mutation($e: String!, $p: String!) { createUser(email: $e, password: $p, role: EDITOR) { user { id } errors { message } } }', { e: pwEmail, p: pwFirst });
  if (!made.createUser.user) throw new Error(`could not create ${pwEmail}: ${JSON.stringify(made.createUser.errors)}`);
  const person = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watchCsp(person, "password user");
  const pp = await person.newPage();
  pp.on("pageerror", (err) => console.error("page error (password user):", err.message));
  const signIn = async (email, pw) => {
    await pp.goto(`${base}/`);
    await pp.getByLabel("Email").fill(email);
    await pp.getByLabel("Password").fill(pw);
    await pp.getByRole("button", { name: "Sign in" }).click();
  };
  await signIn(pwEmail, pwFirst);
  await pp.getByRole("heading", { name: "Workflows" }).waitFor();
  await pp.getByRole("button", { name: /^Account:/ }).click();
  await pp.getByRole("menuitem", { name: "Change password" }).click();
  const changeDialog = pp.getByRole("dialog", { name: "Change your password" });
  await changeDialog.getByRole("button", { name: "Change password" }).click(); // empty: it says what is missing
  await changeDialog.getByText("Enter your current password.").waitFor();
  await changeDialog.getByLabel("Current password").fill(pwFirst);
  await changeDialog.getByLabel("New password", { exact: true }).fill(pwSecond);
  await changeDialog.getByLabel("New password, again").fill(pwSecond);
  await changeDialog.getByRole("button", { name: "Change password" }).click();
  await changeDialog.getByText(/Your password is changed/).waitFor();
  await changeDialog.getByRole("button", { name: "Done" }).click();
  await pp.getByRole("table", { name: "Workflows" }).waitFor(); // this session goes on, with its new token
  if ((await loginAs(pwEmail, pwFirst))?.token) throw new Error("the old password still signs in");
  await pp.getByRole("button", { name: /^Account:/ }).click();
  await pp.getByRole("menuitem", { name: "Log out" }).click();
  await signIn(pwEmail, pwSecond);
  await pp.getByRole("heading", { name: "Workflows" }).waitFor();
  log("changed a password from the account menu; the old one is refused, the new one signs in");

  // The admin resets it on the Users page: a temporary password, shown once, that only sets a new one.
  const admin = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await admin.addInitScript((t) => localStorage.setItem("studio.token", t), token);
  watchCsp(admin, "admin reset");
  const ap = await admin.newPage();
  await ap.goto(`${base}/users`);
  await ap.getByRole("button", { name: `Reset password of ${pwEmail}` }).click();
  await ap.getByRole("alertdialog", { name: `Reset the password of ${pwEmail}?` }).getByRole("button", { name: "Reset password" }).click();
  const tempDialog = ap.getByRole("dialog", { name: `Temporary password for ${pwEmail}` });
  const temporary = await tempDialog.getByLabel("Temporary password").inputValue();
  await tempDialog.getByRole("button", { name: "Done, I stored it" }).click();
  await ap.getByRole("table", { name: "Users" }).getByText("must set a new password").waitFor();
  await admin.close();
  await pp.reload(); // the reset signed this session out
  await pp.getByRole("button", { name: "Sign in" }).waitFor();
  await signIn(pwEmail, temporary);
  await pp.getByRole("heading", { name: "Set a new password" }).waitFor();
  const pwThird = `third-pw-${Date.now()}`;
  await pp.getByLabel("Temporary password").fill(temporary);
  await pp.getByLabel("New password", { exact: true }).fill(pwThird);
  await pp.getByLabel("New password, again").fill(pwThird);
  await pp.getByRole("button", { name: "Set new password" }).click();
  await pp.getByRole("heading", { name: "Workflows" }).waitFor();
  if ((await loginAs(pwEmail, temporary))?.token) throw new Error("the temporary password signs in after it was used");
  if (!(await loginAs(pwEmail, pwThird))?.token) throw new Error("the password set after the reset does not sign in");
  await person.close();
  log("an admin reset the password; the temporary one (shown once) set a new one, and no longer signs in");

  // GraphiQL with every request to another host refused: its code is the studio's own.
  const offline = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await offline.addInitScript((t) => localStorage.setItem("studio.token", t), token);
  const outside = [];
  await offline.route("**/*", (route) => {
    const host = new URL(route.request().url()).hostname;
    if (host === "127.0.0.1" || host === "localhost") return route.continue();
    outside.push(route.request().url());
    return route.abort("internetdisconnected");
  });
  watchCsp(offline, "GraphiQL");
  const gp = await offline.newPage();
  gp.on("pageerror", (err) => console.error("page error (GraphiQL):", err.message));
  await gp.goto(`${base}/graphql`);
  await gp.locator(".graphiql-container").waitFor();
  await gp.getByText("query Me").first().waitFor();
  await gp.getByRole("button", { name: /Execute query/ }).click();
  await gp.locator(".graphiql-response").getByText("admin@demo.local").first().waitFor();
  await gp.screenshot({ path: join(results, "graphiql-offline.png") });
  if (outside.length) throw new Error(`GraphiQL asked for files from other hosts: ${outside.join(", ")}`);
  await offline.close();
  log("GraphiQL loaded and ran a query with every other host blocked (screenshot test-results/graphiql-offline.png)");

  // Every page, both themes: axe (no serious or critical violation) and a screenshot each.
  // Someone whose password an admin reset: the page they see until they set a new one.
  const resetMe = await gql('mutation($e: String!) { createUser(email: $e, password: "a first password", role: VIEWER) { user { id } } }', { e: "reset-me@demo.local" });
  const { resetUserPassword } = await gql("mutation($id: ID!) { resetUserPassword(userId: $id) { temporaryPassword } }", { id: resetMe.createUser.user.id });
  const temporaryToken = (await loginAs("reset-me@demo.local", resetUserPassword.temporaryPassword)).token;
  const audit = await auditPages({
    browser,
    base,
    token,
    tokens: { temporary: temporaryToken },
    ids: { workflow: workflowId, run: runUrl.split("/runs/")[1], loop: loop.workflowId, code: codeId },
    results,
    log,
  });
  log(`audited ${audit.screenshots.length} page views with axe: none has a serious or critical violation`);
  if (cspViolations.length) throw new Error(`Content-Security-Policy violations:\n${cspViolations.join("\n")}`);
  log("no Content-Security-Policy violation on any page");
  log("passed");
} catch (err) {
  failed = true;
  try {
    const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
    for (const [i, p] of pages.entries()) await p.screenshot({ path: join(results, `failure-${i}.png`) });
  } catch {
    /* best effort */
  }
  if (existsSync(serverLog)) {
    // Access-log lines say nothing about a failure; the rest of the tail might.
    const lines = readFileSync(serverLog, "utf8").split("\n").filter((line) => !/" \d{3}( [A-Za-z ]+)?$/.test(line));
    console.error("--- studio serve log (tail, access log left out) ---\n" + lines.slice(-60).join("\n"));
  }
  // Last, so that the tail of a CI log names what failed.
  console.error("e2e FAILED:", err);
} finally {
  await browser?.close();
  if (proxy) {
    proxy.cut();
    await proxy.close();
  }
  if (server && server.exitCode === null) {
    server.kill("SIGTERM");
    await new Promise((r) => {
      const timer = setTimeout(() => {
        server.kill("SIGKILL");
        r();
      }, 10_000);
      server.on("exit", () => {
        clearTimeout(timer);
        r();
      });
    });
  }
  rmSync(tmp, { recursive: true, force: true });
}
process.exit(failed ? 1 : 0);
