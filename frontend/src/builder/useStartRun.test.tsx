import { act, renderHook } from "@testing-library/react";
import type { ReactNode } from "react";
import { MemoryRouter, useLocation } from "react-router-dom";
import { Provider, type Operation } from "urql";
import { describe, expect, it } from "vitest";
import { answeringClient } from "../test/mockGraphQL";
import type { Notice } from "./notice";
import { useStartRun } from "./useStartRun";

function setup(startRun: (variables: { workflowId: string; input: unknown }) => unknown) {
  const calls: Operation[] = [];
  const client = answeringClient({ StartRun: startRun }, calls);
  const notices: Notice[] = [];
  const wrapper = ({ children }: { children: ReactNode }) => (
    <Provider value={client}>
      <MemoryRouter initialEntries={["/workflows/w1"]}>{children}</MemoryRouter>
    </Provider>
  );
  const { result } = renderHook(() => ({ start: useStartRun("w1", (n) => notices.push(n)), at: useLocation().pathname }), { wrapper });
  const inputs = () => calls.filter((op) => op.kind === "mutation").map((op) => op.variables);
  return { result, notices, inputs };
}

describe("useStartRun", () => {
  it("starts a run with the form's input and opens its monitor", async () => {
    const { result, inputs } = setup(() => ({ startRun: { run: { id: "r9", status: "QUEUED" }, errors: [] } }));
    await act(() => result.current.start({ amount: 250 }));
    expect(inputs()).toEqual([{ workflowId: "w1", input: { amount: 250 } }]);
    expect(result.current.at).toBe("/runs/r9");
  });

  it("starts a trigger without an input schema with an empty input", async () => {
    const { result, inputs } = setup(() => ({ startRun: { run: { id: "r1", status: "QUEUED" }, errors: [] } }));
    await act(() => result.current.start(undefined));
    expect(inputs()).toEqual([{ workflowId: "w1", input: {} }]);
  });

  it("stays on the builder and says why when the server refuses", async () => {
    const { result, notices } = setup(() => ({
      startRun: { run: null, errors: [{ path: ["input", "amount"], message: "amount is required", code: "INVALID_INPUT" }] },
    }));
    await act(() => result.current.start({}));
    expect(notices).toEqual([{ kind: "error", text: "Run not started: amount is required" }]);
    expect(result.current.at).toBe("/workflows/w1");
  });
});
