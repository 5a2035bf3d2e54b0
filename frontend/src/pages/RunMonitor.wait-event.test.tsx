// A run waiting on a wait.event step: the monitor shows the event's name and its resume URL (with a copy button) as
// the step's STEP_AWAITING_EVENT told them, and lets an operator send the signal with a JSON payload, saying clearly
// why the server refused one.
import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { getOperationName, type Client, type Operation } from "urql";
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

const URL = "https://studio.example.org/hooks/resume/tok_abc";

const definition = {
  nodes: [
    { id: "start", type: "trigger.manual", config: {}, position: { x: 0, y: 0 } },
    { id: "pay", type: "wait.event", config: { event: "payment_confirmed", timeout_s: 3600 }, position: { x: 260, y: 0 } },
  ],
  edges: [{ source: "start", target: "pay" }],
};

const event = (seq: number, kind: RunEventKind, status: string | null, data: unknown = null): RunEvent => ({
  seq,
  kind,
  stepId: "pay",
  status,
  at: "2026-12-07T10:00:00Z",
  final: false,
  data,
});

function server(role: keyof typeof ROLE_PERMISSIONS, calls: Operation[], signalAnswer: unknown): Client {
  return answeringClient(
    {
      Me: () => ({ me: { user: null, tenant: { id: "t", name: "T" }, role, permissions: ROLE_PERMISSIONS[role] } }),
      RunHead: () => ({ run: { id: "r1", version: 1 } }),
      NodeTypes: () => ({ nodeTypes: registry }),
      RunEventSeqs: () => ({ run: { id: "r1", events: [] } }),
      RunWithDefinition: () => ({
        run: {
          id: "r1",
          status: "WAITING",
          version: 1,
          input: {},
          output: null,
          error: null,
          createdAt: "2026-12-07T10:00:00Z",
          startedAt: "2026-12-07T10:00:00Z",
          finishedAt: null,
          ...RUN_FACTS,
          workflow: { id: "w1", name: "Orders", version: { definition } },
          steps: [
            { stepId: "start", nodeType: "trigger.manual", status: "SUCCEEDED", attempt: 1, branches: null, wakeAt: null },
            { stepId: "pay", nodeType: "wait.event", status: "WAITING", attempt: 1, branches: null, wakeAt: null },
          ],
        },
      }),
      Step: () => ({
        run: {
          id: "r1",
          step: {
            stepId: "pay",
            nodeType: "wait.event",
            status: "WAITING",
            attempt: 1,
            input: { event: "payment_confirmed" },
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
      SignalRun: () => signalAnswer,
    },
    calls,
  );
}

async function open(role: keyof typeof ROLE_PERMISSIONS, resumeUrl: string | null, signalAnswer: unknown = null) {
  const calls: Operation[] = [];
  renderPage(server(role, calls, signalAnswer), "/runs/:id", "/runs/r1", <RunMonitorPage />);
  await waitFor(() => expect(stream.handlers).not.toBeNull());
  act(() => {
    stream.handlers!.onEvent(event(1, "STEP_STARTED", "RUNNING"));
    stream.handlers!.onEvent(
      event(2, "STEP_AWAITING_EVENT", "RUNNING", { event: "payment_confirmed", resume_url: resumeUrl, expires_at: "2026-12-07T11:00:00Z" }),
    );
    stream.handlers!.onEvent(event(3, "STEP_WAITING", "WAITING"));
  });
  await waitFor(() => expect(screen.getByTestId("node-pay")).toBeTruthy());
  fireEvent.click(screen.getByTestId("node-pay"));
  const panel = await screen.findByTestId("wait-event");
  return { calls, panel };
}

const named = (calls: Operation[], name: string) => calls.filter((c) => getOperationName(c.query) === name);

describe("a waiting wait.event step in the run monitor", () => {
  it("shows the event name and the resume URL with a copy button to an operator", async () => {
    const { panel } = await open("OPERATOR", URL);
    expect(within(panel).getByTestId("wait-event-name").textContent).toBe("payment_confirmed");
    expect(screen.getByTestId("run-awaited-events").textContent).toContain("pay waits for event payment_confirmed");
    expect((within(panel).getByLabelText("Resume URL") as HTMLInputElement).value).toBe(URL);
    expect(within(panel).getByRole("button", { name: "Copy the resume URL" })).toBeTruthy();
    expect(within(panel).getByRole("button", { name: "Send signal" })).toBeTruthy();
  });

  it("sends the signal with the typed JSON payload and says it was sent", async () => {
    const { calls, panel } = await open("OPERATOR", URL, { signalRun: { run: { id: "r1", status: "RUNNING" }, errors: [] } });
    fireEvent.change(within(panel).getByLabelText(/^Payload/), { target: { value: '{"amount": 42}' } });
    fireEvent.click(within(panel).getByRole("button", { name: "Send signal" }));
    await waitFor(() => expect(named(calls, "SignalRun")).toHaveLength(1));
    expect(named(calls, "SignalRun")[0]!.variables).toEqual({ runId: "r1", name: "payment_confirmed", payload: { amount: 42 } });
    expect((await within(panel).findByText(/Signal payment_confirmed sent/)).textContent).toContain("step pay resumes");
  });

  it("sends nothing while the payload is not JSON, and says so under the field", async () => {
    const { calls, panel } = await open("OPERATOR", URL);
    const box = within(panel).getByLabelText(/^Payload/);
    fireEvent.change(box, { target: { value: '{"amount": ' } });
    fireEvent.click(within(panel).getByRole("button", { name: "Send signal" }));
    expect(await within(panel).findByText(/The payload is not valid JSON/)).toBeTruthy();
    expect(box.getAttribute("aria-invalid")).toBe("true");
    expect(named(calls, "SignalRun")).toHaveLength(0);
  });

  it("shows the server's refusal with its code and what it means", async () => {
    const refused = {
      signalRun: {
        run: { id: "r1", status: "WAITING" },
        errors: [{ path: ["name"], message: "payload.amount: 'x' is not of type 'number'", code: "INVALID_PAYLOAD", severity: "ERROR" }],
      },
    };
    const { panel } = await open("OPERATOR", URL, refused);
    fireEvent.change(within(panel).getByLabelText(/^Payload/), { target: { value: '{"amount": "x"}' } });
    fireEvent.click(within(panel).getByRole("button", { name: "Send signal" }));
    const alert = await within(panel).findByRole("alert");
    expect(alert.textContent).toContain("INVALID_PAYLOAD");
    expect(alert.textContent).toContain("is not of type 'number'");
    expect(alert.textContent).toContain("the step keeps waiting");
    expect(within(panel).queryByText(/sent:/)).toBeNull();
  });

  it("shows an approver the event name only: no URL (the server withholds it) and no signal", async () => {
    const { panel } = await open("APPROVER", null);
    expect(within(panel).getByTestId("wait-event-name").textContent).toBe("payment_confirmed");
    expect(within(panel).queryByLabelText("Resume URL")).toBeNull();
    expect(within(panel).queryByRole("button", { name: "Send signal" })).toBeNull();
    expect(within(panel).getByText(/shown to operators and above/)).toBeTruthy();
  });
});
