// The run monitor explains a run: its header (id to copy, version, trigger and delivery, who started it, duration),
// a decided approval's decision, who made it and why, a waiting step's countdown, and errors wrapped with a copy
// button.
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { answeringClient } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { renderPage } from "../test/renderPage";
import { RUN_FACTS } from "../test/runs";
import { RunMonitorPage } from "./RunMonitor";

afterEach(cleanup);

const definition = {
  nodes: [
    { id: "start", type: "trigger.webhook", config: {}, position: { x: 0, y: 0 } },
    { id: "ask", type: "human.approval", config: { title: "Refund?" }, position: { x: 260, y: 0 } },
    { id: "pay", type: "http.request", config: { method: "POST", url: "https://example.org" }, position: { x: 520, y: 0 } },
    { id: "wait", type: "delay", config: { seconds: 60 }, position: { x: 520, y: 120 } },
  ],
  edges: [
    { source: "start", target: "ask" },
    { source: "ask", target: "pay", branch: "approved" },
    { source: "ask", target: "wait", branch: "rejected" },
  ],
};

const LONG = `config.value.greeting: '${"x".repeat(300)}' is not of type 'object'`;

function monitor() {
  const soon = new Date(Date.now() + 90_000).toISOString();
  const step = (stepId: string, status: string, extra: Record<string, unknown> = {}) => ({ stepId, nodeType: "x", status, attempt: 1, branches: null, wakeAt: null, ...extra });
  const client = answeringClient({
    Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role: "VIEWER", permissions: ["workflow:read", "run:read", "task:read"] } }),
    RunHead: () => ({ run: { id: "run-1234567890", version: 3 } }),
    NodeTypes: () => ({ nodeTypes: registry }),
    RunEventSeqs: () => ({ run: { id: "run-1234567890", events: [] } }),
    RunWithDefinition: () => ({
      run: {
        id: "run-1234567890",
        status: "WAITING",
        version: 3,
        input: { amount: 250 },
        output: null,
        error: null,
        createdAt: "2026-12-07T10:00:00Z",
        startedAt: new Date(Date.now() - 65_000).toISOString(),
        finishedAt: null,
        ...RUN_FACTS,
        trigger: "webhook",
        startedVia: "webhook",
        startedBy: { id: "u9", email: "maker@example.org" },
        triggerDetails: { ...RUN_FACTS.triggerDetails, deliveryId: "msg_2Tq", receivedAt: "2026-12-07T10:00:00Z" },
        workflow: { id: "w1", name: "Refunds", version: { definition } },
        steps: [
          step("start", "SUCCEEDED"),
          step("ask", "SUCCEEDED", { branches: ["rejected"] }),
          step("pay", "SKIPPED"),
          step("wait", "WAITING", { wakeAt: soon }),
        ],
      },
    }),
    Step: (v: { stepId: string }) => ({
      run: {
        id: "run-1234567890",
        step: {
          stepId: v.stepId,
          nodeType: v.stepId === "ask" ? "human.approval" : "delay",
          status: v.stepId === "ask" ? "SUCCEEDED" : "WAITING",
          attempt: 1,
          input: null,
          output: v.stepId === "ask" ? { decision: "rejected", comment: "Too much", data: null, decided_by: "bo@example.org" } : null,
          error: v.stepId === "wait" ? { type: "ValidationError", message: LONG, retryable: false } : null,
          envelope: null,
          startedAt: null,
          finishedAt: null,
          wakeAt: v.stepId === "wait" ? soon : null,
          branches: v.stepId === "ask" ? ["rejected"] : null,
        },
      },
    }),
    RunArtifacts: () => ({ run: { id: "run-1234567890", artifacts: [] } }),
    RunTasks: () => ({
      run: {
        id: "run-1234567890",
        humanTasks: [
          {
            id: "task-1",
            stepId: "ask",
            status: "REJECTED",
            title: "Refund?",
            expiresAt: null,
            decidedAt: "2026-12-07T10:00:30Z",
            comment: "Too much",
            requiredApprovals: 1,
            approvals: 0,
            decidedBy: { id: "u2", email: "bo@example.org" },
            decisions: [{ decision: "REJECT", comment: "Too much", createdAt: "2026-12-07T10:00:30Z", user: { id: "u2", email: "bo@example.org" } }],
          },
        ],
      },
    }),
  });
  renderPage(client, "/runs/:id", "/runs/run-1234567890", <RunMonitorPage />);
}

describe("the run monitor explains", () => {
  it("shows the run's id, version, trigger, starter and a live duration in its header", async () => {
    monitor();
    const facts = await screen.findByTestId("run-facts");
    expect(within(facts).getByTestId("run-id").textContent).toBe("run-1234567890");
    expect(within(facts).getByRole("button", { name: "Copy id of the run" })).toBeTruthy();
    expect(facts.textContent).toContain("v3");
    expect(within(facts).getByTestId("run-trigger").textContent).toMatch(/^Webhook \(delivery msg_2Tq, received /);
    expect(within(facts).getByTestId("run-started-by").textContent).toBe("maker@example.org by its webhook");
    expect(within(facts).getByTestId("run-duration").textContent).toMatch(/^1 min 0[5-9] s so far$/);
    // The waiting step's countdown, live.
    expect(within(facts).getByRole("list", { name: "Waiting steps" }).textContent).toMatch(/wait resumes in 1 min (2|3)\d s/);
    // The approval's choice is on its node.
    expect(screen.getByTestId("node-ask").textContent).toContain("→ rejected");
  });

  it("shows a decided approval's decision, who made it and the comment", async () => {
    monitor();
    fireEvent.click(await screen.findByTestId("node-ask"));
    const outcome = await screen.findByTestId("approval-outcome");
    await waitFor(() => expect(outcome.textContent).toContain("Rejected"));
    expect(outcome.textContent).toContain("bo@example.org");
    expect(outcome.textContent).toContain("Too much");
  });

  it("wraps a long error instead of cutting it off, and copies it", async () => {
    monitor();
    fireEvent.click(await screen.findByTestId("node-wait"));
    const box = await screen.findByTestId("error-box");
    expect(box.textContent).toContain(LONG); // all of it, as text
    expect(box.querySelector("pre")!.className).toContain("whitespace-pre-wrap");
    expect(within(box).getByRole("button", { name: "Copy error: step error" })).toBeTruthy();
    expect(screen.getByTestId("step-wake").textContent).toMatch(/^in 1 min/);
  });
});
