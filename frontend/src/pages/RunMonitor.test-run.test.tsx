// A test run of the draft on the run monitor: marked "Test" in the header, drawn from Run.definition (a test run has
// no published version), and "Replay on the draft" starts a test run of an earlier run's trigger payload.
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { getOperationName, type Operation } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { answeringClient, ROLE_PERMISSIONS } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { renderPage } from "../test/renderPage";
import { RUN_FACTS } from "../test/runs";
import { RunMonitorPage } from "./RunMonitor";

vi.mock("../lib/useRunEvents", () => ({ useRunEvents: () => {} }));

afterEach(cleanup);

const draft = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "greet", type: "transform", config: { value: 1 }, position: { x: 260, y: 0 } },
  ],
  edges: [{ source: "start", target: "greet" }],
};

function open(test: boolean, role: keyof typeof ROLE_PERMISSIONS, replay: unknown = null) {
  const calls: Operation[] = [];
  const client = answeringClient(
    {
      Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role, permissions: ROLE_PERMISSIONS[role] } }),
      RunHead: () => ({ run: { id: "r1", version: test ? 0 : 1 } }),
      NodeTypes: () => ({ nodeTypes: registry }),
      RunWithDefinition: () => ({
        run: {
          id: "r1",
          status: "SUCCEEDED",
          version: test ? 0 : 1,
          test,
          draftRevision: test ? 7 : null,
          definition: draft,
          input: {},
          output: null,
          error: null,
          createdAt: "2026-01-01T00:00:00Z",
          startedAt: "2026-01-01T00:00:00Z",
          finishedAt: "2026-01-01T00:00:01Z",
          ...RUN_FACTS,
          workflow: { id: "w1", name: "Flow", version: null },
          steps: [
            { stepId: "start", nodeType: "trigger.manual", status: "SUCCEEDED", attempt: 1 },
            { stepId: "greet", nodeType: "transform", status: "SUCCEEDED", attempt: 1 },
          ],
        },
      }),
      TestReplay: () => ({ testReplay: replay }),
      RunArtifacts: () => ({ run: { id: "r1", artifacts: [] } }),
    },
    calls,
  );
  renderPage(client, "/runs/:id", "/runs/r1", <RunMonitorPage />);
  return calls;
}

describe("a test run on the run monitor", () => {
  it("is marked as a test of the draft and drawn from the definition it ran", async () => {
    open(true, "VIEWER");
    expect((await screen.findByTestId("test-badge")).textContent).toBe("Test");
    expect(screen.getByText(/of the draft \(revision 7\)/)).toBeTruthy();
    await waitFor(() => expect(screen.getByTestId("node-greet").getAttribute("data-status")).toBe("SUCCEEDED"));
    expect(screen.queryByRole("button", { name: "Replay on the draft" })).toBeNull(); // a viewer may not test
  });

  it("marks no live run", async () => {
    open(false, "EDITOR");
    await screen.findByTestId("node-greet");
    expect(screen.queryByTestId("test-badge")).toBeNull();
  });

  it("replays an earlier run against the draft, or says why not", async () => {
    const calls = open(false, "EDITOR", { run: null, errors: [{ path: ["definition"], message: "the draft is not valid", code: "INVALID" }] });
    fireEvent.click(await screen.findByRole("button", { name: "Replay on the draft" }));
    expect((await screen.findByRole("alert")).textContent).toBe("the draft is not valid");
    expect(calls.filter((c) => getOperationName(c.query) === "TestReplay").map((c) => c.variables)).toEqual([{ runId: "r1" }]);
  });

  it("an operator starts real runs only: no replay on the draft", async () => {
    open(false, "OPERATOR");
    await screen.findByTestId("node-greet");
    expect(screen.queryByRole("button", { name: "Replay on the draft" })).toBeNull();
  });
});
