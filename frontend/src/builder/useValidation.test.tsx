import { act, renderHook } from "@testing-library/react";
import type { ReactNode, SetStateAction } from "react";
import { Provider, type Operation } from "urql";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import approveLargeOrders from "../../../studio_shared/examples/approve_large_orders.json";
import type { UserError } from "../api/types";
import { definitionToGraph, type Definition, type StepNode } from "../lib/definition";
import { semanticKey } from "../lib/graphEdits";
import { typeInfo } from "../lib/nodeTypes";
import { answeringClient } from "../test/mockGraphQL";
import { registry } from "../test/registry";
import { useValidation, VALIDATE_DEBOUNCE_MS } from "./useValidation";

const opened = approveLargeOrders.definition as Definition;
const withExpression = (expression: string): Definition => ({
  ...opened,
  nodes: opened.nodes.map((n) => (n.id === "check" ? { ...n, config: { expression } } : n)),
});
const moved: Definition = { ...opened, nodes: opened.nodes.map((n) => ({ ...n, position: { x: 5, y: 5 } })) };

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

function setup(answer: (definition: Definition) => UserError[]) {
  const calls: Operation[] = [];
  const client = answeringClient(
    { Validate: ({ definition }: { definition: Definition }) => ({ validateDefinition: answer(definition) }) },
    calls,
  );
  // The canvas's nodes, as the hook's setNodes leaves them.
  let nodes: StepNode[] = definitionToGraph(opened, typeInfo(registry)).nodes;
  const setNodes = (next: SetStateAction<StepNode[]>) => {
    nodes = typeof next === "function" ? next(nodes) : next;
  };
  const wrapper = ({ children }: { children: ReactNode }) => <Provider value={client}>{children}</Provider>;
  const hook = renderHook(
    ({ definition }: { definition: Definition }) => useValidation({ definition, validationKey: semanticKey(definition), setNodes }),
    { wrapper, initialProps: { definition: opened } },
  );
  const validatedDefinitions = () =>
    calls.filter((op) => op.kind === "query").map((op) => (op.variables as { definition: Definition }).definition);
  return { ...hook, validatedDefinitions, nodes: () => nodes };
}

const wait = (ms: number) => act(async () => void (await vi.advanceTimersByTimeAsync(ms)));

describe("useValidation", () => {
  it("validates the workflow as opened at once, then shows its problems on the nodes", async () => {
    const problem: UserError = { path: ["nodes", "1", "config", "expression"], message: "not an expression", code: "INVALID_CONFIG" };
    const { result, validatedDefinitions, nodes } = setup(() => [problem]);
    expect(result.current.validated).toBe(false);
    await wait(0);
    expect(validatedDefinitions()).toEqual([opened]);
    expect(result.current).toMatchObject({ validated: true, problemCount: 1 });
    expect(nodes().find((n) => n.id === "check")!.data.problems).toEqual([
      { message: "not an expression", code: "INVALID_CONFIG", field: ["expression"] },
    ]);
  });

  it("waits for an edit to rest before validating it, and validates only the last of a burst", async () => {
    const { rerender, validatedDefinitions } = setup(() => []);
    await wait(0);
    rerender({ definition: withExpression("{{ input") });
    await wait(VALIDATE_DEBOUNCE_MS - 1);
    rerender({ definition: withExpression("{{ input.amount > 5 }}") });
    await wait(VALIDATE_DEBOUNCE_MS - 1);
    expect(validatedDefinitions()).toHaveLength(1);
    await wait(1);
    expect(validatedDefinitions()).toEqual([opened, withExpression("{{ input.amount > 5 }}")]);
  });

  it("does not validate again when only positions change", async () => {
    const { rerender, validatedDefinitions } = setup(() => []);
    await wait(0);
    rerender({ definition: moved });
    await wait(VALIDATE_DEBOUNCE_MS * 2);
    expect(validatedDefinitions()).toEqual([opened]);
  });

  it("clears the problems once they are fixed, general ones included", async () => {
    let problems: UserError[] = [
      { path: ["nodes", "1", "config", "expression"], message: "not an expression", code: "INVALID_CONFIG" },
      { path: ["nodes"], message: "exactly one trigger", code: "TRIGGER_COUNT" },
    ];
    const { result, rerender, nodes } = setup(() => problems);
    await wait(0);
    expect(result.current.problemCount).toBe(2);
    expect(result.current.mapped.general.map((p) => p.message)).toEqual(["exactly one trigger"]);
    problems = [];
    rerender({ definition: withExpression("{{ true }}") });
    await wait(VALIDATE_DEBOUNCE_MS);
    expect(result.current.problemCount).toBe(0);
    expect(nodes().every((n) => n.data.problems.length === 0)).toBe(true);
  });

  it("counts warnings apart from errors: a draft with warnings only has no problem", async () => {
    const warning: UserError = {
      path: ["nodes", "1", "config", "expression"],
      message: "field 'amont' is not declared at 9: input lists amount (and may have others)",
      code: "UNDECLARED_FIELD",
      severity: "WARNING",
    };
    const error: UserError = { ...warning, message: "unknown filter 'nosuchfilter' at 14", code: "UNKNOWN_FILTER", severity: "ERROR" };
    let problems = [warning];
    const { result, rerender, nodes } = setup(() => problems);
    await wait(0);
    expect(result.current).toMatchObject({ validated: true, problemCount: 0, warningCount: 1 });
    expect(nodes().find((n) => n.id === "check")!.data.problems).toEqual([
      { message: warning.message, code: "UNDECLARED_FIELD", field: ["expression"], warning: true },
    ]);
    problems = [warning, error];
    rerender({ definition: withExpression("{{ input.amont | nosuchfilter }}") });
    await wait(VALIDATE_DEBOUNCE_MS);
    expect(result.current).toMatchObject({ problemCount: 1, warningCount: 1 });
  });
});
