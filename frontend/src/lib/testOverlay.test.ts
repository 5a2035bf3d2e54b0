import { describe, expect, it } from "vitest";
import type { StepNode } from "./definition";
import { compactJson, overlayTest } from "./testOverlay";

const node = (id: string): StepNode => ({
  id,
  type: "step",
  position: { x: 0, y: 0 },
  data: { nodeType: "transform", title: "Transform", config: {}, extras: {}, branches: [], problems: [] },
});

describe("overlayTest", () => {
  it("puts each step's status, its output as JSON text and the pinned badge on its node", () => {
    const nodes = [node("start"), node("greet"), node("after")];
    const shown = overlayTest(
      nodes,
      { start: { status: "SUCCEEDED", output: { name: "world" } }, greet: { status: "RUNNING" } },
      new Set(["after"]),
      new WeakMap(),
    );
    expect(shown.map((n) => [n.data.status, n.data.output, n.data.pinned])).toEqual([
      ["SUCCEEDED", '{\n  "name": "world"\n}', undefined],
      ["RUNNING", undefined, undefined],
      [undefined, undefined, true],
    ]);
  });

  it("leaves nodes without a test result or pin as they are, and reuses the shown node while nothing changed", () => {
    const nodes = [node("start"), node("greet")];
    const cache = new WeakMap<StepNode, StepNode>();
    const steps = { start: { status: "SUCCEEDED", output: 1 } };
    const first = overlayTest(nodes, steps, new Set(), cache);
    expect(first[1]).toBe(nodes[1]);
    expect(overlayTest(nodes, { start: { status: "SUCCEEDED", output: 1 } }, new Set(), cache)[0]).toBe(first[0]);
    expect(overlayTest(nodes, { start: { status: "SUCCEEDED", output: 2 } }, new Set(), cache)[0]).not.toBe(first[0]);
    expect(overlayTest(nodes, null, new Set(), cache)).toEqual(nodes);
  });

  it("shows a null or absent output as none", () => {
    const [shown] = overlayTest([node("a")], { a: { status: "SUCCEEDED", output: null } }, new Set(), new WeakMap());
    expect(shown?.data.output).toBeUndefined();
  });
});

describe("compactJson", () => {
  it("keeps short values whole and cuts long ones on one line", () => {
    expect(compactJson({ greeting: "Hello, world!" })).toBe('{"greeting":"Hello, world!"}');
    const long = compactJson({ text: "x".repeat(200) }, 20);
    expect(long).toHaveLength(20);
    expect(long.endsWith("…")).toBe(true);
    expect(compactJson(undefined)).toBe("");
  });
});
