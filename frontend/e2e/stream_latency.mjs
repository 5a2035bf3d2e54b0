// Streaming latency as a user sees it: from the model writing a chunk to the browser painting it in the run
// monitor's step panel ("Answer so far"), through the worker, the bus, the runEvents subscription and React.
//
//   STUDIO_BIN=.venv/bin/studio node frontend/e2e/stream_latency.mjs [--chunks 40] [--gap-ms 100]
//
// A scripted OpenAI-compatible server here streams CHUNKS numbered words, GAP_MS apart, and notes when it wrote
// each; a fresh `studio serve` (embedded: SQLite, in-process workers) runs one llm.chat step with stream: true;
// Chromium shows its run monitor with the step selected, and a MutationObserver stamps, in the frame after each
// change of the panel's text (requestAnimationFrame: the paint), which words it now shows. Both clocks are this
// machine's (Date.now in Node and in the page). Prints p50/p95/max per chunk; a measurement, not a test.
import { existsSync, readFileSync } from "node:fs";
import { createServer as createHttpServer } from "node:http";
import { startStudio } from "./studio.mjs";

const chromiumPath = process.env.STUDIO_CHROMIUM ?? "/usr/bin/chromium";
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const CHUNKS = arg("--chunks", 40);
const GAP_MS = arg("--gap-ms", 100);
if (!existsSync(chromiumPath)) throw new Error(`Chromium is not installed at ${chromiumPath}`);
const { chromium } = await import("playwright-core");

// -- the scripted model: holds its stream until the page is watching, then writes word i at written[i] ------------
const written = [];
let go;
const started = new Promise((ok) => {
  go = ok;
});
const model = createHttpServer(async (req, res) => {
  for await (const _ of req) {
    /* the request body is not needed */
  }
  res.writeHead(200, { "content-type": "text/event-stream" });
  const sse = (delta, finish = null, extra = {}) =>
    res.write(`data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", model: "m", choices: [{ index: 0, delta, finish_reason: finish }], ...extra })}\n\n`);
  sse({ role: "assistant", content: "" });
  await started;
  for (let i = 0; i < CHUNKS; i++) {
    sse({ content: `w${i} ` });
    written[i] = Date.now();
    await new Promise((r) => setTimeout(r, GAP_MS));
  }
  sse({}, "stop", { usage: { prompt_tokens: 5, completion_tokens: CHUNKS, total_tokens: 5 + CHUNKS } });
  res.end("data: [DONE]\n\n");
});
await new Promise((ok) => model.listen(0, "127.0.0.1", ok));
const modelUrl = `http://127.0.0.1:${model.address().port}`;

// -- a fresh studio (embedded) that may reach the scripted model on 127.0.0.1 ---------------------------------------
const studio = await startStudio({
  label: "stream",
  tenant: "stream",
  role: "ADMIN",
  user: "admin@stream.local",
  env: { STUDIO_HTTP_ALLOWED_HOSTS: "127.0.0.1/32" },
});
const { base, token, logPath } = studio;
let browser;
try {
  const gql = async (query, variables = {}) => {
    const res = await fetch(`${base}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    }).then((r) => r.json());
    if (res.errors) throw new Error(`GraphQL errors: ${JSON.stringify(res.errors)}`);
    return res.data;
  };
  const made = await gql("mutation($i: CredentialInput!) { createCredential(input: $i) { errors { message } } }", {
    i: { name: "llm", kind: "openai", value: { api_key: "k", base_url: `${modelUrl}/v1` }, allowedHosts: ["127.0.0.1"] },
  });
  if (made.createCredential.errors.length) throw new Error(JSON.stringify(made.createCredential.errors));
  const definition = {
    nodes: [
      { id: "start", type: "trigger.manual", config: {} },
      { id: "answer", type: "llm.chat", config: { model: "m", credential: "llm", messages: [{ role: "user", content: "count" }], stream: true } },
    ],
    edges: [{ source: "start", target: "answer" }],
  };
  const { createWorkflow } = await gql("mutation($d: JSON!) { createWorkflow(input: {name: \"stream\", definition: $d}) { workflow { id } errors { message } } }", { d: definition });
  const workflowId = createWorkflow.workflow.id;
  await gql("mutation($id: ID!) { publishWorkflow(id: $id) { errors { message } } }", { id: workflowId });
  const { startRun } = await gql("mutation($id: ID!) { startRun(workflowId: $id) { run { id } errors { message } } }", { id: workflowId });
  const runId = startRun.run.id;

  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript((t) => localStorage.setItem("studio.token", t), token);
  const page = await context.newPage();
  await page.goto(`${base}/runs/${runId}`);
  await page.locator('.react-flow__node[data-id="answer"]').click();
  await page.evaluate(() => {
    window.__seen = {};
    const stamp = () =>
      requestAnimationFrame(() => {
        const now = Date.now();
        const text = document.querySelector('[data-testid="step-stream"]')?.textContent ?? "";
        for (const word of text.match(/w\d+/g) ?? []) window.__seen[word] ??= now;
      });
    new MutationObserver(stamp).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  go();
  const deadline = Date.now() + CHUNKS * GAP_MS + 30_000;
  while (Date.now() < deadline) {
    const seen = await page.evaluate(() => Object.keys(window.__seen).length);
    if (seen >= CHUNKS) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const seen = await page.evaluate(() => window.__seen);
  const delays = [];
  for (let i = 0; i < CHUNKS; i++) if (seen[`w${i}`] !== undefined && written[i] !== undefined) delays.push(seen[`w${i}`] - written[i]);
  delays.sort((a, b) => a - b);
  const at = (q) => delays[Math.min(delays.length - 1, Math.floor(q * delays.length))];
  console.log(
    `stream latency, model chunk written -> painted in the run monitor (embedded, ${CHUNKS} chunks ${GAP_MS} ms apart): ` +
      `${delays.length} of ${CHUNKS} painted while streaming; p50 ${at(0.5)} ms, p95 ${at(0.95)} ms, max ${delays.at(-1)} ms`,
  );
  if (delays.length < CHUNKS / 2) {
    process.exitCode = 1;
    console.error(`too few chunks painted while the answer grew:\n${readFileSync(logPath, "utf8").slice(-3000)}`);
  }
} finally {
  await browser?.close();
  await studio.stop();
  model.close();
}
