// Opening the run monitor mid-run: the subscription's replay of stored events reaches the screen at once, after
// it caught up, not one earlier status at a time (the badge and the nodes never step back while it replays).
import { act, cleanup, screen, waitFor } from "@testing-library/react";
import { getOperationName, type Client, type Operation } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RunEvent, RunEventKind } from "../api/types";
import type { RunEventsHandlers } from "../lib/useRunEvents";
import { answeringClient } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { renderPage } from "../test/renderPage";
import { RUN_FACTS } from "../test/runs";
import { RunMonitorPage } from "./RunMonitor";

// The live stream, driven by the test: what the monitor subscribed with, and its handlers.
const stream = vi.hoisted(() => ({ handlers: null as RunEventsHandlers | null, afterSeq: null as number | null }));
vi.mock("../lib/useRunEvents", () => ({
  useRunEvents: (_runId: string, enabled: boolean, handlers: RunEventsHandlers) => {
    if (!enabled) return;
    stream.handlers = handlers;
    stream.afterSeq ??= handlers.resumeAfter?.() ?? 0;
  },
}));

afterEach(() => {
  cleanup();
  stream.handlers = null;
  stream.afterSeq = null;
});

const definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "write", type: "artifact.write", config: { name: "r.md", content: "x" }, position: { x: 260, y: 0 } },
  ],
  edges: [{ source: "start", target: "write" }],
};

function server(calls: Operation[]): Client {
  const step = (stepId: string, status: string) => ({ stepId, nodeType: "x", status, attempt: 1 });
  const answers: Record<string, (vars: Record<string, unknown>) => unknown> = {
    Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role: "VIEWER", permissions: ["workflow:read", "run:read"] } }),
    RunHead: () => ({ run: { id: "r1", version: 1 } }),
    NodeTypes: () => ({ nodeTypes: registry }),
    // Loaded mid-run: the trigger done, the second step running.
    RunWithDefinition: () => ({
      run: {
        id: "r1",
        status: "RUNNING",
        version: 1,
        input: {},
        output: null,
        error: null,
        createdAt: "2026-01-01T00:00:00Z",
        startedAt: null,
        finishedAt: null,
        ...RUN_FACTS,
        workflow: { id: "w1", name: "Flow", version: { definition } },
        steps: [step("start", "SUCCEEDED"), step("write", "RUNNING")],
      },
    }),
    RunEventSeqs: (v) => ({ run: { id: "r1", events: v.afterSeq ? [] : [1, 2, 3, 4, 5].map((seq) => ({ seq })) } }),
  };
  return answeringClient(answers, calls);
}

const event = (seq: number, kind: RunEventKind, status: string, stepId: string | null = null): RunEvent => ({
  seq,
  kind,
  stepId,
  status,
  at: "2026-01-01T00:00:00Z",
  final: false,
  data: null,
});

describe("run monitor opened mid-run", () => {
  it("shows the loaded state while the replay catches up, then the caught-up state at once", async () => {
    const calls: Operation[] = [];
    renderPage(server(calls), "/runs/:id", "/runs/r1", <RunMonitorPage />);
    await waitFor(() => expect(stream.handlers).not.toBeNull());
    expect(stream.afterSeq).toBe(0); // the stream itself still replays from the start (and resumes from its own seq)
    expect(calls.some((c) => getOperationName(c.query) === "RunEventSeqs")).toBe(true);

    // Every status shown, in order: the run's badge and each node's.
    const shown: string[] = [];
    const record = () => {
      const run = screen.getByTestId("run-status").dataset.status;
      const nodes = ["start", "write"].map((id) => screen.queryByTestId(`node-${id}`)?.dataset.status);
      const entry = JSON.stringify([run, ...nodes]);
      if (shown[shown.length - 1] !== entry) shown.push(entry);
    };
    await waitFor(() => expect(screen.getByTestId("node-write").dataset.status).toBe("RUNNING"));
    record();
    const push = (e: RunEvent) => {
      act(() => stream.handlers!.onEvent(e));
      record(); // what this message put on the screen
    };

    // The replay, one socket message at a time: queued, started, the trigger running, succeeded, the step running.
    const replay = [
      event(1, "RUN_QUEUED", "QUEUED"),
      event(2, "RUN_STARTED", "RUNNING"),
      event(3, "STEP_STARTED", "RUNNING", "start"),
      event(4, "STEP_SUCCEEDED", "SUCCEEDED", "start"),
    ];
    for (const e of replay) push(e);
    expect(shown).toEqual([JSON.stringify(["RUNNING", "SUCCEEDED", "RUNNING"])]); // nothing stepped back
    push(event(5, "STEP_STARTED", "RUNNING", "write")); // caught up
    // Live from here on: each event shows as it comes.
    push(event(6, "STEP_SUCCEEDED", "SUCCEEDED", "write"));
    expect(shown).toEqual([JSON.stringify(["RUNNING", "SUCCEEDED", "RUNNING"]), JSON.stringify(["RUNNING", "SUCCEEDED", "SUCCEEDED"])]);
  });
});

describe("replayGate", () => {
  it("holds events back until the last stored one, then passes each at once", async () => {
    const { replayGate } = await import("../lib/runReplay");
    const gate = replayGate(3);
    expect(gate(event(1, "RUN_STARTED", "RUNNING"))).toEqual([]);
    expect(gate(event(2, "STEP_STARTED", "RUNNING", "a"))).toEqual([]);
    expect(gate(event(3, "STEP_SUCCEEDED", "SUCCEEDED", "a")).map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(gate(event(4, "RUN_SUCCEEDED", "SUCCEEDED")).map((e) => e.seq)).toEqual([4]);
    expect(replayGate(0)(event(1, "RUN_STARTED", "RUNNING")).map((e) => e.seq)).toEqual([1]);
  });
});
