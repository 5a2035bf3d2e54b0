// The run monitor's step panel: the step's artifacts as download links, and "Retry from this step".
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { getOperationName, type Operation } from "urql";
import { afterEach, describe, expect, it } from "vitest";
import { answeringClient } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { renderPage } from "../test/renderPage";
import { RUN_FACTS } from "../test/runs";
import { RunMonitorPage } from "./RunMonitor";

afterEach(cleanup);

const OPERATOR = ["workflow:read", "run:read", "artifact:read", "task:read", "run:start", "run:cancel", "run:retry"];
const VIEWER = ["workflow:read", "run:read", "artifact:read", "task:read"];

const definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "write", type: "artifact.write", config: { name: "r.md", content: "x" }, position: { x: 260, y: 0 } },
  ],
  edges: [{ source: "start", target: "write" }],
};

function fakeServer(permissions: string[], calls: Operation[], retryAnswer: unknown) {
  const step = (stepId: string, status: string) => ({ stepId, nodeType: "x", status, attempt: 1 });
  const answers: Record<string, (vars: Record<string, unknown>) => unknown> = {
    Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role: "OPERATOR", permissions } }),
    RunHead: () => ({ run: { id: "r1", version: 1 } }),
    NodeTypes: () => ({ nodeTypes: registry }),
    RunWithDefinition: () => ({
      run: {
        id: "r1",
        status: "FAILED",
        version: 1,
        input: {},
        output: null,
        error: { message: "boom" },
        createdAt: "2026-01-01T00:00:00Z",
        startedAt: null,
        finishedAt: null,
        ...RUN_FACTS,
        workflow: { id: "w1", name: "Flow", version: { definition } },
        steps: [step("start", "SUCCEEDED"), step("write", "FAILED")],
      },
    }),
    Step: (v) => ({
      run: {
        id: "r1",
        step: {
          stepId: v.stepId,
          nodeType: "artifact.write",
          status: "FAILED",
          attempt: 1,
          input: null,
          output: null,
          error: null,
          envelope: null,
          startedAt: null,
          finishedAt: null,
        },
      },
    }),
    RunArtifacts: () => ({
      run: {
        id: "r1",
        artifacts: [
          { id: "a1", name: "report.md", contentType: "text/markdown", size: 2048, stepId: "write", createdAt: "2026-01-01T00:00:00Z", downloadUrl: "/artifacts/a1?sig=1" },
          { id: "a2", name: "other.txt", contentType: "text/plain", size: 3, stepId: "start", createdAt: "2026-01-01T00:00:00Z", downloadUrl: "/artifacts/a2?sig=1" },
        ],
      },
    }),
    RetryRun: () => retryAnswer,
  };
  return answeringClient(answers, calls);
}

function renderMonitor(permissions: string[], retryAnswer: unknown = null) {
  const calls: Operation[] = [];
  renderPage(fakeServer(permissions, calls, retryAnswer), "/runs/:id", "/runs/r1", <RunMonitorPage />);
  return calls;
}

const named = (calls: Operation[], name: string) => calls.filter((c) => getOperationName(c.query) === name);

async function selectWrite() {
  await waitFor(() => expect(screen.getByTestId("node-write")).toBeTruthy());
  fireEvent.click(screen.getByTestId("node-write"));
  return waitFor(() => screen.getByTestId("step-panel"));
}

describe("run monitor step panel", () => {
  it("lists the step's artifacts as download links", async () => {
    renderMonitor(OPERATOR);
    const panel = await selectWrite();
    const list = await waitFor(() => within(panel).getByRole("list", { name: "Artifacts of this step" }));
    const links = within(list).getAllByRole("link");
    expect(links.map((a) => a.textContent)).toEqual(["report.md"]);
    expect(links[0]!.getAttribute("href")).toBe("/artifacts/a1?sig=1");
    expect(list.textContent).toContain("2.0 KB");
  });

  it("retries a finished run from the step when permitted", async () => {
    const calls = renderMonitor(OPERATOR, { retryRun: { run: { id: "r1", status: "QUEUED" }, errors: [] } });
    const panel = await selectWrite();
    const before = named(calls, "RunWithDefinition").length;
    fireEvent.click(within(panel).getByRole("button", { name: "Retry from this step" }));
    await waitFor(() => expect(named(calls, "RetryRun").length).toBe(1));
    expect(named(calls, "RetryRun")[0]!.variables).toEqual({ id: "r1", fromStep: "write" });
    // The same run, queued again: the monitor reads it again (and follows its events).
    await waitFor(() => expect(named(calls, "RunWithDefinition").length).toBeGreaterThan(before));
  });

  it("shows why a retry was refused", async () => {
    renderMonitor(OPERATOR, {
      retryRun: { run: null, errors: [{ path: ["fromStep"], message: "the workflow has no step 'write'", code: "INVALID" }] },
    });
    const panel = await selectWrite();
    fireEvent.click(within(panel).getByRole("button", { name: "Retry from this step" }));
    expect((await within(panel).findByRole("alert")).textContent).toContain("no step 'write'");
  });

  it("offers no retry without run:retry", async () => {
    renderMonitor(VIEWER);
    const panel = await selectWrite();
    expect(within(panel).queryByRole("button", { name: "Retry from this step" })).toBeNull();
  });
});
