// The run monitor's drawing of branches: the edges a run went along, those it did not, and those not decided yet,
// by the engine's rule (planner.py edge_taken).
import { describe, expect, it } from "vitest";
import type { StepEdge, StepNode } from "./definition";
import { edgeState, minimapColor, runEdges, stepOutcome } from "./runGraph";

const edge = (source: string, target: string, branch: string | null = null): StepEdge => ({
  id: `${source}:${branch ?? ""}->${target}`,
  source,
  target,
  sourceHandle: branch,
  label: branch ?? undefined,
  data: {},
});

describe("branches taken and not taken", () => {
  it("decides an edge by its source step's status and the branches it took", () => {
    expect(edgeState("approved", { status: "SUCCEEDED", branches: ["rejected"] })).toBe("not-taken");
    expect(edgeState("rejected", { status: "SUCCEEDED", branches: ["rejected"] })).toBe("taken");
    expect(edgeState(null, { status: "SUCCEEDED", branches: null })).toBe("taken"); // a plain node takes every edge
    expect(edgeState("true", { status: "SUCCEEDED" })).toBe("taken"); // no branches named: every edge
    expect(edgeState("true", { status: "SUCCEEDED", branches: [] })).toBe("not-taken");
    expect(edgeState(null, { status: "SKIPPED" })).toBe("not-taken");
    expect(edgeState(null, { status: "CANCELLED" })).toBe("not-taken");
    expect(edgeState(null, { status: "FAILED" })).toBe("not-taken");
    expect(edgeState(null, { status: "FAILED", onError: "continue" })).toBe("taken");
    expect(edgeState("true", { status: "FAILED", onError: "continue" })).toBe("not-taken");
    for (const status of [undefined, "PENDING", "RUNNING", "WAITING"]) expect(edgeState("approved", { status })).toBe("open");
  });

  it("draws taken edges solid and coloured, skipped ones dashed and dimmed, open ones as they were", () => {
    const edges = [edge("start", "check"), edge("check", "ok", "true"), edge("check", "no", "false"), edge("ok", "notify")];
    const steps = { start: "SUCCEEDED", check: "SUCCEEDED", ok: "RUNNING", no: "SKIPPED" };
    const drawn = runEdges(edges, steps, { start: null, check: ["true"] }, () => undefined);
    expect(drawn.map((e) => e.data?.state)).toEqual(["taken", "taken", "not-taken", "open"]);
    const [, yes, no, open] = drawn;
    expect(yes!.className).toContain("run-edge-taken");
    expect(yes!.style).toMatchObject({ stroke: "var(--success)" });
    expect(yes!.style?.strokeDasharray).toBeUndefined();
    expect(no!.className).toContain("run-edge-not-taken");
    expect(no!.style).toMatchObject({ strokeDasharray: "6 5", opacity: 0.35 });
    expect(no!.labelStyle).toMatchObject({ opacity: 0.45 });
    expect(no!.ariaLabel).toBe("check false to no: not taken");
    expect(open!.style).toEqual({});
  });

  it("keeps an edge object whose state did not change (only what changed re-renders)", () => {
    const edges = [edge("a", "b")];
    const cache = new WeakMap();
    const first = runEdges(edges, { a: "RUNNING" }, {}, () => undefined, cache);
    expect(runEdges(edges, { a: "RUNNING" }, {}, () => undefined, cache)[0]).toBe(first[0]);
    expect(runEdges(edges, { a: "SUCCEEDED" }, { a: null }, () => undefined, cache)[0]).not.toBe(first[0]);
  });

  it("writes a branching step's choice on its node, and colours the mini map by status", () => {
    const node = (branches: string[]) => ({ id: "ask", data: { branches } }) as unknown as StepNode;
    expect(stepOutcome(node(["approved", "rejected"]), "SUCCEEDED", ["rejected"])).toBe("→ rejected");
    expect(stepOutcome(node(["approved", "rejected"]), "WAITING", null)).toBeUndefined();
    expect(stepOutcome(node([]), "SUCCEEDED", null)).toBeUndefined();
    expect(minimapColor("FAILED")).toBe("var(--destructive)");
    expect(minimapColor("SUCCEEDED")).toBe("var(--success)");
    expect(minimapColor(undefined)).toBe("var(--border)");
  });
});
