// End-to-end: a real `studio serve` on fresh state, driven in Debian's Chromium through playwright-core.
//
//   log in → create a workflow → build trigger → condition → (true) approval / (false) transform by drag
//   and drop and clicks → see and fix a validation error on a node → save → publish → start a run with the
//   trigger's input form → watch the nodes turn SUCCEEDED live → approve in the inbox (second tab) → see the
//   run succeed live → the admin screens: a credential (its value never comes back), a webhook (its secret shown
//   once), a schedule (its next fires previewed) → a viewer sees no edit controls and no admin links → open a
//   1,000-node workflow (timed).
// Screenshots go to frontend/test-results/. Exits 0 without Chromium unless STUDIO_REQUIRE_SERVICES=1.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

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
  const context = await browser.newContext({ viewport: { width: 1500, height: 900 } });
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

  // Create a workflow: the builder opens with a manual trigger.
  await page.getByLabel("New workflow").fill("E2E approval flow");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByTestId("node-start").waitFor();
  await page.getByText("✓ valid").waitFor();

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
  await page.locator(".inspector").getByText("'expression' is a required property").waitFor();
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
  await page.getByLabel("Note").fill("first version");
  await page.getByRole("button", { name: "Publish" }).click();
  await page.getByText("Published version 1.").waitFor();
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
  if ((await page.evaluate(() => document.activeElement?.textContent)) !== "Cancel") throw new Error("focus did not move into the dialog");
  await page.keyboard.press("Escape");
  await confirm.waitFor({ state: "detached" });
  if (!(await deleteButton.evaluate((el) => el === document.activeElement))) throw new Error("focus did not return after Escape");
  log("admin: saved a credential; its value is not on the page, Escape closes the confirmation");

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

  // A 1,000-node workflow (no positions: laid out by dagre on open), timed from navigation to drawn nodes.
  const token = await page.evaluate(() => localStorage.getItem("studio.token"));
  const nodes = [{ id: "start", type: "trigger.manual", config: {} }];
  const edges = [];
  for (let i = 1; i < 1000; i++) {
    nodes.push({ id: `t${i}`, type: "transform", config: { value: `{{ input }}` } });
    edges.push({ source: i < 3 ? "start" : `t${Math.floor(i / 2)}`, target: `t${i}` });
  }
  const created = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      query: "mutation($d: JSON!) { createWorkflow(input: {name: \"Large\", definition: $d}) { workflow { id } errors { message } } }",
      variables: { d: { nodes, edges } },
    }),
  }).then((r) => r.json());
  const largeId = created.data?.createWorkflow?.workflow?.id;
  if (!largeId) throw new Error(`could not create the large workflow: ${JSON.stringify(created)}`);
  const t0 = Date.now();
  await page.goto(`${base}/workflows/${largeId}`);
  await page.locator(".react-flow__node").first().waitFor();
  await page.getByText("✓ valid").waitFor({ timeout: 30_000 });
  const openMs = Date.now() - t0;
  await page.screenshot({ path: join(results, "large-workflow.png") });
  writeFileSync(join(results, "metrics.json"), JSON.stringify({ openThousandNodesMs: openMs }, null, 2));
  log(`opened a 1,000-node workflow in ${openMs} ms (drawn and validated)`);
  log("passed");
} catch (err) {
  failed = true;
  console.error("e2e FAILED:", err);
  try {
    const pages = browser?.contexts().flatMap((c) => c.pages()) ?? [];
    for (const [i, p] of pages.entries()) await p.screenshot({ path: join(results, `failure-${i}.png`) });
  } catch {
    /* best effort */
  }
  if (existsSync(serverLog)) console.error("--- studio serve log (tail) ---\n" + readFileSync(serverLog, "utf8").slice(-4000));
} finally {
  await browser?.close();
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
