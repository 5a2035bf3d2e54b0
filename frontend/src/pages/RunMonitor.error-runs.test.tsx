// Error workflows in the run monitor: a failed run links to the error run its failure started, and the error run
// links back to the run that failed.
import { cleanup, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { renderPage } from "../test/renderPage";
import { RUN_FACTS } from "../test/runs";
import { notStartedReason } from "../components/ErrorWorkflowOutcome";
import { RunMonitorPage } from "./RunMonitor";

afterEach(cleanup);

const definition = { nodes: [{ id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } }], edges: [] };

function open(run: Record<string, unknown>, lastEvents: unknown[] = []) {
  const client = answeringClient({
    RunLastEvents: () => ({ run: { id: run.id, events: lastEvents } }),
    Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role: "VIEWER", permissions: ROLE_PERMISSIONS.VIEWER } }),
    RunHead: () => ({ run: { id: run.id, version: 1 } }),
    NodeTypes: () => ({ nodeTypes: registry }),
    RunEventSeqs: (v: { afterSeq: number | null }) => ({ run: { id: run.id, events: v.afterSeq ? [] : [{ seq: 40 }, { seq: 41 }] } }),
    RunWithDefinition: () => ({
      run: {
        version: 1,
        input: {},
        output: null,
        error: null,
        createdAt: "2026-12-07T10:00:00Z",
        startedAt: "2026-12-07T10:00:00Z",
        finishedAt: "2026-12-07T10:00:05Z",
        ...RUN_FACTS,
        steps: [{ stepId: "start", nodeType: "trigger.manual", status: "SUCCEEDED", attempt: 1, branches: null, wakeAt: null }],
        ...run,
      },
    }),
  });
  renderPage(client, "/runs/:id", `/runs/${run.id}`, <RunMonitorPage />);
}

describe("error runs in the run monitor", () => {
  it("links a failed run to the error run it started, with that run's workflow and status", async () => {
    open({
      id: "failed-run-1",
      status: "FAILED",
      error: { type: "HttpError", message: "502", retryable: false },
      workflow: { id: "w1", name: "Orders", version: { definition } },
      errorRun: { id: "error-run-2", status: "RUNNING", workflow: { id: "w9", name: "Alert on-call" } },
    });
    const facts = await screen.findByTestId("run-error-run");
    const link = within(facts).getByRole("link", { name: "Error run →" });
    expect(link.getAttribute("href")).toBe("/runs/error-run-2");
    expect(facts.textContent).toContain("Alert on-call");
    expect(facts.textContent).toContain("Running");
    expect(screen.queryByTestId("run-failed-run")).toBeNull();
  });

  it("links an error run back to the run that failed, and names its trigger", async () => {
    open({
      id: "error-run-2",
      status: "SUCCEEDED",
      trigger: "error",
      startedVia: "run",
      workflow: { id: "w9", name: "Alert on-call", version: { definition } },
      failedRun: { id: "failed-run-1", status: "FAILED", workflow: { id: "w1", name: "Orders" } },
    });
    const back = await screen.findByTestId("run-failed-run");
    expect(within(back).getByRole("link").getAttribute("href")).toBe("/runs/failed-run-1");
    expect(back.textContent).toContain("Orders");
    expect(screen.getByTestId("run-trigger").textContent).toBe("Error workflow (a run failed)");
    expect(screen.queryByTestId("run-error-run")).toBeNull();
  });

  it("says why a failed run started no error run, as its RUN_ERROR_WORKFLOW event says", async () => {
    open({ id: "failed-run-3", status: "FAILED", test: false, workflow: { id: "w1", name: "Orders", version: { definition } } }, [
      { seq: 40, kind: "RUN_ERROR_WORKFLOW", data: { started: false, source: "tenant", reason: "the error workflow 'Alerts' has no published version: publish it" } },
      { seq: 41, kind: "RUN_FAILED", data: null },
    ]);
    const why = await screen.findByTestId("run-error-run-refused");
    expect(why.textContent).toBe("none started: the error workflow 'Alerts' has no published version: publish it");
  });

  it("shows neither link for a run without error workflow", async () => {
    open({ id: "plain-run", status: "FAILED", workflow: { id: "w1", name: "Orders", version: { definition } } });
    await screen.findByTestId("run-facts");
    expect(screen.queryByTestId("run-error-run")).toBeNull();
    expect(screen.queryByTestId("run-failed-run")).toBeNull();
  });
});

describe("notStartedReason", () => {
  it("is the reason of a RUN_ERROR_WORKFLOW that started nothing, and nothing when it started a run or is absent", () => {
    expect(notStartedReason([{ kind: "RUN_ERROR_WORKFLOW", data: { started: false, reason: "archived" } }])).toBe("archived");
    expect(notStartedReason([{ kind: "RUN_ERROR_WORKFLOW", data: { started: true, error_run_id: "r2" } }])).toBeNull();
    // A failure committed again: the key's run exists, so none started this time, but the run has its error run.
    expect(notStartedReason([{ kind: "RUN_ERROR_WORKFLOW", data: { started: false, error_run_id: "r2", reason: "already" } }])).toBeNull();
    expect(notStartedReason([{ kind: "RUN_FAILED", data: null }])).toBeNull();
  });
});
