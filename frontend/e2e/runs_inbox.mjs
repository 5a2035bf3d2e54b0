// End-to-end steps for the Runs page, the run monitor's header and the live inbox (called by e2e/run.mjs):
//
//   the Runs page with filters (held in the address: reloading it shows the same view) → a row's link opens its run,
//   whose header names the run → a run with an approval started through the API (from here, not the page) raises
//   the navigation's count of open tasks without a reload → the inbox shows the task with the run's input, decided
//   from the keyboard (a, Enter) → the count falls, and the run monitor shows the decision, who made it and why.
// Screenshots at 1,280 × 800: runs.png, runs-workflow.png, run-monitor.png, inbox.png, run-approval.png.
import { join } from "node:path";

/**
 * @param {object} o
 * @param {import("playwright-core").Browser} o.browser
 * @param {string} o.base the studio's URL
 * @param {string} o.token an ADMIN access token of the demo tenant
 * @param {string} o.results the folder for screenshots
 * @param {(message: string) => void} o.log
 * @param {(ctx: import("playwright-core").BrowserContext, name: string) => void} [o.watchCsp]
 */
export async function runsAndInbox({ browser, base, token, results, log, watchCsp }) {
  async function gql(query, variables = {}) {
    const res = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    }).then((r) => r.json());
    if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
    return res.data;
  }

  // A published workflow whose runs wait for an approval that declares a form.
  const { createWorkflow: made } = await gql(
    "mutation($n: String!, $d: JSON!) { createWorkflow(input: {name: $n, definition: $d}) { workflow { id } errors { message } } }",
    {
      n: "E2E refunds",
      d: {
        nodes: [
          { id: "start", type: "trigger.manual", config: {} },
          {
            id: "ask",
            type: "human.approval",
            config: {
              title: "Refund {{ input.amount }} EUR to {{ input.customer }}",
              message: "Refunds over 100 EUR need a second look.",
              form_schema: { type: "object", properties: { reason: { type: "string", title: "Reason" } } },
            },
          },
          { id: "pay", type: "transform", config: { value: { paid: "{{ input.amount }}" } } },
          { id: "tell", type: "transform", config: { value: { refused: true } } },
        ],
        edges: [
          { source: "start", target: "ask" },
          { source: "ask", target: "pay", branch: "approved" },
          { source: "ask", target: "tell", branch: "rejected" },
        ],
      },
    },
  );
  if (!made.workflow) throw new Error(`could not create the refunds workflow: ${JSON.stringify(made.errors)}`);
  const workflowId = made.workflow.id;
  const published = await gql("mutation($id: ID!) { publishWorkflow(id: $id) { version { version } errors { message } } }", { id: workflowId });
  if (!published.publishWorkflow.version) throw new Error(`publish failed: ${JSON.stringify(published)}`);

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  watchCsp?.(context, "runs and inbox");
  context.setDefaultTimeout(20_000);
  await context.addInitScript((t) => localStorage.setItem("studio.token", t), token);
  const page = await context.newPage();
  page.on("pageerror", (err) => console.error("page error (runs and inbox):", err.message));

  // The Runs page, from the navigation; a filter goes into the address.
  await page.goto(`${base}/`);
  const nav = page.getByRole("navigation", { name: "Main" });
  await nav.getByRole("link", { name: "Runs", exact: true }).click();
  await page.getByRole("heading", { name: "Runs", exact: true }).waitFor();
  const table = page.getByRole("table", { name: "Runs" });
  await table.getByTestId("run-row").first().waitFor();
  await page.getByLabel("Status").selectOption("SUCCEEDED");
  await page.getByLabel("Trigger").selectOption("manual");
  await page.waitForURL(/\/runs\?status=SUCCEEDED&trigger=manual$/);
  await page.waitForFunction(() => {
    const rows = [...document.querySelectorAll('[data-testid="run-row"]')];
    return rows.length > 0 && rows.every((r) => r.querySelector('[data-status]')?.getAttribute("data-status") === "SUCCEEDED");
  });
  const shownRows = await table.getByTestId("run-row").count();
  // The address is the view: opened afresh, it shows the same filters and rows.
  const shared = page.url();
  await page.goto(shared);
  await table.getByTestId("run-row").first().waitFor();
  if ((await page.getByLabel("Status").inputValue()) !== "SUCCEEDED" || (await page.getByLabel("Trigger").inputValue()) !== "manual") {
    throw new Error("the filters in the address did not come back when it was opened again");
  }
  if ((await table.getByTestId("run-row").count()) !== shownRows) throw new Error("the shared view lists other runs");
  await page.screenshot({ path: join(results, "runs.png") });
  // A row's link opens its run; the header names it.
  const firstLink = table.getByTestId("run-row").first().getByRole("link").first();
  const href = await firstLink.getAttribute("href");
  await firstLink.click();
  await page.waitForURL(`${base}${href}`);
  const runId = href.split("/").pop();
  await page.getByTestId("run-facts").getByTestId("run-id").getByText(runId, { exact: true }).waitFor();
  await page.getByTestId("run-status").and(page.locator('[data-status="SUCCEEDED"]')).waitFor();
  await page.getByTestId("run-trigger").getByText("Manual or API").waitFor();
  await page.screenshot({ path: join(results, "run-monitor.png") });
  log(`the Runs page filtered by status and trigger (${shownRows} rows, the view in its address: ${shared.slice(base.length)}); a row opened its run (screenshots runs.png, run-monitor.png)`);

  // The live count: a run started through the API (here, not in the page) reaches its approval; the navigation's
  // count rises without a reload.
  await page.goto(`${base}/workflows/${workflowId}/runs`);
  await page.getByRole("heading", { name: "Runs of E2E refunds" }).waitFor();
  await page.evaluate(() => {
    window.__sameDocument = true; // gone if the page reloads
  });
  const count = async () => Number((await page.getByTestId("inbox-count").textContent({ timeout: 500 }).catch(() => "0")) || 0);
  const before = await count();
  const { startRun } = await gql("mutation($w: ID!, $i: JSON) { startRun(workflowId: $w, input: $i) { run { id } errors { message } } }", {
    w: workflowId,
    i: { amount: 250, customer: "ACME GmbH" },
  });
  if (!startRun.run) throw new Error(`startRun failed: ${JSON.stringify(startRun.errors)}`);
  const approvalRun = startRun.run.id;
  const rise = Date.now();
  await page.waitForFunction(
    (want) => Number(document.querySelector('[data-testid="inbox-count"]')?.textContent ?? 0) === want,
    before + 1,
    { timeout: 15_000 },
  );
  const riseMs = Date.now() - rise;
  if (!(await page.evaluate(() => window.__sameDocument === true))) throw new Error("the page reloaded to show the new count");
  await page.getByRole("button", { name: "Refresh" }).click();
  await page.getByRole("table", { name: "Runs" }).getByRole("link", { name: `Run ${approvalRun.slice(0, 8)} of E2E refunds` }).waitFor();
  await page.screenshot({ path: join(results, "runs-workflow.png") });
  log(`the inbox count rose from ${before} to ${before + 1} ${riseMs} ms after startRun through the API, without a reload (screenshot runs-workflow.png)`);

  // The inbox: the task with the run's input and the approval's form; decided from the keyboard.
  await nav.getByTestId("nav-inbox").click();
  const task = page.getByRole("button", { name: /Refund 250 EUR to ACME GmbH/ });
  await task.waitFor();
  await task.focus();
  await page.keyboard.press("Enter");
  const panel = page.getByTestId("task-panel");
  await panel.getByTestId("task-input").getByText("ACME GmbH").waitFor();
  await panel.getByText("Refunds over 100 EUR need a second look.").waitFor();
  await panel.getByLabel("Reason").fill("Duplicate order");
  if ((await panel.getByRole("link", { name: "Open the run" }).getAttribute("href")) !== `/runs/${approvalRun}`) throw new Error("the task does not link to its run");
  await page.screenshot({ path: join(results, "inbox.png") });
  await panel.getByLabel("Comment").fill("customer asked twice");
  await panel.getByLabel("Comment").press("Tab"); // out of the text field: the shortcuts apply again
  await page.keyboard.press("r");
  if ((await page.evaluate(() => document.activeElement?.textContent)) !== "Reject") throw new Error("'r' did not move to Reject");
  await page.keyboard.press("Enter");
  await task.waitFor({ state: "detached" });
  await page.waitForFunction(
    (want) => Number(document.querySelector('[data-testid="inbox-count"]')?.textContent ?? 0) === want,
    before,
    { timeout: 15_000 },
  );
  log("the inbox showed the task with the run's input and its form; rejected from the keyboard (r, Enter); the count fell (screenshot inbox.png)");

  // The run monitor explains the decision: on the node, in the step's panel, and by the branches it drew.
  await page.goto(`${base}/runs/${approvalRun}`);
  await page.getByTestId("run-status").and(page.locator('[data-status="SUCCEEDED"]')).waitFor();
  await page.getByTestId("node-ask").getByText("→ rejected").waitFor();
  await page.getByTestId("node-ask").click();
  const outcome = page.getByTestId("approval-outcome");
  await outcome.getByText("Rejected").waitFor();
  await outcome.getByText("admin@demo.local").waitFor();
  await outcome.getByText("customer asked twice").waitFor();
  await page.locator(".react-flow__edge.run-edge-taken").first().waitFor();
  const skipped = await page.locator(".react-flow__edge.run-edge-not-taken").count();
  if (skipped < 1) throw new Error("the branch not taken is not drawn as such");
  const minimapColours = await page.locator(".react-flow__minimap-node").evaluateAll((rects) => rects.map((r) => getComputedStyle(r).fill));
  if (new Set(minimapColours).size < 2) throw new Error(`the mini map does not show statuses: ${minimapColours.join(", ")}`);
  await page.screenshot({ path: join(results, "run-approval.png") });
  log(`the run monitor shows the rejection, who made it and the comment; ${skipped} edge(s) drawn as not taken (screenshot run-approval.png)`);
  await context.close();
  return { inboxCountRiseMs: riseMs };
}
