// The authoring loop of issue 19, in the browser: a demo workflow's first "Start run" succeeds with nothing typed;
// a new workflow is tested as a draft (nodes turn green with their outputs inline; the time from pressing the
// dialog's "Run test" to the first node turning green is measured in the page); one node's output is pinned and the
// next step runs alone on the pinned input; then the draft is published. A template mistake is seen on its field
// before saving when the server checks templates (the authoring checks; probed first, skipped and said otherwise).

/** Connects `source` (its `handle` branch) to `target` by dragging between their handles. */
async function connect(page, source, handle, target) {
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

/**
 * Watches the canvas from inside the page: the time (performance.now) the dialog's "Run test" is pressed, and the
 * first time any node shows SUCCEEDED after that. Read with `firstGreenMs(page)`.
 */
async function watchFirstGreen(page) {
  await page.evaluate(() => {
    const w = { pressed: null, green: null };
    window.__firstGreen = w;
    document.addEventListener(
      "click",
      (e) => {
        if (w.pressed === null && e.target instanceof Element && e.target.closest("button")?.textContent?.trim() === "Run test") w.pressed = performance.now();
      },
      true,
    );
    const observer = new MutationObserver(() => {
      if (w.pressed !== null && w.green === null && document.querySelector('[data-testid^="node-"][data-status="SUCCEEDED"]')) {
        w.green = performance.now();
        observer.disconnect();
      }
    });
    observer.observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-status"], childList: true });
  });
}

async function firstGreenMs(page) {
  const w = await page.evaluate(() => window.__firstGreen);
  return w.pressed !== null && w.green !== null ? Math.round(w.green - w.pressed) : null;
}

/** Whether the server's validateDefinition reports an unknown template filter (the authoring checks are there). */
async function serverChecksTemplates(page) {
  return page.evaluate(async () => {
    const definition = {
      nodes: [
        { id: "start", type: "trigger.manual", config: {} },
        { id: "t", type: "transform", config: { value: "{{ input | nosuchfilter }}" } },
      ],
      edges: [{ source: "start", target: "t" }],
    };
    const response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${localStorage.getItem("studio.token")}` },
      body: JSON.stringify({ query: "query($d: JSON!) { validateDefinition(definition: $d) { message } }", variables: { d: definition } }),
    });
    const problems = (await response.json()).data?.validateDefinition ?? [];
    return problems.some((p) => p.message.includes("nosuchfilter"));
  });
}

export async function authoringLoop({ page, results, log, join }) {
  // 1. A demo workflow's first run: open it, "Start run", nothing typed: it succeeds.
  await page.getByRole("link", { name: "Hello, transform", exact: true }).click();
  await page.getByTestId("node-greet").waitFor();
  await page.getByRole("button", { name: "Start run" }).click();
  const startDialog = page.getByRole("dialog", { name: "Start a run" });
  if ((await startDialog.getByLabel(/Name/).inputValue()) !== "world") throw new Error("the demo's start dialog is not pre-filled");
  await startDialog.getByRole("button", { name: "Start", exact: true }).click();
  await page.waitForURL(/\/runs\//);
  await page.waitForSelector('[data-testid="run-status"][data-status="SUCCEEDED"]');
  await page.getByTestId("node-greet").click();
  await page.getByTestId("step-output").getByText("Hello, world!").waitFor();
  log("demo: 'Hello, transform' succeeded on its first Start run, nothing typed");

  // 2. A new workflow: trigger → transform_1 → transform_2, which reads transform_1's output.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Workflows", exact: true }).click();
  await page.getByLabel("New workflow").fill("E2E test loop");
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByTestId("node-start").waitFor();
  const workflowId = page.url().split("/workflows/")[1];
  await page.getByTestId("palette-transform").click();
  await page.getByTestId("palette-transform").click();
  await page.getByRole("button", { name: "Auto-layout" }).click();
  await page.waitForTimeout(300);
  await connect(page, "start", null, "transform_1");
  await connect(page, "transform_1", null, "transform_2");
  await page.getByRole("button", { name: "Auto-layout" }).click();
  await page.getByTestId("node-transform_1").click();
  await page.getByLabel("Value (JSON)").fill(JSON.stringify({ word: "live" }));
  await page.getByTestId("node-transform_2").click();

  // A template mistake shows on its node and field before anything is saved: when the server checks templates
  // (the authoring checks of issue 19; a probe asks it first), the builder must show the problem there.
  const mistake = JSON.stringify({ echo: "{{ steps.transform_1.output.word | nosuchfilter }}" });
  if (await serverChecksTemplates(page)) {
    await page.getByLabel("Value (JSON)").fill(mistake);
    await page.getByTestId("node-transform_2").getByText(/problem/).waitFor();
    await page.locator(".inspector").getByText(/nosuchfilter/).first().waitFor();
    if (!(await page.getByRole("status").filter({ hasText: "revision" }).textContent()).includes("Unsaved")) throw new Error("the draft was saved with the mistake");
    log("a template mistake (an unknown filter) shows on its node and field before saving");
  } else {
    log("skipped: this server does not check templates yet (the authoring checks are not merged), so no mistake is shown on a field");
  }
  await page.getByLabel("Value (JSON)").fill(JSON.stringify({ echo: "{{ steps.transform_1.output.word }}" }));
  await page.getByText("✓ valid").waitFor();
  log("built trigger → transform_1 → transform_2 (not saved yet)");

  // 3. Test the draft (saved first): the nodes turn green, their outputs inline.
  await watchFirstGreen(page);
  await page.getByRole("button", { name: "Test workflow" }).click();
  const testDialog = page.getByRole("dialog", { name: "Test the draft" });
  await testDialog.getByText(/same credentials and side effects as a real run/).waitFor();
  await testDialog.getByLabel("Input (JSON)").waitFor(); // a trigger without input fields: a JSON editor
  await testDialog.getByRole("button", { name: "Run test" }).click();
  await page.waitForSelector('[data-testid="test-run-status"][data-status="SUCCEEDED"]');
  for (const id of ["start", "transform_1", "transform_2"]) await page.waitForSelector(`[data-testid="node-${id}"][data-status="SUCCEEDED"]`);
  await page.getByTestId("output-transform_2").getByText('{"echo":"live"}').waitFor();
  const greenMs = await firstGreenMs(page);
  await page.screenshot({ path: join(results, "builder-tested.png") });
  log(`tested the draft: every node SUCCEEDED with its output inline; first node green ${greenMs} ms after pressing "Run test" (screenshot test-results/builder-tested.png)`);

  // 4. Pin transform_1's output (from the test run, then typed by hand) and run transform_2 alone on the pin.
  await page.getByTestId("node-transform_1").click();
  const testPanel = page.getByTestId("test-panel");
  await testPanel.getByRole("button", { name: "Pin this output" }).click();
  await page.getByTestId("pinned-transform_1").waitFor();
  await testPanel.getByRole("button", { name: "Pin typed output…" }).click();
  await testPanel.getByLabel("Output to pin (JSON)").fill(JSON.stringify({ word: "pinned" }));
  await testPanel.getByRole("button", { name: "Pin", exact: true }).click();
  await testPanel.getByTestId("pinned-output").getByText('"pinned"').waitFor();
  await page.getByTestId("node-transform_2").click();
  await page.getByRole("form", { name: "Run this step" }).getByRole("button", { name: "Run this step" }).click();
  const result = page.getByTestId("step-result");
  await result.locator('[data-status="SUCCEEDED"]').waitFor();
  await result.getByTestId("step-result-output").getByText('"echo": "pinned"').waitFor();
  await page.screenshot({ path: join(results, "builder-run-step.png") });
  log("pinned transform_1's output; 'Run this step' ran transform_2 alone on the pinned input (screenshot test-results/builder-run-step.png)");

  // 5. Publish.
  await page.getByRole("button", { name: "Publish", exact: true }).click();
  await page.getByRole("dialog", { name: "Publish a new version" }).getByLabel("Note").fill("tested first");
  await page.getByRole("button", { name: "Publish version" }).click();
  await page.getByText("Published version 1.").waitFor();
  log("published the tested draft as version 1");
  return { workflowId, firstGreenMs: greenMs };
}
