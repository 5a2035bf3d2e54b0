// A streamed model answer in the run monitor: the selected step's panel shows the answer growing as STEP_DELTA
// events arrive, and the stored output takes over once the step has finished.
import { act, cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import type { Client } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RunEvent, RunEventKind } from "../api/types";
import type { RunEventsHandlers } from "../lib/useRunEvents";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { renderPage } from "../test/renderPage";
import { RUN_FACTS } from "../test/runs";
import { RunMonitorPage } from "./RunMonitor";

const stream = vi.hoisted(() => ({ handlers: null as RunEventsHandlers | null }));
vi.mock("../lib/useRunEvents", () => ({
  useRunEvents: (_runId: string, enabled: boolean, handlers: RunEventsHandlers) => {
    if (enabled) stream.handlers = handlers;
  },
}));

afterEach(() => {
  cleanup();
  stream.handlers = null;
});

const definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "chat", type: "llm.chat", config: { model: "m", messages: [], stream: true }, position: { x: 260, y: 0 } },
  ],
  edges: [{ source: "start", target: "chat" }],
};

const event = (seq: number, kind: RunEventKind, status: string | null, data: unknown = null): RunEvent => ({
  seq,
  kind,
  stepId: "chat",
  status,
  at: "2026-12-07T10:00:00Z",
  final: false,
  data,
});

function server(): Client {
  return answeringClient({
    Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role: "VIEWER", permissions: ROLE_PERMISSIONS.VIEWER } }),
    RunHead: () => ({ run: { id: "r1", version: 1 } }),
    NodeTypes: () => ({ nodeTypes: registry }),
    RunEventSeqs: () => ({ run: { id: "r1", events: [] } }),
    RunWithDefinition: () => ({
      run: {
        id: "r1",
        status: "RUNNING",
        version: 1,
        input: {},
        output: null,
        error: null,
        createdAt: "2026-12-07T10:00:00Z",
        startedAt: "2026-12-07T10:00:00Z",
        finishedAt: null,
        ...RUN_FACTS,
        workflow: { id: "w1", name: "Chat", version: { definition } },
        steps: [
          { stepId: "start", nodeType: "trigger.manual", status: "SUCCEEDED", attempt: 1, branches: null, wakeAt: null },
          { stepId: "chat", nodeType: "llm.chat", status: "RUNNING", attempt: 1, branches: null, wakeAt: null },
        ],
      },
    }),
    Step: () => ({
      run: {
        id: "r1",
        step: {
          stepId: "chat",
          nodeType: "llm.chat",
          status: "RUNNING",
          attempt: 1,
          input: {},
          output: null,
          error: null,
          envelope: null,
          startedAt: null,
          finishedAt: null,
          wakeAt: null,
          branches: null,
        },
      },
    }),
    RunArtifacts: () => ({ run: { id: "r1", artifacts: [] } }),
  });
}

describe("a streamed answer in the run monitor", () => {
  it("grows in the step's panel with each STEP_DELTA and gives way to the output when the step ends", async () => {
    renderPage(server(), "/runs/:id", "/runs/r1", <RunMonitorPage />);
    await waitFor(() => expect(stream.handlers).not.toBeNull());
    act(() => stream.handlers!.onEvent(event(1, "STEP_STARTED", "RUNNING")));
    await waitFor(() => expect(screen.getByTestId("node-chat")).toBeTruthy());
    fireEvent.click(screen.getByTestId("node-chat"));
    await screen.findByTestId("step-panel");
    expect(screen.queryByTestId("step-stream")).toBeNull();

    act(() => stream.handlers!.onDelta!(event(1, "STEP_DELTA", null, { text: "The answer", call: 0 })));
    expect((await screen.findByTestId("step-stream")).textContent).toBe("The answer");
    act(() => stream.handlers!.onDelta!(event(1, "STEP_DELTA", null, { text: "The answer grows.", call: 0 })));
    await waitFor(() => expect(screen.getByTestId("step-stream").textContent).toBe("The answer grows."));

    act(() => stream.handlers!.onEvent(event(2, "STEP_SUCCEEDED", "SUCCEEDED")));
    await waitFor(() => expect(screen.queryByTestId("step-stream")).toBeNull());
  });
});
