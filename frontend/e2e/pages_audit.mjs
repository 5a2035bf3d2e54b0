// Every page of the app, in both themes, at 1,280 × 800: an axe-core accessibility check (no serious or critical
// violation may remain) and a screenshot, `<page>-<theme>.png` in frontend/test-results/, with the counts per page
// in axe.json. To audit a new page, add an entry to PAGES: a name (the screenshot's), its path (a string, or a
// function of the ids run.mjs hands in), what shows once it is ready, and optionally a step that opens something
// first (a dialog, a menu) or signs in as someone else.
import { readFileSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
// Evaluated in the page through the DevTools protocol, which the page's Content-Security-Policy does not govern
// (an injected <script> would be refused, as it should be).
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const THEMES = ["light", "dark"];
/** Impacts that fail the test; moderate and minor ones are reported in axe.json. */
export const FAILING_IMPACTS = ["serious", "critical"];

/**
 * The pages. `path` may use `ids` (run.mjs passes `workflow`, `run` and more); `ready(page)` returns a locator
 * that shows when the page has drawn its content; `open(page)` runs after it (to audit a dialog, say); `session`
 * is "anonymous" for pages seen before signing in, or the name of another token run.mjs hands in (`tokens`).
 */
export const PAGES = [
  { name: "login", path: "/", session: "anonymous", ready: (p) => p.getByRole("button", { name: "Sign in" }) },
  { name: "workflows", path: "/", ready: (p) => p.getByRole("table", { name: "Workflows" }) },
  {
    name: "builder",
    path: (ids) => `/workflows/${ids.workflow}`,
    ready: (p) => p.getByText("✓ valid"),
  },
  {
    name: "builder-inspector",
    path: (ids) => `/workflows/${ids.workflow}`,
    ready: (p) => p.getByText("✓ valid"),
    open: async (p) => {
      await p.getByTestId("node-human_approval_1").click();
      await p.getByRole("complementary", { name: "Inspector" }).getByLabel(/^Title/).waitFor();
    },
  },
  {
    // The code node's inspector with its CodeMirror editor (loaded when the field is first shown).
    name: "builder-code",
    path: (ids) => `/workflows/${ids.code}`,
    ready: (p) => p.getByTestId("node-calc"),
    open: async (p) => {
      await p.getByTestId("node-calc").click();
      await p.locator(".cm-content").waitFor();
    },
  },
  {
    name: "builder-publish",
    path: (ids) => `/workflows/${ids.workflow}`,
    ready: (p) => p.getByText("✓ valid"),
    open: async (p) => {
      await p.getByRole("button", { name: "Publish", exact: true }).click();
      await p.getByRole("dialog", { name: "Publish a new version" }).waitFor();
    },
  },
  {
    // The authoring loop's workflow after a test: statuses and outputs on the nodes, pins, the inspector's Test section.
    name: "builder-tested",
    path: (ids) => `/workflows/${ids.loop}`,
    ready: (p) => p.getByText("✓ valid"),
    open: async (p) => {
      await p.getByRole("button", { name: "Test workflow" }).click();
      await p.getByRole("dialog", { name: "Test the draft" }).getByRole("button", { name: "Run test" }).click();
      await p.locator('[data-testid="test-run-status"][data-status="SUCCEEDED"]').waitFor();
      await p.getByTestId("node-transform_1").click();
      await p.getByTestId("test-panel").getByTestId("pinned-output").waitFor();
    },
  },
  { name: "runs-test", path: "/runs?mode=test", ready: (p) => p.getByTestId("test-badge") },
  { name: "triggers", path: (ids) => `/workflows/${ids.workflow}/triggers`, ready: (p) => p.getByRole("heading", { name: "Schedules" }) },
  { name: "runs", path: "/runs", ready: (p) => p.getByRole("table", { name: "Runs" }) },
  { name: "workflow-runs", path: (ids) => `/workflows/${ids.workflow}/runs`, ready: (p) => p.getByRole("table", { name: "Runs" }) },
  { name: "run", path: (ids) => `/runs/${ids.run}`, ready: (p) => p.locator('[data-testid="run-status"][data-status="SUCCEEDED"]') },
  { name: "inbox", path: "/inbox", ready: (p) => p.getByRole("heading", { level: 1 }) },
  { name: "credentials", path: "/credentials", ready: (p) => p.getByRole("form", { name: "New credential" }) },
  { name: "users", path: "/users", ready: (p) => p.getByRole("table", { name: "Users" }) },
  { name: "settings", path: "/settings", ready: (p) => p.getByLabel("Default error workflow") },
  { name: "audit", path: "/audit", ready: (p) => p.getByRole("table", { name: "Audit entries" }) },
  {
    name: "account-menu",
    path: "/",
    ready: (p) => p.getByRole("table", { name: "Workflows" }),
    open: async (p) => {
      await p.getByRole("button", { name: /^Account:/ }).click();
      await p.getByRole("menuitem", { name: "Change password" }).waitFor();
    },
  },
  {
    name: "change-password",
    path: "/",
    ready: (p) => p.getByRole("table", { name: "Workflows" }),
    open: async (p) => {
      await p.getByRole("button", { name: /^Account:/ }).click();
      await p.getByRole("menuitem", { name: "Change password" }).click();
      await p.getByRole("dialog", { name: "Change your password" }).waitFor();
    },
  },
  { name: "not-found", path: "/no/such/page", ready: (p) => p.getByText("Nothing here.") },
  {
    name: "set-new-password",
    path: "/",
    session: "temporary",
    ready: (p) => p.getByRole("heading", { name: "Set a new password" }),
  },
];

/** Runs axe on the page as it is now; returns its violations (id, impact, help, where). */
async function axe(page) {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const result = await window.axe.run(document, { resultTypes: ["violations"] });
    return result.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
      count: v.nodes.length,
    }));
  });
}

/**
 * Visits `pages` in each theme (the browser's colour-scheme preference, which the app follows unless one is chosen),
 * checks each with axe and saves its screenshot. Throws when a page has a serious or critical violation, or when the
 * two themes do not differ. Returns { results, screenshots }.
 */
export async function auditPages({ browser, base, token, tokens = {}, ids, results, log = console.log, pages = PAGES }) {
  const report = {};
  const screenshots = [];
  const failures = [];
  const backgrounds = {};
  for (const theme of THEMES) {
    const signedIn = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: theme });
    await signedIn.addInitScript((t) => localStorage.setItem("studio.token", t), token);
    const anonymous = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: theme });
    for (const entry of pages) {
      const other = entry.session && entry.session !== "anonymous" ? tokens[entry.session] : null;
      if (entry.session && entry.session !== "anonymous" && !other) {
        failures.push(`${entry.name}: no token "${entry.session}" was handed in`);
        continue;
      }
      // Another person's page: a context of its own, signed in with their token.
      const own = other ? await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: theme }) : null;
      if (own) await own.addInitScript((t) => localStorage.setItem("studio.token", t), other);
      const context = own ?? (entry.session === "anonymous" ? anonymous : signedIn);
      const page = await context.newPage();
      try {
        const path = typeof entry.path === "function" ? entry.path(ids) : entry.path;
        await page.goto(`${base}${path}`);
        await entry.ready(page).first().waitFor({ timeout: 20_000 });
        if (entry.open) await entry.open(page);
        await page.waitForTimeout(300); // transitions and fonts settle
        const violations = await axe(page);
        const failing = violations.filter((v) => FAILING_IMPACTS.includes(v.impact));
        report[`${entry.name}-${theme}`] = {
          serious: failing.length,
          other: violations.length - failing.length,
          violations,
        };
        for (const v of failing) failures.push(`${entry.name} (${theme}): ${v.impact} ${v.id}: ${v.help} at ${v.nodes.map((n) => n.target).join(", ")}`);
        const file = `${entry.name}-${theme}.png`;
        await page.screenshot({ path: join(results, file) });
        screenshots.push(file);
        backgrounds[`${entry.name}-${theme}`] = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
        log(
          `audit ${entry.name} (${theme}): ${failing.length} serious or critical, ${violations.length - failing.length} other axe findings (${file})`,
        );
      } catch (err) {
        // One page that does not show is a failure of its own; the others are still checked.
        failures.push(`${entry.name} (${theme}): ${String(err.message ?? err).split("\n")[0]}`);
        await page.screenshot({ path: join(results, `failure-audit-${entry.name}-${theme}.png`) }).catch(() => {});
      } finally {
        await page.close();
        await own?.close();
      }
    }
    await signedIn.close();
    await anonymous.close();
  }
  writeFileSync(join(results, "axe.json"), JSON.stringify(report, null, 2));
  const sameBackground = pages.filter((p) => backgrounds[`${p.name}-light`] === backgrounds[`${p.name}-dark`]).map((p) => p.name);
  if (sameBackground.length) failures.push(`the dark theme does not apply on: ${sameBackground.join(", ")}`);
  if (failures.length) throw new Error(`accessibility audit failed:\n${failures.join("\n")}`);
  return { report, screenshots };
}
