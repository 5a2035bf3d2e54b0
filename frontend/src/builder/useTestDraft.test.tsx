import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { getOperationName, Provider, type Operation } from "urql";
import { describe, expect, it, vi } from "vitest";
import type { UserError } from "../api/types";
import { answeringClient } from "../test/mockGraphQL";
import type { Notice } from "./notice";
import { finishesStep } from "./useFollowRun";
import { useTestDraft } from "./useTestDraft";

function setup(answers: Record<string, (variables: never) => unknown>, saved = true) {
  const calls: Operation[] = [];
  const client = answeringClient({ WorkflowPins: () => ({ workflow: { id: "w1", pins: [] } }), ...answers }, calls);
  const notices: Notice[] = [];
  const problems: (readonly UserError[])[] = [];
  const saveFirst = vi.fn(async () => saved);
  const wrapper = ({ children }: { children: ReactNode }) => <Provider value={client}>{children}</Provider>;
  const { result } = renderHook(
    () => useTestDraft({ workflowId: "w1", saveFirst, notify: (n) => notices.push(n), onProblems: (e) => problems.push(e) }),
    { wrapper },
  );
  const sent = (name: string) => calls.filter((op) => getOperationName(op.query) === name).map((op) => op.variables);
  return { result, notices, problems, saveFirst, sent };
}

describe("useTestDraft", () => {
  it("saves unsaved changes, then tests the draft with the dialog's input and follows the test run", async () => {
    const t = setup({ TestRun: () => ({ testRun: { run: { id: "t1", status: "QUEUED", test: true }, errors: [] } }) });
    await act(async () => expect(await t.result.current.start({ name: "world" })).toBe(true));
    expect(t.saveFirst).toHaveBeenCalledOnce();
    expect(t.sent("TestRun")).toEqual([{ workflowId: "w1", input: { name: "world" } }]);
    expect(t.result.current.testRunId).toBe("t1");
  });

  it("starts no test when saving failed", async () => {
    const t = setup({ TestRun: () => ({}) }, false);
    await act(async () => expect(await t.result.current.start({})).toBe(false));
    expect(t.sent("TestRun")).toEqual([]);
  });

  it("shows an invalid draft's problems on the nodes and says the test did not start", async () => {
    const errors = [{ path: ["nodes", "1", "config", "value"], message: "unknown filter 'nosuchfilter' at 14", code: "TEMPLATE_SYNTAX" }];
    const t = setup({ TestRun: () => ({ testRun: { run: null, errors } }) });
    await act(async () => expect(await t.result.current.start({})).toBe(false));
    expect(t.problems).toEqual([errors]);
    expect(t.notices).toEqual([{ kind: "error", text: "Test not started: unknown filter 'nosuchfilter' at 14" }]);
    expect(t.result.current.testRunId).toBeNull();
  });

  it("runs one step with its upstream data from the pins, an earlier run or typed JSON", async () => {
    const t = setup({ TestStep: () => ({ testStep: { run: { id: "s1", status: "QUEUED", test: true }, errors: [] } }) });
    await act(async () => void (await t.result.current.runStep("b", { kind: "pins" })));
    await act(async () => void (await t.result.current.runStep("b", { kind: "run", runId: "r0" })));
    await act(async () => void (await t.result.current.runStep("b", { kind: "json", upstream: { a: 1 } })));
    expect(t.sent("TestStep")).toEqual([
      { workflowId: "w1", nodeId: "b", usePins: true, fromRunId: null, upstream: null },
      { workflowId: "w1", nodeId: "b", usePins: false, fromRunId: "r0", upstream: null },
      { workflowId: "w1", nodeId: "b", usePins: false, fromRunId: null, upstream: { a: 1 } },
    ]);
    expect(t.result.current.stepRun).toEqual({ nodeId: "b", runId: "s1" });
  });

  it("says why a step, a pin or an unpin was refused", async () => {
    const refused = (message: string) => ({ errors: [{ path: [], message, code: "NOT_FOUND" }] });
    const t = setup({
      TestStep: () => ({ testStep: { run: null, ...refused("the draft has no node 'zz'") } }),
      PinNodeOutput: () => ({ pinNodeOutput: { pin: null, ...refused("run not found") } }),
      UnpinNodeOutput: () => ({ unpinNodeOutput: { pin: null, ...refused("workflow not found") } }),
    });
    await act(async () => expect(await t.result.current.runStep("zz", { kind: "pins" })).toBe("the draft has no node 'zz'"));
    await act(async () => expect(await t.result.current.pin("a", { fromRunId: "foreign" })).toBe("run not found"));
    await act(async () => expect(await t.result.current.unpin("a")).toBe("workflow not found"));
    expect(t.sent("PinNodeOutput")).toEqual([{ workflowId: "w1", nodeId: "a", fromRunId: "foreign" }]);
  });

  it("pins typed output", async () => {
    const t = setup({ PinNodeOutput: () => ({ pinNodeOutput: { pin: { nodeId: "a" }, errors: [] } }) });
    await act(async () => expect(await t.result.current.pin("a", { output: { word: "pinned" } })).toBeNull());
    expect(t.sent("PinNodeOutput")).toEqual([{ workflowId: "w1", nodeId: "a", output: { word: "pinned" } }]);
  });
});

describe("following a run", () => {
  it("reads the results again when a step finishes, not on every event", () => {
    expect(finishesStep({ stepId: "a", status: "SUCCEEDED" })).toBe(true);
    expect(finishesStep({ stepId: "a", status: "FAILED" })).toBe(true);
    expect(finishesStep({ stepId: "a", status: "RUNNING" })).toBe(false);
    expect(finishesStep({ stepId: null, status: "SUCCEEDED" })).toBe(false);
  });
});
