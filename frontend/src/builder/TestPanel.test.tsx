import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { Provider } from "urql";
import { afterEach, describe, expect, it, vi } from "vitest";
import { mockClient } from "../test/mockGraphQL";
import { TestPanel, type TestPanelProps } from "./TestPanel";
import { TestWorkflow } from "./TestWorkflow";
import type { StepResult } from "./useFollowRun";

afterEach(cleanup);

const step = (over: Partial<StepResult> = {}): StepResult => ({
  stepId: "greet",
  status: "SUCCEEDED",
  output: { greeting: "Hello, world!" },
  error: null,
  input: { value: { greeting: "Hello, world!" } },
  pinned: false,
  logs: [],
  durationMs: 3,
  branches: null,
  ...over,
});

function renderPanel(over: Partial<TestPanelProps> = {}) {
  const api = mockClient({
    WorkflowRuns: () => ({
      runs: { nodes: [{ id: "r-test", status: "SUCCEEDED", version: 0, test: true, createdAt: "2026-12-07T04:00:00Z" }] },
    }),
  });
  const props: TestPanelProps = {
    workflowId: "w1",
    nodeId: "greet",
    isTrigger: false,
    lastTest: null,
    pin: null,
    stepResult: null,
    pinOutput: vi.fn(async () => null),
    unpin: vi.fn(async () => null),
    runStep: vi.fn(async () => null),
    ...over,
  };
  render(
    <Provider value={api.client}>
      <TestPanel {...props} />
    </Provider>,
  );
  return { props, api };
}

describe("TestPanel", () => {
  it("pins the output of the node's step in the last test run", async () => {
    const { props } = renderPanel({ lastTest: { runId: "r1", step: step() } });
    fireEvent.click(screen.getByRole("button", { name: "Pin this output" }));
    await waitFor(() => expect(props.pinOutput).toHaveBeenCalledWith("greet", { fromRunId: "r1" }));
  });

  it("offers no pin of a step that did not succeed", () => {
    renderPanel({ lastTest: { runId: "r1", step: step({ status: "FAILED", output: null }) } });
    expect(screen.queryByRole("button", { name: "Pin this output" })).toBeNull();
  });

  it("pins typed JSON, and says on the field when it does not parse", async () => {
    const { props } = renderPanel();
    fireEvent.click(screen.getByRole("button", { name: "Pin typed output…" }));
    const field = screen.getByLabelText("Output to pin (JSON)");
    fireEvent.change(field, { target: { value: "{nope" } });
    fireEvent.click(screen.getByRole("button", { name: "Pin" }));
    expect(field.getAttribute("aria-invalid")).toBe("true");
    expect(props.pinOutput).not.toHaveBeenCalled();
    fireEvent.change(field, { target: { value: '{"greeting": "pinned"}' } });
    fireEvent.click(screen.getByRole("button", { name: "Pin" }));
    await waitFor(() => expect(props.pinOutput).toHaveBeenCalledWith("greet", { output: { greeting: "pinned" } }));
  });

  it("shows a pinned output and unpins it; a refusal is said", async () => {
    const unpin = vi.fn(async () => "the workflow is archived");
    renderPanel({ pin: { output: { greeting: "pinned" } }, unpin });
    expect(screen.getByTestId("pinned-output").textContent).toContain('"greeting": "pinned"');
    fireEvent.click(screen.getByRole("button", { name: "Unpin" }));
    expect((await screen.findByRole("alert")).textContent).toBe("the workflow is archived");
  });

  it("runs this step with the pins, an earlier run's outputs, or typed upstream JSON", async () => {
    const { props } = renderPanel();
    const form = screen.getByRole("form", { name: "Run this step" });
    fireEvent.click(within(form).getByRole("button", { name: "Run this step" }));
    await waitFor(() => expect(props.runStep).toHaveBeenLastCalledWith("greet", { kind: "pins" }));

    fireEvent.change(screen.getByLabelText("Upstream data"), { target: { value: "run" } });
    await screen.findByRole("option", { name: /^test · / });
    fireEvent.click(within(form).getByRole("button", { name: "Run this step" }));
    await waitFor(() => expect(props.runStep).toHaveBeenLastCalledWith("greet", { kind: "run", runId: "r-test" }));

    fireEvent.change(screen.getByLabelText("Upstream data"), { target: { value: "json" } });
    const typed = screen.getByLabelText(/Upstream outputs/);
    fireEvent.change(typed, { target: { value: "[1]" } });
    fireEvent.click(within(form).getByRole("button", { name: "Run this step" }));
    expect(typed.getAttribute("aria-invalid")).toBe("true");
    expect(props.runStep).toHaveBeenCalledTimes(2);
    fireEvent.change(typed, { target: { value: '{"start": {"name": "Ada"}}' } });
    fireEvent.click(within(form).getByRole("button", { name: "Run this step" }));
    await waitFor(() => expect(props.runStep).toHaveBeenLastCalledWith("greet", { kind: "json", upstream: { start: { name: "Ada" } } }));
  });

  it("shows the step's output, error, logs, duration and rendered config", () => {
    renderPanel({
      stepResult: {
        finished: true,
        step: step({ status: "FAILED", output: null, error: { type: "TemplateError", message: "no attribute 'x'" }, logs: ["rendering"], durationMs: 12 }),
      },
    });
    const result = screen.getByTestId("step-result");
    expect(result.textContent).toContain("12 ms");
    expect(result.textContent).toContain("no attribute 'x'");
    expect(within(result).getByRole("region", { name: "Logs" }).textContent).toContain("rendering");
    expect(result.textContent).toContain("Rendered config");
  });

  it("has no 'Run this step' on a trigger", () => {
    renderPanel({ isTrigger: true });
    expect(screen.queryByRole("form", { name: "Run this step" })).toBeNull();
  });
});

describe("TestWorkflow", () => {
  it("says plainly a test has a real run's side effects, and tests with the trigger's defaults", async () => {
    const onTest = vi.fn(async () => true);
    render(<TestWorkflow inputSchema={{ type: "object", properties: { name: { type: "string", default: "world" } } }} onTest={onTest} running={false} />);
    fireEvent.click(screen.getByRole("button", { name: "Test workflow" }));
    const dialog = await screen.findByRole("dialog", { name: "Test the draft" });
    expect(dialog.textContent).toMatch(/same credentials and side effects as a real run/);
    fireEvent.click(await within(dialog).findByRole("button", { name: "Run test" }));
    await waitFor(() => expect(onTest).toHaveBeenCalledWith({ name: "world" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
  });

  it("stays open when the test was refused", async () => {
    const onTest = vi.fn(async () => false);
    render(<TestWorkflow inputSchema={undefined} onTest={onTest} running={false} />);
    fireEvent.click(screen.getByRole("button", { name: "Test workflow" }));
    fireEvent.click(await screen.findByRole("button", { name: "Run test" }));
    await waitFor(() => expect(onTest).toHaveBeenCalledWith({}));
    expect(screen.getByRole("dialog", { name: "Test the draft" })).toBeTruthy();
  });
});
